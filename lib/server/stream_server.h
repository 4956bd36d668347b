// File: lib/server/stream_server.h
//
// StreamServer serves lpframe connections on a stream address (TCP, Unix
// path, abstract Unix name), in the shape of Python's socketserver:
//
//   auto server = StreamServer::Create("tcp://0.0.0.0:7000", options,
//                                      [] { return std::make_unique<Echo>(); });
//   std::thread t([&] { (*server)->ServeForever(); });
//   ...
//   (*server)->Shutdown();   // any thread, or a signal handler
//   t.join();
//
// Create() binds at once (address() reports an ephemeral port). One
// StreamHandler is made per accepted connection (stream_handler.h).
//
// Concurrency (StreamServerOptions::model):
//  - kReactor (default): `reactor_threads` epoll loops; handlers inline or
//    on `worker_threads` workers. Sends never block; per-connection output
//    is bounded (stream_server_options.h). Each loop reads into one buffer
//    for all its connections and sends inline handlers' answers from one
//    reply buffer: a connection between messages holds no read buffer of
//    its own, and an output buffer only once answers had to wait for the
//    socket or came from other threads.
//  - kThreadPerConnection: a thread per connection, joined on shutdown.
//  - kForkPerConnection: a child process per connection, at most
//    `max_children` at once (accepting waits for one to exit). Constraints:
//    the child runs only the handler, with a fresh payload pool; it shares
//    no memory with the parent, so counters of its messages stay in the
//    child (the parent counts connections); it ends with _exit() (no
//    static destructors, no atexit handlers); other threads of the parent
//    do not exist in the child, so a handler must not use locks that
//    parent threads may hold. Children see a shutdown through the
//    inherited shutdown descriptor and are killed at the end of the grace
//    period. By default a child closes every other descriptor it inherited
//    (fork_close_other_fds).
//
// Limits: max_connections (refused with a CONNECTION_LIMIT error frame),
// VerifyPeer (PEER_REFUSED), idle and stall timeouts, input budgets per
// connection and server-wide (MEMORY_BUDGET_EXCEEDED), output backpressure
// and budget (OUTPUT_BUDGET_EXCEEDED), the codec's frame limits. Each such
// error closes only its own connection and reaches the error hook.
//
// Shutdown: stop accepting; connections close at their next frame boundary
// once the messages already received are handled and answered; at the end
// of `shutdown_grace` everything still open is closed. Once shut down, a
// server stays shut down.
//
// Thread-safety: ServeForever() or HandleOne() on one thread at a time;
// Shutdown(), address() and stats() from any thread.
#ifndef LPFRAME_LIB_SERVER_STREAM_SERVER_H_
#define LPFRAME_LIB_SERVER_STREAM_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/io/listener.h"
#include "lib/server/server_context.h"
#include "lib/server/server_stats.h"
#include "lib/server/stream_handler.h"
#include "lib/server/stream_server_options.h"

namespace lpframe {

class StreamServer {
 public:
  // Binds `uri` (lib/io/address.h). Errors: the address's parse error,
  // kAlreadyExists for a port or live Unix path in use, system errors.
  static absl::StatusOr<std::unique_ptr<StreamServer>> Create(absl::string_view uri,
                                                              StreamServerOptions options,
                                                              HandlerFactory factory);
  // Serves an already listening socket (inherited, socket activation).
  // With several reactors they share it.
  static absl::StatusOr<std::unique_ptr<StreamServer>> Adopt(int listening_fd,
                                                             StreamServerOptions options,
                                                             HandlerFactory factory);

  // Shuts down, waits for ServeForever() to return if it runs on another
  // thread, and closes.
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // Serves until Shutdown(); returns once every connection is closed
  // (at most `shutdown_grace` after the shutdown). At the shutdown, the
  // reactor model refuses connections waiting in the backlog with a
  // SHUTTING_DOWN error frame; others wait there until Close(). Errors:
  // set-up failures (epoll, threads), or FAILED_PRECONDITION if already
  // serving or closed.
  absl::Status ServeForever();

  // Accepts one connection before `deadline` and serves it on this thread
  // until it closes (socketserver's handle_request). DeadlineExceeded if
  // none came; UNAVAILABLE once shut down.
  absl::Status HandleOne(absl::Time deadline);

  // Async-signal-safe and thread-safe; idempotent.
  void Shutdown();
  // Closes the listening sockets (and removes a Unix path). Connections
  // still waiting in the backlog get a SHUTTING_DOWN error frame instead of
  // the reset closing would give them. Call after ServeForever() has
  // returned.
  void Close();

  // The bound address as a URI, e.g. "tcp://127.0.0.1:40123".
  const std::string& address() const { return address_; }
  ServerStats stats() const { return context_->counters().Snapshot(); }
  const StreamServerOptions& options() const { return context_->options(); }

 private:
  StreamServer(StreamServerOptions options, HandlerFactory factory);
  absl::Status BindExtraReactorListeners(const Address& address);
  absl::Status ServeReactors();
  absl::Status ServeThreads();
  absl::Status ServeForks();
  // Polls every listener and the shutdown descriptor until one listener is
  // readable (returns its index), shutdown (UNAVAILABLE) or `deadline`.
  absl::StatusOr<size_t> WaitForConnection(absl::Time deadline);
  // Accepts, verifies and admits one connection; NotFound when the
  // connection was refused or the backlog was empty.
  absl::StatusOr<std::pair<Socket, PeerInfo>> AcceptOne(Listener* listener);
  void ReapChildren(bool block_until_grace);

  std::unique_ptr<ServerContext> context_;
  std::vector<Listener> listeners_;
  std::string address_;
  bool tcp_ = false;
  std::atomic<bool> serving_{false};
  absl::Mutex serve_mu_;  // held while ServeForever()/HandleOne() runs
  std::vector<pid_t> children_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_STREAM_SERVER_H_
