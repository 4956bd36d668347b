// File: lib/server/shutdown_signals.h
//
// ShutdownOnSignals makes SIGTERM and SIGINT shut servers down gracefully:
// while it lives, either signal calls Shutdown() of every registered server
// (async-signal-safe: an atomic flag and a write(2)). The previous handlers
// are restored when it is destroyed. SIGPIPE is not touched: lpframe sends
// with MSG_NOSIGNAL.
//
//   ShutdownOnSignals signals;
//   signals.Add(server.get());
//   server->ServeForever();   // returns after SIGTERM, once drained
//
// At most one ShutdownOnSignals at a time (a second one fails to install);
// at most 16 servers. Add() before the signals may arrive.
#ifndef LPFRAME_LIB_SERVER_SHUTDOWN_SIGNALS_H_
#define LPFRAME_LIB_SERVER_SHUTDOWN_SIGNALS_H_

#include <signal.h>

#include "absl/status/status.h"

namespace lpframe {

class ShutdownOnSignals {
 public:
  using ShutdownFn = void (*)(void* server);

  ShutdownOnSignals();
  ~ShutdownOnSignals();
  ShutdownOnSignals(const ShutdownOnSignals&) = delete;
  ShutdownOnSignals& operator=(const ShutdownOnSignals&) = delete;

  // OK once the handlers are installed.
  const absl::Status& status() const { return status_; }

  // Any server type with an async-signal-safe Shutdown().
  template <typename Server>
  absl::Status Add(Server* server) {
    return AddFn(+[](void* s) { static_cast<Server*>(s)->Shutdown(); }, server);
  }
  absl::Status AddFn(ShutdownFn fn, void* server);

  // The last signal that arrived, or 0.
  static int last_signal();

 private:
  absl::Status status_;
  struct sigaction old_term_ = {};
  struct sigaction old_int_ = {};
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SHUTDOWN_SIGNALS_H_
