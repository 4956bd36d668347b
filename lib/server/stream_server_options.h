// File: lib/server/stream_server_options.h
//
// Options of a StreamServer (lib/server/stream_server.h): the concurrency
// model, the framing options of every connection, limits and hooks.
#ifndef LPFRAME_LIB_SERVER_STREAM_SERVER_OPTIONS_H_
#define LPFRAME_LIB_SERVER_STREAM_SERVER_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "lib/io/framed_connection.h"
#include "lib/server/server_hooks.h"

namespace lpframe {

enum class ConcurrencyModel {
  // Event loop(s) over epoll: many connections per thread, non-blocking.
  // Handlers run on the loop thread, or on `worker_threads` workers.
  kReactor,
  // One thread per connection (socketserver's ThreadingMixIn); all joined
  // on shutdown.
  kThreadPerConnection,
  // One child process per connection (socketserver's ForkingMixIn). See
  // stream_server.h for the constraints.
  kForkPerConnection,
};

struct StreamServerOptions {
  ConcurrencyModel model = ConcurrencyModel::kReactor;
  // kReactor: number of event loops. TCP gives each its own SO_REUSEPORT
  // listener on the same port; Unix listeners are shared (EPOLLEXCLUSIVE).
  int reactor_threads = 1;
  // kReactor: 0 runs handlers inline on the loop thread; N > 0 runs them on
  // a pool of N workers (messages of one connection stay in order).
  int worker_threads = 0;
  // kForkPerConnection: at most this many children; accepting waits while
  // that many are alive.
  int max_children = 64;
  // kForkPerConnection: the child closes every descriptor except stdin,
  // stdout, stderr, its connection and the shutdown descriptor, so it
  // holds no copy of other connections (whose peers would otherwise never
  // see them close).
  bool fork_close_other_fds = true;

  // Framing of every connection: dialect, limits, checksum, read_size,
  // read_mode, pool, idle_timeout, stall_timeout, copy_payload_bytes.
  ConnectionOptions connection;
  // kReactor with inline handlers: a payload of at least a quarter of a
  // pool block that starts in a read keeps the reactor's read block as its
  // storage instead of being copied out of it, and the read after such a
  // request asks for a whole block (docs/SERVER.md §1.3). A kept payload
  // then holds up to 4x its size until it is dropped, beyond what the
  // budgets count once it is delivered: turn this off for handlers that
  // keep many large payloads (e.g. a ServiceRouter with executor threads).
  bool keep_payloads_in_read_blocks = true;

  // Connections served at once; further ones get a CONNECTION_LIMIT error
  // frame and are closed.
  size_t max_connections = 4096;
  // Input buffered for one connection (a frame in progress, decoded
  // messages waiting for a worker); 0 means no limit beyond the frame limits.
  uint64_t connection_input_budget = 0;
  // Input buffered across all connections of the server.
  uint64_t global_input_budget = uint64_t{1} << 30;
  // Reactor: a connection whose queued output passes this stops being read
  // (its peer gets no new answers until it reads) and resumes below half.
  // The messages of a read already made are still handled, so the queue
  // may pass the watermark by the answers to one read (read_size bytes, or
  // one pool block right after a large request) of requests;
  // max_output_bytes is the hard limit.
  uint64_t output_high_watermark = 1 << 20;
  // Output queued for one connection beyond this closes it with
  // OUTPUT_BUDGET_EXCEEDED (a handler that keeps sending to a peer that
  // does not read). At least one maximal frame.
  uint64_t max_output_bytes = (uint64_t{64} << 20) + (1 << 20);
  // A peer that takes none of its queued output for this long is dropped
  // with OUTPUT_BUDGET_EXCEEDED: in the thread and fork models the blocked
  // Send fails; in the reactor the connection is closed (open or closing).
  // During a shutdown a blocked write ends with the grace period.
  absl::Duration write_timeout = absl::Seconds(30);

  // Graceful shutdown: in-flight messages may finish for this long, then
  // everything still open is closed.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // After the server's last frame it half-closes and waits this long for
  // the peer to close, so that unread input does not reset the connection
  // before the peer has read the server's last frames.
  absl::Duration linger = absl::Seconds(1);

  // Send a KIND_ERROR frame (status code and message) before closing a
  // connection for an error the peer may want to know about.
  bool send_error_frames = true;

  VerifyPeerFn verify_peer;              // null: every peer is served
  ErrorHookFn on_error = LogServerError;  // null: errors are only counted
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_STREAM_SERVER_OPTIONS_H_
