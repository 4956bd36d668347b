// File: lib/io/testing/transport_fixture.h
//
// Test helpers for the io layer (testonly):
//
//   * connected stream socket pairs and FramedConnection pairs over every
//     transport lpframe supports: a socketpair, TCP over 127.0.0.1, TCP over
//     [::1], a Unix path in a fresh temporary directory, an abstract Unix
//     name with a random suffix. Everything stays on loopback.
//   * TransportTest, a gtest base parameterized by transport that skips the
//     IPv6 case (with a message) on hosts without an IPv6 loopback.
//   * deterministic, position-dependent payload bytes for content checks.
//   * TempDir and unique names.
#ifndef LPFRAME_LIB_IO_TESTING_TRANSPORT_FIXTURE_H_
#define LPFRAME_LIB_IO_TESTING_TRANSPORT_FIXTURE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"

namespace lpframe {
namespace iotest {

enum class TransportKind { kSocketPair, kTcp4, kTcp6, kUnixPath, kUnixAbstract };

// "socketpair", "tcp4", "tcp6", "unix_path", "unix_abstract".
std::string TransportKindName(TransportKind kind);
std::vector<TransportKind> AllTransportKinds();

// True when a TCP socket can be bound to [::1] (probed once, cached).
bool HostHasIpv6Loopback();

// A unique name: "<prefix>-<pid>-<random hex>".
std::string UniqueName(absl::string_view prefix);

// A fresh directory made with mkdtemp under $TEST_TMPDIR (when short enough
// for Unix socket paths below it) or /tmp; removed with its content when
// destroyed.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create();
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(absl::string_view name) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Two connected stream sockets over `kind`. `first` is the connecting side
// (client), `second` the accepted one (server); for a socketpair the two
// ends. Errors: kUnavailable for kTcp6 on a host without IPv6.
absl::StatusOr<std::pair<Socket, Socket>> ConnectedSockets(TransportKind kind);

// The same, wrapped in FramedConnections with the given options.
absl::StatusOr<std::pair<FramedConnection, FramedConnection>> ConnectedConnections(
    TransportKind kind, const ConnectionOptions& first_options = {},
    const ConnectionOptions& second_options = {});

// Deterministic bytes: the 8-byte word at offset 8*j is a hash of (j, salt),
// so shifted, reordered, dropped or repeated data never compares equal.
std::string PatternString(uint64_t size, uint32_t salt);
// The same bytes as a Cord of 1 MiB pieces; cached (callers share it).
absl::Cord PatternCord(uint64_t size, uint32_t salt);
// "" when `got` equals PatternCord(size, salt), otherwise a description of
// the sizes and the first differing offset.
std::string PatternMismatch(const absl::Cord& got, uint64_t size, uint32_t salt);
// "" when equal, otherwise the sizes and the first differing offset.
std::string CordMismatch(const absl::Cord& want, const absl::Cord& got);

// Open descriptors of this process (/proc/self/fd).
int CountOpenFds();

// Makes SIGPIPE take its default action (terminate) and unblocks it in the
// calling thread, so a test that survives a write to a closed peer proves
// MSG_NOSIGNAL is used. Installs no handler.
void RequireDefaultSigpipe();

// Base fixture for tests parameterized by transport.
class TransportTest : public ::testing::TestWithParam<TransportKind> {
 protected:
  void SetUp() override;
  TransportKind kind() const { return GetParam(); }
};

// Name generator for INSTANTIATE_TEST_SUITE_P.
std::string TransportTestName(const ::testing::TestParamInfo<TransportKind>& info);

}  // namespace iotest
}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_TESTING_TRANSPORT_FIXTURE_H_
