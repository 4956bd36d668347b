// File: lib/io/listener.h
//
// A listening stream socket bound to an Address: TCP (SO_REUSEADDR, backlog
// SOMAXCONN), a Unix path, or an abstract Unix name. Port 0 binds an
// ephemeral port; address() reports what was bound.
//
// Unix paths: a path held by a live listener is never taken over (bind
// fails with kAlreadyExists naming the path); a stale socket file (nothing
// accepts on it) is replaced. A listener removes the path it created when
// it is destroyed. A non-socket file at the path is never removed.
//
// Thread-compatible; Accept() may be called from one thread while another
// only reads address().
#ifndef LPFRAME_LIB_IO_LISTENER_H_
#define LPFRAME_LIB_IO_LISTENER_H_

#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/io/address.h"
#include "lib/io/socket.h"

namespace lpframe {

struct ListenOptions {
  // TCP only: SO_REUSEPORT, so several listeners (one per reactor thread)
  // share one port and the kernel spreads connections among them. The first
  // listener may bind port 0; the others then bind the port it got.
  bool reuse_port = false;
  int backlog = SOMAXCONN;
};

class Listener {
 public:
  Listener(Listener&&) = default;
  // The listener assigned over is closed and its Unix path removed, as if
  // it were destroyed.
  Listener& operator=(Listener&& other) noexcept;
  ~Listener();

  // Binds and listens. For TCP with a host name, the first resolved
  // address that binds is used.
  static absl::StatusOr<Listener> Listen(const Address& address,
                                         const ListenOptions& options = {});
  static absl::StatusOr<Listener> Listen(absl::string_view uri,
                                         const ListenOptions& options = {});

  // Adopts an already bound and listening socket (inherited, or from
  // socket activation). Fails unless `fd` is a listening stream socket.
  static absl::StatusOr<Listener> Adopt(int fd);

  // The next connection (non-blocking, close-on-exec; TCP_NODELAY on TCP),
  // waiting until `deadline`.
  absl::StatusOr<Socket> Accept(absl::Time deadline);

  // The bound address as a URI, e.g. "tcp://127.0.0.1:43817".
  const std::string& address() const { return address_; }
  int fd() const { return socket_.fd(); }

 private:
  Listener() = default;

  Socket socket_;
  std::string address_;
  std::string unlink_path_;  // Unix path to remove on destruction
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_LISTENER_H_
