// File: bench/transport_bench.cc
//
// lpframe over real sockets, beside raw-socket loops measured in the same
// binary and the same run. Transports: TCP loopback (127.0.0.1, TCP_NODELAY,
// set by Socket::Connect / Listener::Accept) and AF_UNIX (a socketpair).
// The sender runs in its own thread pinned to CPU 0, the receiver (the
// benchmark's timed thread) is pinned to CPU 1.
//
//   Stream/<net>/<size>/<mode>      one-way stream of <size>-byte payloads
//     raw_8KiB            sender: one sendmsg(MSG_NOSIGNAL) per message of an
//                         8-byte length + the payload (2 iovecs, blocking
//                         socket); receiver: recv of the 8-byte length, then
//                         recv() of the payload in <= 8 KiB pieces straight
//                         into a reused payload buffer.               (a)
//     raw_direct          same sender; the receiver recv()s the whole rest of
//                         the payload into the reused buffer.          (b)
//     raw_writev_per_msg  (64 B, 1 KiB) the same one-sendmsg-per-message
//                         sender; the receiver reads 8 KiB at a time into a
//                         buffer and copies each payload out of it into the
//                         reused payload buffer (so the receiver is not the
//                         bottleneck: one recv serves many messages).  (c)
//     raw_batched         (64 B, 1 KiB, extra) the sender copies length +
//                         payload into a buffer and writes it once 64 KiB
//                         are queued and at the end of the iteration's batch
//                         (the raw equivalent of Queue+Flush); receiver as (c).
//     lp_fixed / lp_direct            FramedConnection::Send per message;
//                         the receiver is a FramedConnection with
//                         ReadMode::kFixed (read_size 8192) / kDirect
//                         (default), Receive(Message*) reusing one Message,
//                         the payload destroyed after each message so
//                         BlockPool blocks are reused.
//     lp_fixed_batched / lp_direct_batched   (64 B, 1 KiB) Queue() every
//                         message, Flush() at the end of the batch.
//   PingPong/<net>/64B/<raw|raw_plus250ns|lp|lp_poll>  64 B request/echo
//                         round trips (lp_poll: WaitMode::kAlwaysPoll;
//                         raw_plus250ns: the raw echoing side
//                         busy-waits 250 ns per message); every round trip
//                         is timed; p50/p99/mean are reported.
//   Rss/receive_64MiB/<direct|fixed> a fresh process (fork + exec of
//                         bench/rss_receiver, a minimal binary that only
//                         receives) receives one 64 MiB message into a fresh
//                         FramedConnection and reports its VmHWM (peak RSS of
//                         its own address space; reset by execve) and RssAnon /
//                         RssFile before and after. ru_maxrss is not used:
//                         Linux carries the pre-exec (forked) image's peak
//                         across execve, i.e. this benchmark process's RSS.
//
// Batches: payloads below 64 KiB move 4096 messages per iteration (and the
// batched senders Flush every 4096 messages); 64 KiB moves 64 messages per
// iteration; from 1 MiB up one message per iteration. The sender knows the
// run's exact message count (State::max_iterations), so every run ends on a
// message boundary. Setup (connections, the sender thread, warm-up messages
// that also fill the BlockPool, a one-time byte-for-byte check of the first
// message) is outside the timed loop.
//
// Units: bytes/s counts PAYLOAD bytes (lpframe's 28-30 header/envelope bytes
// and the raw loops' 8-byte length are not counted); items/s = messages/s.
// Wall-clock time. By default 3 repetitions, medians in the summary that
// main() prints after the console output (ratios, targets met/missed).
// Diagnostic counters: reads/msg and writes/msg (system calls that moved
// data, receiver and sender), tx_/rx_ user_/sys_us/msg (CPU microseconds per
// message of the sender / receiver thread, getrusage(RUSAGE_THREAD); the
// user/system split is tick-sampled, the sum is exact), rx_cpu% (receiver
// thread CPU / wall), proc_cpu%
// (whole process CPU / wall, up to 200 on 2 CPUs), ivcsw/s (involuntary
// context switches of this process per second: high = other load on our
// CPUs).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_main.h"
#include "bench/bench_payload.h"
#include "bench/socket_loops.h"
#include "bench/summary_reporter.h"
#include "benchmark/benchmark.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/message.h"
#include "proto/envelope.pb.h"

namespace lpframe_bench {
namespace {

using lpframe::ConnectionOptions;
using lpframe::Envelope;
using lpframe::FramedConnection;
using lpframe::Listener;
using lpframe::Message;
using lpframe::ReadMode;
using lpframe::Socket;

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kReadPiece = kRawReadPiece;
constexpr size_t kRawBatchBytes = 64 * kKiB;  // = ConnectionOptions::batch_bytes
constexpr int kSenderCpu = 0;
constexpr int kReceiverCpu = 1;
constexpr int kPingPongRoundTrips = 20000;
constexpr int kPingPongWarmup = 2000;
// PingPong/<net>/64B/raw_plus250ns: the raw loop whose echoing side busy-
// waits this long per message before answering, to show how much a round
// trip moves for a fraction of a microsecond of per-message work.
constexpr int64_t kRawTurnaroundNanos = 250;
constexpr char kRawPlusTurnaround[] = "raw_plus250ns";

const size_t kSizes[] = {64, kKiB, 64 * kKiB, kMiB, 16 * kMiB, 64 * kMiB};

bool IsSmall(size_t size) { return size < 64 * kKiB; }

enum class Mode {
  kRaw8K,
  kRawDirect,
  kRawPerMsg,
  kRawBatched,
  kLpFixed,
  kLpDirect,
  kLpFixedBatched,
  kLpDirectBatched,
};

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kRaw8K:
      return "raw_8KiB";
    case Mode::kRawDirect:
      return "raw_direct";
    case Mode::kRawPerMsg:
      return "raw_writev_per_msg";
    case Mode::kRawBatched:
      return "raw_batched";
    case Mode::kLpFixed:
      return "lp_fixed";
    case Mode::kLpDirect:
      return "lp_direct";
    case Mode::kLpFixedBatched:
      return "lp_fixed_batched";
    case Mode::kLpDirectBatched:
      return "lp_direct_batched";
  }
  return "?";
}

bool IsRaw(Mode m) {
  return m == Mode::kRaw8K || m == Mode::kRawDirect || m == Mode::kRawPerMsg ||
         m == Mode::kRawBatched;
}
bool IsBatched(Mode m) {
  return m == Mode::kRawBatched || m == Mode::kLpFixedBatched || m == Mode::kLpDirectBatched;
}
ReadMode LpReadMode(Mode m) {
  return (m == Mode::kLpFixed || m == Mode::kLpFixedBatched) ? ReadMode::kFixed
                                                             : ReadMode::kDirect;
}

size_t MessagesPerIteration(size_t size) {
  if (IsSmall(size)) return 4096;
  if (size < kMiB) return 64;
  return 1;
}

size_t WarmupMessages(size_t size) {
  if (size >= kMiB) return 2;  // the first one fills the BlockPool
  return MessagesPerIteration(size);
}

// ---------------------------------------------------------------------------
// Inputs (payload bytes come from bench_payload.h).

// A reused receive buffer of at least `size` bytes, touched once.
char* RawReceiveBuffer(size_t size) {
  static auto* const buffers = new std::map<size_t, std::unique_ptr<char[]>>;
  auto it = buffers->find(size);
  if (it == buffers->end()) {
    std::unique_ptr<char[]> b(new char[size]);
    std::memset(b.get(), 1, size);
    it = buffers->emplace(size, std::move(b)).first;
  }
  return it->second.get();
}

// ---------------------------------------------------------------------------
// Threads, CPUs, process counters.

double ProcessCpuSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// User and system CPU seconds of the calling thread.
struct ThreadCpu {
  double user = 0, sys = 0;
  static ThreadCpu Now() {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    ThreadCpu t;
    t.user = ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec;
    t.sys = ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
    return t;
  }
  ThreadCpu operator-(const ThreadCpu& o) const { return {user - o.user, sys - o.sys}; }
};

long InvoluntarySwitches() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nivcsw;
}

double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Whole-process CPU and context switches over the timed loop.
class ProcessMeter {
 public:
  void Start() {
    wall_ = MonotonicSeconds();
    cpu_ = ProcessCpuSeconds();
    ivcsw_ = InvoluntarySwitches();
  }
  void Stop(benchmark::State& state) {
    const double wall = MonotonicSeconds() - wall_;
    if (wall <= 0) return;
    state.counters["proc_cpu%"] = 100.0 * (ProcessCpuSeconds() - cpu_) / wall;
    state.counters["ivcsw/s"] = (InvoluntarySwitches() - ivcsw_) / wall;
  }

 private:
  double wall_ = 0, cpu_ = 0;
  long ivcsw_ = 0;
};

// ---------------------------------------------------------------------------
// Senders (run in the sender thread).

struct SenderResult {
  bool ok = true;
  std::string error;
  uint64_t write_calls = 0;
  uint64_t messages = 0;
  ThreadCpu cpu;  // the sender thread's CPU for all its messages
};

// Pins the sender thread and records its CPU time on destruction.
class SenderScope {
 public:
  explicit SenderScope(SenderResult* result) : result_(result), start_(ThreadCpu::Now()) {
    PinThisThread(kSenderCpu);
  }
  ~SenderScope() { result_->cpu = ThreadCpu::Now() - start_; }

 private:
  SenderResult* result_;
  ThreadCpu start_;
};

void RawSender(int fd, size_t size, uint64_t count, bool batched, size_t batch_messages,
               SenderResult* result) {
  SenderScope scope(result);
  const char* payload = PayloadBytes(size).data();
  uint64_t len = size;
  if (!batched) {
    for (uint64_t i = 0; i < count; ++i) {
      struct iovec iov[2] = {{&len, 8}, {const_cast<char*>(payload), size}};
      if (!SendAllV(fd, iov, 2, &result->write_calls)) {
        result->ok = false;
        result->error = absl::StrCat("sendmsg: ", std::strerror(errno));
        return;
      }
      ++result->messages;
    }
    return;
  }
  std::string batch;
  batch.reserve(kRawBatchBytes + size + 8);
  auto flush = [&]() {
    if (batch.empty()) return true;
    struct iovec iov = {&batch[0], batch.size()};
    const bool ok = SendAllV(fd, &iov, 1, &result->write_calls);
    batch.clear();
    return ok;
  };
  for (uint64_t i = 0; i < count; ++i) {
    batch.append(reinterpret_cast<const char*>(&len), 8);
    batch.append(payload, size);
    ++result->messages;
    if (batch.size() >= kRawBatchBytes || (i + 1) % batch_messages == 0) {
      if (!flush()) {
        result->ok = false;
        result->error = absl::StrCat("sendmsg: ", std::strerror(errno));
        return;
      }
    }
  }
  if (!flush()) {
    result->ok = false;
    result->error = absl::StrCat("sendmsg: ", std::strerror(errno));
  }
}

void LpSender(Socket socket, size_t size, uint64_t count, bool batched, size_t batch_messages,
              SenderResult* result) {
  SenderScope scope(result);
  FramedConnection conn(std::move(socket));
  const absl::Cord payload = PayloadCord(size);
  Envelope envelope = MessageEnvelope(0);
  absl::Status status;
  for (uint64_t i = 0; i < count && status.ok(); ++i) {
    envelope.set_id(i + 1);
    if (batched) {
      status = conn.Queue(envelope, payload);
      if (status.ok() && (i + 1) % batch_messages == 0) status = conn.Flush();
    } else {
      status = conn.Send(envelope, payload);
    }
    if (status.ok()) ++result->messages;
  }
  if (status.ok()) status = conn.Flush();
  result->write_calls = conn.stats().write_calls;
  if (!status.ok()) {
    result->ok = false;
    result->error = status.ToString();
  }
}

// ---------------------------------------------------------------------------
// One-way streams.

// Benchmarks whose first message has been compared byte for byte.
bool FirstRun(const std::string& name) {
  static auto* const seen = new std::set<std::string>;
  return seen->insert(name).second;
}

void BM_Stream(benchmark::State& state, Net net, size_t size, Mode mode) {
  const std::string name = absl::StrCat("Stream/", NetName(net), "/", SizeName(size), "/",
                                        ModeName(mode));
  const bool verify = FirstRun(name);
  const std::string& expected = PayloadBytes(size);
  const size_t per_iteration = MessagesPerIteration(size);
  const size_t warmup = WarmupMessages(size);
  const uint64_t total =
      warmup + static_cast<uint64_t>(state.max_iterations) * per_iteration;

  absl::StatusOr<Endpoints> ends = Connect(net);
  if (!ends.ok()) {
    state.SkipWithError(ends.status().ToString().c_str());
    for (auto _ : state) {
    }
    return;
  }
  SenderResult sent;
  std::thread sender;
  if (IsRaw(mode)) {
    const int fd = ToBlockingFd(std::move(ends->sender));
    sender = std::thread([=, &sent] {
      RawSender(fd, size, total, IsBatched(mode), per_iteration, &sent);
      ::close(fd);
    });
  } else {
    sender = std::thread([&, s = std::move(ends->sender)]() mutable {
      LpSender(std::move(s), size, total, IsBatched(mode), per_iteration, &sent);
    });
  }

  std::string error;
  uint64_t read_calls = 0;
  uint64_t received = 0;
  ProcessMeter meter;
  ThreadCpu rx_cpu;
  if (IsRaw(mode)) {
    const int fd = ToBlockingFd(std::move(ends->receiver));
    char* const buffer = RawReceiveBuffer(size);
    BufferedReader reader(fd);
    auto receive_one = [&]() -> bool {
      if (mode == Mode::kRawPerMsg || mode == Mode::kRawBatched) {
        size_t got = 0;
        if (!reader.ReadMessage(buffer, size, &got) || got != size) return false;
      } else {
        uint64_t len = 0;
        if (!RecvExact(fd, reinterpret_cast<char*>(&len), 8, 8, &read_calls) || len != size) {
          return false;
        }
        const size_t piece = mode == Mode::kRaw8K ? kReadPiece : SIZE_MAX;
        if (!RecvExact(fd, buffer, size, piece, &read_calls)) return false;
      }
      benchmark::DoNotOptimize(buffer);
      ++received;
      return true;
    };
    for (size_t i = 0; i < warmup && error.empty(); ++i) {
      if (!receive_one()) error = "raw receive failed in warm-up";
      if (i == 0 && verify && error.empty() &&
          std::memcmp(buffer, expected.data(), size) != 0) {
        error = "raw: the first payload differs from what was sent";
      }
    }
    meter.Start();
    rx_cpu = ThreadCpu::Now();
    for (auto _ : state) {
      if (!error.empty()) break;
      for (size_t i = 0; i < per_iteration; ++i) {
        if (!receive_one()) {
          error = "raw receive failed";
          break;
        }
      }
    }
    rx_cpu = ThreadCpu::Now() - rx_cpu;
    meter.Stop(state);
    read_calls += reader.read_calls();
    ::shutdown(fd, SHUT_RDWR);  // unblocks the sender if we stopped early
    ::close(fd);
  } else {
    ConnectionOptions options;
    options.read_mode = LpReadMode(mode);
    options.read_size = kReadPiece;
    FramedConnection conn(std::move(ends->receiver), options);
    Message msg;
    absl::Status status;
    auto receive_one = [&]() -> bool {
      status = conn.Receive(&msg);
      if (!status.ok()) return false;
      if (msg.payload.size() != size) {
        status = absl::DataLossError(absl::StrCat("payload of ", msg.payload.size(), " bytes"));
        return false;
      }
      ++received;
      return true;
    };
    for (size_t i = 0; i < warmup && error.empty(); ++i) {
      if (!receive_one()) error = "lpframe receive failed in warm-up: " + status.ToString();
      if (i == 0 && verify && error.empty() &&
          (msg.payload != expected || msg.envelope.id() != 1)) {
        error = "lpframe: the first message differs from what was sent";
      }
      msg.payload.Clear();
    }
    meter.Start();
    rx_cpu = ThreadCpu::Now();
    for (auto _ : state) {
      if (!error.empty()) break;
      for (size_t i = 0; i < per_iteration; ++i) {
        if (!receive_one()) {
          error = "lpframe receive failed: " + status.ToString();
          break;
        }
        msg.payload.Clear();  // blocks go back to the pool
      }
    }
    rx_cpu = ThreadCpu::Now() - rx_cpu;
    meter.Stop(state);
    read_calls = conn.stats().read_calls;
    if (conn.socket().valid()) ::shutdown(conn.socket().fd(), SHUT_RDWR);
    conn.Close();
  }
  sender.join();
  if (error.empty() && !sent.ok) error = "sender: " + sent.error;
  if (error.empty() && sent.messages != received) {
    error = absl::StrCat("sent ", sent.messages, " messages, received ", received);
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int64_t messages = static_cast<int64_t>(state.iterations() * per_iteration);
  state.SetBytesProcessed(messages * static_cast<int64_t>(size));
  state.SetItemsProcessed(messages);
  state.counters["reads/msg"] = static_cast<double>(read_calls) / received;
  state.counters["writes/msg"] = static_cast<double>(sent.write_calls) / sent.messages;
  // CPU microseconds per message (user, system) of each side. The sender's
  // figure covers all its messages (warm-up included), the receiver's the
  // timed loop only.
  state.counters["tx_user_us/msg"] = 1e6 * sent.cpu.user / sent.messages;
  state.counters["tx_sys_us/msg"] = 1e6 * sent.cpu.sys / sent.messages;
  state.counters["rx_user_us/msg"] = 1e6 * rx_cpu.user / static_cast<double>(messages);
  state.counters["rx_sys_us/msg"] = 1e6 * rx_cpu.sys / static_cast<double>(messages);
}

// ---------------------------------------------------------------------------
// Ping-pong: 64 B request, echoed. The client (timed) is on CPU 1.

constexpr size_t kPingSize = 64;

// lp_poll: FramedConnection with WaitMode::kAlwaysPoll on both ends (poll +
// recv per wait instead of the default's one blocking recv).
void BM_PingPong(benchmark::State& state, Net net, bool lp, lpframe::WaitMode wait_mode,
                 int64_t raw_turnaround_ns) {
  lpframe::ConnectionOptions lp_options;
  lp_options.wait_mode = wait_mode;
  absl::StatusOr<Endpoints> ends = Connect(net);
  if (!ends.ok()) {
    state.SkipWithError(ends.status().ToString().c_str());
    for (auto _ : state) {
    }
    return;
  }
  const std::string& payload_bytes = PayloadBytes(kPingSize);
  std::string server_error;
  std::thread server;
  if (lp) {
    server = std::thread([&, s = std::move(ends->receiver)]() mutable {
      PinThisThread(kSenderCpu);
      FramedConnection conn(std::move(s), lp_options);
      Message m;
      while (true) {
        absl::Status st = conn.Receive(&m);
        if (!st.ok()) {
          if (lpframe::GetFrameErrorCode(st) != lpframe::FrameErrorCode::kEndOfStream) {
            server_error = st.ToString();
          }
          return;
        }
        st = conn.Send(m);
        if (!st.ok()) {
          server_error = st.ToString();
          return;
        }
      }
    });
  } else {
    const int fd = ToBlockingFd(std::move(ends->receiver));
    server = std::thread([&, fd] {
      PinThisThread(kSenderCpu);
      BufferedReader reader(fd);
      std::vector<char> payload(kPingSize);
      uint64_t calls = 0;
      size_t got = 0;
      while (reader.ReadMessage(payload.data(), payload.size(), &got)) {
        if (raw_turnaround_ns > 0) {  // stands for per-message work
          const int64_t until = MonotonicNanos() + raw_turnaround_ns;
          while (MonotonicNanos() < until) {
          }
        }
        uint64_t len = got;
        struct iovec iov[2] = {{&len, 8}, {payload.data(), got}};
        if (!SendAllV(fd, iov, 2, &calls)) break;
      }
      ::close(fd);
    });
  }

  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(state.max_iterations));
  std::string error;
  if (lp) {
    FramedConnection conn(std::move(ends->sender), lp_options);
    const absl::Cord payload = PayloadCord(kPingSize);
    Envelope envelope = MessageEnvelope(0);
    Message reply;
    uint64_t id = 0;
    auto round_trip = [&]() -> bool {
      envelope.set_id(++id);
      absl::Status st = conn.Send(envelope, payload);
      if (st.ok()) st = conn.Receive(&reply);
      if (!st.ok()) {
        error = st.ToString();
        return false;
      }
      if (reply.payload.size() != kPingSize || reply.envelope.id() != id) {
        error = "wrong reply";
        return false;
      }
      return true;
    };
    for (int i = 0; i < kPingPongWarmup && error.empty(); ++i) round_trip();
    for (auto _ : state) {
      if (!error.empty()) break;
      const int64_t t0 = MonotonicNanos();
      if (!round_trip()) break;
      samples.push_back(MonotonicNanos() - t0);
    }
    conn.Close();  // the server reads end of stream
  } else {
    const int fd = ToBlockingFd(std::move(ends->sender));
    BufferedReader reader(fd);
    std::vector<char> reply(kPingSize);
    uint64_t calls = 0;
    auto round_trip = [&]() -> bool {
      if (!RawRoundTrip(fd, reader, payload_bytes, reply, &calls)) {
        error = "raw round trip failed";
        return false;
      }
      return true;
    };
    for (int i = 0; i < kPingPongWarmup && error.empty(); ++i) round_trip();
    for (auto _ : state) {
      if (!error.empty()) break;
      const int64_t t0 = MonotonicNanos();
      if (!round_trip()) break;
      samples.push_back(MonotonicNanos() - t0);
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  server.join();
  if (error.empty() && !server_error.empty()) error = "server: " + server_error;
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::sort(samples.begin(), samples.end());
  state.counters["p50_us"] = Percentile(samples, 0.50) / 1e3;
  state.counters["p99_us"] = Percentile(samples, 0.99) / 1e3;
  state.counters["p999_us"] = Percentile(samples, 0.999) / 1e3;
  state.counters["mean_us"] = Mean(samples) / 1e3;
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------
// Peak RSS of a fresh process receiving one 64 MiB message.

constexpr size_t kRssPayload = 64 * kMiB;

// The receiving process: bench/rss_receiver, next to this binary.
std::string RssReceiverPath() {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "rss_receiver";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "rss_receiver";
}

void BM_Rss(benchmark::State& state, bool fixed) {
  const std::string& payload_bytes = PayloadBytes(kRssPayload);  // before fork: parent only
  if (::access(RssReceiverPath().c_str(), X_OK) != 0) {
    const std::string error = absl::StrCat(
        RssReceiverPath(), " is missing: bench/rss_receiver must sit next to this binary "
        "(bazel run //bench:transport_bench, or copy both)");
    state.SkipWithError(error.c_str());
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      state.SkipWithError("socketpair failed");
      break;
    }
    const std::string receiver = RssReceiverPath();
    const std::string fd_arg = absl::StrCat(fds[1]);
    const std::string size_arg = absl::StrCat(kRssPayload);
    const pid_t pid = fork();
    if (pid == 0) {
      ::close(fds[0]);
      char* argv[] = {const_cast<char*>(receiver.c_str()), const_cast<char*>(fd_arg.c_str()),
                      const_cast<char*>(fixed ? "fixed" : "direct"),
                      const_cast<char*>(size_arg.c_str()), nullptr};
      execv(receiver.c_str(), argv);
      _exit(127);
    }
    ::close(fds[1]);
    FramedConnection conn{Socket(fds[0])};
    absl::Status st = conn.Send(MessageEnvelope(1),
                                absl::MakeCordFromExternal(payload_bytes, [] {}),
                                absl::Now() + absl::Seconds(60));
    std::string reply;
    while (st.ok()) {
      char buf[256];
      absl::StatusOr<size_t> n =
          conn.socket().Read(absl::MakeSpan(buf, sizeof(buf)), absl::Now() + absl::Seconds(60));
      if (!n.ok()) st = n.status();
      if (!n.ok() || *n == 0) break;
      reply.append(buf, *n);
    }
    conn.Close();
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    std::istringstream in(reply);
    std::string word;
    uint64_t size = 0;
    long hwm_before = 0, rss_before = 0, hwm_after = 0, maxrss = 0;
    long anon_before = 0, file_before = 0, anon_after = 0, file_after = 0;
    in >> word >> size >> hwm_before >> rss_before >> hwm_after >> maxrss >> anon_before >>
        file_before >> anon_after >> file_after;
    if (!st.ok() || word != "ok" || size != kRssPayload) {
      state.SkipWithError(absl::StrCat("rss child: ", st.ToString(), " / ", reply).c_str());
      break;
    }
    state.counters["hwm_before_MiB"] = hwm_before / 1024.0;
    state.counters["rss_before_MiB"] = rss_before / 1024.0;
    state.counters["hwm_after_MiB"] = hwm_after / 1024.0;
    state.counters["delta_MiB"] = (hwm_after - rss_before) / 1024.0;
    state.counters["anon_before_MiB"] = anon_before / 1024.0;
    state.counters["file_before_MiB"] = file_before / 1024.0;
    state.counters["anon_after_MiB"] = anon_after / 1024.0;
    state.counters["file_after_MiB"] = file_after / 1024.0;
  }
}

// ---------------------------------------------------------------------------
// Registration.

std::vector<Mode> ModesFor(size_t size) {
  if (IsSmall(size)) {
    return {Mode::kRawPerMsg,     Mode::kRawBatched,       Mode::kLpFixed,
            Mode::kLpDirect,      Mode::kLpFixedBatched,   Mode::kLpDirectBatched};
  }
  // Each lpframe mode right after its baseline, so drift hits both alike.
  return {Mode::kRaw8K, Mode::kLpFixed, Mode::kRawDirect, Mode::kLpDirect};
}

void RegisterAll() {
  for (Net net : {Net::kTcp, Net::kUnix}) {
    for (size_t size : kSizes) {
      for (Mode mode : ModesFor(size)) {
        const std::string name = absl::StrCat("Stream/", NetName(net), "/", SizeName(size),
                                              "/", ModeName(mode));
        benchmark::RegisterBenchmark(name.c_str(), BM_Stream, net, size, mode)
            ->Unit(size >= 16 * kMiB ? benchmark::kMillisecond : benchmark::kMicrosecond)
            ->UseRealTime()
            ->MinTime(size >= 16 * kMiB ? 0.6 : 0.3);
      }
    }
  }
  for (Net net : {Net::kTcp, Net::kUnix}) {
    for (const char* impl : {"raw", kRawPlusTurnaround, "lp", "lp_poll"}) {
      const bool lp = absl::StartsWith(impl, "lp");
      const lpframe::WaitMode wait_mode = std::string(impl) == "lp_poll"
                                              ? lpframe::WaitMode::kAlwaysPoll
                                              : lpframe::WaitMode::kBlockWhenUnbounded;
      const int64_t turnaround_ns =
          std::string(impl) == kRawPlusTurnaround ? kRawTurnaroundNanos : 0;
      const std::string name = absl::StrCat("PingPong/", NetName(net), "/64B/", impl);
      benchmark::RegisterBenchmark(name.c_str(), BM_PingPong, net, lp, wait_mode, turnaround_ns)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime()
          ->Iterations(kPingPongRoundTrips);
    }
  }
  for (bool fixed : {false, true}) {
    benchmark::RegisterBenchmark(fixed ? "Rss/receive_64MiB/fixed" : "Rss/receive_64MiB/direct",
                                 BM_Rss, fixed)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1);
  }
}

// ---------------------------------------------------------------------------
// Console output plus a Markdown summary of the medians.

class SummaryReporter : public SummaryReporterBase {
 public:
  using SummaryReporterBase::SummaryReporterBase;

  void Finalize() override {
    std::ostream& out = BeginSummary(
        "medians over repetitions; GB/s = 10^9 PAYLOAD bytes/s; wall-clock time;\n## ratio = "
        "lpframe / its raw baseline within this run; ");
    for (Net net : {Net::kTcp, Net::kUnix}) PrintStreams(out, net);
    PrintPingPong(out);
    PrintRss(out);
    PrintTargets(out);
    PrintErrors(out);
  }

 private:

  static std::string Rate(double per_second) {
    if (per_second >= 1e9) return absl::StrFormat("%.2f G", per_second / 1e9);
    if (per_second >= 1e6) return absl::StrFormat("%.2f M", per_second / 1e6);
    if (per_second >= 1e3) return absl::StrFormat("%.1f k", per_second / 1e3);
    return absl::StrFormat("%.1f", per_second);
  }

  static std::string StreamName(Net net, size_t size, Mode mode) {
    return absl::StrCat("Stream/", NetName(net), "/", SizeName(size), "/", ModeName(mode));
  }

  const Result* Stream(Net net, size_t size, Mode mode) const {
    return Find(StreamName(net, size, mode));
  }

  static double Bps(const Result* r) { return r == nullptr ? 0 : r->Get("bytes_per_second"); }

  // The baseline each mode is compared with.
  static Mode BaselineOf(size_t size, Mode mode) {
    if (IsSmall(size)) return Mode::kRawPerMsg;
    return LpReadMode(mode) == ReadMode::kFixed ? Mode::kRaw8K : Mode::kRawDirect;
  }

  double RatioOf(Net net, size_t size, Mode mode, Mode baseline) const {
    const Result* r = Stream(net, size, mode);
    const Result* b = Stream(net, size, baseline);
    if (r == nullptr || b == nullptr || Bps(b) <= 0) return -1;
    return Bps(r) / Bps(b);
  }

  static std::string UserSys(double user, double sys) {
    const int digits = user + sys < 1 ? 3 : (user + sys < 100 ? 2 : 0);
    return absl::StrFormat("%.*f+%.*f", digits, user, digits, sys);
  }

  static std::string FormatRatio(double ratio) {
    return ratio < 0 ? std::string("-") : absl::StrFormat("%.2fx", ratio);
  }

  std::string Noise(const Result* r) const {
    std::string out = absl::StrFormat("%.0f%% / %.0f%%", r->cpu_percent, r->Get("proc_cpu%"));
    absl::StrAppendFormat(&out, " / %.0f", r->Get("ivcsw/s"));
    if (r->cv_percent >= 0) absl::StrAppendFormat(&out, " / %.1f%%", r->cv_percent);
    return out;
  }

  void PrintStreams(std::ostream& out, Net net) const {
    out << "### One-way streams, " << (net == Net::kTcp ? "TCP loopback" : "AF_UNIX socketpair")
        << "\n\n"
        << "| payload | mode | payload GB/s | msgs/s | baseline | ratio | reads/msg | "
           "writes/msg | tx us/msg usr+sys | rx us/msg usr+sys | "
           "rx cpu / proc cpu / ivcsw/s / cv |\n"
        << "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
    for (size_t size : kSizes) {
      for (Mode mode : ModesFor(size)) {
        const Result* r = Stream(net, size, mode);
        if (r == nullptr) continue;
        std::string baseline = "-";
        std::string ratio = "-";
        if (!IsRaw(mode)) {
          const Mode b = BaselineOf(size, mode);
          baseline = ModeName(b);
          ratio = FormatRatio(RatioOf(net, size, mode, b));
          if (IsSmall(size)) {
            absl::StrAppend(&ratio, " (vs raw_batched ",
                            FormatRatio(RatioOf(net, size, mode, Mode::kRawBatched)), ")");
          }
        } else if (mode == Mode::kRawBatched) {
          baseline = ModeName(Mode::kRawPerMsg);
          ratio = FormatRatio(RatioOf(net, size, mode, Mode::kRawPerMsg));
        }
        out << absl::StrFormat(
            "| %s | %s | %.3f | %s | %s | %s | %.2f | %.3f | %s | %s | %s |\n", SizeName(size),
            ModeName(mode), Bps(r) / 1e9, Rate(r->Get("items_per_second")), baseline, ratio,
            r->Get("reads/msg"), r->Get("writes/msg"),
            UserSys(r->Get("tx_user_us/msg"), r->Get("tx_sys_us/msg")),
            UserSys(r->Get("rx_user_us/msg"), r->Get("rx_sys_us/msg")), Noise(r));
      }
    }
    out << "\n";
  }

  void PrintPingPong(std::ostream& out) const {
    out << "### Ping-pong, 64 B payload (round-trip latency, microseconds)\n\n"
        << "| transport | impl | p50 | p99 | p99.9 | mean | p50 ratio | p99 ratio | "
           "rx cpu / cv |\n"
        << "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (Net net : {Net::kTcp, Net::kUnix}) {
      const Result* raw = Find(absl::StrCat("PingPong/", NetName(net), "/64B/raw"));
      const Result* lp = Find(absl::StrCat("PingPong/", NetName(net), "/64B/lp"));
      const Result* polled = Find(absl::StrCat("PingPong/", NetName(net), "/64B/lp_poll"));
      const Result* slow =
          Find(absl::StrCat("PingPong/", NetName(net), "/64B/", kRawPlusTurnaround));
      for (const Result* r : {raw, slow, lp, polled}) {
        if (r == nullptr) continue;
        std::string p50 = "-", p99 = "-";
        if (r != raw && raw != nullptr) {
          p50 = FormatRatio(r->Get("p50_us") / raw->Get("p50_us"));
          p99 = FormatRatio(r->Get("p99_us") / raw->Get("p99_us"));
        }
        out << absl::StrFormat("| %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %.0f%% / %.1f%% |\n",
                               NetName(net),
                               r == raw    ? "raw"
                               : r == slow ? "raw + 250 ns per message"
                               : r == lp   ? "lpframe"
                                           : "lpframe kAlwaysPoll",
                               r->Get("p50_us"),
                               r->Get("p99_us"), r->Get("p999_us"), r->Get("mean_us"), p50, p99,
                               r->cpu_percent, r->cv_percent);
      }
    }
    out << "\n";
  }

  void PrintRss(std::ostream& out) const {
    out << "### Peak RSS of a fresh process receiving one 64 MiB message (MiB)\n\n"
        << "| read mode | VmRSS before (anon + file) | VmHWM after | "
           "VmHWM after - VmRSS before | RSS after (anon + file) |\n"
           "|---|---:|---:|---:|---:|\n";
    for (const char* mode : {"direct", "fixed"}) {
      const Result* r = Find(absl::StrCat("Rss/receive_64MiB/", mode));
      if (r == nullptr) continue;
      out << absl::StrFormat("| %s | %.1f (%.1f + %.1f) | %.1f | %.1f | %.1f + %.1f |\n",
                             mode, r->Get("rss_before_MiB"), r->Get("anon_before_MiB"),
                             r->Get("file_before_MiB"), r->Get("hwm_after_MiB"),
                             r->Get("delta_MiB"), r->Get("anon_after_MiB"),
                             r->Get("file_after_MiB"));
    }
    out << "\n";
  }

  void PrintTargets(std::ostream& out) const {
    out << "### Targets\n\n";
    for (Net net : {Net::kTcp, Net::kUnix}) {
      for (size_t size : kSizes) {
        if (IsSmall(size)) continue;
        for (auto [mode, base, goal] : {std::make_tuple(Mode::kLpFixed, Mode::kRaw8K, 0.95),
                                        std::make_tuple(Mode::kLpDirect, Mode::kRawDirect, 0.9)}) {
          const double ratio = RatioOf(net, size, mode, base);
          if (ratio < 0) continue;
          out << absl::StrFormat("- %s %s %s >= %.2fx %s: %.2fx %s\n", NetName(net),
                                 SizeName(size), ModeName(mode), goal, ModeName(base), ratio,
                                 ratio >= goal ? "MET" : "MISSED");
        }
      }
    }
    for (Mode mode : {Mode::kLpDirectBatched, Mode::kLpFixedBatched}) {
      const double ratio = RatioOf(Net::kTcp, 64, mode, Mode::kRawPerMsg);
      if (ratio < 0) continue;
      out << absl::StrFormat("- tcp 64B %s >= 12x raw_writev_per_msg: %.2fx %s\n",
                             ModeName(mode), ratio, ratio >= 12 ? "MET" : "MISSED");
    }
    for (Net net : {Net::kTcp, Net::kUnix}) {
      const Result* raw = Find(absl::StrCat("PingPong/", NetName(net), "/64B/raw"));
      for (const char* impl : {"lp", "lp_poll"}) {
        const Result* lp = Find(absl::StrCat("PingPong/", NetName(net), "/64B/", impl));
        if (raw == nullptr || lp == nullptr) continue;
        for (const char* key : {"p50_us", "p99_us"}) {
          const double ratio = lp->Get(key) / raw->Get(key);
          out << absl::StrFormat(
              "- %s ping-pong 64B %s %s <= 1.1x raw: %.2fx (%.2f vs %.2f us) %s\n", NetName(net),
              impl, std::string(key, 3), ratio, lp->Get(key), raw->Get(key),
              ratio <= 1.1 ? "MET" : "MISSED");
        }
      }
    }
    for (const char* mode : {"direct", "fixed"}) {
      const Result* r = Find(absl::StrCat("Rss/receive_64MiB/", mode));
      if (r == nullptr) continue;
      const double peak = r->Get("hwm_after_MiB");
      out << absl::StrFormat(
          "- peak RSS (VmHWM of the whole fresh process) receiving one 64 MiB message, %s "
          "mode, <= 72 MiB: %.1f MiB %s\n",
          mode, peak, peak <= 72 ? "MET" : "MISSED");
    }
    out << "\n";
  }

};

}  // namespace
}  // namespace lpframe_bench

int main(int argc, char** argv) {
  if (!lpframe_bench::PinThisThread(lpframe_bench::kReceiverCpu)) {
    std::fprintf(stderr, "warning: could not pin the receiver thread to CPU %d\n",
                 lpframe_bench::kReceiverCpu);
  }
  lpframe_bench::RegisterAll();
  return lpframe_bench::RunBenchmarksWithSummary<lpframe_bench::SummaryReporter>(argc, argv);
}
