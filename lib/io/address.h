// File: lib/io/address.h
//
// Transport addresses as URIs:
//
//   tcp://host:port          host name (resolved with getaddrinfo) or IPv4
//   tcp://[::1]:port         IPv6 literal in brackets
//   unix:/path/to/socket     AF_UNIX path
//   unix-abstract:name       Linux abstract AF_UNIX name (no file)
//
// Datagram transports (lib/io/datagram_socket.h, lib/server/datagram_server.h):
//
//   udp://host:port          UDP; host as for tcp://
//   udp://[::1]:port         UDP over an IPv6 literal
//   unixgram:/path           AF_UNIX SOCK_DGRAM bound to a path
//   unixgram-abstract:name   AF_UNIX SOCK_DGRAM with an abstract name
//
// Stream code (Listener, Socket::Connect, FramedConnection::Dial,
// StreamServer) refuses a datagram URI with InvalidArgument ("... is a
// datagram address ..."), and datagram code refuses a stream URI.
//
// Port 0 asks the kernel for an ephemeral port when listening; the bound
// address is then reported by the listener.
#ifndef LPFRAME_LIB_IO_ADDRESS_H_
#define LPFRAME_LIB_IO_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lpframe {

enum class Transport {
  kTcp,
  kUnix,
  kUnixAbstract,
  // Datagram transports.
  kUdp,
  kUnixgram,
  kUnixgramAbstract,
};

// True for kUdp, kUnixgram and kUnixgramAbstract.
bool IsDatagramTransport(Transport transport);
// True for the AF_UNIX transports (path or abstract, stream or datagram).
bool IsUnixTransport(Transport transport);
// SOCK_STREAM or SOCK_DGRAM.
int SocketTypeOf(Transport transport);
// The URI scheme with its separator: "tcp://", "unix:", "udp://", ...
absl::string_view SchemeOf(Transport transport);

struct Address {
  Transport transport = Transport::kTcp;
  std::string host;   // kTcp, kUdp: name or literal, without brackets
  uint16_t port = 0;  // kTcp, kUdp
  // kUnix, kUnixgram: path; kUnixAbstract, kUnixgramAbstract: name without
  // the leading NUL.
  std::string path;

  // The canonical URI, e.g. "tcp://[::1]:8080", "unix:/tmp/s",
  // "udp://127.0.0.1:53", "unixgram-abstract:name".
  std::string ToString() const;
};

// Parses a URI. Errors: InvalidArgument naming the part that is wrong
// (scheme, host, port, path), e.g. "port \"99999\" in \"tcp://h:99999\" is
// not a number from 0 to 65535".
absl::StatusOr<Address> ParseAddress(absl::string_view uri);

// A resolved socket address (sockaddr of any family).
class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* sa, socklen_t length);

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* mutable_get() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  socklen_t* mutable_length() { return &length_; }
  int family() const { return storage_.ss_family; }

  // As a URI: "tcp://127.0.0.1:4000", "tcp://[::1]:4000", "unix:/p",
  // "unix-abstract:name"; "unix:" for an unnamed AF_UNIX socket.
  std::string ToString() const;
  // As a URI of a socket of `socket_type`: SOCK_DGRAM gives the datagram
  // schemes ("udp://127.0.0.1:4000", "udp://[::1]:4000", "unixgram:/p",
  // "unixgram-abstract:name", "unixgram:" when unnamed); any other type
  // gives ToString().
  std::string ToUri(int socket_type) const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// Resolves a stream `address` to the socket addresses to try, in order. For
// kTcp, getaddrinfo (with AI_PASSIVE when `for_listening` and the host is
// empty or "*"). Errors: NotFound when a name does not resolve (with
// gai_strerror text), InvalidArgument when a Unix path is too long for
// sockaddr_un, InvalidArgument for a datagram address ("udp://... is a
// datagram address; ..."), so that every stream caller refuses one.
absl::StatusOr<std::vector<SocketAddress>> ResolveAddress(const Address& address,
                                                          bool for_listening);

// The same for a datagram `address` (kUdp with SOCK_DGRAM hints, kUnixgram,
// kUnixgramAbstract). `for_binding` plays the part of `for_listening`.
// Errors as ResolveAddress; a stream address is InvalidArgument ("... is a
// stream address; ...").
absl::StatusOr<std::vector<SocketAddress>> ResolveDatagramAddress(const Address& address,
                                                                  bool for_binding);

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_ADDRESS_H_
