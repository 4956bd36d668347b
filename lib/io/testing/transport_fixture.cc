#include "lib/io/testing/transport_fixture.h"

#include <dirent.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "lib/io/listener.h"

namespace lpframe {
namespace iotest {
namespace {

// Longest directory we create sockets under: the names tests use are short,
// and sockaddr_un holds 107 path bytes.
constexpr size_t kMaxSocketDirBytes = 64;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

void FillPattern(uint64_t offset, uint32_t salt, char* out, size_t n) {
  // `offset` is a multiple of 8 for every caller.
  const uint64_t salt_mix = Mix(uint64_t{salt} + 0x9e3779b97f4a7c15ULL);
  uint64_t word = offset / 8;
  size_t i = 0;
  while (i < n) {
    const uint64_t v = Mix(word++ ^ salt_mix);
    char bytes[8];
    for (int b = 0; b < 8; ++b) bytes[b] = static_cast<char>(v >> (8 * b));
    const size_t take = std::min<size_t>(8, n - i);
    std::memcpy(out + i, bytes, take);
    i += take;
  }
}

absl::StatusOr<std::pair<Socket, Socket>> ViaListener(const std::string& uri) {
  absl::StatusOr<Listener> listener = Listener::Listen(uri);
  if (!listener.ok()) return listener.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<Socket> client = Socket::Connect(listener->address(), deadline);
  if (!client.ok()) return client.status();
  absl::StatusOr<Socket> server = listener->Accept(deadline);
  if (!server.ok()) return server.status();
  return std::make_pair(*std::move(client), *std::move(server));
}

}  // namespace

std::string TransportKindName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kSocketPair:
      return "socketpair";
    case TransportKind::kTcp4:
      return "tcp4";
    case TransportKind::kTcp6:
      return "tcp6";
    case TransportKind::kUnixPath:
      return "unix_path";
    case TransportKind::kUnixAbstract:
      return "unix_abstract";
  }
  return "unknown";
}

std::vector<TransportKind> AllTransportKinds() {
  return {TransportKind::kSocketPair, TransportKind::kTcp4, TransportKind::kTcp6,
          TransportKind::kUnixPath, TransportKind::kUnixAbstract};
}

bool HostHasIpv6Loopback() {
  static const bool has = [] {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in6 sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    sa.sin6_port = 0;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    ::close(fd);
    return ok;
  }();
  return has;
}

int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory's own descriptor
}

std::string UniqueName(absl::string_view prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}() ^
                             static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))};
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrFormat("%s-%d-%016x", prefix, getpid(), rng());
}

absl::StatusOr<TempDir> TempDir::Create() {
  std::string base = "/tmp";
  const char* test_tmpdir = getenv("TEST_TMPDIR");
  if (test_tmpdir != nullptr && test_tmpdir[0] != '\0' &&
      std::strlen(test_tmpdir) + 12 <= kMaxSocketDirBytes) {
    base = test_tmpdir;
  }
  std::string tmpl = absl::StrCat(base, "/lpf.XXXXXX");
  if (mkdtemp(&tmpl[0]) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("mkdtemp(", tmpl, ")"));
  }
  return TempDir(tmpl);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

absl::StatusOr<std::pair<Socket, Socket>> ConnectedSockets(TransportKind kind) {
  switch (kind) {
    case TransportKind::kSocketPair:
      return Socket::Pair(SOCK_STREAM);
    case TransportKind::kTcp4:
      return ViaListener("tcp://127.0.0.1:0");
    case TransportKind::kTcp6:
      if (!HostHasIpv6Loopback()) {
        return absl::UnavailableError("this host has no IPv6 loopback: cannot bind [::1]");
      }
      return ViaListener("tcp://[::1]:0");
    case TransportKind::kUnixPath: {
      absl::StatusOr<TempDir> dir = TempDir::Create();
      if (!dir.ok()) return dir.status();
      // The listener is destroyed (and unlinks its path) before the
      // directory is removed; the connected sockets do not need the path.
      return ViaListener(absl::StrCat("unix:", dir->File("s.sock")));
    }
    case TransportKind::kUnixAbstract:
      return ViaListener(absl::StrCat("unix-abstract:", UniqueName("lpframe-test")));
  }
  return absl::InvalidArgumentError("unknown transport");
}

absl::StatusOr<std::pair<FramedConnection, FramedConnection>> ConnectedConnections(
    TransportKind kind, const ConnectionOptions& first_options,
    const ConnectionOptions& second_options) {
  absl::StatusOr<std::pair<Socket, Socket>> sockets = ConnectedSockets(kind);
  if (!sockets.ok()) return sockets.status();
  return std::make_pair(FramedConnection(std::move(sockets->first), first_options),
                        FramedConnection(std::move(sockets->second), second_options));
}

std::string PatternString(uint64_t size, uint32_t salt) {
  std::string out(size, '\0');
  if (size > 0) FillPattern(0, salt, &out[0], size);
  return out;
}

absl::Cord PatternCord(uint64_t size, uint32_t salt) {
  static std::mutex mu;
  static auto* cache = new std::map<std::pair<uint64_t, uint32_t>, absl::Cord>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find({size, salt});
  if (it != cache->end()) return it->second;
  constexpr uint64_t kPiece = 1 << 20;
  absl::Cord cord;
  for (uint64_t offset = 0; offset < size; offset += kPiece) {
    const uint64_t n = std::min(kPiece, size - offset);
    std::string piece(n, '\0');
    FillPattern(offset, salt, &piece[0], n);
    cord.Append(std::move(piece));
  }
  // Small cords are not worth keeping.
  if (size >= (64 << 10)) cache->emplace(std::make_pair(size, salt), cord);
  return cord;
}

std::string CordMismatch(const absl::Cord& want, const absl::Cord& got) {
  if (want == got) return "";
  const uint64_t common = std::min(want.size(), got.size());
  uint64_t offset = 0;
  // Find the first differing offset a megabyte at a time.
  constexpr uint64_t kStep = 1 << 20;
  while (offset < common) {
    const uint64_t n = std::min(kStep, common - offset);
    const std::string a(want.Subcord(offset, n));
    const std::string b(got.Subcord(offset, n));
    if (a != b) {
      size_t i = 0;
      while (a[i] == b[i]) ++i;
      offset += i;
      break;
    }
    offset += n;
  }
  return absl::StrCat("want ", want.size(), " bytes, got ", got.size(),
                      " bytes; first difference at offset ", offset);
}

std::string PatternMismatch(const absl::Cord& got, uint64_t size, uint32_t salt) {
  return CordMismatch(PatternCord(size, salt), got);
}

void RequireDefaultSigpipe() {
  struct sigaction current;
  std::memset(&current, 0, sizeof(current));
  sigaction(SIGPIPE, nullptr, &current);
  if (current.sa_handler != SIG_DFL) {
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, nullptr);
  }
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGPIPE);
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
}

void TransportTest::SetUp() {
  if (GetParam() == TransportKind::kTcp6 && !HostHasIpv6Loopback()) {
    GTEST_SKIP() << "this host has no IPv6 loopback (binding [::1] failed); "
                    "the tcp6 transport is not tested here";
  }
}

std::string TransportTestName(const ::testing::TestParamInfo<TransportKind>& info) {
  return TransportKindName(info.param);
}

}  // namespace iotest
}  // namespace lpframe
