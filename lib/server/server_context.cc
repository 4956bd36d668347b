#include "lib/server/server_context.h"

#include <errno.h>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/error_envelope.h"
#include "lib/frame_error.h"

namespace lpframe {
ServerContext::ServerContext(StreamServerOptions options, HandlerFactory factory)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      encoder_(EncoderOptionsFor(options_.connection)) {
  if (options_.connection.read_size == 0) options_.connection.read_size = 8192;
  if (options_.reactor_threads < 1) options_.reactor_threads = 1;
  if (options_.max_children < 1) options_.max_children = 1;
}

ServerContext::~ServerContext() {
  if (shutdown_fd_ >= 0) ::close(shutdown_fd_);
}

absl::Status ServerContext::Init() {
  if (shutdown_fd_ >= 0) return absl::OkStatus();
  shutdown_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (shutdown_fd_ < 0) return ErrnoStatus(errno, "eventfd()");
  return absl::OkStatus();
}

absl::Status ServerContext::Admit() {
  const uint64_t before = active_.fetch_add(1);
  if (before >= options_.max_connections) {
    active_.fetch_sub(1);
    return MakeFrameError(FrameErrorCode::kConnectionLimit,
                          absl::StrCat("the server already serves its limit of ",
                                       options_.max_connections, " connections"));
  }
  counters_.active.fetch_add(1);
  counters_.accepted.fetch_add(1);
  return absl::OkStatus();
}

void ServerContext::Release() {
  active_.fetch_sub(1);
  counters_.active.fetch_sub(1);
  counters_.closed.fetch_add(1);
}

void ServerContext::RequestShutdown() {
  shutting_down_.store(true, std::memory_order_release);
  if (shutdown_fd_ >= 0) {
    const uint64_t one = 1;
    // Only write(2): async-signal-safe. The counter is never read, so the
    // descriptor stays readable.
    ssize_t ignored = ::write(shutdown_fd_, &one, sizeof(one));
    (void)ignored;
  }
}

absl::Time ServerContext::GraceDeadline() {
  int64_t ns = grace_deadline_ns_.load();
  if (ns == 0) {
    const int64_t want = absl::ToUnixNanos(absl::Now() + options_.shutdown_grace);
    grace_deadline_ns_.compare_exchange_strong(ns, want);
    ns = grace_deadline_ns_.load();
  }
  return absl::FromUnixNanos(ns);
}

void ServerContext::ResetAfterFork() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  options_.connection.pool = BlockPool::Create();
}

void ServerContext::Report(const PeerInfo& peer, const absl::Status& status,
                           absl::string_view stage) {
  counters_.CountError(status);
  if (options_.on_error) {
    ServerError error;
    error.peer = peer;
    error.status = status;
    error.stage = std::string(stage);
    options_.on_error(error);
  }
}

PeerInfo DescribePeer(const Socket& socket, uint64_t connection_id) {
  PeerInfo info;
  info.connection_id = connection_id;
  absl::StatusOr<SocketAddress> peer = socket.PeerAddress();
  if (peer.ok()) info.address = peer->ToString();
  absl::StatusOr<SocketAddress> local = socket.LocalAddress();
  if (local.ok()) {
    info.local_address = local->ToString();
    if (local->family() == AF_UNIX) {
      absl::StatusOr<PeerCredentials> cred = socket.GetPeerCredentials();
      if (cred.ok()) info.credentials = *cred;
    }
  }
  return info;
}

absl::Status HandlerFailure(const absl::Status& handler_status) {
  const absl::StatusCode code =
      handler_status.ok() ? absl::StatusCode::kUnknown : handler_status.code();
  return WithFrameErrorCode(
      absl::Status(code, absl::StrCat("HANDLER_ERROR: ", handler_status.message())),
      FrameErrorCode::kHandlerError);
}

void RefuseConnection(ServerContext& context, Socket socket, const absl::Status& status) {
  if (context.options().send_error_frames) {
    absl::StatusOr<EncodedFrame> frame =
        context.encoder().Encode(ErrorEnvelope(status), absl::Cord());
    if (frame.ok()) {
      const std::string bytes = frame->ToString();
      // A fresh socket's send buffer takes a small frame at once.
      ssize_t ignored = ::send(socket.fd(), bytes.data(), bytes.size(),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
    }
  }
  ::shutdown(socket.fd(), SHUT_WR);
  // What the peer already sent is read and dropped: closing a socket with
  // unread input resets the connection, and the peer would then meet
  // ECONNRESET after the error frame (or on its next send) instead of the
  // end of the stream. Bounded and non-blocking: input that arrives later
  // still resets.
  (void)DiscardInput(socket.fd(), kRefusedInputDrainBytes);
  socket.Close();
}

DiscardEnd DiscardInput(int fd, size_t max_bytes) {
  char discard[4096];
  size_t read = 0;
  while (read < max_bytes) {
    const ssize_t n = ::recv(fd, discard, std::min(sizeof(discard), max_bytes - read),
                             MSG_DONTWAIT);
    if (n > 0) {
      read += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return DiscardEnd::kWouldBlock;
    return DiscardEnd::kClosed;
  }
  return DiscardEnd::kLimit;
}

void RefuseBacklog(ServerContext& context, Listener& listener) {
  for (int i = 0; i < SOMAXCONN; ++i) {
    absl::StatusOr<Socket> socket = listener.Accept(absl::InfinitePast());
    if (!socket.ok()) return;  // the backlog is empty (or accept failed)
    context.counters().refused.fetch_add(1);
    RefuseConnection(context, *std::move(socket),
                     MakeFrameError(FrameErrorCode::kShuttingDown,
                                    absl::StrCat("the server at ", listener.address(),
                                                 " is shutting down and accepts no "
                                                 "connection")));
  }
}

}  // namespace lpframe
