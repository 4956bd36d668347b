// Tests for lib/io/address: URI parsing (valid forms and errors that name
// the wrong part), canonical ToString round trips, SocketAddress formatting
// of every family, and resolution (loopback names only; no DNS traffic).
#include "lib/io/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The longest path sockaddr_un holds (with its terminating NUL).
constexpr size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

TEST(AddressTest, MaxUnixPathIs107) { EXPECT_EQ(kMaxUnixPath, 107u); }

TEST(AddressTest, ParsesValidUris) {
  struct Case {
    std::string uri;
    Transport transport;
    std::string host;
    uint16_t port;
    std::string path;
    std::string canonical;  // Address::ToString()
  };
  const std::string long_path = "/" + std::string(kMaxUnixPath - 1, 'p');
  const std::string long_name(kMaxUnixPath, 'n');
  const Case cases[] = {
      {"tcp://127.0.0.1:8080", Transport::kTcp, "127.0.0.1", 8080, "", "tcp://127.0.0.1:8080"},
      {"tcp://localhost:1", Transport::kTcp, "localhost", 1, "", "tcp://localhost:1"},
      {"tcp://example.com:65535", Transport::kTcp, "example.com", 65535, "",
       "tcp://example.com:65535"},
      {"tcp://127.0.0.1:0", Transport::kTcp, "127.0.0.1", 0, "", "tcp://127.0.0.1:0"},
      {"tcp://[::1]:0", Transport::kTcp, "::1", 0, "", "tcp://[::1]:0"},
      {"tcp://[::1]:4000", Transport::kTcp, "::1", 4000, "", "tcp://[::1]:4000"},
      {"tcp://[fe80::1:2]:65535", Transport::kTcp, "fe80::1:2", 65535, "",
       "tcp://[fe80::1:2]:65535"},
      {"tcp://[::]:80", Transport::kTcp, "::", 80, "", "tcp://[::]:80"},
      {"tcp://:7000", Transport::kTcp, "", 7000, "", "tcp://:7000"},
      {"tcp://*:7000", Transport::kTcp, "*", 7000, "", "tcp://*:7000"},
      {"tcp://h:007", Transport::kTcp, "h", 7, "", "tcp://h:7"},
      {"unix:/p", Transport::kUnix, "", 0, "/p", "unix:/p"},
      {"unix:/tmp/lpframe.sock", Transport::kUnix, "", 0, "/tmp/lpframe.sock",
       "unix:/tmp/lpframe.sock"},
      {"unix:relative/s.sock", Transport::kUnix, "", 0, "relative/s.sock",
       "unix:relative/s.sock"},
      {"unix:" + long_path, Transport::kUnix, "", 0, long_path, "unix:" + long_path},
      {"unix-abstract:n", Transport::kUnixAbstract, "", 0, "n", "unix-abstract:n"},
      {"unix-abstract:lpframe/test 1", Transport::kUnixAbstract, "", 0, "lpframe/test 1",
       "unix-abstract:lpframe/test 1"},
      {"unix-abstract:" + long_name, Transport::kUnixAbstract, "", 0, long_name,
       "unix-abstract:" + long_name},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.uri);
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->transport, c.transport);
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
    EXPECT_EQ(a->path, c.path);
    EXPECT_EQ(a->ToString(), c.canonical);
    // The canonical form parses back to the same address.
    absl::StatusOr<Address> again = ParseAddress(a->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->transport, a->transport);
    EXPECT_EQ(again->host, a->host);
    EXPECT_EQ(again->port, a->port);
    EXPECT_EQ(again->path, a->path);
  }
}

TEST(AddressTest, ErrorsNameTheWrongPart) {
  struct Case {
    std::string uri;
    std::vector<std::string> must_contain;
  };
  const Case cases[] = {
      // Port.
      {"tcp://host", {"missing \":port\""}},
      {"tcp://127.0.0.1", {"missing \":port\""}},
      {"tcp://host:", {"port \"\"", "0 to 65535"}},
      {"tcp://host:70000", {"port \"70000\"", "0 to 65535"}},
      {"tcp://host:65536", {"port \"65536\""}},
      {"tcp://host:99999999999", {"port \"99999999999\""}},
      {"tcp://host:abc", {"port \"abc\"", "not a number"}},
      {"tcp://host:-1", {"port \"-1\""}},
      {"tcp://host:+80", {"port \"+80\""}},
      {"tcp://host:80x", {"port \"80x\""}},
      {"tcp://host: 80", {"port \" 80\""}},
      {"tcp://[::1]:70000", {"port \"70000\""}},
      {"tcp://[::1]:abc", {"port \"abc\""}},
      // IPv6 host.
      {"tcp://::1:80", {"IPv6 host must be in brackets"}},
      {"tcp://fe80::1:80", {"IPv6 host must be in brackets"}},
      {"tcp://[::1]", {"missing \":port\" after the IPv6 host"}},
      {"tcp://[::1]80", {"missing \":port\" after the IPv6 host"}},
      {"tcp://[::1:80", {"no closing ']'"}},
      {"tcp://[127.0.0.1]:80", {"host \"[127.0.0.1]\"", "not an IPv6 address literal"}},
      {"tcp://[hello]:80", {"host \"[hello]\"", "not an IPv6 address literal"}},
      // Other host errors.
      {"tcp://a/b:80", {"host \"a/b\"", "contains '/'"}},
      // Scheme.
      {"http://example.com:80", {"unknown scheme \"http\"", "tcp://", "unix:",
                                 "unix-abstract:", "udp://", "unixgram:",
                                 "unixgram-abstract:"}},
      {"https://[::1]:443", {"unknown scheme \"https\""}},
      {"sctp://127.0.0.1:53", {"unknown scheme \"sctp\""}},
      {"TCP://127.0.0.1:80", {"unknown scheme \"TCP\""}},
      {"localhost", {"unknown scheme \"localhost\""}},
      {"", {"unknown scheme"}},
      // Unix paths and names.
      {"unix:", {"Unix socket path is empty"}},
      {"unix-abstract:", {"abstract socket name is empty"}},
      {"unix:/" + std::string(kMaxUnixPath, 'x'),
       {"Unix socket path is 108 bytes", "at most 107"}},
      {"unix:/" + std::string(300, 'x'), {"Unix socket path is 301 bytes", "at most 107"}},
      {"unix-abstract:" + std::string(kMaxUnixPath + 1, 'x'),
       {"108 bytes", "at most 107"}},
      {std::string("unix:/tmp/a\0b", 13), {"contains a NUL byte"}},
      {std::string("unix-abstract:a\0b", 17), {"contains a NUL byte"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("\"", absl::CHexEscape(c.uri), "\""));
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_FALSE(a.ok()) << "parsed as " << a->ToString();
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << a.status();
    for (const std::string& part : c.must_contain) {
      EXPECT_THAT(std::string(a.status().message()), HasSubstr(part));
    }
    if (c.uri.find('\0') == std::string::npos && !c.uri.empty()) {
      EXPECT_THAT(std::string(a.status().message()), HasSubstr(absl::StrCat("\"", c.uri, "\"")))
          << "the message quotes the whole URI";
    }
  }
}

TEST(AddressTest, SocketAddressToStringOfEveryFamily) {
  {
    sockaddr_in in;
    std::memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons(4000);
    ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr), 1);
    SocketAddress sa(reinterpret_cast<sockaddr*>(&in), sizeof(in));
    EXPECT_EQ(sa.family(), AF_INET);
    EXPECT_EQ(sa.length(), sizeof(in));
    EXPECT_EQ(sa.ToString(), "tcp://127.0.0.1:4000");
  }
  {
    sockaddr_in6 in6;
    std::memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(65535);
    in6.sin6_addr = in6addr_loopback;
    SocketAddress sa(reinterpret_cast<sockaddr*>(&in6), sizeof(in6));
    EXPECT_EQ(sa.family(), AF_INET6);
    EXPECT_EQ(sa.ToString(), "tcp://[::1]:65535");
  }
  {
    sockaddr_un un;
    std::memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, "/tmp/x.sock");
    SocketAddress sa(reinterpret_cast<sockaddr*>(&un),
                     offsetof(sockaddr_un, sun_path) + std::strlen(un.sun_path) + 1);
    EXPECT_EQ(sa.ToString(), "unix:/tmp/x.sock");
    // Without the terminating NUL in the length (as some kernels report).
    SocketAddress no_nul(reinterpret_cast<sockaddr*>(&un),
                         offsetof(sockaddr_un, sun_path) + std::strlen(un.sun_path));
    EXPECT_EQ(no_nul.ToString(), "unix:/tmp/x.sock");
  }
  {
    // Abstract: a leading NUL, the name's length given by the address length;
    // the name may contain any byte but NUL.
    sockaddr_un un;
    std::memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    const std::string name = "lpframe test/1";
    std::memcpy(un.sun_path + 1, name.data(), name.size());
    SocketAddress sa(reinterpret_cast<sockaddr*>(&un),
                     offsetof(sockaddr_un, sun_path) + 1 + name.size());
    EXPECT_EQ(sa.ToString(), "unix-abstract:lpframe test/1");
  }
  {
    // Unnamed (an unbound socketpair end): only the family.
    sockaddr_un un;
    std::memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    SocketAddress sa(reinterpret_cast<sockaddr*>(&un), sizeof(sa_family_t));
    EXPECT_EQ(sa.ToString(), "unix:");
  }
  {
    sockaddr_storage ss;
    std::memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_APPLETALK;
    SocketAddress sa(reinterpret_cast<sockaddr*>(&ss), sizeof(sa_family_t) + 4);
    EXPECT_EQ(sa.ToString(), absl::StrCat("(address family ", AF_APPLETALK, ")"));
  }
  {
    SocketAddress empty;
    EXPECT_EQ(empty.length(), 0u);
  }
}

// URI -> Address -> sockaddr -> URI gives back the canonical URI.
TEST(AddressTest, ResolveAndToStringRoundTrip) {
  const std::string long_path = "/" + std::string(kMaxUnixPath - 1, 'q');
  const std::string long_name(kMaxUnixPath, 'a');
  struct Case {
    std::string uri;
    int family;
    socklen_t length;  // 0: do not check
  };
  const Case cases[] = {
      {"tcp://127.0.0.1:4000", AF_INET, sizeof(sockaddr_in)},
      {"tcp://127.0.0.1:0", AF_INET, sizeof(sockaddr_in)},
      {"tcp://10.1.2.3:65535", AF_INET, sizeof(sockaddr_in)},
      {"tcp://[::1]:4000", AF_INET6, sizeof(sockaddr_in6)},
      {"tcp://[fe80::1:2]:1", AF_INET6, sizeof(sockaddr_in6)},
      {"unix:/tmp/x.sock", AF_UNIX,
       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sizeof("/tmp/x.sock"))},
      {"unix:" + long_path, AF_UNIX, static_cast<socklen_t>(sizeof(sockaddr_un))},
      {"unix-abstract:lpframe-test", AF_UNIX,
       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + 12)},
      {"unix-abstract:" + long_name, AF_UNIX, static_cast<socklen_t>(sizeof(sockaddr_un))},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.uri);
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_TRUE(a.ok()) << a.status();
    for (bool for_listening : {false, true}) {
      SCOPED_TRACE(for_listening ? "for listening" : "for connecting");
      absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveAddress(*a, for_listening);
      ASSERT_TRUE(resolved.ok()) << resolved.status();
      ASSERT_EQ(resolved->size(), 1u);
      const SocketAddress& sa = resolved->front();
      EXPECT_EQ(sa.family(), c.family);
      if (c.length != 0) {
        EXPECT_EQ(sa.length(), c.length);
      }
      EXPECT_EQ(sa.ToString(), c.uri);
    }
  }
}

TEST(AddressTest, ResolveLocalhostGivesLoopbackAddresses) {
  absl::StatusOr<Address> a = ParseAddress("tcp://localhost:1");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveAddress(*a, false);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_GE(resolved->size(), 1u);
  for (const SocketAddress& sa : *resolved) {
    SCOPED_TRACE(sa.ToString());
    EXPECT_THAT(sa.family(), AnyOf(AF_INET, AF_INET6));
    EXPECT_THAT(sa.ToString(), AnyOf(StartsWith("tcp://127."), StartsWith("tcp://[::1]")));
    EXPECT_TRUE(absl::EndsWith(sa.ToString(), ":1"));
  }
}

TEST(AddressTest, ResolveWildcardForListening) {
  for (const char* uri : {"tcp://:0", "tcp://*:5000"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<Address> a = ParseAddress(uri);
    ASSERT_TRUE(a.ok()) << a.status();
    absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveAddress(*a, true);
    ASSERT_TRUE(resolved.ok()) << resolved.status();
    ASSERT_GE(resolved->size(), 1u);
    const std::string port = absl::StrCat(":", a->port);
    for (const SocketAddress& sa : *resolved) {
      SCOPED_TRACE(sa.ToString());
      EXPECT_THAT(sa.ToString(), AnyOf(StartsWith("tcp://0.0.0.0:"), StartsWith("tcp://[::]:")));
      EXPECT_TRUE(absl::EndsWith(sa.ToString(), port));
    }
  }
}

TEST(AddressTest, ResolveRejectsUnixPathTooLongForSockaddr) {
  // Built directly, bypassing ParseAddress's own check.
  for (Transport t : {Transport::kUnix, Transport::kUnixAbstract}) {
    Address a;
    a.transport = t;
    a.path = "/" + std::string(kMaxUnixPath, 'z');  // 108 bytes
    absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveAddress(a, false);
    ASSERT_FALSE(resolved.ok());
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(resolved.status().message()), HasSubstr("too long"));
  }
}

// --- Datagram transports --------------------------------------------------

TEST(AddressTest, ParsesDatagramUris) {
  struct Case {
    std::string uri;
    Transport transport;
    std::string host;
    uint16_t port;
    std::string path;
    std::string canonical;
  };
  const std::string long_path = "/" + std::string(kMaxUnixPath - 1, 'p');
  const std::string long_name(kMaxUnixPath, 'n');
  const Case cases[] = {
      {"udp://127.0.0.1:53", Transport::kUdp, "127.0.0.1", 53, "", "udp://127.0.0.1:53"},
      {"udp://localhost:0", Transport::kUdp, "localhost", 0, "", "udp://localhost:0"},
      {"udp://[::1]:4000", Transport::kUdp, "::1", 4000, "", "udp://[::1]:4000"},
      {"udp://[::]:65535", Transport::kUdp, "::", 65535, "", "udp://[::]:65535"},
      {"udp://:7000", Transport::kUdp, "", 7000, "", "udp://:7000"},
      {"udp://*:7000", Transport::kUdp, "*", 7000, "", "udp://*:7000"},
      {"udp://h:007", Transport::kUdp, "h", 7, "", "udp://h:7"},
      {"unixgram:/tmp/d.sock", Transport::kUnixgram, "", 0, "/tmp/d.sock",
       "unixgram:/tmp/d.sock"},
      {"unixgram:rel/d", Transport::kUnixgram, "", 0, "rel/d", "unixgram:rel/d"},
      {"unixgram:" + long_path, Transport::kUnixgram, "", 0, long_path, "unixgram:" + long_path},
      {"unixgram-abstract:n", Transport::kUnixgramAbstract, "", 0, "n", "unixgram-abstract:n"},
      {"unixgram-abstract:lpframe dgram/1", Transport::kUnixgramAbstract, "", 0,
       "lpframe dgram/1", "unixgram-abstract:lpframe dgram/1"},
      {"unixgram-abstract:" + long_name, Transport::kUnixgramAbstract, "", 0, long_name,
       "unixgram-abstract:" + long_name},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.uri);
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->transport, c.transport);
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
    EXPECT_EQ(a->path, c.path);
    EXPECT_EQ(a->ToString(), c.canonical);
    EXPECT_TRUE(IsDatagramTransport(a->transport));
    EXPECT_EQ(SocketTypeOf(a->transport), SOCK_DGRAM);
    absl::StatusOr<Address> again = ParseAddress(a->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->transport, a->transport);
    EXPECT_EQ(again->host, a->host);
    EXPECT_EQ(again->port, a->port);
    EXPECT_EQ(again->path, a->path);
  }
}

TEST(AddressTest, TransportHelpers) {
  struct Case {
    Transport transport;
    bool datagram;
    bool unix_family;
    const char* scheme;
  };
  const Case cases[] = {
      {Transport::kTcp, false, false, "tcp://"},
      {Transport::kUnix, false, true, "unix:"},
      {Transport::kUnixAbstract, false, true, "unix-abstract:"},
      {Transport::kUdp, true, false, "udp://"},
      {Transport::kUnixgram, true, true, "unixgram:"},
      {Transport::kUnixgramAbstract, true, true, "unixgram-abstract:"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.scheme);
    EXPECT_EQ(IsDatagramTransport(c.transport), c.datagram);
    EXPECT_EQ(IsUnixTransport(c.transport), c.unix_family);
    EXPECT_EQ(SocketTypeOf(c.transport), c.datagram ? SOCK_DGRAM : SOCK_STREAM);
    EXPECT_EQ(SchemeOf(c.transport), c.scheme);
  }
}

TEST(AddressTest, DatagramErrorsNameTheWrongPart) {
  struct Case {
    std::string uri;
    std::vector<std::string> must_contain;
  };
  const Case cases[] = {
      {"udp://host", {"missing \":port\"", "udp://host:port"}},
      {"udp://host:", {"port \"\"", "0 to 65535"}},
      {"udp://host:65536", {"port \"65536\""}},
      {"udp://host:x1", {"port \"x1\"", "not a number"}},
      {"udp://::1:53", {"IPv6 host must be in brackets", "udp://[::1]:port"}},
      {"udp://[::1]", {"missing \":port\" after the IPv6 host"}},
      {"udp://[::1:53", {"no closing ']'", "udp://[::1]:port"}},
      {"udp://[10.0.0.1]:53", {"host \"[10.0.0.1]\"", "not an IPv6 address literal"}},
      {"udp://a/b:53", {"host \"a/b\"", "contains '/'"}},
      {"UDP://h:1", {"unknown scheme \"UDP\""}},
      {"unixgram:", {"Unix socket path is empty"}},
      {"unixgram-abstract:", {"abstract socket name is empty"}},
      {"unixgram:/" + std::string(kMaxUnixPath, 'x'),
       {"Unix socket path is 108 bytes", "at most 107"}},
      {"unixgram-abstract:" + std::string(kMaxUnixPath + 1, 'x'), {"108 bytes", "at most 107"}},
      {std::string("unixgram:/tmp/a\0b", 17), {"contains a NUL byte"}},
      {std::string("unixgram-abstract:a\0b", 21), {"contains a NUL byte"}},
      {"unixdgram:/tmp/x", {"unknown scheme \"unixdgram\"", "unixgram:"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("\"", absl::CHexEscape(c.uri), "\""));
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_FALSE(a.ok()) << "parsed as " << a->ToString();
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << a.status();
    for (const std::string& part : c.must_contain) {
      EXPECT_THAT(std::string(a.status().message()), HasSubstr(part));
    }
  }
}

TEST(AddressTest, SocketAddressToUriOfDatagramSockets) {
  sockaddr_in in;
  std::memset(&in, 0, sizeof(in));
  in.sin_family = AF_INET;
  in.sin_port = htons(53);
  ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr), 1);
  SocketAddress v4(reinterpret_cast<sockaddr*>(&in), sizeof(in));
  EXPECT_EQ(v4.ToUri(SOCK_DGRAM), "udp://127.0.0.1:53");
  EXPECT_EQ(v4.ToUri(SOCK_STREAM), "tcp://127.0.0.1:53");
  EXPECT_EQ(v4.ToString(), "tcp://127.0.0.1:53") << "ToString() is unchanged";

  sockaddr_in6 in6;
  std::memset(&in6, 0, sizeof(in6));
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(4000);
  in6.sin6_addr = in6addr_loopback;
  SocketAddress v6(reinterpret_cast<sockaddr*>(&in6), sizeof(in6));
  EXPECT_EQ(v6.ToUri(SOCK_DGRAM), "udp://[::1]:4000");

  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  std::strcpy(un.sun_path, "/tmp/d.sock");
  SocketAddress path(reinterpret_cast<sockaddr*>(&un),
                     offsetof(sockaddr_un, sun_path) + std::strlen(un.sun_path) + 1);
  EXPECT_EQ(path.ToUri(SOCK_DGRAM), "unixgram:/tmp/d.sock");
  EXPECT_EQ(path.ToUri(SOCK_STREAM), "unix:/tmp/d.sock");

  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path + 1, "abc", 3);
  SocketAddress abstract(reinterpret_cast<sockaddr*>(&un), offsetof(sockaddr_un, sun_path) + 4);
  EXPECT_EQ(abstract.ToUri(SOCK_DGRAM), "unixgram-abstract:abc");

  SocketAddress unnamed(reinterpret_cast<sockaddr*>(&un), sizeof(sa_family_t));
  EXPECT_EQ(unnamed.ToUri(SOCK_DGRAM), "unixgram:");
}

TEST(AddressTest, ResolveDatagramAddressRoundTrip) {
  struct Case {
    std::string uri;
    int family;
    socklen_t length;
  };
  const Case cases[] = {
      {"udp://127.0.0.1:4000", AF_INET, sizeof(sockaddr_in)},
      {"udp://127.0.0.1:0", AF_INET, sizeof(sockaddr_in)},
      {"udp://[::1]:4000", AF_INET6, sizeof(sockaddr_in6)},
      {"unixgram:/tmp/x.sock", AF_UNIX,
       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sizeof("/tmp/x.sock"))},
      {"unixgram-abstract:lpframe-test", AF_UNIX,
       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + 12)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.uri);
    absl::StatusOr<Address> a = ParseAddress(c.uri);
    ASSERT_TRUE(a.ok()) << a.status();
    for (bool for_binding : {false, true}) {
      absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveDatagramAddress(*a, for_binding);
      ASSERT_TRUE(resolved.ok()) << resolved.status();
      ASSERT_EQ(resolved->size(), 1u);
      EXPECT_EQ(resolved->front().family(), c.family);
      EXPECT_EQ(resolved->front().length(), c.length);
      EXPECT_EQ(resolved->front().ToUri(SOCK_DGRAM), c.uri);
    }
  }
}

TEST(AddressTest, ResolveDatagramWildcardForBinding) {
  absl::StatusOr<Address> a = ParseAddress("udp://*:5000");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveDatagramAddress(*a, true);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_GE(resolved->size(), 1u);
  for (const SocketAddress& sa : *resolved) {
    EXPECT_THAT(sa.ToUri(SOCK_DGRAM),
                AnyOf(StartsWith("udp://0.0.0.0:5000"), StartsWith("udp://[::]:5000")));
  }
}

// Stream callers (Listener, Socket::Connect, StreamServer) get a clear error
// for a datagram URI, and datagram callers for a stream URI.
TEST(AddressTest, StreamAndDatagramResolutionRefuseTheOtherKind) {
  for (const char* uri : {"udp://127.0.0.1:53", "unixgram:/tmp/x", "unixgram-abstract:x"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<Address> a = ParseAddress(uri);
    ASSERT_TRUE(a.ok()) << a.status();
    absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveAddress(*a, true);
    ASSERT_FALSE(resolved.ok());
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(resolved.status().message()), HasSubstr("is a datagram address"));
    EXPECT_THAT(std::string(resolved.status().message()), HasSubstr("DatagramServer"));
    EXPECT_THAT(std::string(resolved.status().message()), HasSubstr(uri));
  }
  for (const char* uri : {"tcp://127.0.0.1:53", "unix:/tmp/x", "unix-abstract:x"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<Address> a = ParseAddress(uri);
    ASSERT_TRUE(a.ok()) << a.status();
    absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveDatagramAddress(*a, true);
    ASSERT_FALSE(resolved.ok());
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(resolved.status().message()), HasSubstr("is a stream address"));
  }
}

}  // namespace
}  // namespace lpframe
