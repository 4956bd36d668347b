// File: lib/server/peer_info.h
//
// What a server knows about the other end of a connection or datagram,
// handed to VerifyPeer hooks, handlers and error hooks.
#ifndef LPFRAME_LIB_SERVER_PEER_INFO_H_
#define LPFRAME_LIB_SERVER_PEER_INFO_H_

#include <cstdint>
#include <optional>
#include <string>

#include "lib/io/address.h"
#include "lib/io/socket.h"

namespace lpframe {

struct PeerInfo {
  // Server-wide id of the connection (stream servers), 0 for datagrams.
  uint64_t connection_id = 0;
  // The peer as a URI: "tcp://127.0.0.1:50123", "unix:" for an unnamed
  // AF_UNIX client, "unixgram:/tmp/client.sock", ...
  std::string address;
  // The local address the peer reached, as a URI.
  std::string local_address;
  // SO_PEERCRED on AF_UNIX stream connections; unset elsewhere.
  std::optional<PeerCredentials> credentials;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_PEER_INFO_H_
