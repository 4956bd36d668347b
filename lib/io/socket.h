// File: lib/io/socket.h
//
// An owned socket file descriptor with Status-returning, deadline-bounded
// I/O. Every socket lpframe creates is close-on-exec and non-blocking;
// blocking behaviour is emulated with poll(2) up to a deadline, so one
// thread can bound every wait.
//
// Read(), Readv() and Writev() also honour their deadline on a descriptor that an
// owner made blocking with SetNonBlocking(false) (FramedConnection does so
// by default, see WaitMode): with a finite deadline they pass
// MSG_DONTWAIT and wait in poll(2); with InfiniteFuture() they block in
// recv/sendmsg itself, which saves the EAGAIN attempt and the poll(2) call.
//
// Sending uses sendmsg(2) with MSG_NOSIGNAL: writing to a peer that has
// gone returns an error (EPIPE) instead of raising SIGPIPE, and lpframe never
// changes the process's SIGPIPE disposition.
//
// EINTR is retried; EAGAIN waits in poll until the deadline. Errors are
// absl::Status: kDeadlineExceeded when the deadline passes, kUnavailable for
// a connection reset or broken pipe, kInternal/other codes mapped from errno,
// each message naming the operation, the peer and strerror.
//
// Thread-compatible: concurrent reads and writes from two threads are safe
// (the kernel serializes them); Close() must not race other calls.
#ifndef LPFRAME_LIB_IO_SOCKET_H_
#define LPFRAME_LIB_IO_SOCKET_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "lib/io/address.h"

namespace lpframe {

// absl::Status for a failed system call: "<what>: <strerror> (errno N)".
// ECONNRESET/EPIPE/ENOTCONN map to kUnavailable, ETIMEDOUT to
// kDeadlineExceeded, EADDRINUSE to kAlreadyExists, ENOENT/ECONNREFUSED to
// kUnavailable, EACCES/EPERM to kPermissionDenied, EINVAL to
// kInvalidArgument, the rest to kInternal.
absl::Status ErrnoStatus(int error_number, absl::string_view what);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

class Socket {
 public:
  Socket() = default;
  // Takes ownership of `fd` (made non-blocking and close-on-exec).
  explicit Socket(int fd);
  ~Socket();
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // A new socket of `family`/`type`, non-blocking and close-on-exec.
  static absl::StatusOr<Socket> Create(int family, int type);

  // A connected AF_UNIX pair (SOCK_STREAM or SOCK_DGRAM).
  static absl::StatusOr<std::pair<Socket, Socket>> Pair(int type);

  // Connects to `address` like Python's socket.create_connection: every
  // resolved address is tried in turn under the one `deadline`. TCP sockets
  // get TCP_NODELAY. Errors name the address and the last failure.
  static absl::StatusOr<Socket> Connect(const Address& address, absl::Time deadline);
  static absl::StatusOr<Socket> Connect(absl::string_view uri, absl::Time deadline);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Gives up ownership; the caller closes the descriptor.
  int Release() { return std::exchange(fd_, -1); }
  void Close();

  // Sets or clears O_NONBLOCK (see the file comment).
  absl::Status SetNonBlocking(bool on);

  // Reads up to buffer.size() bytes, waiting until `deadline` for some to
  // arrive. Returns 0 at end of stream (the peer shut down its writing).
  absl::StatusOr<size_t> Read(absl::Span<char> buffer, absl::Time deadline);
  // The same into the iovecs in order (at most IOV_MAX of them), with one
  // recvmsg(2): a scatter read.
  absl::StatusOr<size_t> Readv(const struct iovec* iov, int count, absl::Time deadline);

  // One recv(2) into `buffer` with `flags` (MSG_DONTWAIT: do not wait even
  // on a blocking descriptor), nothing retried and no Status built: for a
  // loop that reads while bytes keep coming and leaves waiting to Read().
  // Returns recv(2)'s result: the bytes read, 0 at end of stream, or -1
  // with errno set (RecvError(errno) describes it).
  ssize_t RecvOnce(absl::Span<char> buffer, int flags) const {
    return ::recv(fd_, buffer.data(), buffer.size(), flags);
  }
  // The same as one recvmsg(2) into the iovecs in order (at most IOV_MAX).
  ssize_t RecvvOnce(const struct iovec* iov, int count, int flags) const;
  // The Status Read() returns for a recv(2) failure with `error_number`.
  absl::Status RecvError(int error_number) const;

  // Writes a prefix of the iovecs (at most IOV_MAX of them), waiting until
  // `deadline` for the socket to accept at least one byte. Returns the
  // bytes written (> 0).
  absl::StatusOr<size_t> Writev(const struct iovec* iov, int count, absl::Time deadline);

  // Writes all of `bytes` (resuming partial writes) before `deadline`.
  absl::Status WriteAll(absl::string_view bytes, absl::Time deadline);

  // Waits until readable (or writable) or `deadline`; kDeadlineExceeded then.
  absl::Status WaitReadable(absl::Time deadline) const;
  absl::Status WaitWritable(absl::Time deadline) const;

  // shutdown(SHUT_WR): the peer reads end of stream; reading still works.
  absl::Status ShutdownWrite();

  absl::Status SetNoDelay(bool on);
  absl::StatusOr<SocketAddress> LocalAddress() const;
  absl::StatusOr<SocketAddress> PeerAddress() const;
  // SO_PEERCRED of an AF_UNIX peer.
  absl::StatusOr<PeerCredentials> GetPeerCredentials() const;

 private:
  absl::Status Wait(short events, absl::Time deadline, absl::string_view what) const;
  // Runs `call(flags)` (one recv/recvmsg/sendmsg) until it transfers bytes,
  // reaches end of stream or fails: EINTR retried, EAGAIN waits for
  // `events` until `deadline` (MSG_DONTWAIT is added to `flags` when the
  // deadline is finite). Errors name `what` and the peer.
  absl::StatusOr<size_t> Transfer(absl::FunctionRef<ssize_t(int)> call, int flags, short events,
                                  absl::Time deadline, absl::string_view what) const;
  std::string Describe() const;

  int fd_ = -1;
};

// Milliseconds until `deadline` for poll(2): -1 for InfiniteFuture, 0 when
// already past, rounded up otherwise.
int PollTimeoutMs(absl::Time deadline);

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_SOCKET_H_
