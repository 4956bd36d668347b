#include "conformance/segment_relay.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/io/socket.h"

namespace lpframe {
namespace conformance {
namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr absl::Duration kDialTimeout = absl::Seconds(5);

absl::Status AbortedStatus() {
  return absl::AbortedError("relay connection aborted (by the other direction or the relay)");
}

absl::StatusOr<int> MakeEventFd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "eventfd()");
  return fd;
}

// Makes the eventfd `fd` readable for good.
void Signal(int fd) {
  const uint64_t one = 1;
  (void)!::write(fd, &one, sizeof(one));
}

// Waits until `fd` has `events` (fd < 0: only the deadline counts) or
// `deadline`. False when `wake_fd` became readable first.
bool WaitUnlessWoken(int wake_fd, int fd, short events, absl::Time deadline) {
  pollfd p[2] = {{wake_fd, POLLIN, 0}, {fd, events, 0}};
  const nfds_t count = fd >= 0 ? 2 : 1;
  while (::poll(p, count, PollTimeoutMs(deadline)) < 0 && errno == EINTR) {
  }
  return (p[0].revents & POLLIN) == 0;
}

void SetLingerZero(const Socket& socket) {
  if (!socket.valid()) return;
  const linger abort = {1, 0};
  (void)setsockopt(socket.fd(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
}

}  // namespace

// One relayed connection. The records are written by its threads and read
// by Wait() only once `done` is set (under the relay's mu_).
struct SegmentRelay::Connection {
  Socket client;
  Socket target;
  int abort_fd = -1;  // eventfd: readable once the connection is aborted
  std::thread thread;
  RelayRecord upstream;
  RelayRecord downstream;
  bool done = false;  // guarded by SegmentRelay::mu_

  ~Connection() {
    if (abort_fd >= 0) ::close(abort_fd);
  }
  // Both legs will close with RST (TCP) once both directions have stopped;
  // wakes both directions.
  void Abort() {
    SetLingerZero(client);
    SetLingerZero(target);
    Signal(abort_fd);
  }
};

namespace {

// Forwards one direction of a connection by its RelayDirection.
class Forwarder {
 public:
  Forwarder(Socket& source, Socket& sink, const RelayDirection& plan,
            std::function<void()> abort, int abort_fd, RelayRecord& record)
      : source_(source), sink_(sink), plan_(plan), abort_(std::move(abort)),
        abort_fd_(abort_fd), record_(record), cutter_(plan.segments),
        next_cut_(cutter_.Next()) {}

  void Run() { record_.end = Forward(); }

 private:
  absl::Status Forward() {
    absl::Status status = ApplyEvents();
    std::vector<char> buffer(kReadBuffer);
    while (status.ok() && !record_.reset_injected) {
      absl::StatusOr<size_t> n = ReadSome(absl::MakeSpan(buffer));
      if (!n.ok()) {
        if (!absl::IsAborted(n.status())) abort_();
        return n.status();
      }
      if (*n == 0) return Finish();
      received_ += *n;
      if (record_.eof_injected) {
        record_.bytes_discarded += *n;
        continue;
      }
      held_.erase(0, held_start_);
      held_start_ = 0;
      held_.append(buffer.data(), *n);
      status = Flush(/*at_eof=*/false);
    }
    return status;
  }

  // The source ended: the rest goes, then the receiver gets end of stream.
  absl::Status Finish() {
    if (record_.eof_injected) return absl::OkStatus();
    absl::Status status = Flush(/*at_eof=*/true);
    if (!status.ok() || record_.eof_injected || record_.reset_injected) return status;
    return sink_.ShutdownWrite();
  }

  absl::Status Flush(bool at_eof) {
    if (received_ < plan_.coalesce_until && !at_eof) return absl::OkStatus();
    while (Held().size() > 0 && !record_.eof_injected && !record_.reset_injected) {
      const uint64_t at = record_.bytes_forwarded;
      size_t size = Held().size();
      if (next_cut_ != SegmentCutter::kNoMoreCuts) {
        const size_t to_cut = next_cut_ - at;
        if (to_cut > size && !at_eof) break;  // the segment is not all here
        size = std::min(size, to_cut);
      }
      for (size_t event : {plan_.stall_at, plan_.eof_at, plan_.reset_at}) {
        if (event > at) size = std::min<size_t>(size, event - at);
      }
      absl::Status status = Write(size);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // Writes the first `size` held bytes in one write (resuming partial ones).
  absl::Status Write(size_t size) {
    absl::string_view bytes = Held().substr(0, size);
    while (!bytes.empty()) {
      if (!WaitUnlessWoken(abort_fd_, sink_.fd(), POLLOUT, absl::InfiniteFuture())) {
        return AbortedStatus();
      }
      struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
      absl::StatusOr<size_t> n = sink_.Writev(&iov, 1, absl::InfinitePast());
      if (!n.ok() && !absl::IsDeadlineExceeded(n.status())) return n.status();
      bytes.remove_prefix(n.value_or(0));
    }
    held_start_ += size;
    record_.writes.push_back(size);
    record_.bytes_forwarded += size;
    while (next_cut_ <= record_.bytes_forwarded) next_cut_ = cutter_.Next();
    if (plan_.pause > absl::ZeroDuration() && !Sleep(plan_.pause)) return AbortedStatus();
    return ApplyEvents();
  }

  // The stall, eof and reset planned at the current offset.
  absl::Status ApplyEvents() {
    const uint64_t at = record_.bytes_forwarded;
    if (at == plan_.stall_at && !Sleep(plan_.stall)) return AbortedStatus();
    if (at == plan_.eof_at) {
      record_.eof_injected = true;
      record_.bytes_discarded += Held().size();
      held_start_ = held_.size();
      return sink_.ShutdownWrite();
    }
    if (at == plan_.reset_at) {
      record_.reset_injected = true;
      abort_();
    }
    return absl::OkStatus();
  }

  // Some bytes from the source (0 at end of stream), or kAborted.
  absl::StatusOr<size_t> ReadSome(absl::Span<char> buffer) {
    while (true) {
      if (!WaitUnlessWoken(abort_fd_, source_.fd(), POLLIN, absl::InfiniteFuture())) {
        return AbortedStatus();
      }
      absl::StatusOr<size_t> n = source_.Read(buffer, absl::InfinitePast());
      if (n.ok() || !absl::IsDeadlineExceeded(n.status())) return n;
    }
  }

  bool Sleep(absl::Duration duration) {
    return WaitUnlessWoken(abort_fd_, -1, 0, absl::Now() + duration);
  }

  absl::string_view Held() const { return absl::string_view(held_).substr(held_start_); }

  Socket& source_;
  Socket& sink_;
  const RelayDirection& plan_;
  const std::function<void()> abort_;
  const int abort_fd_;
  RelayRecord& record_;
  SegmentCutter cutter_;
  size_t next_cut_;
  std::string held_;  // bytes read, not yet written, from held_start_ on
  size_t held_start_ = 0;
  uint64_t received_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SegmentRelay>> SegmentRelay::Start(
    absl::string_view listen_uri, absl::string_view target_uri, RelayDirection upstream,
    RelayDirection downstream) {
  absl::StatusOr<Listener> listener = Listener::Listen(listen_uri);
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("relay to ", target_uri, ": ", listener.status().message()));
  }
  absl::StatusOr<int> stop_fd = MakeEventFd();
  if (!stop_fd.ok()) return stop_fd.status();
  auto relay = absl::WrapUnique(new SegmentRelay(*std::move(listener), *stop_fd,
                                                 std::string(target_uri), std::move(upstream),
                                                 std::move(downstream)));
  relay->accept_thread_ = std::thread(&SegmentRelay::AcceptLoop, relay.get());
  return relay;
}

SegmentRelay::SegmentRelay(Listener listener, int stop_fd, std::string target_uri,
                           RelayDirection upstream, RelayDirection downstream)
    : listener_(std::move(listener)),
      stop_fd_(stop_fd),
      target_uri_(std::move(target_uri)),
      upstream_(std::move(upstream)),
      downstream_(std::move(downstream)) {}

SegmentRelay::~SegmentRelay() {
  Signal(stop_fd_);
  accept_thread_.join();
  std::vector<Connection*> connections;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& connection : connections_) {
      Signal(connection->abort_fd);
      connections.push_back(connection.get());
    }
  }
  for (Connection* connection : connections) connection->thread.join();
  ::close(stop_fd_);
}

absl::StatusOr<std::pair<RelayRecord, RelayRecord>> SegmentRelay::Wait(int index,
                                                                       absl::Time deadline) {
  if (index < 0) return absl::InvalidArgumentError(absl::StrCat("connection index ", index));
  const size_t i = static_cast<size_t>(index);
  absl::MutexLock lock(&mu_);
  auto ended = [this, i]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return connections_.size() > i && connections_[i]->done;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ended), deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat("relay ", address(), ": connection #", index, " has not ended (",
                     connections_.size(), " accepted so far)"));
  }
  return std::make_pair(connections_[i]->upstream, connections_[i]->downstream);
}

void SegmentRelay::AcceptLoop() {
  while (WaitUnlessWoken(stop_fd_, listener_.fd(), POLLIN, absl::InfiniteFuture())) {
    absl::StatusOr<Socket> client = listener_.Accept(absl::InfinitePast());
    absl::StatusOr<int> abort_fd = client.ok() ? MakeEventFd() : client.status();
    if (!abort_fd.ok()) {
      if (!absl::IsDeadlineExceeded(abort_fd.status())) {  // e.g. EMFILE: back off
        WaitUnlessWoken(stop_fd_, -1, 0, absl::Now() + absl::Milliseconds(10));
      }
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->client = *std::move(client);
    connection->abort_fd = *abort_fd;
    absl::MutexLock lock(&mu_);
    connection->thread = std::thread(&SegmentRelay::Run, this, connection.get());
    connections_.push_back(std::move(connection));
  }
}

void SegmentRelay::Run(Connection* c) {
  absl::StatusOr<Socket> target = Socket::Connect(target_uri_, absl::Now() + kDialTimeout);
  if (target.ok()) {
    c->target = *std::move(target);
    auto abort = [c] { c->Abort(); };
    std::thread downstream([&] {
      Forwarder(c->target, c->client, downstream_, abort, c->abort_fd, c->downstream).Run();
    });
    Forwarder(c->client, c->target, upstream_, abort, c->abort_fd, c->upstream).Run();
    downstream.join();
  } else {
    const absl::Status error(target.status().code(),
                             absl::StrCat("relay ", address(), " dialing its target: ",
                                          target.status().message()));
    c->upstream.end = error;
    c->downstream.end = error;
  }
  c->client.Close();  // with SO_LINGER {1, 0} after an abort: RST
  c->target.Close();
  absl::MutexLock lock(&mu_);
  c->done = true;
}

}  // namespace conformance
}  // namespace lpframe
