// File: lib/server/datagram_server_options.h
//
// Options of a DatagramServer (lib/server/datagram_server.h).
#ifndef LPFRAME_LIB_SERVER_DATAGRAM_SERVER_OPTIONS_H_
#define LPFRAME_LIB_SERVER_DATAGRAM_SERVER_OPTIONS_H_

#include "absl/time/time.h"
#include "lib/io/datagram_socket.h"
#include "lib/server/server_hooks.h"

namespace lpframe {

struct DatagramServerOptions {
  // Framing of every datagram: dialect, limits, checksum, pool, and
  // max_datagram_size (default 65507: the largest UDP payload over IPv4;
  // see lib/io/datagram_socket.h). receive_credentials (Unix only) fills
  // PeerInfo::credentials for VerifyPeer and handlers. local_address is
  // not used.
  DatagramOptions datagram;

  // Threads receiving on the server's one socket, each with its own dup(2)
  // of it (own receive buffer and decoder); the kernel hands each datagram
  // to one of them. 1 to 256. With more than 1, the handler is called
  // concurrently and one peer's datagrams may be handled out of order.
  int threads = 1;

  // How long DatagramReply::Send() may wait for room in the socket buffer
  // (or in a Unix peer's full queue) before failing; a receiving thread is
  // blocked meanwhile.
  absl::Duration send_timeout = absl::Milliseconds(100);

  // Answer a bad, refused or failed datagram with a KIND_ERROR datagram
  // (status code and message). Off by default: a datagram's source address
  // is not authenticated (UDP sources are trivially forged), so answering
  // garbage would let anyone aim the server's error datagrams at a third
  // party (reflection). Turn it on only where senders are trusted (e.g.
  // Unix datagram sockets, whose senders the kernel identifies).
  bool send_error_datagrams = false;

  VerifyPeerFn verify_peer;              // null: every sender is served
  ErrorHookFn on_error = LogServerError;  // null: errors are only counted
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_DATAGRAM_SERVER_OPTIONS_H_
