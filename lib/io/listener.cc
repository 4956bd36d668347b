#include "lib/io/listener.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace lpframe {
namespace {

// True when something accepts connections on the Unix path.
bool UnixPathIsLive(const SocketAddress& target) {
  absl::StatusOr<Socket> probe = Socket::Create(AF_UNIX, SOCK_STREAM);
  if (!probe.ok()) return true;  // be conservative: do not remove
  const int rc = ::connect(probe->fd(), target.get(), target.length());
  return rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
}

}  // namespace

Listener::~Listener() {
  if (!unlink_path_.empty() && socket_.valid()) ::unlink(unlink_path_.c_str());
}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    if (!unlink_path_.empty() && socket_.valid()) ::unlink(unlink_path_.c_str());
    socket_ = std::move(other.socket_);
    address_ = std::move(other.address_);
    unlink_path_ = std::exchange(other.unlink_path_, std::string());
  }
  return *this;
}

absl::StatusOr<Listener> Listener::Listen(absl::string_view uri,
                                          const ListenOptions& options) {
  absl::StatusOr<Address> address = ParseAddress(uri);
  if (!address.ok()) return address.status();
  return Listen(*address, options);
}

absl::StatusOr<Listener> Listener::Listen(const Address& address,
                                          const ListenOptions& options) {
  absl::StatusOr<std::vector<SocketAddress>> targets = ResolveAddress(address, true);
  if (!targets.ok()) return targets.status();
  absl::Status last = absl::UnavailableError("no address to bind");
  for (const SocketAddress& target : *targets) {
    absl::StatusOr<Socket> s = Socket::Create(target.family(), SOCK_STREAM);
    if (!s.ok()) {
      last = s.status();
      continue;
    }
    if (address.transport == Transport::kTcp) {
      const int one = 1;
      setsockopt(s->fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (options.reuse_port &&
          setsockopt(s->fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        return ErrnoStatus(errno, "setsockopt(SO_REUSEPORT)");
      }
    }
    int rc = ::bind(s->fd(), target.get(), target.length());
    if (rc < 0 && errno == EADDRINUSE && address.transport == Transport::kUnix) {
      struct stat st;
      const bool is_socket = ::lstat(address.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
      if (!is_socket) {
        return absl::AlreadyExistsError(absl::StrCat(
            "cannot listen on ", address.ToString(), ": the path exists and is not a socket"));
      }
      if (UnixPathIsLive(target)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "cannot listen on ", address.ToString(), ": a live listener holds this path"));
      }
      ::unlink(address.path.c_str());  // a stale socket file: replace it
      rc = ::bind(s->fd(), target.get(), target.length());
    }
    if (rc < 0) {
      last = ErrnoStatus(errno, absl::StrCat("bind to ", target.ToString(), " (",
                                             address.ToString(), ")"));
      continue;
    }
    if (::listen(s->fd(), options.backlog) < 0) {
      last = ErrnoStatus(errno, absl::StrCat("listen on ", address.ToString()));
      continue;
    }
    Listener listener;
    listener.socket_ = *std::move(s);
    absl::StatusOr<SocketAddress> bound = listener.socket_.LocalAddress();
    listener.address_ = bound.ok() ? bound->ToString() : address.ToString();
    if (address.transport == Transport::kUnix) listener.unlink_path_ = address.path;
    return listener;
  }
  return last;
}

absl::StatusOr<Listener> Listener::Adopt(int fd) {
  int accepting = 0;
  socklen_t len = sizeof(accepting);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0) {
    return ErrnoStatus(errno, absl::StrCat("adopting fd ", fd, ": getsockopt(SO_ACCEPTCONN)"));
  }
  if (!accepting) {
    return absl::InvalidArgumentError(
        absl::StrCat("adopting fd ", fd, ": it is not a listening socket"));
  }
  Listener listener;
  listener.socket_ = Socket(fd);
  absl::StatusOr<SocketAddress> bound = listener.socket_.LocalAddress();
  if (!bound.ok()) return bound.status();
  listener.address_ = bound->ToString();
  return listener;
}

absl::StatusOr<Socket> Listener::Accept(absl::Time deadline) {
  while (true) {
    const int fd = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Socket s(fd);
      absl::StatusOr<SocketAddress> local = s.LocalAddress();
      if (local.ok() && (local->family() == AF_INET || local->family() == AF_INET6)) {
        (void)s.SetNoDelay(true);
      }
      return s;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = socket_.WaitReadable(deadline);
      if (!ready.ok()) return ready;
      continue;
    }
    return ErrnoStatus(errno, absl::StrCat("accept on ", address_));
  }
}

}  // namespace lpframe
