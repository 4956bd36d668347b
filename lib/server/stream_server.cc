#include "lib/server/stream_server.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/frame_error.h"
#include "lib/server/blocking_session.h"
#include "lib/server/reactor.h"
#include "lib/server/worker_pool.h"

namespace lpframe {
namespace {

// How often accept loops wake to reap finished threads and children.
constexpr absl::Duration kReapInterval = absl::Milliseconds(20);

// Closes every descriptor not in `keep` (close_range over the gaps).
void CloseDescriptorsExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned int next = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned int>(fd) > next) ::close_range(next, fd - 1, 0);
    next = static_cast<unsigned int>(fd) + 1;
  }
  ::close_range(next, ~0U, 0);
}

}  // namespace

StreamServer::StreamServer(StreamServerOptions options, HandlerFactory factory)
    : context_(std::make_unique<ServerContext>(std::move(options), std::move(factory))) {}

absl::StatusOr<std::unique_ptr<StreamServer>> StreamServer::Create(absl::string_view uri,
                                                                   StreamServerOptions options,
                                                                   HandlerFactory factory) {
  absl::StatusOr<Address> address = ParseAddress(uri);
  if (!address.ok()) return address.status();
  std::unique_ptr<StreamServer> server(new StreamServer(std::move(options), std::move(factory)));
  absl::Status init = server->context_->Init();
  if (!init.ok()) return init;
  server->tcp_ = address->transport == Transport::kTcp;
  const bool several = server->options().model == ConcurrencyModel::kReactor &&
                       server->options().reactor_threads > 1 && server->tcp_;
  ListenOptions listen_options;
  listen_options.reuse_port = several;
  absl::StatusOr<Listener> first = Listener::Listen(*address, listen_options);
  if (!first.ok()) return first.status();
  server->address_ = first->address();
  server->listeners_.push_back(*std::move(first));
  if (several) {
    // The others bind the port the first one got (port 0 picks one).
    absl::StatusOr<Address> bound = ParseAddress(server->address_);
    if (!bound.ok()) return bound.status();
    for (int i = 1; i < server->options().reactor_threads; ++i) {
      absl::StatusOr<Listener> more = Listener::Listen(*bound, listen_options);
      if (!more.ok()) return more.status();
      server->listeners_.push_back(*std::move(more));
    }
  }
  return server;
}

absl::StatusOr<std::unique_ptr<StreamServer>> StreamServer::Adopt(int listening_fd,
                                                                  StreamServerOptions options,
                                                                  HandlerFactory factory) {
  absl::StatusOr<Listener> listener = Listener::Adopt(listening_fd);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<StreamServer> server(new StreamServer(std::move(options), std::move(factory)));
  absl::Status init = server->context_->Init();
  if (!init.ok()) return init;
  server->address_ = listener->address();
  server->tcp_ = absl::StartsWith(server->address_, "tcp:");
  server->listeners_.push_back(*std::move(listener));
  return server;
}

StreamServer::~StreamServer() {
  Shutdown();
  absl::MutexLock wait_for_serving(&serve_mu_);
  Close();
}

void StreamServer::Shutdown() { context_->RequestShutdown(); }

void StreamServer::Close() {
  for (Listener& listener : listeners_) RefuseBacklog(*context_, listener);
  listeners_.clear();
}

absl::Status StreamServer::ServeForever() {
  if (!serve_mu_.TryLock()) {
    return absl::FailedPreconditionError("ServeForever(): the server is already serving");
  }
  absl::Status status;
  if (listeners_.empty()) {
    status = absl::FailedPreconditionError("ServeForever(): the server is closed");
  } else {
    switch (options().model) {
      case ConcurrencyModel::kReactor:
        status = ServeReactors();
        break;
      case ConcurrencyModel::kThreadPerConnection:
        status = ServeThreads();
        break;
      case ConcurrencyModel::kForkPerConnection:
        status = ServeForks();
        break;
    }
  }
  serve_mu_.Unlock();
  return status;
}

absl::Status StreamServer::ServeReactors() {
  std::unique_ptr<WorkerPool> workers;
  if (options().worker_threads > 0) workers = std::make_unique<WorkerPool>(options().worker_threads);
  const int n = options().reactor_threads;
  std::vector<std::unique_ptr<Reactor>> reactors;
  for (int i = 0; i < n; ++i) {
    reactors.push_back(std::make_unique<Reactor>(context_.get(), workers.get()));
    absl::Status init = reactors.back()->Init();
    if (!init.ok()) return init;
    // TCP: one SO_REUSEPORT listener each. Otherwise one shared listener.
    const bool own = listeners_.size() == static_cast<size_t>(n);
    absl::Status added =
        reactors.back()->AddListener(&listeners_[own ? i : 0], /*exclusive=*/!own && n > 1);
    if (!added.ok()) return added;
  }
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back([&reactors, i] { reactors[i]->Run(); });
  reactors[0]->Run();
  for (std::thread& t : threads) t.join();
  reactors.clear();  // before the workers: sessions may still be referenced
  return absl::OkStatus();
}

absl::StatusOr<size_t> StreamServer::WaitForConnection(absl::Time deadline) {
  std::vector<pollfd> fds;
  for (const Listener& listener : listeners_) fds.push_back({listener.fd(), POLLIN, 0});
  fds.push_back({context_->shutdown_fd(), POLLIN, 0});
  while (true) {
    if (context_->shutting_down()) return absl::UnavailableError("the server is shutting down");
    const int rc = ::poll(fds.data(), fds.size(), PollTimeoutMs(deadline));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "poll()");
    }
    if (rc == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("no connection to ", address_, " before the deadline"));
    }
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents != 0) return i;
    }
  }
}

absl::StatusOr<std::pair<Socket, PeerInfo>> StreamServer::AcceptOne(Listener* listener) {
  absl::StatusOr<Socket> socket = listener->Accept(absl::InfinitePast());
  if (!socket.ok()) {
    if (absl::IsDeadlineExceeded(socket.status())) {
      return absl::NotFoundError("the backlog was empty");
    }
    PeerInfo none;
    none.local_address = address_;
    context_->Report(none, socket.status(), "accept");
    absl::SleepFor(absl::Milliseconds(10));  // e.g. out of descriptors
    return absl::NotFoundError("accept failed");
  }
  PeerInfo peer = DescribePeer(*socket, context_->NextConnectionId());
  if (options().verify_peer) {
    absl::Status verdict = options().verify_peer(peer);
    if (!verdict.ok()) {
      absl::Status refused = WithFrameErrorCode(
          absl::PermissionDeniedError(absl::StrCat("PEER_REFUSED: the server refused ",
                                                   peer.address, ": ", verdict.message())),
          FrameErrorCode::kPeerRefused);
      context_->counters().refused.fetch_add(1);
      context_->Report(peer, refused, "verify_peer");
      RefuseConnection(*context_, *std::move(socket), refused);
      return absl::NotFoundError("refused");
    }
  }
  absl::Status admitted = context_->Admit();
  if (!admitted.ok()) {
    context_->counters().refused.fetch_add(1);
    context_->Report(peer, admitted, "accept");
    RefuseConnection(*context_, *std::move(socket), admitted);
    return absl::NotFoundError("refused");
  }
  return std::make_pair(*std::move(socket), std::move(peer));
}

absl::Status StreamServer::HandleOne(absl::Time deadline) {
  if (!serve_mu_.TryLock()) {
    return absl::FailedPreconditionError("HandleOne(): the server is already serving");
  }
  absl::Status status;
  while (true) {
    if (listeners_.empty()) {
      status = absl::FailedPreconditionError("HandleOne(): the server is closed");
      break;
    }
    absl::StatusOr<size_t> ready = WaitForConnection(deadline);
    if (!ready.ok()) {
      status = ready.status();
      break;
    }
    absl::StatusOr<std::pair<Socket, PeerInfo>> accepted = AcceptOne(&listeners_[*ready]);
    if (!accepted.ok()) continue;  // refused or raced away: wait for another
    // In a shared_ptr like every Session (shared_from_this, HoldOpen).
    auto session = std::make_shared<BlockingSession>(context_.get(), std::move(accepted->first),
                                                     std::move(accepted->second),
                                                     context_->factory()());
    (void)session->Run();  // the error hook has seen any error
    context_->Release();
    break;
  }
  serve_mu_.Unlock();
  return status;
}

absl::Status StreamServer::ServeThreads() {
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers;
  auto reap = [&workers](bool all) {
    for (auto it = workers.begin(); it != workers.end();) {
      if (all || it->done->load()) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
  };
  while (true) {
    absl::StatusOr<size_t> ready = WaitForConnection(absl::Now() + kReapInterval);
    reap(false);
    if (!ready.ok()) {
      if (absl::IsDeadlineExceeded(ready.status())) continue;
      break;  // shutting down
    }
    absl::StatusOr<std::pair<Socket, PeerInfo>> accepted = AcceptOne(&listeners_[*ready]);
    if (!accepted.ok()) continue;
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto session = std::make_shared<BlockingSession>(context_.get(), std::move(accepted->first),
                                                     std::move(accepted->second),
                                                     context_->factory()());
    ServerContext* context = context_.get();
    workers.push_back(Worker{std::thread([session, done, context] {
                               (void)session->Run();
                               context->Release();
                               done->store(true);
                             }),
                             done});
  }
  reap(true);  // each session ends by the grace deadline
  return absl::OkStatus();
}

absl::Status StreamServer::ServeForks() {
  while (true) {
    ReapChildren(false);
    if (children_.size() >= static_cast<size_t>(options().max_children)) {
      // ForkingMixIn: wait for a child to exit before accepting more.
      if (context_->shutting_down()) break;
      pollfd shutdown_fd = {context_->shutdown_fd(), POLLIN, 0};
      ::poll(&shutdown_fd, 1, absl::ToInt64Milliseconds(kReapInterval));
      continue;
    }
    absl::StatusOr<size_t> ready = WaitForConnection(absl::Now() + kReapInterval);
    if (!ready.ok()) {
      if (absl::IsDeadlineExceeded(ready.status())) continue;
      break;
    }
    absl::StatusOr<std::pair<Socket, PeerInfo>> accepted = AcceptOne(&listeners_[*ready]);
    if (!accepted.ok()) continue;
    const pid_t pid = ::fork();
    if (pid < 0) {
      context_->Report(accepted->second, ErrnoStatus(errno, "fork()"), "accept");
      context_->Release();
      continue;  // the socket closes here
    }
    if (pid == 0) {
      // Child: serve this connection only, then _exit. The listeners are
      // closed by descriptor (their destructors would unlink a Unix path).
      context_->ResetAfterFork();
      for (const Listener& listener : listeners_) ::close(listener.fd());
      if (options().fork_close_other_fds) {
        CloseDescriptorsExcept({0, 1, 2, accepted->first.fd(), context_->shutdown_fd()});
      }
      auto session = std::make_shared<BlockingSession>(
          context_.get(), std::move(accepted->first), std::move(accepted->second),
          context_->factory()());
      (void)session->Run();
      ::_exit(0);
    }
    children_.push_back(pid);
  }
  ReapChildren(true);
  return absl::OkStatus();
}

void StreamServer::ReapChildren(bool until_all_exit) {
  const absl::Time grace = until_all_exit ? context_->GraceDeadline() : absl::InfiniteFuture();
  bool killed = false;
  while (true) {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      const pid_t rc = ::waitpid(*it, &status, WNOHANG);
      if (rc == *it || (rc < 0 && errno == ECHILD)) {
        it = children_.erase(it);
        context_->Release();
      } else {
        ++it;
      }
    }
    if (!until_all_exit || children_.empty()) return;
    if (!killed && absl::Now() >= grace) {
      for (pid_t pid : children_) ::kill(pid, SIGKILL);
      killed = true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace lpframe
