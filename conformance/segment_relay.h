// File: conformance/segment_relay.h
//
// A userspace relay that re-segments a byte stream by plan, in place of
// netem: for every accepted connection it dials the target and forwards each
// direction in writes cut where a SegmentPlan says, optionally coalescing,
// stalling, half-closing or resetting at given offsets.
//
//   RelayDirection up;
//   up.segments = SegmentPlan::Chop(7);
//   up.pause = absl::Milliseconds(2);  // each 7-byte write its own read
//   auto relay = SegmentRelay::Start("tcp://127.0.0.1:0", testee_uri, up);
//   ... connect to (*relay)->address(), talk ...
//   auto records = (*relay)->Wait(0, deadline);  // {upstream, downstream}
//
// Forwarding, per direction, with offsets counted in that direction's stream:
//   * A planned segment is written (in one write) once all its bytes have
//     arrived; at end of stream the remainder goes. Writes never cross
//     stall_at, eof_at or reset_at. TCP_NODELAY is on for both legs.
//   * End of stream from the source: what is held is written, then the
//     receiver gets shutdown(SHUT_WR) (half-close propagates).
//   * A read error from the source (e.g. a reset) aborts the connection:
//     both legs are closed with SO_LINGER {1, 0}, so a TCP receiver sees
//     ECONNRESET. AF_UNIX has no RST: closing gives the peer end of stream,
//     or ECONNRESET if it had sent bytes the relay had not read.
//   * A write error (the receiver left: EPIPE, ECONNRESET) ends that
//     direction only; no SIGPIPE (writes use MSG_NOSIGNAL).
//   * A target that cannot be dialed: the client connection is closed and
//     the error is recorded in both records' `end`.
// A direction stopped by an abort of the other one, or by the relay's
// destruction, records kAborted. Both sockets close once both directions end.
//
// Test-only. Thread-safe. One thread accepts; each connection has two.
#ifndef LPFRAME_CONFORMANCE_SEGMENT_RELAY_H_
#define LPFRAME_CONFORMANCE_SEGMENT_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "conformance/segment_plan.h"
#include "lib/io/listener.h"

namespace lpframe {
namespace conformance {

// How one direction is forwarded.
struct RelayDirection {
  static constexpr size_t kNever = std::numeric_limits<size_t>::max();

  SegmentPlan segments;  // cuts into writes; kWhole: each read as it comes
  // Sleep after each write, so each segment arrives as its own read.
  absl::Duration pause = absl::ZeroDuration();
  // Hold bytes until this many have arrived (or end of stream), then write
  // them in one write: several frames in one segment. 0: off.
  size_t coalesce_until = 0;
  // Once exactly stall_at bytes are forwarded, wait `stall` before more.
  size_t stall_at = kNever;
  absl::Duration stall = absl::ZeroDuration();
  // Once exactly eof_at bytes are forwarded: shutdown(SHUT_WR) toward the
  // receiver; later bytes are read and discarded.
  size_t eof_at = kNever;
  // Once exactly reset_at bytes are forwarded: abort both legs (see above).
  size_t reset_at = kNever;
};

// What one direction of one connection did.
struct RelayRecord {
  std::vector<size_t> writes;  // size of each write toward the receiver
  uint64_t bytes_forwarded = 0;
  uint64_t bytes_discarded = 0;  // read after eof_at
  bool eof_injected = false;
  bool reset_injected = false;
  // OK when the source ended cleanly or a planned eof/reset ended the
  // direction; otherwise the dial, read or write error, or kAborted.
  absl::Status end;
};

class SegmentRelay {
 public:
  // Listens on `listen_uri` ("tcp://127.0.0.1:0", "unix:/tmp/x.sock"); for
  // each accepted connection dials `target_uri` and forwards client->target
  // with `upstream`, target->client with `downstream`. Errors: those of
  // Listener::Listen (InvalidArgument for a bad URI) and of eventfd().
  static absl::StatusOr<std::unique_ptr<SegmentRelay>> Start(
      absl::string_view listen_uri, absl::string_view target_uri,
      RelayDirection upstream, RelayDirection downstream = {});

  // Stops accepting, ends live connections (their peers see end of stream)
  // and joins every thread, promptly (a dial in progress: up to 5 s).
  ~SegmentRelay();
  SegmentRelay(const SegmentRelay&) = delete;
  SegmentRelay& operator=(const SegmentRelay&) = delete;

  // The URI to dial, with the bound port.
  const std::string& address() const { return listener_.address(); }

  // Waits until the index-th accepted connection (0-based) has ended both
  // directions: {upstream, downstream}; kDeadlineExceeded after `deadline`.
  absl::StatusOr<std::pair<RelayRecord, RelayRecord>> Wait(int index, absl::Time deadline);

 private:
  struct Connection;

  SegmentRelay(Listener listener, int stop_fd, std::string target_uri,
               RelayDirection upstream, RelayDirection downstream);
  void AcceptLoop();
  void Run(Connection* connection);

  Listener listener_;
  const int stop_fd_;  // eventfd, readable once the relay is stopping
  const std::string target_uri_;
  const RelayDirection upstream_;
  const RelayDirection downstream_;
  std::thread accept_thread_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_SEGMENT_RELAY_H_
