// File: lib/server/stream_handler.h
//
// StreamHandler serves one connection of a stream server, like a
// socketserver request handler: the server makes one handler per accepted
// connection (HandlerFactory) and calls it for each message, in order.
//
// Calls for one connection never overlap: OnOpen, then OnMessage for each
// message in arrival order, then OnClose exactly once. Calls for different
// connections may run at the same time on different threads (reactor with
// workers, several reactors, thread per connection); in the fork model
// each handler lives in its own child process.
#ifndef LPFRAME_LIB_SERVER_STREAM_HANDLER_H_
#define LPFRAME_LIB_SERVER_STREAM_HANDLER_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "lib/message.h"
#include "lib/server/session.h"

namespace lpframe {

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;

  // The connection was accepted (and VerifyPeer allowed it).
  virtual void OnOpen(Session& session) {}

  // One message from the peer. A non-OK status closes this connection
  // only: the peer gets a KIND_ERROR frame with the status (HANDLER_ERROR)
  // when error frames are on, and the error hook sees it.
  virtual absl::Status OnMessage(Session& session, Message message) = 0;

  // Optional fast path for small messages, with the same meaning as
  // OnMessage. A handler whose TakesMessageViews() returns true (asked once
  // per connection) may get a message whose payload is at most 4 KiB here
  // instead: `payload` is a view into the server's read buffer, valid only
  // during the call (copy what must outlive it; Session::Send copies it).
  // Messages come through either method, in arrival order. Only the
  // reactor model with inline handlers (no worker pool) uses it; the
  // default forwards to OnMessage.
  virtual bool TakesMessageViews() const { return false; }
  virtual absl::Status OnMessageView(Session& session, const Envelope& envelope,
                                     absl::string_view payload) {
    return OnMessage(session, Message{envelope, absl::Cord(payload)});
  }

  // The connection is closed. `reason` is END_OF_STREAM for a clean close
  // by the peer, SHUTTING_DOWN, or the error that closed it.
  virtual void OnClose(Session& session, const absl::Status& reason) {}
};

using HandlerFactory = std::function<std::unique_ptr<StreamHandler>()>;

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_STREAM_HANDLER_H_
