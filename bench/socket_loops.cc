#include "bench/socket_loops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/io/listener.h"

namespace lpframe_bench {

using lpframe::Listener;
using lpframe::Socket;

const char* NetName(Net net) { return net == Net::kTcp ? "tcp" : "unix"; }

bool PinThisThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t n = sorted.size();
  size_t rank = static_cast<size_t>(std::ceil(p * n));
  rank = std::min(std::max<size_t>(rank, 1), n);
  return static_cast<double>(sorted[rank - 1]);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Mean(const std::vector<int64_t>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (int64_t v : values) sum += static_cast<double>(v);
  return sum / static_cast<double>(values.size());
}

absl::StatusOr<Endpoints> Connect(Net net, int tcp_receive_buffer) {
  if (net == Net::kUnix) {
    absl::StatusOr<std::pair<Socket, Socket>> pair = Socket::Pair(SOCK_STREAM);
    if (!pair.ok()) return pair.status();
    return Endpoints{std::move(pair->first), std::move(pair->second)};
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<Listener> listener = Listener::Listen("tcp://127.0.0.1:0");
  if (!listener.ok()) return listener.status();
  absl::StatusOr<Socket> client = Socket::Connect(listener->address(), deadline);
  if (!client.ok()) return client.status();
  absl::StatusOr<Socket> server = listener->Accept(deadline);
  if (!server.ok()) return server.status();
  if (tcp_receive_buffer > 0) {
    for (int fd : {client->fd(), server->fd()}) {
      if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tcp_receive_buffer,
                       sizeof(tcp_receive_buffer)) != 0) {
        return absl::InternalError(absl::StrCat("setsockopt(SO_RCVBUF): ", std::strerror(errno)));
      }
    }
  }
  return Endpoints{*std::move(client), *std::move(server)};
}

int ToBlockingFd(Socket socket) {
  const int fd = socket.Release();
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

bool SendAllV(int fd, struct iovec* iov, int count, uint64_t* calls) {
  while (count > 0) {
    msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    ++*calls;
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

bool RecvExact(int fd, char* p, size_t n, size_t piece, uint64_t* calls) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, std::min(n, piece), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    ++*calls;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

BufferedReader::BufferedReader(int fd, RawWait wait, int64_t busy_poll_ns)
    : fd_(fd), wait_(wait), busy_poll_ns_(busy_poll_ns), buf_(new char[kCapacity]) {}

bool BufferedReader::ReadMessage(char* payload, size_t cap, size_t* size) {
  if (!Ensure(8)) return false;
  uint64_t len;
  std::memcpy(&len, buf_.get() + start_, 8);
  start_ += 8;
  if (len > cap) return false;
  size_t have = 0;
  while (have < len) {
    if (start_ == end_ && !Fill()) return false;
    const size_t n = std::min<size_t>(len - have, end_ - start_);
    std::memcpy(payload + have, buf_.get() + start_, n);
    start_ += n;
    have += n;
  }
  *size = static_cast<size_t>(len);
  return true;
}

bool BufferedReader::Ensure(size_t n) {
  while (end_ - start_ < n) {
    if (!Fill()) return false;
  }
  return true;
}

bool BufferedReader::Fill() {
  if (start_ == end_) start_ = end_ = 0;
  if (kCapacity - end_ < kRawReadPiece) {
    std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  int64_t busy_end = 0;  // kBusyPoll: set once a recv found nothing
  while (true) {
    if (wait_ == RawWait::kPoll) {
      struct pollfd p = {fd_, POLLIN, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return false;
    }
    const bool busy = wait_ == RawWait::kBusyPoll &&
                      (busy_end == 0 || MonotonicNanos() < busy_end);
    const int flags = wait_ == RawWait::kPoll || busy ? MSG_DONTWAIT : 0;
    const ssize_t r = ::recv(fd_, buf_.get() + end_, kRawReadPiece, flags);
    if (r < 0 && (errno == EINTR || ((flags & MSG_DONTWAIT) != 0 && errno == EAGAIN))) {
      if (busy && busy_end == 0) busy_end = MonotonicNanos() + busy_poll_ns_;
      continue;
    }
    if (r <= 0) return false;
    ++calls_;
    end_ += static_cast<size_t>(r);
    return true;
  }
}

bool RawEcho(int fd, BufferedReader& reader, std::vector<char>& payload, uint64_t* calls) {
  size_t got = 0;
  if (!reader.ReadMessage(payload.data(), payload.size(), &got)) return false;
  uint64_t len = got;
  struct iovec iov[2] = {{&len, 8}, {payload.data(), got}};
  return SendAllV(fd, iov, 2, calls);
}

bool RawRoundTrip(int fd, BufferedReader& reader, const std::string& request,
                  std::vector<char>& reply, uint64_t* calls) {
  uint64_t len = request.size();
  struct iovec iov[2] = {{&len, 8}, {const_cast<char*>(request.data()), request.size()}};
  size_t got = 0;
  return SendAllV(fd, iov, 2, calls) && reader.ReadMessage(reply.data(), reply.size(), &got) &&
         got == request.size();
}

lpframe::Envelope MessageEnvelope(uint64_t id) {
  lpframe::Envelope envelope;
  envelope.set_id(id);
  envelope.set_kind(lpframe::KIND_MESSAGE);
  return envelope;
}

}  // namespace lpframe_bench
