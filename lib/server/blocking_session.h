// File: lib/server/blocking_session.h
//
// BlockingSession serves one connection on the calling thread until it
// closes: the thread-per-connection and fork-per-connection models, and
// StreamServer::HandleOne(). It polls the socket and the server's shutdown
// descriptor, so a shutdown (even from a signal handler, even in a forked
// child) reaches it at once. Internal to lib/server.
//
// Thread-safety: Run() on one thread; the Session methods from any thread
// (Send() serializes writers and writes before it returns).
#ifndef LPFRAME_LIB_SERVER_BLOCKING_SESSION_H_
#define LPFRAME_LIB_SERVER_BLOCKING_SESSION_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "lib/io/socket.h"
#include "lib/server/connection_reader.h"
#include "lib/server/server_context.h"
#include "lib/server/session.h"
#include "lib/server/stream_handler.h"

namespace lpframe {

class BlockingSession final : public Session {
 public:
  BlockingSession(ServerContext* context, Socket socket, PeerInfo peer,
                  std::unique_ptr<StreamHandler> handler);

  // Serves until the peer closes, an error, Close(), or shutdown; then
  // closes the socket and calls OnClose. Returns the close reason.
  absl::Status Run();

  using Session::Send;
  absl::Status Send(const Envelope& envelope, absl::Cord payload) override;
  absl::Status WaitForOutputSpace(absl::Time deadline) override;
  void Close() override;
  std::shared_ptr<void> HoldOpen() override;
  const PeerInfo& peer() const override { return peer_; }
  uint64_t queued_output_bytes() const override { return 0; }

 private:
  absl::Status Serve();
  void SendErrorFrame(const absl::Status& status);
  void Linger();
  // Waits until no HoldOpen() token is alive (at most until the end of the
  // grace period once the server shuts down).
  void WaitForHolds();
  bool HoldsAlive();

  ServerContext* const context_;
  Socket socket_;
  const PeerInfo peer_;
  std::unique_ptr<StreamHandler> handler_;
  std::atomic<bool> close_requested_{false};

  absl::Mutex write_mu_;
  bool send_closed_ ABSL_GUARDED_BY(write_mu_) = false;
  absl::Status write_error_ ABSL_GUARDED_BY(write_mu_);
  std::vector<struct iovec> iov_ ABSL_GUARDED_BY(write_mu_);

  absl::Mutex hold_mu_;
  int holds_ ABSL_GUARDED_BY(hold_mu_) = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_BLOCKING_SESSION_H_
