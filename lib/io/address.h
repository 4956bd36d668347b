// File: lib/io/address.h
//
// Transport addresses as URIs:
//
//   tcp://host:port          host name (resolved with getaddrinfo) or IPv4
//   tcp://[::1]:port         IPv6 literal in brackets
//   unix:/path/to/socket     AF_UNIX path
//   unix-abstract:name       Linux abstract AF_UNIX name (no file)
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

enum class Transport { kTcp, kUnix, kUnixAbstract };

struct Address {
  Transport transport = Transport::kTcp;
  std::string host;   // kTcp: name or literal, without brackets
  uint16_t port = 0;  // kTcp
  std::string path;   // kUnix: path; kUnixAbstract: name without the NUL

  // The canonical URI, e.g. "tcp://[::1]:8080", "unix:/tmp/s".
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

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// Resolves `address` to the socket addresses to try, in order. For kTcp,
// getaddrinfo (with AI_PASSIVE when `for_listening` and the host is empty
// or "*"). Errors: NotFound when a name does not resolve (with gai_strerror
// text), InvalidArgument when a Unix path is too long for sockaddr_un.
absl::StatusOr<std::vector<SocketAddress>> ResolveAddress(const Address& address,
                                                          bool for_listening);

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_ADDRESS_H_
