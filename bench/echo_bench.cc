// File: bench/echo_bench.cc
//
// Echo servers under a closed-loop load: requests/s and round-trip latency
// (p50, p99) of lpframe's StreamServer beside a minimal raw epoll echo server
// written here, measured in the same binary and the same run.
//
//   Echo/<net>/<size>/<conns>c/<server>
//     net      tcp (127.0.0.1, TCP_NODELAY on both ends) or unix (abstract
//              AF_UNIX name)
//     size     payload bytes per request: 64B or 64KiB
//     conns    1, 16 or 256 connections
//     server   raw          epoll echo server of this file (below)
//              raw_whole    the same server storing and forwarding: it
//                           echoes a frame only once its last byte is in
//                           (a control: what any server that hands whole
//                           messages to a handler must do; no target)
//              lp_reactor   StreamServer, kReactor, 1 loop, handlers inline
//                           (the default options)
//              lp_worker1   StreamServer, kReactor, 1 loop + 1 worker thread
//              lp_thread    StreamServer, kThreadPerConnection
//
//   EchoPaired/<net>/<size>/<conns>c   raw and lp_reactor both running; the
//              client alternates between them (one warm-up + window each,
//              6 pairs, the order swapped every pair), so drift between
//              periods of the shared VM hits both alike. Reports pooled
//              req/s and p50 of each and the median over pairs of the
//              lp/raw ratios (the verdicts to trust when the Echo/ ratios
//              of consecutive benchmarks disagree). Also the server CPU
//              per request of each (srv_us/req as below), its user-mode
//              part (srv_usr_us/req: the servers' own code, without the
//              kernel's socket work) and the median of the per-pair ratio of
//              srv_us/req (srv_ratio): when the client limits the loop,
//              req/s ratios hide a server that costs more per request.
//              Also the median of the per-pair ratio of mean latencies
//              (mean_ratio) and how often the client and the server slept
//              per request (raw_/lp_cli_sleeps/req, raw_/lp_srv_sleeps/req;
//              see below).
//
//   EchoPairedSpin/<net>/<size>/<conns>c   the same, with a client that
//              never sleeps: it polls epoll_wait with a zero timeout. A
//              reply sent to a sleeping client pays for waking it (a
//              cross-CPU wake-up, 15-20 us of the server's CPU on this VM),
//              and how often the client sleeps depends on how close the
//              server's speed is to the client's: a server slightly slower
//              than the client lets it sleep more, which makes the server
//              slower still (bench/RESULTS.md, 2026-12-05 19:10). This
//              variant removes that feedback on the server's side (a
//              server faster than the client still sleeps, and the
//              client's sends pay for waking it).
//
// The raw server: one thread, epoll level-triggered, non-blocking sockets.
// On EPOLLIN it recv()s up to 256 KiB into one scratch buffer and send()s
// the same bytes straight back (MSG_DONTWAIT); an unsent rest is kept for
// that connection, which then waits for EPOLLOUT instead of reading. It does
// NOT parse frames: an echo returns identical bytes, so forwarding the byte
// stream unchanged gives the client exactly the frames it sent. This is the
// fastest possible baseline (no header parsing, no per-message work, one
// recv + one send per burst of bytes); lpframe decodes every frame into a
// Message (Envelope protobuf + payload Cord) and encodes it again.
//
// The lpframe handler is `return session.Send(std::move(message));`
// (stream_handler.h; session.h: the payload is handed on, not shared).
//
// Client (identical for every server): one thread, epoll over all
// connections (non-blocking sockets, dialed with lpframe::Socket::Connect,
// which sets TCP_NODELAY). Closed loop: each connection has exactly one
// request in flight; a request is the bytes of one native lpframe frame
// (FrameEncoder, envelope {id: 1, kind: KIND_MESSAGE}, no checksum) encoded
// once before the run; the client send()s it (EPOLLOUT for a partial write),
// reads the reply into the connection's buffer, parses the 24-byte header
// by hand (envelope_length, payload_length, CHECKSUM flag) to know where the
// reply ends, and records the latency from the first send() to the last
// byte of the reply. The first reply of every run is compared byte for byte
// with the request. It waits in epoll_wait (blocking; EchoPairedSpin/: a
// zero timeout, polled).
//
// Threads: the server thread (and every thread it starts: lpframe's worker
// and per-connection threads inherit its affinity) is pinned to CPU 0, the
// client thread (the benchmark's main thread) to CPU 1. Pinning failures
// are reported once and ignored.
//
// Timing: each benchmark is one iteration = start a fresh server, dial the
// connections, 0.1 s of warm-up, a 0.35 s measured window, drain the
// requests in flight, close, stop the server. req/s = replies completed in
// the window / window length (manual time = the window). Latencies are those
// of requests sent and answered inside the window. 3 repetitions by default
// (bench_main.h), medians in the summary.
//
// Counters: req/s, p50_us, p99_us, mean_us; srv_us/req = CPU microseconds
// per request of every thread except the client (the server, plus the
// benchmark's idle remainder) and cli_us/req of the client thread
// (getrusage, user+system); proc_cpu% (process CPU / wall over the window,
// at most 200 on 2 CPUs); ivcsw/s (involuntary context switches: other
// load on our CPUs); cli_sleeps/req (the client thread's voluntary context
// switches per request: how often it found no reply ready and slept) and
// srv_sleeps/req (the same for every other thread: the server's).
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_main.h"
#include "bench/bench_payload.h"
#include "bench/socket_loops.h"
#include "bench/summary_reporter.h"
#include "benchmark/benchmark.h"
#include "lib/frame_encoder.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/message.h"
#include "lib/server/session.h"
#include "lib/server/stream_handler.h"
#include "lib/server/stream_server.h"
#include "lib/server/stream_server_options.h"
#include "lib/wire_format.h"
#include "proto/envelope.pb.h"

namespace lpframe_bench {
namespace {

constexpr size_t kKiB = size_t{1} << 10;
constexpr int kServerCpu = 0;
constexpr int kClientCpu = 1;
constexpr double kWarmupSeconds = 0.1;
constexpr double kMeasureSeconds = 0.35;
constexpr size_t kRawScratch = 256 * kKiB;
// raw_whole refuses frames above this (the requests are at most 64 KiB).
constexpr uint64_t kMaxWholeFrame = uint64_t{1} << 20;

const size_t kSizes[] = {64, 64 * kKiB};
const int kConnCounts[] = {1, 16, 256};

enum class Server { kRaw, kRawWhole, kLpReactor, kLpWorker1, kLpThread };
const Server kServers[] = {Server::kRaw, Server::kRawWhole, Server::kLpReactor,
                           Server::kLpWorker1, Server::kLpThread};
const char* ServerName(Server s) {
  switch (s) {
    case Server::kRaw:
      return "raw";
    case Server::kRawWhole:
      return "raw_whole";
    case Server::kLpReactor:
      return "lp_reactor";
    case Server::kLpWorker1:
      return "lp_worker1";
    case Server::kLpThread:
      return "lp_thread";
  }
  return "?";
}

// How the client waits for replies. kSleep blocks in epoll_wait (Echo/ and
// EchoPaired/); kSpin polls epoll_wait without a timeout and never sleeps
// (EchoPairedSpin/), so no reply pays for waking it up.
enum class ClientWait { kSleep, kSpin };

std::string PairedName(Net net, size_t size, int conns, ClientWait wait) {
  return absl::StrCat(wait == ClientWait::kSpin ? "EchoPairedSpin/" : "EchoPaired/",
                      NetName(net), "/", SizeName(size), "/", conns, "c");
}

std::string BenchName(Net net, size_t size, int conns, Server server) {
  return absl::StrCat("Echo/", NetName(net), "/", SizeName(size), "/", conns, "c/",
                      ServerName(server));
}

// ---------------------------------------------------------------------------
// Threads, clocks, CPU.

void PinOrWarn(int cpu, const char* who) {
  static std::atomic<bool> warned{false};
  if (!PinThisThread(cpu) && !warned.exchange(true)) {
    std::fprintf(stderr, "warning: could not pin the %s thread to CPU %d; running unpinned\n",
                 who, cpu);
  }
}

double RusageSeconds(int who, bool user_only = false) {
  struct rusage ru;
  getrusage(who, &ru);
  const double user = ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec;
  return user_only ? user : user + ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
}

long InvoluntarySwitches() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nivcsw;
}

// Voluntary context switches (how often a thread slept) of the calling
// thread (RUSAGE_THREAD) or the process (RUSAGE_SELF).
long VoluntarySwitches(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return ru.ru_nvcsw;
}

// A fresh address per server: TCP port 0, or an abstract AF_UNIX name.
std::string ListenUri(Net net) {
  static std::atomic<int> counter{0};
  if (net == Net::kTcp) return "tcp://127.0.0.1:0";
  return absl::StrCat("unix-abstract:lpframe_echo_bench_", getpid(), "_", counter.fetch_add(1));
}

// ---------------------------------------------------------------------------
// (a) The raw epoll echo server: forwards the byte stream unchanged.

// Total bytes of the native frame whose header starts at `p` (>= 24 bytes),
// or 0 when the bytes are not an lpframe v1 header.
uint64_t FrameBytes(const char* p) {
  if (std::memcmp(p, lpframe::kMagic, 4) != 0) return 0;
  const uint16_t flags = lpframe::LoadBigEndian16(p + 6);
  const uint32_t envelope_length = lpframe::LoadBigEndian32(p + 8);
  const uint64_t payload_length = lpframe::LoadBigEndian64(p + 12);
  return lpframe::kHeaderSize + envelope_length + payload_length +
         ((flags & lpframe::kFlagChecksum) ? lpframe::kChecksumTrailerSize : 0);
}

class RawEchoServer {
 public:
  ~RawEchoServer() { Stop(); }

  // `whole`: the store-and-forward control (raw_whole).
  absl::Status Start(Net net, bool whole = false) {
    whole_ = whole;
    absl::StatusOr<lpframe::Listener> listener = lpframe::Listener::Listen(ListenUri(net));
    if (!listener.ok()) return listener.status();
    tcp_ = net == Net::kTcp;
    address_ = listener->address();
    listener_ = std::make_unique<lpframe::Listener>(*std::move(listener));
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) return absl::InternalError("eventfd");
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  const std::string& address() const { return address_; }

  void Stop() {
    if (!thread_.joinable()) return;
    const uint64_t one = 1;
    ssize_t ignored = ::write(stop_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
    ::close(stop_fd_);
    listener_.reset();
  }

 private:
  struct Conn {
    int fd = -1;
    std::string pending;  // bytes not yet taken by the socket
    size_t pending_off = 0;
    // raw_whole: bytes read and not yet echoed, [0, in_end) of `in`, whose
    // first frame_end bytes are whole frames.
    std::unique_ptr<char[]> in;
    size_t in_size = 0, in_end = 0, frame_end = 0;
  };

  // raw_whole: reads into the connection's own buffer and echoes only whole
  // frames, each once its last byte is in. False when the connection ended
  // or failed (the caller closes it).
  bool EchoWholeFrames(Conn* c, const std::function<void(Conn*, uint32_t)>& set_events) {
    while (true) {
      if (c->in_size - c->in_end < kRawScratch) {
        const size_t size = c->in_end + kRawScratch;
        std::unique_ptr<char[]> grown(new char[size]);
        if (c->in_end > 0) std::memcpy(grown.get(), c->in.get(), c->in_end);
        c->in = std::move(grown);
        c->in_size = size;
      }
      const size_t room = c->in_size - c->in_end;
      const ssize_t r = ::recv(c->fd, c->in.get() + c->in_end, room, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      if (r <= 0) return false;
      c->in_end += static_cast<size_t>(r);
      while (c->in_end - c->frame_end >= lpframe::kHeaderSize) {
        const uint64_t bytes = FrameBytes(c->in.get() + c->frame_end);
        if (bytes == 0 || bytes > kMaxWholeFrame) return false;  // not a request of ours
        if (bytes > c->in_end - c->frame_end) break;
        c->frame_end += bytes;
      }
      if (c->frame_end > 0) {
        ssize_t w = ::send(c->fd, c->in.get(), c->frame_end, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
        if (w < 0) w = 0;
        const bool blocked = static_cast<size_t>(w) < c->frame_end;
        if (blocked) {
          c->pending.assign(c->in.get() + w, c->frame_end - static_cast<size_t>(w));
          c->pending_off = 0;
        }
        std::memmove(c->in.get(), c->in.get() + c->frame_end, c->in_end - c->frame_end);
        c->in_end -= c->frame_end;
        c->frame_end = 0;
        if (blocked) {
          set_events(c, EPOLLOUT);
          return true;
        }
      }
      if (static_cast<size_t>(r) < room) return true;
    }
  }

  void Run() {
    PinOrWarn(kServerCpu, "server");
    ::pthread_setname_np(::pthread_self(), "raw_echo");  // for perf's --sort comm
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::unique_ptr<char[]> scratch(new char[kRawScratch]);
    std::vector<std::unique_ptr<Conn>> conns;  // indexed by fd
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.fd = listener_->fd();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener_->fd(), &ev);
    ev.data.fd = stop_fd_;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd_, &ev);
    auto close_conn = [&](Conn* c) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
      ::close(c->fd);
      conns[c->fd].reset();
    };
    auto set_events = [&](Conn* c, uint32_t events) {
      epoll_event e = {};
      e.events = events;
      e.data.fd = c->fd;
      ::epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    };
    epoll_event events[256];
    bool stop = false;
    while (!stop) {
      const int n = ::epoll_wait(ep, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_fd_) {
          stop = true;
          continue;
        }
        if (fd == listener_->fd()) {
          while (true) {
            const int cfd = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (cfd < 0) break;
            if (tcp_) {
              int one = 1;
              ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            }
            if (conns.size() <= static_cast<size_t>(cfd)) conns.resize(cfd + 1);
            conns[cfd] = std::make_unique<Conn>();
            conns[cfd]->fd = cfd;
            epoll_event e = {};
            e.events = EPOLLIN;
            e.data.fd = cfd;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
          }
          continue;
        }
        Conn* c = static_cast<size_t>(fd) < conns.size() ? conns[fd].get() : nullptr;
        if (c == nullptr) continue;
        if (!c->pending.empty()) {  // waiting for EPOLLOUT
          const ssize_t w = ::send(fd, c->pending.data() + c->pending_off,
                                   c->pending.size() - c->pending_off, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w < 0 && errno != EAGAIN && errno != EINTR) {
            close_conn(c);
            continue;
          }
          if (w > 0) c->pending_off += static_cast<size_t>(w);
          if (c->pending_off == c->pending.size()) {
            c->pending.clear();
            c->pending_off = 0;
            set_events(c, EPOLLIN);
          }
          continue;
        }
        if (whole_) {
          if (!EchoWholeFrames(c, set_events)) close_conn(c);
          continue;
        }
        // Readable: read and echo until a read does not fill the scratch.
        while (true) {
          const ssize_t r = ::recv(fd, scratch.get(), kRawScratch, 0);
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
          if (r <= 0) {
            close_conn(c);
            break;
          }
          ssize_t w = ::send(fd, scratch.get(), static_cast<size_t>(r), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w < 0 && errno != EAGAIN && errno != EINTR) {
            close_conn(c);
            break;
          }
          if (w < 0) w = 0;
          if (w < r) {
            c->pending.assign(scratch.get() + w, static_cast<size_t>(r - w));
            c->pending_off = 0;
            set_events(c, EPOLLOUT);
            break;
          }
          if (static_cast<size_t>(r) < kRawScratch) break;
        }
      }
    }
    for (auto& c : conns) {
      if (c != nullptr) ::close(c->fd);
    }
    ::close(ep);
  }

  bool tcp_ = false;
  bool whole_ = false;
  std::string address_;
  std::unique_ptr<lpframe::Listener> listener_;
  int stop_fd_ = -1;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// (b)-(d) lpframe's StreamServer with an echo handler.

class EchoHandler : public lpframe::StreamHandler {
 public:
  absl::Status OnMessage(lpframe::Session& session, lpframe::Message message) override {
    return session.Send(std::move(message));
  }
  // Small payloads arrive as views of the server's read buffer; Send()
  // copies them into the answer, with no allocation in between.
  bool TakesMessageViews() const override { return true; }
  absl::Status OnMessageView(lpframe::Session& session, const lpframe::Envelope& envelope,
                             absl::string_view payload) override {
    return session.Send(envelope, payload);
  }
};

class LpEchoServer {
 public:
  ~LpEchoServer() { Stop().IgnoreError(); }

  absl::Status Start(Net net, Server kind) {
    lpframe::StreamServerOptions options;
    if (kind == Server::kLpWorker1) options.worker_threads = 1;
    if (kind == Server::kLpThread) options.model = lpframe::ConcurrencyModel::kThreadPerConnection;
    options.shutdown_grace = absl::Seconds(2);
    options.linger = absl::Milliseconds(100);
    const std::string uri = ListenUri(net);
    std::promise<absl::Status> started;
    std::future<absl::Status> started_future = started.get_future();
    // Created and served on the pinned server thread, so that every thread
    // the server starts inherits CPU 0.
    thread_ = std::thread([this, uri, options, &started] {
      PinOrWarn(kServerCpu, "server");
      ::pthread_setname_np(::pthread_self(), "lp_echo");  // inherited by its threads
      auto server = lpframe::StreamServer::Create(
          uri, options, [] { return std::make_unique<EchoHandler>(); });
      if (!server.ok()) {
        started.set_value(server.status());
        return;
      }
      server_ = *std::move(server);
      started.set_value(absl::OkStatus());
      serve_status_ = server_->ServeForever();
    });
    absl::Status status = started_future.get();
    if (!status.ok()) {
      thread_.join();
      return status;
    }
    return absl::OkStatus();
  }

  std::string address() const { return server_->address(); }
  lpframe::ServerStats stats() const { return server_->stats(); }

  absl::Status Stop() {
    if (!thread_.joinable()) return serve_status_;
    server_->Shutdown();
    thread_.join();
    server_.reset();
    return serve_status_;
  }

 private:
  std::thread thread_;
  std::unique_ptr<lpframe::StreamServer> server_;
  absl::Status serve_status_;
};

// ---------------------------------------------------------------------------
// The client: one thread, epoll over every connection, closed loop.

struct ClientResult {
  std::string error;
  uint64_t requests = 0;        // completed inside the window
  double window_seconds = 0;       // the measured window (kMeasureSeconds)
  double cpu_window_seconds = 0;   // between the two CPU snapshots (~ the window)
  std::vector<int64_t> latencies_ns;  // requests sent and answered in the window
  double client_cpu_seconds = 0;      // client thread, over the window
  double process_cpu_seconds = 0;     // whole process, over the window
  double client_user_seconds = 0;     // the same two in user mode only
  double process_user_seconds = 0;
  long ivcsw = 0;
  // Voluntary context switches in the window (each a sleep in a wait): the
  // client thread's, and those of every other thread (the server's).
  long client_sleeps = 0;
  long process_sleeps = 0;

  // Requests over the CPU snapshot interval, at the window's rate: the
  // divisor of every CPU-per-request figure.
  double cpu_requests() const {
    return static_cast<double>(requests) / window_seconds * cpu_window_seconds;
  }
  // Every thread but the client's: the server (and idle benchmark threads).
  double server_cpu_seconds() const { return process_cpu_seconds - client_cpu_seconds; }
  double server_user_seconds() const { return process_user_seconds - client_user_seconds; }
  long server_sleeps() const { return process_sleeps - client_sleeps; }
};

struct ClientConn {
  int fd = -1;
  size_t sent = 0;
  size_t have = 0;
  int64_t t0 = 0;
  bool in_flight = false;
  bool want_out = false;
  std::unique_ptr<char[]> buf;
};

ClientResult RunClient(const std::string& address, int conn_count, const std::string& request,
                       ClientWait wait) {
  ClientResult result;
  const size_t capacity = request.size() + 64;  // a longer reply is an error
  std::vector<ClientConn> conns(static_cast<size_t>(conn_count));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (size_t i = 0; i < conns.size(); ++i) {
    absl::StatusOr<lpframe::Socket> socket = lpframe::Socket::Connect(address, deadline);
    if (!socket.ok()) {
      result.error = absl::StrCat("connect ", i, ": ", socket.status().ToString());
      break;
    }
    conns[i].fd = socket->Release();  // non-blocking, TCP_NODELAY
    conns[i].buf.reset(new char[capacity]);
    epoll_event e = {};
    e.events = EPOLLIN;
    e.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e);
  }
  auto set_out = [&](size_t i, bool out) {
    ClientConn& c = conns[i];
    if (c.want_out == out) return;
    c.want_out = out;
    epoll_event e = {};
    e.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    e.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
  };
  // Writes what the socket takes; false on a socket error.
  auto write_some = [&](size_t i) -> bool {
    ClientConn& c = conns[i];
    while (c.sent < request.size()) {
      const ssize_t w = ::send(c.fd, request.data() + c.sent, request.size() - c.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        result.error = absl::StrCat("send: ", std::strerror(errno));
        return false;
      }
      c.sent += static_cast<size_t>(w);
    }
    set_out(i, c.sent < request.size());
    return true;
  };
  auto start_request = [&](size_t i, int64_t now) -> bool {
    ClientConn& c = conns[i];
    c.sent = 0;
    c.have = 0;
    c.t0 = now;
    c.in_flight = true;
    return write_some(i);
  };

  bool verified = false;
  size_t in_flight = 0;
  if (result.error.empty()) {
    const int64_t now = MonotonicNanos();
    for (size_t i = 0; i < conns.size() && result.error.empty(); ++i) {
      if (start_request(i, now)) ++in_flight;
    }
  }
  const int64_t t_start = MonotonicNanos();
  const int64_t window_start = t_start + static_cast<int64_t>(kWarmupSeconds * 1e9);
  const int64_t window_end = window_start + static_cast<int64_t>(kMeasureSeconds * 1e9);
  bool in_window = false;
  double cpu_client0 = 0, cpu_proc0 = 0, user_client0 = 0, user_proc0 = 0;
  long ivcsw0 = 0, client_sleeps0 = 0, process_sleeps0 = 0;
  int64_t snap0 = 0, snap1 = 0;
  result.window_seconds = kMeasureSeconds;
  result.latencies_ns.reserve(1 << 20);
  std::vector<epoll_event> events(std::max(conn_count, 1));
  const int wait_ms = wait == ClientWait::kSpin ? 0 : 5000;
  int64_t last_event = MonotonicNanos();
  while (result.error.empty() && in_flight > 0) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      last_event = MonotonicNanos();
    } else if (n < 0 || MonotonicNanos() - last_event >= 5'000'000'000) {
      result.error = absl::StrCat("no reply within 5 s (", in_flight, " requests in flight)");
      break;
    } else {
      continue;  // spinning: nothing ready yet
    }
    for (int k = 0; k < n && result.error.empty(); ++k) {
      const size_t i = static_cast<size_t>(events[k].data.u64);
      ClientConn& c = conns[i];
      if ((events[k].events & EPOLLOUT) && c.sent < request.size()) {
        if (!write_some(i)) break;
      }
      if (!(events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const ssize_t r = ::recv(c.fd, c.buf.get() + c.have, capacity - c.have, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        result.error = r == 0 ? std::string("the server closed a connection")
                              : absl::StrCat("recv: ", std::strerror(errno));
        break;
      }
      c.have += static_cast<size_t>(r);
      if (c.have < lpframe::kHeaderSize) continue;
      const uint64_t total = FrameBytes(c.buf.get());
      if (total == 0 || total > capacity || (c.have > total)) {
        result.error = absl::StrCat("unexpected reply: ", c.have, " bytes, frame of ", total);
        break;
      }
      if (c.have < total) continue;
      // One whole reply.
      const int64_t now = MonotonicNanos();
      if (!c.in_flight || c.sent != request.size()) {
        result.error = "a reply before the request was sent";
        break;
      }
      if (!verified) {
        verified = true;
        if (total != request.size() || std::memcmp(c.buf.get(), request.data(), total) != 0) {
          result.error = "the first reply differs from the request";
          break;
        }
      }
      c.in_flight = false;
      --in_flight;
      if (!in_window && now >= window_start) {
        in_window = true;
        cpu_client0 = RusageSeconds(RUSAGE_THREAD);
        cpu_proc0 = RusageSeconds(RUSAGE_SELF);
        user_client0 = RusageSeconds(RUSAGE_THREAD, /*user_only=*/true);
        user_proc0 = RusageSeconds(RUSAGE_SELF, /*user_only=*/true);
        ivcsw0 = InvoluntarySwitches();
        client_sleeps0 = VoluntarySwitches(RUSAGE_THREAD);
        process_sleeps0 = VoluntarySwitches(RUSAGE_SELF);
        snap0 = now;
      }
      if (in_window && now < window_end) {
        ++result.requests;
        if (c.t0 >= window_start) result.latencies_ns.push_back(now - c.t0);
      }
      if (now < window_end) {
        if (start_request(i, now)) ++in_flight;
      } else if (in_window && snap1 == 0) {
        snap1 = now;
        result.cpu_window_seconds = 1e-9 * static_cast<double>(snap1 - snap0);
        result.client_cpu_seconds = RusageSeconds(RUSAGE_THREAD) - cpu_client0;
        result.process_cpu_seconds = RusageSeconds(RUSAGE_SELF) - cpu_proc0;
        result.client_user_seconds = RusageSeconds(RUSAGE_THREAD, true) - user_client0;
        result.process_user_seconds = RusageSeconds(RUSAGE_SELF, true) - user_proc0;
        result.ivcsw = InvoluntarySwitches() - ivcsw0;
        result.client_sleeps = VoluntarySwitches(RUSAGE_THREAD) - client_sleeps0;
        result.process_sleeps = VoluntarySwitches(RUSAGE_SELF) - process_sleeps0;
      }
    }
  }
  for (ClientConn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep);
  if (result.error.empty() && (result.requests == 0 || snap1 == 0)) {
    result.error = "no request in the window";
  }
  return result;
}

// The request: one native frame, encoded once.
const std::string& RequestBytes(size_t size) {
  static auto* const cache = new std::map<size_t, std::string>;
  auto it = cache->find(size);
  if (it == cache->end()) {
    lpframe::FrameEncoder encoder;
    lpframe::Envelope envelope;
    envelope.set_id(1);
    envelope.set_kind(lpframe::KIND_MESSAGE);
    absl::StatusOr<lpframe::EncodedFrame> frame = encoder.Encode(envelope, PayloadCord(size));
    it = cache->emplace(size, frame.ok() ? frame->ToString() : std::string()).first;
  }
  return it->second;
}

void BM_Echo(benchmark::State& state, Net net, size_t size, int conns, Server kind) {
  const std::string& request = RequestBytes(size);
  ClientResult result;
  for (auto _ : state) {
    RawEchoServer raw;
    LpEchoServer lp;
    const bool is_raw = kind == Server::kRaw || kind == Server::kRawWhole;
    absl::Status started =
        is_raw ? raw.Start(net, kind == Server::kRawWhole) : lp.Start(net, kind);
    if (!started.ok()) {
      state.SkipWithError(started.ToString().c_str());
      break;
    }
    result = RunClient(is_raw ? raw.address() : lp.address(), conns, request, ClientWait::kSleep);
    if (is_raw) {
      raw.Stop();
    } else {
      // The client has closed its connections: wait for the server to see
      // them all closed, then shut down.
      const absl::Time until = absl::Now() + absl::Seconds(3);
      while (lp.stats().active > 0 && absl::Now() < until) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      absl::Status stopped = lp.Stop();
      if (result.error.empty() && !stopped.ok()) result.error = "server: " + stopped.ToString();
    }
    if (!result.error.empty()) {
      state.SkipWithError(result.error.c_str());
      break;
    }
    state.SetIterationTime(result.window_seconds);
  }
  if (!result.error.empty()) return;
  std::vector<int64_t>& lat = result.latencies_ns;
  std::sort(lat.begin(), lat.end());
  const double reqs = static_cast<double>(result.requests);
  state.SetItemsProcessed(static_cast<int64_t>(result.requests));
  state.counters["req/s"] = reqs / result.window_seconds;
  state.counters["p50_us"] = Percentile(lat, 0.50) / 1e3;
  state.counters["p99_us"] = Percentile(lat, 0.99) / 1e3;
  state.counters["mean_us"] = Mean(lat) / 1e3;
  state.counters["cli_us/req"] = 1e6 * result.client_cpu_seconds / result.cpu_requests();
  state.counters["srv_us/req"] = 1e6 * result.server_cpu_seconds() / result.cpu_requests();
  state.counters["proc_cpu%"] = 100.0 * result.process_cpu_seconds / result.cpu_window_seconds;
  state.counters["ivcsw/s"] = result.ivcsw / result.cpu_window_seconds;
  state.counters["cli_sleeps/req"] = result.client_sleeps / result.cpu_requests();
  state.counters["srv_sleeps/req"] = result.server_sleeps() / result.cpu_requests();
}

// EchoPaired/<net>/<size>/<conns>c: the raw server and lp_reactor run side by
// side and the client alternates between them, one window each, for
// kEchoPairs pairs (the order swapped every pair), so drift between periods
// hits both alike. Ratios are medians over the pairs; latencies are pooled.
constexpr int kEchoPairs = 6;

void BM_EchoPaired(benchmark::State& state, Net net, size_t size, int conns, ClientWait wait) {
  const std::string& request = RequestBytes(size);
  std::vector<double> rps_ratios, p50_ratios, mean_ratios, srv_ratios;
  std::vector<int64_t> pooled[2];  // [0] raw, [1] lpframe
  // Server CPU (all, and user mode only) and the requests it served.
  double srv_seconds[2] = {0, 0}, srv_user_seconds[2] = {0, 0}, srv_requests[2] = {0, 0};
  double requests[2] = {0, 0}, seconds[2] = {0, 0};
  double client_sleeps[2] = {0, 0}, server_sleeps[2] = {0, 0};
  std::string error;
  for (auto _ : state) {
    RawEchoServer raw;
    LpEchoServer lp;
    absl::Status started = raw.Start(net);
    if (started.ok()) started = lp.Start(net, Server::kLpReactor);
    if (!started.ok()) {
      error = started.ToString();
      break;
    }
    for (int pair = 0; pair < kEchoPairs && error.empty(); ++pair) {
      ClientResult result[2];
      for (int k = 0; k < 2 && error.empty(); ++k) {
        const int which = pair % 2 == 0 ? k : 1 - k;
        result[which] =
            RunClient(which == 0 ? raw.address() : lp.address(), conns, request, wait);
        error = result[which].error;
      }
      if (!error.empty()) break;
      double p50[2], mean[2], srv_us[2];
      for (int which = 0; which < 2; ++which) {
        const ClientResult& r = result[which];
        srv_us[which] = 1e6 * r.server_cpu_seconds() / r.cpu_requests();
        srv_seconds[which] += r.server_cpu_seconds();
        srv_user_seconds[which] += r.server_user_seconds();
        srv_requests[which] += r.cpu_requests();
        std::vector<int64_t>& lat = result[which].latencies_ns;
        std::sort(lat.begin(), lat.end());
        p50[which] = Percentile(lat, 0.50);
        mean[which] = Mean(lat);
        client_sleeps[which] += static_cast<double>(r.client_sleeps);
        server_sleeps[which] += static_cast<double>(r.server_sleeps());
        pooled[which].insert(pooled[which].end(), lat.begin(), lat.end());
        requests[which] += static_cast<double>(result[which].requests);
        seconds[which] += result[which].window_seconds;
      }
      rps_ratios.push_back((result[1].requests / result[1].window_seconds) /
                           (result[0].requests / result[0].window_seconds));
      p50_ratios.push_back(p50[1] / p50[0]);
      mean_ratios.push_back(mean[1] / mean[0]);
      srv_ratios.push_back(srv_us[1] / srv_us[0]);
    }
    const absl::Time until = absl::Now() + absl::Seconds(3);
    while (lp.stats().active > 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    absl::Status stopped = lp.Stop();
    raw.Stop();
    if (error.empty() && !stopped.ok()) error = "server: " + stopped.ToString();
    state.SetIterationTime(seconds[0] + seconds[1]);
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto& lat : pooled) std::sort(lat.begin(), lat.end());
  state.counters["raw_req/s"] = requests[0] / seconds[0];
  state.counters["lp_req/s"] = requests[1] / seconds[1];
  state.counters["raw_p50_us"] = Percentile(pooled[0], 0.50) / 1e3;
  state.counters["lp_p50_us"] = Percentile(pooled[1], 0.50) / 1e3;
  state.counters["rps_ratio"] = Median(rps_ratios);
  state.counters["rps_ratio_min"] = *std::min_element(rps_ratios.begin(), rps_ratios.end());
  state.counters["rps_ratio_max"] = *std::max_element(rps_ratios.begin(), rps_ratios.end());
  state.counters["p50_ratio"] = Median(p50_ratios);
  state.counters["mean_ratio"] = Median(mean_ratios);
  state.counters["raw_cli_sleeps/req"] = client_sleeps[0] / srv_requests[0];
  state.counters["lp_cli_sleeps/req"] = client_sleeps[1] / srv_requests[1];
  state.counters["raw_srv_sleeps/req"] = server_sleeps[0] / srv_requests[0];
  state.counters["lp_srv_sleeps/req"] = server_sleeps[1] / srv_requests[1];
  state.counters["raw_srv_us/req"] = 1e6 * srv_seconds[0] / srv_requests[0];
  state.counters["lp_srv_us/req"] = 1e6 * srv_seconds[1] / srv_requests[1];
  state.counters["srv_ratio"] = Median(srv_ratios);
  state.counters["raw_srv_usr_us/req"] = 1e6 * srv_user_seconds[0] / srv_requests[0];
  state.counters["lp_srv_usr_us/req"] = 1e6 * srv_user_seconds[1] / srv_requests[1];
}

void RegisterAll() {
  // Each lpframe server right after the raw one of the same configuration,
  // so drift hits them alike.
  for (Net net : {Net::kTcp, Net::kUnix}) {
    for (size_t size : kSizes) {
      for (int conns : kConnCounts) {
        for (Server server : kServers) {
          benchmark::RegisterBenchmark(BenchName(net, size, conns, server).c_str(), BM_Echo, net,
                                       size, conns, server)
              ->Unit(benchmark::kMicrosecond)
              ->UseManualTime()
              ->Iterations(1);
        }
      }
    }
  }
  for (ClientWait wait : {ClientWait::kSleep, ClientWait::kSpin}) {
    for (Net net : {Net::kTcp, Net::kUnix}) {
      for (size_t size : kSizes) {
        for (int conns : kConnCounts) {
          benchmark::RegisterBenchmark(PairedName(net, size, conns, wait).c_str(), BM_EchoPaired,
                                       net, size, conns, wait)
              ->Unit(benchmark::kMillisecond)
              ->UseManualTime()
              ->Iterations(1);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Console output plus a Markdown summary of the medians.

class SummaryReporter : public SummaryReporterBase {
 public:
  // The cv column is the spread of req/s over repetitions.
  explicit SummaryReporter(OutputOptions options) : SummaryReporterBase(options, "req/s") {}

  void Finalize() override {
    std::ostream& out = BeginSummary(
        "medians over repetitions; closed loop, 1 request in flight per connection;\n## ratio = "
        "lpframe server / raw epoll echo within this run; ");
    for (Net net : {Net::kTcp, Net::kUnix}) PrintTable(out, net);
    PrintTargets(out);
    PrintPaired(out);
    PrintErrors(out);
  }

 private:
  using SummaryReporterBase::Find;
  const Result* Find(Net net, size_t size, int conns, Server server) const {
    return Find(BenchName(net, size, conns, server));
  }

  static std::string Rate(double per_second) {
    if (per_second >= 1e6) return absl::StrFormat("%.2f M", per_second / 1e6);
    if (per_second >= 1e3) return absl::StrFormat("%.1f k", per_second / 1e3);
    return absl::StrFormat("%.1f", per_second);
  }

  static std::string Ratio(const Result* r, const Result* base, const char* key) {
    if (r == nullptr || base == nullptr || base->Get(key) <= 0) return "-";
    return absl::StrFormat("%.2fx", r->Get(key) / base->Get(key));
  }

  void PrintTable(std::ostream& out, Net net) const {
    bool any = false;
    for (size_t size : kSizes) {
      for (int conns : kConnCounts) any = any || Find(net, size, conns, Server::kRaw) != nullptr;
    }
    if (!any) return;
    out << "### " << (net == Net::kTcp ? "TCP loopback" : "AF_UNIX (abstract name)") << "\n\n"
        << "| payload | conns | server | req/s | p50 us | p99 us | req/s ratio | p50 ratio | "
           "p99 ratio | srv us/req | cli us/req | proc cpu / ivcsw/s / cv |\n"
        << "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (size_t size : kSizes) {
      for (int conns : kConnCounts) {
        const Result* raw = Find(net, size, conns, Server::kRaw);
        for (Server server : kServers) {
          const Result* r = Find(net, size, conns, server);
          if (r == nullptr) continue;
          const bool is_raw = server == Server::kRaw;
          out << absl::StrFormat(
              "| %s | %d | %s | %s | %.1f | %.1f | %s | %s | %s | %.2f | %.2f | %.0f%% / %.0f / "
              "%.1f%% |\n",
              SizeName(size), conns, ServerName(server), Rate(r->Get("req/s")),
              r->Get("p50_us"), r->Get("p99_us"), is_raw ? "-" : Ratio(r, raw, "req/s"),
              is_raw ? "-" : Ratio(r, raw, "p50_us"), is_raw ? "-" : Ratio(r, raw, "p99_us"),
              r->Get("srv_us/req"), r->Get("cli_us/req"), r->Get("proc_cpu%"),
              r->Get("ivcsw/s"), r->cv_percent);
        }
      }
    }
    out << "\n";
  }

  void PrintTargets(std::ostream& out) const {
    out << "### Targets (lp_reactor, the default model, against raw)\n\n";
    for (Net net : {Net::kTcp, Net::kUnix}) {
      for (size_t size : kSizes) {
        for (int conns : kConnCounts) {
          const Result* raw = Find(net, size, conns, Server::kRaw);
          const Result* lp = Find(net, size, conns, Server::kLpReactor);
          if (raw == nullptr || lp == nullptr) continue;
          const double rps = lp->Get("req/s") / raw->Get("req/s");
          const double p50 = lp->Get("p50_us") / raw->Get("p50_us");
          std::string line = absl::StrFormat("- %s %s %dc: ", NetName(net), SizeName(size), conns);
          if (size == 64) {
            absl::StrAppendFormat(&line, "req/s >= 0.9x raw: %.2fx %s; ", rps,
                                  rps >= 0.9 ? "MET" : "MISSED");
          } else {
            absl::StrAppendFormat(&line, "req/s %.2fx raw (no target); ", rps);
          }
          absl::StrAppendFormat(&line, "p50 <= 1.1x raw: %.2fx (%.1f vs %.1f us) %s\n", p50,
                                lp->Get("p50_us"), raw->Get("p50_us"),
                                p50 <= 1.1 ? "MET" : "MISSED");
          out << line;
        }
      }
    }
    out << "\n";
  }

  void PrintPaired(std::ostream& out) const {
    std::string table, targets;
    for (ClientWait wait : {ClientWait::kSleep, ClientWait::kSpin}) {
      const char* client = wait == ClientWait::kSpin ? "spins" : "sleeps";
      for (size_t size : kSizes) {
        for (Net net : {Net::kTcp, Net::kUnix}) {
          for (int conns : kConnCounts) {
            const Result* found = Find(PairedName(net, size, conns, wait));
            if (found == nullptr) continue;
            const Result& r = *found;
            const double rps = r.Get("rps_ratio");
            const double p50 = r.Get("p50_ratio");
            absl::StrAppendFormat(
                &table,
                "| %s | %s | %s | %d | %.1f k | %.1f k | %.2fx | %.2f - %.2f | %.1f | %.1f | "
                "%.2fx | %.2fx | %.2f | %.2f | %.2fx | %.2f | %.2f | %.3f / %.3f | %.3f / %.3f |\n",
                client, NetName(net), SizeName(size), conns, r.Get("raw_req/s") / 1e3,
                r.Get("lp_req/s") / 1e3, rps, r.Get("rps_ratio_min"), r.Get("rps_ratio_max"),
                r.Get("raw_p50_us"), r.Get("lp_p50_us"), p50, r.Get("mean_ratio"),
                r.Get("raw_srv_us/req"), r.Get("lp_srv_us/req"), r.Get("srv_ratio"),
                r.Get("raw_srv_usr_us/req"), r.Get("lp_srv_usr_us/req"),
                r.Get("raw_cli_sleeps/req"), r.Get("lp_cli_sleeps/req"),
                r.Get("raw_srv_sleeps/req"), r.Get("lp_srv_sleeps/req"));
            // The req/s target is the 64 B one; p50 applies to every size.
            const std::string rps_verdict =
                size == 64 ? absl::StrFormat("req/s >= 0.9x raw: %.2fx %s", rps,
                                             rps >= 0.9 ? "MET" : "MISSED")
                           : absl::StrFormat("req/s %.2fx raw (no target)", rps);
            absl::StrAppendFormat(&targets,
                                  "- paired, client %s, %s %s %dc: %s; p50 <= 1.1x raw: %.2fx %s\n",
                                  client, NetName(net), SizeName(size), conns, rps_verdict, p50,
                                  p50 <= 1.1 ? "MET" : "MISSED");
          }
        }
      }
    }
    if (table.empty()) return;
    out << "### Paired: raw and lp_reactor side by side, the client alternating windows\n\n"
        << "| client | transport | payload | conns | raw req/s | lp req/s | "
           "req/s ratio (median of pairs) | min - max | raw p50 us | lp p50 us | "
           "p50 ratio (median of pairs) | mean latency ratio (median of pairs) | "
           "raw server CPU us/req | lp server CPU us/req | CPU ratio (median of pairs) | "
           "raw server user-mode us/req | lp server user-mode us/req | "
           "client sleeps/req (raw / lp) | server sleeps/req (raw / lp) |\n"
        << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
           "---:|---:|\n"
        << table << "\n" << targets << "\n";
  }

};

}  // namespace
}  // namespace lpframe_bench

int main(int argc, char** argv) {
  // --mutex_deadlock_detection=ignore: turn off absl::Mutex's deadlock
  // detection, which Debian's Abseil (built without NDEBUG) enables by
  // default and which costs every Mutex::Lock a global graph update.
  // Diagnostic only; the default measures what an lpframe user gets.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--mutex_deadlock_detection=ignore") {
      absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
      std::fprintf(stderr, "absl::Mutex deadlock detection: off\n");
      continue;
    }
    args.push_back(argv[i]);
  }
  lpframe_bench::PinOrWarn(lpframe_bench::kClientCpu, "client");
  lpframe_bench::RegisterAll();
  return lpframe_bench::RunBenchmarksWithSummary<lpframe_bench::SummaryReporter>(
      static_cast<int>(args.size()), args.data());
}
