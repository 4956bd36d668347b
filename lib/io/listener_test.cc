// Tests for lib/io/listener: ephemeral ports, accept deadlines, Unix path
// ownership (stale sockets replaced, live ones and non-sockets never taken
// over, the path removed on destruction), abstract names, Adopt(), and the
// flags of accepted sockets. All traffic stays on loopback.
#include "lib/io/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/io/address.h"
#include "lib/io/socket.h"
#include "lib/io/testing/transport_fixture.h"

namespace lpframe {
namespace {

using ::lpframe::iotest::TempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

absl::Time In(absl::Duration d) { return absl::Now() + d; }
const absl::Duration kSafety = absl::Seconds(10);

bool IsNonBlocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
bool IsCloseOnExec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsSocketFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Connects to `listener`, sends `token`, and accepts until the connection
// carrying it shows up (a refused Listen() on the same path may have left
// its liveness probe in the backlog). Fails the test if it never does.
void ExpectAcceptsAndExchanges(Listener& listener, const std::string& token) {
  absl::StatusOr<Socket> client = Socket::Connect(listener.address(), In(kSafety));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->WriteAll(token, In(kSafety)).ok());
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<Socket> server = listener.Accept(In(kSafety));
    ASSERT_TRUE(server.ok()) << server.status();
    std::string got;
    char buf[64];
    while (got.size() < token.size()) {
      absl::StatusOr<size_t> n = server->Read(absl::MakeSpan(buf), In(kSafety));
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0) break;
      got.append(buf, *n);
    }
    if (got == token) return;
    EXPECT_TRUE(got.empty()) << "an accepted connection carried \"" << got << "\"";
  }
  ADD_FAILURE() << "the connection carrying \"" << token << "\" was never accepted";
}

// A bound AF_UNIX socket left behind at `path` (closed without unlink), as a
// crashed server leaves it.
void MakeStaleSocketFile(const std::string& path, bool was_listening) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(un.sun_path));
  std::memcpy(un.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0) << std::strerror(errno);
  if (was_listening) {
    ASSERT_EQ(::listen(fd, 4), 0);
  }
  ::close(fd);
  ASSERT_TRUE(IsSocketFile(path));
}

TEST(ListenerTest, TcpPortZeroReportsTheBoundPort) {
  absl::StatusOr<Listener> l = Listener::Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_THAT(l->address(), MatchesRegex("tcp://127\\.0\\.0\\.1:[0-9]+"));
  uint32_t port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(l->address().substr(l->address().rfind(':') + 1), &port));
  EXPECT_GT(port, 0u);
  EXPECT_LE(port, 65535u);
  sockaddr_in in;
  socklen_t len = sizeof(in);
  ASSERT_EQ(getsockname(l->fd(), reinterpret_cast<sockaddr*>(&in), &len), 0);
  EXPECT_EQ(ntohs(in.sin_port), port) << "address() reports the port the kernel chose";
  ExpectAcceptsAndExchanges(*l, "tcp4");
}

TEST(ListenerTest, Tcp6PortZeroReportsTheBoundPort) {
  if (!iotest::HostHasIpv6Loopback()) {
    GTEST_SKIP() << "this host has no IPv6 loopback (binding [::1] failed)";
  }
  absl::StatusOr<Listener> l = Listener::Listen("tcp://[::1]:0");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_THAT(l->address(), MatchesRegex("tcp://\\[::1\\]:[0-9]+"));
  EXPECT_NE(l->address(), "tcp://[::1]:0");
  ExpectAcceptsAndExchanges(*l, "tcp6");
}

TEST(ListenerTest, TcpPortInUseIsAlreadyExists) {
  absl::StatusOr<Listener> first = Listener::Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Listener> second = Listener::Listen(first->address());
  ASSERT_FALSE(second.ok()) << "two listeners on " << first->address();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(first->address()));
  ExpectAcceptsAndExchanges(*first, "still here");
}

TEST(ListenerTest, ListenRejectsBadUris) {
  for (const char* uri : {"http://127.0.0.1:0", "tcp://127.0.0.1", "unix:"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<Listener> l = Listener::Listen(uri);
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument) << l.status();
  }
}

TEST(ListenerTest, AcceptDeadlineTimesOut) {
  absl::StatusOr<Listener> l = Listener::Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(l.ok()) << l.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<Socket> s = l->Accept(start + absl::Milliseconds(50));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(s.ok()) << "accepted a connection nobody made";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDeadlineExceeded) << s.status();
  EXPECT_GE(took, absl::Milliseconds(49));
  EXPECT_LT(took, absl::Milliseconds(500));
  // Still usable.
  ExpectAcceptsAndExchanges(*l, "after timeout");
}

TEST(ListenerTest, AcceptedSocketsAreCloseOnExecNonBlockingNoDelay) {
  for (iotest::TransportKind kind :
       {iotest::TransportKind::kTcp4, iotest::TransportKind::kUnixPath,
        iotest::TransportKind::kUnixAbstract}) {
    SCOPED_TRACE(iotest::TransportKindName(kind));
    absl::StatusOr<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    std::string uri = "tcp://127.0.0.1:0";
    if (kind == iotest::TransportKind::kUnixPath) uri = "unix:" + dir->File("a.sock");
    if (kind == iotest::TransportKind::kUnixAbstract) {
      uri = "unix-abstract:" + iotest::UniqueName("lpframe-accept");
    }
    absl::StatusOr<Listener> l = Listener::Listen(uri);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_TRUE(IsCloseOnExec(l->fd()));
    absl::StatusOr<Socket> client = Socket::Connect(l->address(), In(kSafety));
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Socket> server = l->Accept(In(kSafety));
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE(IsCloseOnExec(server->fd())) << "FD_CLOEXEC on the accepted socket";
    EXPECT_TRUE(IsNonBlocking(server->fd()));
    if (kind == iotest::TransportKind::kTcp4) {
      int nodelay = 0;
      socklen_t len = sizeof(nodelay);
      ASSERT_EQ(getsockopt(server->fd(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
      EXPECT_NE(nodelay, 0) << "TCP_NODELAY on the accepted socket";
    }
  }
}

TEST(ListenerTest, UnixPathListenAcceptAndAddress) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("l.sock");
  absl::StatusOr<Listener> l = Listener::Listen("unix:" + path);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->address(), "unix:" + path);
  EXPECT_TRUE(IsSocketFile(path));
  ExpectAcceptsAndExchanges(*l, "unix");
}

TEST(ListenerTest, StaleUnixSocketFileIsReplaced) {
  for (bool was_listening : {false, true}) {
    SCOPED_TRACE(was_listening ? "stale listening socket" : "stale bound socket");
    absl::StatusOr<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    const std::string path = dir->File("stale.sock");
    MakeStaleSocketFile(path, was_listening);
    absl::StatusOr<Listener> l = Listener::Listen("unix:" + path);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_TRUE(IsSocketFile(path));
    ExpectAcceptsAndExchanges(*l, "fresh");
  }
}

TEST(ListenerTest, PathOfALiveListenerIsRefused) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("live.sock");
  absl::StatusOr<Listener> live = Listener::Listen("unix:" + path);
  ASSERT_TRUE(live.ok()) << live.status();
  struct stat before;
  ASSERT_EQ(::lstat(path.c_str(), &before), 0);

  absl::StatusOr<Listener> second = Listener::Listen("unix:" + path);
  ASSERT_FALSE(second.ok()) << "took over the path of a live listener";
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  EXPECT_THAT(std::string(second.status().message()),
              testing::AllOf(HasSubstr(path), HasSubstr("live listener")));

  // The path is the live listener's own socket file, not a new one.
  struct stat after;
  ASSERT_EQ(::lstat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the socket file was replaced";
  ExpectAcceptsAndExchanges(*live, "live");
}

TEST(ListenerTest, NonSocketAtPathIsNeverRemoved) {
  struct Case {
    const char* name;
    std::function<void(const std::string& path, const TempDir& dir)> make;
  };
  const Case cases[] = {
      {"regular file",
       [](const std::string& path, const TempDir&) {
         std::ofstream(path) << "precious data";
       }},
      {"directory", [](const std::string& path, const TempDir&) { ::mkdir(path.c_str(), 0700); }},
      {"symlink to a regular file",
       [](const std::string& path, const TempDir& dir) {
         const std::string target = dir.File("target.txt");
         std::ofstream(target) << "precious data";
         ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    const std::string path = dir->File("not-a-socket");
    c.make(path, *dir);
    struct stat before;
    ASSERT_EQ(::lstat(path.c_str(), &before), 0);

    absl::StatusOr<Listener> l = Listener::Listen("unix:" + path);
    ASSERT_FALSE(l.ok()) << "listening on a " << c.name;
    EXPECT_EQ(l.status().code(), absl::StatusCode::kAlreadyExists) << l.status();
    EXPECT_THAT(std::string(l.status().message()),
                testing::AllOf(HasSubstr(path), HasSubstr("not a socket")));
    struct stat after;
    ASSERT_EQ(::lstat(path.c_str(), &after), 0) << "the " << c.name << " was removed";
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_mode, before.st_mode);
    if (S_ISREG(before.st_mode)) {
      std::ifstream in(path);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(content, "precious data");
    }
  }
}

TEST(ListenerTest, UnixPathInMissingDirectoryFails) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string uri = "unix:" + dir->File("no/such/dir/s.sock");
  absl::StatusOr<Listener> l = Listener::Listen(uri);
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(std::string(l.status().message()), HasSubstr(uri));
}

TEST(ListenerTest, RemovesItsPathWhenDestroyed) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("gone.sock");
  {
    absl::StatusOr<Listener> l = Listener::Listen("unix:" + path);
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_TRUE(IsSocketFile(path));
  }
  EXPECT_FALSE(PathExists(path)) << "the listener left its socket file behind";
}

TEST(ListenerTest, MovedListenerRemovesThePathOnce) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("moved.sock");
  absl::StatusOr<Listener> l = Listener::Listen("unix:" + path);
  ASSERT_TRUE(l.ok()) << l.status();
  {
    Listener moved = *std::move(l);
    l = absl::UnknownError("moved away");  // destroys the moved-from listener
    EXPECT_TRUE(IsSocketFile(path)) << "a moved-from listener must not remove the path";
    ExpectAcceptsAndExchanges(moved, "moved");
  }
  EXPECT_FALSE(PathExists(path));
}

TEST(ListenerTest, MoveAssignmentRemovesTheReplacedListenersPath) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path_a = dir->File("a.sock");
  const std::string path_b = dir->File("b.sock");
  absl::StatusOr<Listener> a = Listener::Listen("unix:" + path_a);
  absl::StatusOr<Listener> b = Listener::Listen("unix:" + path_b);
  ASSERT_TRUE(a.ok() && b.ok());
  *a = *std::move(b);  // listener A is gone: its path must go with it
  EXPECT_FALSE(PathExists(path_a)) << "the replaced listener left its socket file behind";
  EXPECT_TRUE(IsSocketFile(path_b));
  EXPECT_EQ(a->address(), "unix:" + path_b);
  ExpectAcceptsAndExchanges(*a, "assigned");
  b = absl::UnknownError("moved away");
  EXPECT_TRUE(IsSocketFile(path_b));
  a = absl::UnknownError("destroyed");
  EXPECT_FALSE(PathExists(path_b));
}

TEST(ListenerTest, AbstractNames) {
  const std::string name = iotest::UniqueName("lpframe-listener");
  const std::string uri = "unix-abstract:" + name;
  {
    absl::StatusOr<Listener> l = Listener::Listen(uri);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_EQ(l->address(), uri);
    ExpectAcceptsAndExchanges(*l, "abstract");
    // A second listener on the same name is refused.
    absl::StatusOr<Listener> second = Listener::Listen(uri);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
    EXPECT_THAT(std::string(second.status().message()), HasSubstr(uri));
    ExpectAcceptsAndExchanges(*l, "abstract again");
  }
  // The name went with the socket: it can be listened on again.
  absl::StatusOr<Listener> again = Listener::Listen(uri);
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectAcceptsAndExchanges(*again, "reborn");
}

int RawListeningTcpSocket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // blocking, inheritable
  EXPECT_GE(fd, 0);
  sockaddr_in in;
  std::memset(&in, 0, sizeof(in));
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  EXPECT_EQ(::listen(fd, 8), 0);
  return fd;
}

TEST(ListenerTest, AdoptListeningSocket) {
  const int fd = RawListeningTcpSocket();
  sockaddr_in in;
  socklen_t len = sizeof(in);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len), 0);
  absl::StatusOr<Listener> l = Listener::Adopt(fd);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->fd(), fd);
  EXPECT_EQ(l->address(), absl::StrCat("tcp://127.0.0.1:", ntohs(in.sin_port)));
  EXPECT_TRUE(IsNonBlocking(fd));
  EXPECT_TRUE(IsCloseOnExec(fd));
  ExpectAcceptsAndExchanges(*l, "adopted");
  // An accept deadline works on the adopted (now non-blocking) socket.
  absl::StatusOr<Socket> none = l->Accept(In(absl::Milliseconds(20)));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
}

TEST(ListenerTest, AdoptListeningUnixSocketKeepsItsPath) {
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("inherited.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  {
    absl::StatusOr<Listener> l = Listener::Adopt(fd);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_EQ(l->address(), "unix:" + path);
    ExpectAcceptsAndExchanges(*l, "inherited");
  }
  // The path belongs to whoever created it (e.g. systemd), not the adopter.
  EXPECT_TRUE(IsSocketFile(path));
}

TEST(ListenerTest, AdoptRefusesNonListeningDescriptors) {
  struct Case {
    const char* name;
    std::function<int()> make;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"connected socketpair end",
       [] {
         int fds[2];
         EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
         ::close(fds[1]);
         return fds[0];
       },
       absl::StatusCode::kInvalidArgument},
      {"bound, not listening TCP socket",
       [] {
         const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
         sockaddr_in in;
         std::memset(&in, 0, sizeof(in));
         in.sin_family = AF_INET;
         in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
         EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
         return fd;
       },
       absl::StatusCode::kInvalidArgument},
      {"UDP socket",
       [] { return ::socket(AF_INET, SOCK_DGRAM, 0); },
       absl::StatusCode::kInvalidArgument},
      {"regular file", [] { return ::open("/dev/null", O_RDONLY); },
       absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int fd = c.make();
    ASSERT_GE(fd, 0);
    absl::StatusOr<Listener> l = Listener::Adopt(fd);
    ASSERT_FALSE(l.ok()) << "adopted a " << c.name;
    EXPECT_EQ(l.status().code(), c.code) << l.status();
    EXPECT_THAT(std::string(l.status().message()), HasSubstr(absl::StrCat("fd ", fd)));
    // A refused descriptor stays the caller's, open.
    EXPECT_GE(fcntl(fd, F_GETFD), 0) << "Adopt() closed a descriptor it refused";
    ::close(fd);
  }
}

}  // namespace
}  // namespace lpframe
