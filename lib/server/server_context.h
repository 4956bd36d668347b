// File: lib/server/server_context.h
//
// ServerContext is the state a stream server shares with its event loops,
// connection threads and sessions: options, the handler factory, counters,
// admission (max connections) and the shutdown signal. Internal to
// lib/server.
//
// Thread-safety: all members are safe to use from any thread once the
// server has started; `options` and `factory` are read-only then.
#ifndef LPFRAME_LIB_SERVER_SERVER_CONTEXT_H_
#define LPFRAME_LIB_SERVER_SERVER_CONTEXT_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/frame_encoder.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/server/peer_info.h"
#include "lib/server/server_stats.h"
#include "lib/server/stream_handler.h"
#include "lib/server/stream_server_options.h"

namespace lpframe {

class ServerContext {
 public:
  ServerContext(StreamServerOptions options, HandlerFactory factory);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // eventfd creation; call once before serving.
  absl::Status Init();

  const StreamServerOptions& options() const { return options_; }
  const HandlerFactory& factory() const { return factory_; }
  ServerCounters& counters() { return counters_; }
  const FrameEncoder& encoder() const { return encoder_; }

  uint64_t NextConnectionId() { return next_connection_id_.fetch_add(1); }

  // Takes one connection slot, or CONNECTION_LIMIT naming the limit.
  absl::Status Admit();
  void Release();

  // Async-signal-safe: sets the flag and makes shutdown_fd() readable for
  // good (every poller sees it, in every process that inherited it).
  void RequestShutdown();
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  // The shutdown descriptor was seen readable: a shutdown requested in
  // another process (a fork child learns of its parent's this way).
  void ObserveShutdown() { shutting_down_.store(true, std::memory_order_release); }
  int shutdown_fd() const { return shutdown_fd_; }
  // The end of the grace period, fixed by the first caller after shutdown.
  absl::Time GraceDeadline();

  // In a forked child, before anything else: gives the child its own
  // payload pool (the parent's may be locked by a parent thread that does
  // not exist in the child), and turns off Abseil's Mutex deadlock
  // detection, whose process-wide graph lock such a thread may hold too
  // (every absl::Mutex operation takes it in Debian's build).
  void ResetAfterFork();

  // Counts `status` and passes it to the error hook.
  void Report(const PeerInfo& peer, const absl::Status& status, absl::string_view stage);

 private:
  StreamServerOptions options_;
  HandlerFactory factory_;
  FrameEncoder encoder_;
  ServerCounters counters_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint64_t> active_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> grace_deadline_ns_{0};
  int shutdown_fd_ = -1;
};

// Who is on the other end of `socket` (addresses; SO_PEERCRED on AF_UNIX).
PeerInfo DescribePeer(const Socket& socket, uint64_t connection_id);

// A handler's failure as the server reports it: the handler's canonical
// code (UNKNOWN when it used OK's code), the message prefixed with
// "HANDLER_ERROR: ", and the HANDLER_ERROR FrameErrorCode.
absl::Status HandlerFailure(const absl::Status& handler_status);

// How DiscardInput() stopped.
enum class DiscardEnd {
  kWouldBlock,  // nothing more to read now (EAGAIN)
  kClosed,      // end of stream, or a read error (the peer is gone)
  kLimit,       // max_bytes read
};
// Reads and drops the input `fd` has now, without blocking, up to
// `max_bytes`; EINTR is retried.
DiscardEnd DiscardInput(int fd, size_t max_bytes);

// Best effort, never blocks: writes an error frame for `status` when the
// options ask for one, half-closes, reads and drops what the peer already
// sent (at most kRefusedInputDrainBytes, so that the close is a clean end of
// stream rather than a reset) and closes `socket`.
inline constexpr size_t kRefusedInputDrainBytes = 256 << 10;
void RefuseConnection(ServerContext& context, Socket socket, const absl::Status& status);

// Accepts the connections waiting in `listener`'s backlog (without
// blocking, at most SOMAXCONN) and refuses each with a SHUTTING_DOWN error
// frame, counted as refused: a server that stops accepting tells them so,
// where closing the listener would reset them.
void RefuseBacklog(ServerContext& context, Listener& listener);

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SERVER_CONTEXT_H_
