// File: lib/server/datagram_handler.h
//
// DatagramHandler serves the messages of a datagram server
// (lib/server/datagram_server.h): one call per good datagram, each datagram
// carrying exactly one message. There are no connections: a datagram is
// answered (zero, one or several times) through the DatagramReply, which
// sends to the datagram's sender.
//
// One handler object serves the whole server. With `threads` > 1 it is
// called from several threads at once and must be thread-safe; datagrams
// of one peer may then be handled out of order and concurrently (UDP does
// not promise order anyway).
#ifndef LPFRAME_LIB_SERVER_DATAGRAM_HANDLER_H_
#define LPFRAME_LIB_SERVER_DATAGRAM_HANDLER_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "lib/io/address.h"
#include "lib/message.h"
#include "lib/server/peer_info.h"

namespace lpframe {

// The way back to the sender of one datagram. Owned by the server and valid
// only during the OnDatagram() call it is passed to (keep peer().address,
// not the reply, to answer later with a socket of your own).
class DatagramReply {
 public:
  virtual ~DatagramReply() = default;

  // The sender ("udp://127.0.0.1:50123", "unixgram-abstract:0001f", ...),
  // the server's local address, and SCM_CREDENTIALS on Unix datagram
  // servers with receive_credentials.
  virtual const PeerInfo& peer() const = 0;
  virtual const SocketAddress& sender() const = 0;

  // Sends one frame as one datagram to the sender, within the server's
  // send_timeout. Errors, before anything is sent: DATAGRAM_TOO_LARGE (frame
  // over max_datagram_size, naming both), the encoder's limits,
  // FAILED_PRECONDITION for a sender without an address (an unbound
  // unixgram socket). After: kDeadlineExceeded, IO_ERROR. A failed send is
  // also counted and reported to the error hook (stage "write"); the
  // handler may ignore the status.
  virtual absl::Status Send(const Envelope& envelope, absl::Cord payload) = 0;
  absl::Status Send(const Message& message) { return Send(message.envelope, message.payload); }
};

class DatagramHandler {
 public:
  virtual ~DatagramHandler() = default;

  // One message, the only frame of a datagram that passed VerifyPeer and
  // decoding. A non-OK status is counted (HANDLER_ERROR, keeping the
  // status's canonical code) and reported to the error hook; with
  // send_error_datagrams the sender gets a KIND_ERROR datagram. Nothing
  // else is affected: the server goes on with the next datagram.
  virtual absl::Status OnDatagram(DatagramReply& reply, Message message) = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_DATAGRAM_HANDLER_H_
