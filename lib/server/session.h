// File: lib/server/session.h
//
// Session is one connection of a stream server as its handler sees it: the
// way to answer, to learn who the peer is, and to close.
//
// Lifetime: the server holds each Session in a shared_ptr until the
// connection is closed and StreamHandler::OnClose has returned. A handler
// that answers later, from another thread, keeps shared_from_this(); once
// the connection is gone, Send() returns CONNECTION_CLOSED.
//
// Thread-safety: every method may be called from any thread.
#ifndef LPFRAME_LIB_SERVER_SESSION_H_
#define LPFRAME_LIB_SERVER_SESSION_H_

#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/message.h"
#include "lib/server/peer_info.h"

namespace lpframe {

class Session : public std::enable_shared_from_this<Session> {
 public:
  virtual ~Session() = default;

  // Encodes `envelope` + `payload` and hands the frame to the connection.
  // The payload Cord is referenced, not copied (small ones excepted).
  //  - Reactor model: never blocks; the frame is queued and written when
  //    the socket takes it (frames queued while handling one read go out
  //    together in one writev).
  //  - Thread and fork models: writes before returning, waiting at most
  //    the server's write_timeout for a peer that does not read. A write
  //    that times out inside a frame closes the connection there: the peer
  //    reads a TRUNCATED_* error, never a wrong message.
  // Errors: the encoder's limit errors (nothing queued, the connection
  // stays open); OUTPUT_BUDGET_EXCEEDED when the queued output would pass
  // max_output_bytes or a write timed out (the connection is closed);
  // CONNECTION_CLOSED once the connection is closed.
  virtual absl::Status Send(const Envelope& envelope, absl::Cord payload) = 0;
  // The same for a payload in one piece, copied before it returns (the
  // reactor encodes a small one straight into its reply buffer). A char*
  // converts to this overload and ends at its first NUL; for an empty
  // payload write absl::Cord() (a bare {} is ambiguous).
  virtual absl::Status Send(const Envelope& envelope, absl::string_view payload) {
    return Send(envelope, absl::Cord(payload));
  }
  absl::Status Send(const Message& message) { return Send(message.envelope, message.payload); }
  // For a handler that forwards the message it was given: the payload moves
  // on without touching its reference count.
  absl::Status Send(Message&& message) {
    return Send(message.envelope, std::move(message.payload));
  }

  // Flow control for code that produces much output off the I/O thread
  // (a streamed response on a worker): waits until the queued output is
  // below the server's output_high_watermark, the connection closes, or
  // `deadline`. Returns OK, CONNECTION_CLOSED or DeadlineExceeded. On the
  // I/O thread itself it returns OK at once.
  virtual absl::Status WaitForOutputSpace(absl::Time deadline) = 0;

  // Closes the connection after the output queued so far is written. The
  // handler gets no further OnMessage.
  virtual void Close() = 0;

  // For work a handler finishes off the I/O thread (a request answered
  // later by another thread): while the returned token lives, the
  // connection is not closed by a graceful shutdown, nor after the peer's
  // end of stream, before the token is dropped (a shutdown still closes it
  // at the end of the grace period), and the idle timeout does not run.
  // Drop the token once the last answer is sent. Thread-safe.
  virtual std::shared_ptr<void> HoldOpen() = 0;

  virtual const PeerInfo& peer() const = 0;
  // Output queued and not yet taken by the socket.
  virtual uint64_t queued_output_bytes() const = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SESSION_H_
