#include "lib/io/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace lpframe {
namespace {

constexpr absl::string_view kTcpScheme = "tcp://";
constexpr absl::string_view kUnixScheme = "unix:";
constexpr absl::string_view kAbstractScheme = "unix-abstract:";
constexpr absl::string_view kUdpScheme = "udp://";
constexpr absl::string_view kUnixgramScheme = "unixgram:";
constexpr absl::string_view kUnixgramAbstractScheme = "unixgram-abstract:";

absl::Status Bad(absl::string_view uri, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("address \"", uri, "\": ", what));
}

// tcp://host:port or udp://host:port (`transport` says which).
absl::StatusOr<Address> ParseHostPort(absl::string_view uri, Transport transport) {
  const absl::string_view scheme = SchemeOf(transport);
  absl::string_view rest = uri.substr(scheme.size());
  Address address;
  address.transport = transport;
  absl::string_view port_text;
  if (absl::StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return Bad(uri, absl::StrCat("IPv6 host has no closing ']' (write ", scheme,
                                   "[::1]:port)"));
    }
    address.host = std::string(rest.substr(1, close - 1));
    in6_addr probe;
    if (inet_pton(AF_INET6, address.host.c_str(), &probe) != 1) {
      return Bad(uri, absl::StrCat("host \"[", address.host,
                                   "]\" is not an IPv6 address literal"));
    }
    rest.remove_prefix(close + 1);
    if (!absl::StartsWith(rest, ":")) {
      return Bad(uri, "missing \":port\" after the IPv6 host");
    }
    port_text = rest.substr(1);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return Bad(uri, absl::StrCat("missing \":port\" (write ", scheme, "host:port)"));
    }
    address.host = std::string(rest.substr(0, colon));
    if (address.host.find(':') != std::string::npos) {
      return Bad(uri, absl::StrCat("an IPv6 host must be in brackets (", scheme, "[::1]:port)"));
    }
    if (address.host.find('/') != std::string::npos) {
      return Bad(uri, absl::StrCat("host \"", address.host, "\" contains '/'"));
    }
    port_text = rest.substr(colon + 1);
  }
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535 ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos) {
    return Bad(uri, absl::StrCat("port \"", port_text, "\" is not a number from 0 to 65535"));
  }
  address.port = static_cast<uint16_t>(port);
  return address;
}

// "udp://127.0.0.1:53 is a datagram address; ..." for stream callers and
// the converse for datagram callers.
absl::Status WrongKind(const Address& address) {
  if (IsDatagramTransport(address.transport)) {
    return absl::InvalidArgumentError(absl::StrCat(
        address.ToString(), ": ", SchemeOf(address.transport),
        " is a datagram address; stream sockets, listeners and StreamServer need tcp://, "
        "unix: or unix-abstract: (use DatagramSocket or DatagramServer for datagrams)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      address.ToString(), ": ", SchemeOf(address.transport),
      " is a stream address; datagram sockets and DatagramServer need udp://, unixgram: or "
      "unixgram-abstract: (use Listener, FramedConnection or StreamServer for streams)"));
}

// The sockaddr_un of an AF_UNIX address (path or abstract name).
absl::StatusOr<std::vector<SocketAddress>> ResolveUnix(const Address& address) {
  std::vector<SocketAddress> out;
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  if (address.path.size() + 1 > sizeof(un.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(address.ToString(), ": path too long for sockaddr_un"));
  }
  socklen_t length;
  if (address.transport == Transport::kUnix || address.transport == Transport::kUnixgram) {
    std::memcpy(un.sun_path, address.path.data(), address.path.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.path.size() + 1);
  } else {
    std::memcpy(un.sun_path + 1, address.path.data(), address.path.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + address.path.size());
  }
  out.emplace_back(reinterpret_cast<const sockaddr*>(&un), length);
  return out;
}

// getaddrinfo for kTcp (SOCK_STREAM) and kUdp (SOCK_DGRAM).
absl::StatusOr<std::vector<SocketAddress>> ResolveInet(const Address& address,
                                                       bool for_listening) {
  std::vector<SocketAddress> out;
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SocketTypeOf(address.transport);
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  const bool any_host = address.host.empty() || address.host == "*";
  if (for_listening && any_host) hints.ai_flags |= AI_PASSIVE;
  const std::string port = absl::StrCat(address.port);
  addrinfo* result = nullptr;
  int rc = getaddrinfo(any_host ? nullptr : address.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0 && (hints.ai_flags & AI_ADDRCONFIG)) {
    // Loopback-only hosts have no configured address; retry without it.
    hints.ai_flags &= ~AI_ADDRCONFIG;
    rc = getaddrinfo(any_host ? nullptr : address.host.c_str(), port.c_str(), &hints, &result);
  }
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve host \"", address.host, "\" of ",
                                            address.ToString(), ": ", gai_strerror(rc)));
  }
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    out.emplace_back(ai->ai_addr, ai->ai_addrlen);
  }
  freeaddrinfo(result);
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("host of ", address.ToString(), " has no address"));
  }
  return out;
}

}  // namespace

bool IsDatagramTransport(Transport transport) {
  return transport == Transport::kUdp || transport == Transport::kUnixgram ||
         transport == Transport::kUnixgramAbstract;
}

bool IsUnixTransport(Transport transport) {
  return transport != Transport::kTcp && transport != Transport::kUdp;
}

int SocketTypeOf(Transport transport) {
  return IsDatagramTransport(transport) ? SOCK_DGRAM : SOCK_STREAM;
}

absl::string_view SchemeOf(Transport transport) {
  switch (transport) {
    case Transport::kTcp:
      return kTcpScheme;
    case Transport::kUnix:
      return kUnixScheme;
    case Transport::kUnixAbstract:
      return kAbstractScheme;
    case Transport::kUdp:
      return kUdpScheme;
    case Transport::kUnixgram:
      return kUnixgramScheme;
    case Transport::kUnixgramAbstract:
      return kUnixgramAbstractScheme;
  }
  return "";
}

std::string Address::ToString() const {
  switch (transport) {
    case Transport::kTcp:
    case Transport::kUdp:
      if (host.find(':') != std::string::npos) {
        return absl::StrCat(SchemeOf(transport), "[", host, "]:", port);
      }
      return absl::StrCat(SchemeOf(transport), host, ":", port);
    case Transport::kUnix:
    case Transport::kUnixAbstract:
    case Transport::kUnixgram:
    case Transport::kUnixgramAbstract:
      return absl::StrCat(SchemeOf(transport), path);
  }
  return "";
}

absl::StatusOr<Address> ParseAddress(absl::string_view uri) {
  if (absl::StartsWith(uri, kTcpScheme)) return ParseHostPort(uri, Transport::kTcp);
  if (absl::StartsWith(uri, kUdpScheme)) return ParseHostPort(uri, Transport::kUdp);
  Address address;
  if (absl::StartsWith(uri, kAbstractScheme) || absl::StartsWith(uri, kUnixgramAbstractScheme)) {
    address.transport = absl::StartsWith(uri, kAbstractScheme) ? Transport::kUnixAbstract
                                                               : Transport::kUnixgramAbstract;
    address.path = std::string(uri.substr(SchemeOf(address.transport).size()));
    if (address.path.empty()) return Bad(uri, "abstract socket name is empty");
    if (address.path.find('\0') != std::string::npos) {
      return Bad(uri, "abstract socket name contains a NUL byte");
    }
  } else if (absl::StartsWith(uri, kUnixScheme) || absl::StartsWith(uri, kUnixgramScheme)) {
    address.transport =
        absl::StartsWith(uri, kUnixScheme) ? Transport::kUnix : Transport::kUnixgram;
    address.path = std::string(uri.substr(SchemeOf(address.transport).size()));
    if (address.path.empty()) return Bad(uri, "Unix socket path is empty");
    if (address.path.find('\0') != std::string::npos) {
      return Bad(uri, "Unix socket path contains a NUL byte");
    }
  } else {
    const size_t colon = uri.find(':');
    return Bad(uri, absl::StrCat("unknown scheme \"",
                                 colon == absl::string_view::npos ? uri : uri.substr(0, colon),
                                 "\"; expected tcp://, unix: or unix-abstract: (streams), "
                                 "udp://, unixgram: or unixgram-abstract: (datagrams)"));
  }
  sockaddr_un probe;
  const size_t room = sizeof(probe.sun_path) - 1;
  if (address.path.size() > room) {
    return Bad(uri, absl::StrCat("Unix socket path is ", address.path.size(),
                                 " bytes; sockaddr_un holds at most ", room));
  }
  return address;
}

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t length) {
  length_ = std::min<socklen_t>(length, sizeof(storage_));
  std::memcpy(&storage_, sa, length_);
}

std::string SocketAddress::ToString() const { return ToUri(SOCK_STREAM); }

std::string SocketAddress::ToUri(int socket_type) const {
  const bool datagram = socket_type == SOCK_DGRAM;
  const absl::string_view inet = datagram ? kUdpScheme : kTcpScheme;
  const absl::string_view unix_path = datagram ? kUnixgramScheme : kUnixScheme;
  const absl::string_view unix_abstract = datagram ? kUnixgramAbstractScheme : kAbstractScheme;
  char text[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET: {
      sockaddr_in in;
      std::memcpy(&in, &storage_, sizeof(in));
      inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
      return absl::StrCat(inet, text, ":", ntohs(in.sin_port));
    }
    case AF_INET6: {
      sockaddr_in6 in6;
      std::memcpy(&in6, &storage_, sizeof(in6));
      inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
      return absl::StrCat(inet, "[", text, "]:", ntohs(in6.sin6_port));
    }
    case AF_UNIX: {
      sockaddr_un un;
      std::memset(&un, 0, sizeof(un));
      std::memcpy(&un, &storage_, std::min<size_t>(length_, sizeof(un)));
      const size_t path_bytes =
          length_ > offsetof(sockaddr_un, sun_path) ? length_ - offsetof(sockaddr_un, sun_path)
                                                    : 0;
      if (path_bytes == 0) return std::string(unix_path);
      if (un.sun_path[0] == '\0') {
        return absl::StrCat(unix_abstract, absl::string_view(un.sun_path + 1, path_bytes - 1));
      }
      return absl::StrCat(unix_path,
                          absl::string_view(un.sun_path, strnlen(un.sun_path, path_bytes)));
    }
    default:
      return absl::StrCat("(address family ", family(), ")");
  }
}

absl::StatusOr<std::vector<SocketAddress>> ResolveAddress(const Address& address,
                                                          bool for_listening) {
  if (IsDatagramTransport(address.transport)) return WrongKind(address);
  if (address.transport != Transport::kTcp) return ResolveUnix(address);
  return ResolveInet(address, for_listening);
}

absl::StatusOr<std::vector<SocketAddress>> ResolveDatagramAddress(const Address& address,
                                                                  bool for_binding) {
  if (!IsDatagramTransport(address.transport)) return WrongKind(address);
  if (address.transport != Transport::kUdp) return ResolveUnix(address);
  return ResolveInet(address, for_binding);
}

}  // namespace lpframe
