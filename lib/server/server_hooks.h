// File: lib/server/server_hooks.h
//
// Hooks shared by the stream and datagram servers.
//
// VerifyPeer decides whether a peer is served at all (socketserver's
// verify_request): OK serves it; any other status refuses it. A refused
// stream peer gets a KIND_ERROR frame carrying that status (when error
// frames are enabled) and is closed; a refused datagram is dropped. Both are
// counted and reported to the error hook.
//
// The error hook sees every connection- or datagram-level failure the server
// survives (framing errors, timeouts, budget refusals, handler errors,
// refused peers) and is expected to log and return: the server keeps
// serving. It runs on a server thread; keep it short and thread-safe.
#ifndef LPFRAME_LIB_SERVER_SERVER_HOOKS_H_
#define LPFRAME_LIB_SERVER_SERVER_HOOKS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "lib/server/peer_info.h"

namespace lpframe {

using VerifyPeerFn = std::function<absl::Status(const PeerInfo& peer)>;

struct ServerError {
  PeerInfo peer;
  // What happened, with a FrameErrorCode payload where one applies
  // (lib/frame_error.h): e.g. PAYLOAD_TOO_LARGE, STALL_TIMEOUT,
  // MEMORY_BUDGET_EXCEEDED.
  absl::Status status;
  // Where: "accept", "verify_peer", "read", "handler", "write", "timeout",
  // "budget", "datagram".
  std::string stage;
};

using ErrorHookFn = std::function<void(const ServerError& error)>;

// The default error hook: one line on stderr per error.
void LogServerError(const ServerError& error);

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SERVER_HOOKS_H_
