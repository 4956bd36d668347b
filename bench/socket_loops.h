// File: bench/socket_loops.h
//
// The raw-socket side of lpframe's transport benchmarks: connected socket
// pairs (TCP loopback or AF_UNIX), the blocking send/receive loops a plain
// program would write (length-prefixed: an 8-byte native-endian length, then
// the payload), thread pinning, a monotonic clock and percentiles. Shared by
// bench/transport_bench, bench/paired_bench and bench/echo_bench, so both compare lpframe with
// the same baseline code.
//
// Thread-compatible; errors are reported as false (errno holds the cause) or
// absl::Status.
#ifndef LPFRAME_BENCH_SOCKET_LOOPS_H_
#define LPFRAME_BENCH_SOCKET_LOOPS_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/io/socket.h"
#include "proto/envelope.pb.h"

namespace lpframe_bench {

// The read size of the "8 KiB reads" loops (the tutorial's recv(8192)).
constexpr size_t kRawReadPiece = 8192;

enum class Net { kTcp, kUnix };
const char* NetName(Net net);

// Pins the calling thread to `cpu`; false if the kernel refused.
bool PinThisThread(int cpu);

int64_t MonotonicNanos();

// The p-quantile (0 < p <= 1, nearest rank) of ascending `sorted`; 0 if empty.
double Percentile(const std::vector<int64_t>& sorted, double p);

// The median of `v` (the mean of the middle two for an even count); 0 if empty.
double Median(std::vector<double> v);

// The arithmetic mean of `values`; 0 if empty.
double Mean(const std::vector<int64_t>& values);

// Two connected stream sockets: a socketpair for kUnix, a 127.0.0.1
// listener's accepted connection for kTcp (TCP_NODELAY on both ends). With
// `tcp_receive_buffer` > 0, kTcp sets SO_RCVBUF to it on both ends, which
// turns Linux's receive-buffer autotuning off for the connection.
struct Endpoints {
  lpframe::Socket sender;    // the client side for ping-pong
  lpframe::Socket receiver;  // the server side for ping-pong
};
absl::StatusOr<Endpoints> Connect(Net net, int tcp_receive_buffer = 0);

// Releases `socket`'s descriptor, made blocking (the caller closes it): the
// raw loops use blocking sockets, as a plain program would.
int ToBlockingFd(lpframe::Socket socket);

// Writes all iovecs (modified in place) with sendmsg(MSG_NOSIGNAL); counts
// the calls in *calls.
bool SendAllV(int fd, struct iovec* iov, int count, uint64_t* calls);

// Reads exactly `n` bytes, each recv() asking for at most `piece` bytes.
bool RecvExact(int fd, char* p, size_t n, size_t piece, uint64_t* calls);

// How a BufferedReader waits for bytes.
enum class RawWait {
  kBlock,  // a blocking recv
  // poll(2) first, then recv with MSG_DONTWAIT, as a non-blocking program
  // does (the system calls of lpframe's WaitMode::kAlwaysPoll after a write)
  kPoll,
  // recv with MSG_DONTWAIT again and again for up to the reader's busy-poll
  // budget, then a blocking recv (lpframe's ConnectionOptions::busy_poll)
  kBusyPoll,
};

// Length-prefixed reader for small messages: recv() of up to 8 KiB into a
// buffer, each payload copied out of it into the caller's reused buffer.
// Waits as `wait` says; `busy_poll_ns` is kBusyPoll's budget per wait.
class BufferedReader {
 public:
  explicit BufferedReader(int fd, RawWait wait = RawWait::kBlock, int64_t busy_poll_ns = 0);

  // Reads one message into payload[0, *size). `payload` holds `cap` bytes;
  // false on EOF, an error or a longer message.
  bool ReadMessage(char* payload, size_t cap, size_t* size);
  uint64_t read_calls() const { return calls_; }

 private:
  static constexpr size_t kCapacity = 2 * kRawReadPiece;

  bool Ensure(size_t n);
  bool Fill();

  int fd_;
  RawWait wait_;
  int64_t busy_poll_ns_;
  std::unique_ptr<char[]> buf_;
  size_t start_ = 0, end_ = 0;
  uint64_t calls_ = 0;
};

// One echo of the raw ping-pong loop: reads a length-prefixed message into
// `payload` (its size is the most accepted) and sends it back. False when
// the client is gone or on an error.
bool RawEcho(int fd, BufferedReader& reader, std::vector<char>& payload, uint64_t* calls);

// One round trip of the raw ping-pong loop: sends `request` length-prefixed
// and reads the reply into `reply`; true when a reply of the same size came.
bool RawRoundTrip(int fd, BufferedReader& reader, const std::string& request,
                  std::vector<char>& reply, uint64_t* calls);

// KIND_MESSAGE with `id`: what the lpframe senders send.
lpframe::Envelope MessageEnvelope(uint64_t id);

}  // namespace lpframe_bench

#endif  // LPFRAME_BENCH_SOCKET_LOOPS_H_
