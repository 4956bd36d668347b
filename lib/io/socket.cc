#include "lib/io/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace lpframe {
namespace {

absl::Status PrepareFd(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoStatus(errno, "fcntl(O_NONBLOCK)");
  }
  const int fd_flags = fcntl(fd, F_GETFD);
  if (fd_flags < 0 || fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) < 0) {
    return ErrnoStatus(errno, "fcntl(FD_CLOEXEC)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ErrnoStatus(int error_number, absl::string_view what) {
  const std::string message =
      absl::StrCat(what, ": ", std::strerror(error_number), " (errno ", error_number, ")");
  switch (error_number) {
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ECONNREFUSED:
    case ENOENT:
    case ECONNABORTED:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return absl::UnavailableError(message);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(message);
    case EADDRINUSE:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EINVAL:
    case EAFNOSUPPORT:
    case EADDRNOTAVAIL:
      return absl::InvalidArgumentError(message);
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

Socket::Socket(int fd) : fd_(fd) {
  if (fd_ >= 0) (void)PrepareFd(fd_);
}

Socket::~Socket() { Close(); }

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void Socket::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

absl::StatusOr<Socket> Socket::Create(int family, int type) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket()");
  Socket s;
  s.fd_ = fd;
  return s;
}

absl::StatusOr<std::pair<Socket, Socket>> Socket::Pair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
    return ErrnoStatus(errno, "socketpair()");
  }
  Socket a, b;
  a.fd_ = fds[0];
  b.fd_ = fds[1];
  return std::make_pair(std::move(a), std::move(b));
}

absl::StatusOr<Socket> Socket::Connect(absl::string_view uri, absl::Time deadline) {
  absl::StatusOr<Address> address = ParseAddress(uri);
  if (!address.ok()) return address.status();
  return Connect(*address, deadline);
}

absl::StatusOr<Socket> Socket::Connect(const Address& address, absl::Time deadline) {
  absl::StatusOr<std::vector<SocketAddress>> targets = ResolveAddress(address, false);
  if (!targets.ok()) return targets.status();
  absl::Status last = absl::UnavailableError("no address to try");
  for (const SocketAddress& target : *targets) {
    absl::StatusOr<Socket> s = Create(target.family(), SOCK_STREAM);
    if (!s.ok()) {
      last = s.status();
      continue;
    }
    int rc;
    absl::Duration backoff = absl::Milliseconds(1);
    while (true) {
      rc = ::connect(s->fd(), target.get(), target.length());
      if (rc == 0 || errno == EINTR) {
        if (rc == 0) break;
        continue;
      }
      // A non-blocking AF_UNIX connect fails with EAGAIN while the
      // listener's accept queue is full: retry until the deadline.
      if (errno != EAGAIN || target.family() != AF_UNIX || absl::Now() + backoff > deadline) {
        break;
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Milliseconds(50));
    }
    if (rc < 0 && errno == EINPROGRESS) {
      absl::Status ready = s->WaitWritable(deadline);
      if (!ready.ok()) {
        last = absl::DeadlineExceededError(
            absl::StrCat("connect to ", target.ToString(), " (", address.ToString(),
                         ") did not complete before the deadline"));
        break;  // one deadline for all attempts
      }
      int error = 0;
      socklen_t len = sizeof(error);
      getsockopt(s->fd(), SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) {
        last = ErrnoStatus(error, absl::StrCat("connect to ", target.ToString(), " (",
                                               address.ToString(), ")"));
        continue;
      }
    } else if (rc < 0) {
      last = ErrnoStatus(errno, absl::StrCat("connect to ", target.ToString(), " (",
                                             address.ToString(), ")"));
      continue;
    }
    if (target.family() == AF_INET || target.family() == AF_INET6) {
      absl::Status nodelay = s->SetNoDelay(true);
      if (!nodelay.ok()) return nodelay;
    }
    return s;
  }
  return last;
}

absl::Status Socket::Wait(short events, absl::Time deadline, absl::string_view what) const {
  pollfd p;
  p.fd = fd_;
  p.events = events;
  while (true) {
    p.revents = 0;
    const int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return absl::OkStatus();  // ready, or an error the next call reports
    if (rc == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("deadline passed waiting for ", Describe(), " to become ", what));
    }
    if (errno != EINTR) return ErrnoStatus(errno, "poll()");
  }
}

absl::Status Socket::WaitReadable(absl::Time deadline) const {
  return Wait(POLLIN, deadline, "readable");
}

absl::Status Socket::WaitWritable(absl::Time deadline) const {
  return Wait(POLLOUT, deadline, "writable");
}

absl::Status Socket::SetNonBlocking(bool on) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags < 0) return ErrnoStatus(errno, "fcntl(F_GETFL)");
  const int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && fcntl(fd_, F_SETFL, want) < 0) {
    return ErrnoStatus(errno, "fcntl(F_SETFL, O_NONBLOCK)");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::Transfer(absl::FunctionRef<ssize_t(int)> call, int flags,
                                        short events, absl::Time deadline,
                                        absl::string_view what) const {
  // MSG_DONTWAIT makes a finite deadline hold on a blocking descriptor too.
  if (deadline != absl::InfiniteFuture()) flags |= MSG_DONTWAIT;
  while (true) {
    const ssize_t n = call(flags);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = events == POLLIN ? WaitReadable(deadline) : WaitWritable(deadline);
      if (!ready.ok()) return ready;
      continue;
    }
    // Describe() makes system calls that overwrite errno: read it first.
    const int error_number = errno;
    return ErrnoStatus(error_number, absl::StrCat(what, Describe()));
  }
}

absl::StatusOr<size_t> Socket::Read(absl::Span<char> buffer, absl::Time deadline) {
  return Transfer(
      [&](int flags) { return ::recv(fd_, buffer.data(), buffer.size(), flags); }, 0, POLLIN,
      deadline, "recv from ");
}

absl::Status Socket::RecvError(int error_number) const {
  return ErrnoStatus(error_number, absl::StrCat("recv from ", Describe()));
}

namespace {

msghdr MessageOf(const struct iovec* iov, int count) {
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = const_cast<struct iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count > IOV_MAX ? IOV_MAX : count);
  return msg;
}

}  // namespace

ssize_t Socket::RecvvOnce(const struct iovec* iov, int count, int flags) const {
  msghdr msg = MessageOf(iov, count);
  return ::recvmsg(fd_, &msg, flags);
}

absl::StatusOr<size_t> Socket::Readv(const struct iovec* iov, int count, absl::Time deadline) {
  msghdr msg = MessageOf(iov, count);
  return Transfer([&](int flags) { return ::recvmsg(fd_, &msg, flags); }, 0, POLLIN, deadline,
                  "recvmsg from ");
}

absl::StatusOr<size_t> Socket::Writev(const struct iovec* iov, int count,
                                      absl::Time deadline) {
  const msghdr msg = MessageOf(iov, count);
  return Transfer([&](int flags) { return ::sendmsg(fd_, &msg, flags); }, MSG_NOSIGNAL,
                  POLLOUT, deadline, "send to ");
}

absl::Status Socket::WriteAll(absl::string_view bytes, absl::Time deadline) {
  while (!bytes.empty()) {
    struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
    absl::StatusOr<size_t> n = Writev(&iov, 1, deadline);
    if (!n.ok()) return n.status();
    bytes.remove_prefix(*n);
  }
  return absl::OkStatus();
}

absl::Status Socket::ShutdownWrite() {
  if (::shutdown(fd_, SHUT_WR) < 0) {
    // Describe() makes system calls that overwrite errno: read it first.
    const int error_number = errno;
    return ErrnoStatus(error_number, absl::StrCat("shutdown(SHUT_WR) of ", Describe()));
  }
  return absl::OkStatus();
}

absl::Status Socket::SetNoDelay(bool on) {
  const int value = on ? 1 : 0;
  if (setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &value, sizeof(value)) < 0) {
    return ErrnoStatus(errno, "setsockopt(TCP_NODELAY)");
  }
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> Socket::LocalAddress() const {
  SocketAddress address;
  *address.mutable_length() = sizeof(sockaddr_storage);
  if (getsockname(fd_, address.mutable_get(), address.mutable_length()) < 0) {
    return ErrnoStatus(errno, "getsockname()");
  }
  return address;
}

absl::StatusOr<SocketAddress> Socket::PeerAddress() const {
  SocketAddress address;
  *address.mutable_length() = sizeof(sockaddr_storage);
  if (getpeername(fd_, address.mutable_get(), address.mutable_length()) < 0) {
    return ErrnoStatus(errno, "getpeername()");
  }
  return address;
}

absl::StatusOr<PeerCredentials> Socket::GetPeerCredentials() const {
  ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    return ErrnoStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  PeerCredentials out;
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
  return out;
}

std::string Socket::Describe() const {
  absl::StatusOr<SocketAddress> peer = PeerAddress();
  if (peer.ok()) return absl::StrCat("peer ", peer->ToString(), " (fd ", fd_, ")");
  return absl::StrCat("socket fd ", fd_);
}

}  // namespace lpframe
