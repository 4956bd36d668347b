// File: bench/paired_bench.cc
//
// Paired A/B measurements of lpframe's FramedConnection against the raw-socket
// loops of bench/socket_loops. The two run ALTERNATELY on the same two pinned
// threads (sender / echoing side on CPU 0, receiver / client on CPU 1), each
// over its own connection, in short slices, so both see the same machine
// state. On the shared 2-vCPU VMs loopback throughput and latency drift by up
// to 2x between periods of seconds, which makes ratios of benchmarks run one
// after the other (bench/transport_bench) swing around their targets; paired
// slices cancel that drift.
//
//   PairedStream/<net>/<size>/<fixed|direct>   one-way stream; slices of
//       max(1, 64 MiB / size) messages, raw and lpframe alternately, the
//       order of the two swapped every pair. The receiver starts each slice's
//       clock, then tells the sender to start (so no slice begins with its
//       socket buffer pre-filled). fixed: lpframe ReadMode::kFixed against
//       the raw loop reading the payload in 8 KiB recv() pieces; direct: the
//       default ReadMode::kDirect against the raw loop reading the whole
//       payload with one recv() call per wake-up. Senders: one sendmsg per
//       message (raw, blocking socket) / FramedConnection::Send (default
//       options). ratio = median over pairs of lpframe GB/s / raw GB/s.
//       TCP stream connections (raw and lpframe alike) have SO_RCVBUF of
//       2 MiB on both ends: receive-buffer autotuning off, so both run with
//       the same window (see kTcpStreamReceiveBuffer).
//   PairedPingPong/<net>/64B/<variant>  64 B request/echo round trips in
//       blocks of 500, the raw loop (blocking recv) and the variant
//       alternately (order swapped every pair); p50/p99 of each over all its
//       blocks. lp: FramedConnection, default options; lp_poll: with
//       WaitMode::kAlwaysPoll on both ends; lp_busy_poll: with
//       ConnectionOptions::busy_poll (kPingBusyPoll) on both ends. Controls
//       without a target: raw_poll, the raw loop waiting in poll(2) before
//       each recv on both ends (what poll + recv costs against a blocking
//       recv by itself); raw_busy_poll, the raw loop busy polling as
//       lp_busy_poll does (what busy polling gains without lpframe).
//       lp_busy_poll_vs_raw_busy_poll: lp_busy_poll with raw_busy_poll as
//       the baseline of its pairs instead of the blocking loop (lpframe's
//       own cost per round trip, like for like, with the wake-ups gone).
//
// The summary after the console table lists the ratios and the targets of
// the transports issue (streams >= 64 KiB: fixed >= 0.95x, direct >= 0.9x;
// ping-pong p50 and p99 <= 1.1x).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/bench_main.h"
#include "bench/bench_payload.h"
#include "bench/socket_loops.h"
#include "bench/summary_reporter.h"
#include "benchmark/benchmark.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"
#include "lib/message.h"
#include "proto/envelope.pb.h"

namespace lpframe_bench {
namespace {

using lpframe::ConnectionOptions;
using lpframe::Envelope;
using lpframe::FramedConnection;
using lpframe::Message;
using lpframe::ReadMode;
using lpframe::WaitMode;

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;
constexpr int kSenderCpu = 0;
constexpr int kReceiverCpu = 1;

constexpr size_t kSliceBytes = 64 * kMiB;
constexpr int kStreamPairs = 16;  // measured, after one warm-up pair
// SO_RCVBUF of both ends of every TCP stream connection, raw and lpframe.
// With Linux's receive-buffer autotuning each new connection settles on its
// own window, and single TCP slices of one build ranged from 0.45x to 1.9x
// (bench/RESULTS.md, 2026-12-04 22:45); with the same fixed buffer on both
// the ratios of fixed mode stayed within 0.89-1.00x.
constexpr int kTcpStreamReceiveBuffer = 2 << 20;
constexpr int kPingBlock = 500;   // round trips per block
constexpr int kPingPairs = 20;    // measured, after one warm-up pair
constexpr size_t kPingSize = 64;

const size_t kStreamSizes[] = {64 * kKiB, kMiB, 16 * kMiB, 64 * kMiB};

// Slice `s` of a run: pair s / 2; raw goes first in even pairs.
bool SliceIsRaw(int s) {
  const bool first = s % 2 == 0;
  const bool raw_first = (s / 2) % 2 == 0;
  return first == raw_first;
}

// Receiver → sender: "slice i may start". Stop() releases a waiting sender
// for good (the receiver failed).
class SliceGate {
 public:
  void Open(int slice) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = slice;
    cv_.notify_one();
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_one();
  }
  // False once stopped.
  bool WaitFor(int slice) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || open_ >= slice; });
    return !stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int open_ = -1;
  bool stopped_ = false;
};

void Skip(benchmark::State& state, const std::string& error) {
  state.SkipWithError(error.c_str());
  for (auto _ : state) {
  }
}

// ---------------------------------------------------------------------------
// Paired one-way streams.

void BM_PairedStream(benchmark::State& state, Net net, size_t size, bool fixed) {
  absl::StatusOr<Endpoints> raw_ends = Connect(net, kTcpStreamReceiveBuffer);
  absl::StatusOr<Endpoints> lp_ends = Connect(net, kTcpStreamReceiveBuffer);
  if (!raw_ends.ok() || !lp_ends.ok()) {
    Skip(state, (raw_ends.ok() ? lp_ends.status() : raw_ends.status()).ToString());
    return;
  }
  const size_t per_slice = std::max<size_t>(1, kSliceBytes / size);
  const int slices = 2 * (kStreamPairs + 1);
  const std::string& expected = PayloadBytes(size);

  SliceGate gate;
  std::string send_error;
  const int raw_tx = ToBlockingFd(std::move(raw_ends->sender));
  std::thread sender([&, lp_socket = std::move(lp_ends->sender)]() mutable {
    PinThisThread(kSenderCpu);
    FramedConnection lp_tx(std::move(lp_socket));
    const absl::Cord payload = PayloadCord(size);
    Envelope envelope = MessageEnvelope(0);
    uint64_t len = size;
    uint64_t calls = 0;
    for (int s = 0; s < slices && gate.WaitFor(s); ++s) {
      for (size_t i = 0; i < per_slice; ++i) {
        if (SliceIsRaw(s)) {
          struct iovec iov[2] = {{&len, 8}, {const_cast<char*>(expected.data()), size}};
          if (!SendAllV(raw_tx, iov, 2, &calls)) {
            send_error = absl::StrCat("raw sendmsg: ", std::strerror(errno));
            return;
          }
        } else {
          envelope.set_id(envelope.id() + 1);
          const absl::Status sent = lp_tx.Send(envelope, payload);
          if (!sent.ok()) {
            send_error = sent.ToString();
            return;
          }
        }
      }
    }
  });

  PinThisThread(kReceiverCpu);
  ConnectionOptions options;
  options.read_mode = fixed ? ReadMode::kFixed : ReadMode::kDirect;
  options.read_size = kRawReadPiece;
  FramedConnection lp_rx(std::move(lp_ends->receiver), options);
  const int raw_rx = ToBlockingFd(std::move(raw_ends->receiver));
  std::unique_ptr<char[]> buffer(new char[size]);
  std::memset(buffer.get(), 1, size);
  Message msg;
  uint64_t calls = 0;
  std::string error;
  std::vector<double> raw_rates, lp_rates;  // bytes/s per measured slice
  double raw_seconds = 0, lp_seconds = 0;
  for (int s = 0; s < slices && error.empty(); ++s) {
    const bool raw = SliceIsRaw(s);
    const int64_t t0 = MonotonicNanos();
    gate.Open(s);
    for (size_t i = 0; i < per_slice && error.empty(); ++i) {
      if (raw) {
        uint64_t len = 0;
        if (!RecvExact(raw_rx, reinterpret_cast<char*>(&len), 8, 8, &calls) || len != size ||
            !RecvExact(raw_rx, buffer.get(), size, fixed ? kRawReadPiece : SIZE_MAX, &calls)) {
          error = "raw receive failed";
        } else if (s == 0 && i == 0 && std::memcmp(buffer.get(), expected.data(), size) != 0) {
          error = "raw: the first payload differs from what was sent";
        }
        benchmark::DoNotOptimize(buffer.get());
      } else {
        const absl::Status got = lp_rx.Receive(&msg);
        if (!got.ok()) {
          error = "lpframe receive failed: " + got.ToString();
        } else if (msg.payload.size() != size || (s <= 1 && i == 0 && msg.payload != expected)) {
          error = "lpframe: a payload differs from what was sent";
        }
        msg.payload.Clear();  // blocks go back to the pool
      }
    }
    const double seconds = (MonotonicNanos() - t0) / 1e9;
    if (s < 2) continue;  // the warm-up pair
    (raw ? raw_rates : lp_rates).push_back(per_slice * size / seconds);
    (raw ? raw_seconds : lp_seconds) += seconds;
  }
  // Closing with unread data resets the connections: a sender blocked in
  // a write after a receive error fails instead of waiting.
  if (!error.empty()) gate.Stop();
  ::close(raw_rx);
  lp_rx.Close();
  sender.join();
  ::close(raw_tx);
  if (error.empty() && !send_error.empty()) error = "sender: " + send_error;
  if (!error.empty()) {
    Skip(state, error);
    return;
  }
  std::vector<double> ratios;
  for (size_t i = 0; i < raw_rates.size() && i < lp_rates.size(); ++i) {
    ratios.push_back(lp_rates[i] / raw_rates[i]);
  }
  for (auto _ : state) state.SetIterationTime(raw_seconds + lp_seconds);
  const double bytes = static_cast<double>(kStreamPairs * per_slice * size);
  state.counters["raw_GBps"] = bytes / raw_seconds / 1e9;
  state.counters["lp_GBps"] = bytes / lp_seconds / 1e9;
  state.counters["ratio"] = Median(ratios);
  state.counters["ratio_min"] = *std::min_element(ratios.begin(), ratios.end());
  state.counters["ratio_max"] = *std::max_element(ratios.begin(), ratios.end());
}

// ---------------------------------------------------------------------------
// Paired ping-pong.

enum class PingVariant {
  kLp,
  kLpPoll,
  kLpBusyPoll,
  kRawPoll,
  kRawBusyPoll,
  kLpBusyPollVsRawBusyPoll,  // lp_busy_poll against raw_busy_poll as the baseline
};

// The busy-poll budget per wait of lp_busy_poll and raw_busy_poll: several
// round trips of the slow mode (about 35 us), so that a poll rarely runs out.
constexpr absl::Duration kPingBusyPoll = absl::Microseconds(200);

const char* PingVariantName(PingVariant v) {
  switch (v) {
    case PingVariant::kLp:
      return "lp";
    case PingVariant::kLpPoll:
      return "lp_poll";
    case PingVariant::kLpBusyPoll:
      return "lp_busy_poll";
    case PingVariant::kRawPoll:
      return "raw_poll";
    case PingVariant::kRawBusyPoll:
      return "raw_busy_poll";
    case PingVariant::kLpBusyPollVsRawBusyPoll:
      return "lp_busy_poll_vs_raw_busy_poll";
  }
  return "?";
}

void BM_PairedPingPong(benchmark::State& state, Net net, PingVariant variant) {
  absl::StatusOr<Endpoints> raw_ends = Connect(net);
  absl::StatusOr<Endpoints> lp_ends = Connect(net);
  if (!raw_ends.ok() || !lp_ends.ok()) {
    Skip(state, (raw_ends.ok() ? lp_ends.status() : raw_ends.status()).ToString());
    return;
  }
  ConnectionOptions options;
  options.wait_mode =
      variant == PingVariant::kLpPoll ? WaitMode::kAlwaysPoll : WaitMode::kBlockWhenUnbounded;
  // The baseline: the raw loop blocking in recv, or busy polling as well.
  const bool busy_both = variant == PingVariant::kLpBusyPollVsRawBusyPoll;
  if (variant == PingVariant::kLpBusyPoll || busy_both) options.busy_poll = kPingBusyPoll;
  const RawWait baseline_wait = busy_both ? RawWait::kBusyPoll : RawWait::kBlock;
  // A control: a raw loop that waits otherwise, over the "lp" connection.
  const bool raw_control =
      variant == PingVariant::kRawPoll || variant == PingVariant::kRawBusyPoll;
  const RawWait control_wait =
      variant == PingVariant::kRawBusyPoll ? RawWait::kBusyPoll : RawWait::kPoll;
  const int64_t busy_ns = absl::ToInt64Nanoseconds(kPingBusyPoll);
  const int blocks = 2 * (kPingPairs + 1);

  // The echoing side follows the same block schedule as the client.
  std::string echo_error;
  const int raw_echo = ToBlockingFd(std::move(raw_ends->receiver));
  const int control_echo = raw_control ? ToBlockingFd(std::move(lp_ends->receiver)) : -1;
  std::thread echo([&, lp_socket = std::move(lp_ends->receiver)]() mutable {
    PinThisThread(kSenderCpu);
    FramedConnection lp(std::move(lp_socket), options);
    BufferedReader reader(raw_echo, baseline_wait, busy_ns);
    BufferedReader control_reader(control_echo, control_wait, busy_ns);
    std::vector<char> payload(kPingSize);
    Message m;
    uint64_t calls = 0;
    for (int b = 0; b < blocks; ++b) {
      for (int i = 0; i < kPingBlock; ++i) {
        if (SliceIsRaw(b)) {
          if (!RawEcho(raw_echo, reader, payload, &calls)) return;  // client gone
        } else if (raw_control) {
          if (!RawEcho(control_echo, control_reader, payload, &calls)) return;
        } else {
          absl::Status st = lp.Receive(&m);
          if (st.ok()) st = lp.Send(m);
          if (!st.ok()) {
            if (lpframe::GetFrameErrorCode(st) != lpframe::FrameErrorCode::kEndOfStream) {
              echo_error = st.ToString();
            }
            return;
          }
        }
      }
    }
  });

  PinThisThread(kReceiverCpu);
  const int raw = ToBlockingFd(std::move(raw_ends->sender));
  const int control_raw = raw_control ? ToBlockingFd(std::move(lp_ends->sender)) : -1;
  FramedConnection lp(std::move(lp_ends->sender), options);
  BufferedReader reader(raw, baseline_wait, busy_ns);
  BufferedReader control_reader(control_raw, control_wait, busy_ns);
  const std::string& request = PayloadBytes(kPingSize);
  const absl::Cord payload = PayloadCord(kPingSize);
  Envelope envelope = MessageEnvelope(0);
  Message reply;
  std::vector<char> raw_reply(kPingSize);
  std::vector<int64_t> raw_samples, lp_samples;
  raw_samples.reserve(kPingPairs * kPingBlock);
  lp_samples.reserve(kPingPairs * kPingBlock);
  uint64_t calls = 0;
  std::string error;
  for (int b = 0; b < blocks && error.empty(); ++b) {
    const bool is_raw = SliceIsRaw(b);
    for (int i = 0; i < kPingBlock && error.empty(); ++i) {
      const int64_t t0 = MonotonicNanos();
      if (is_raw) {
        if (!RawRoundTrip(raw, reader, request, raw_reply, &calls)) error = "raw round trip failed";
      } else if (raw_control) {
        if (!RawRoundTrip(control_raw, control_reader, request, raw_reply, &calls)) {
          error = absl::StrCat(PingVariantName(variant), " round trip failed");
        }
      } else {
        envelope.set_id(envelope.id() + 1);
        absl::Status st = lp.Send(envelope, payload);
        if (st.ok()) st = lp.Receive(&reply);
        if (!st.ok()) {
          error = st.ToString();
        } else if (reply.payload.size() != kPingSize || reply.envelope.id() != envelope.id()) {
          error = "wrong lpframe reply";
        }
      }
      const int64_t took = MonotonicNanos() - t0;
      if (b >= 2) (is_raw ? raw_samples : lp_samples).push_back(took);
    }
  }
  ::shutdown(raw, SHUT_RDWR);
  if (raw_control) ::shutdown(control_raw, SHUT_RDWR);
  lp.Close();  // the echo side reads end of stream
  echo.join();
  for (int fd : {raw, raw_echo, control_raw, control_echo}) {
    if (fd >= 0) ::close(fd);
  }
  if (error.empty() && !echo_error.empty()) error = "echo side: " + echo_error;
  if (!error.empty()) {
    Skip(state, error);
    return;
  }
  double total_ns = 0;
  for (int64_t v : raw_samples) total_ns += static_cast<double>(v);
  for (int64_t v : lp_samples) total_ns += static_cast<double>(v);
  for (auto _ : state) state.SetIterationTime(total_ns / 1e9);
  std::sort(raw_samples.begin(), raw_samples.end());
  std::sort(lp_samples.begin(), lp_samples.end());
  const double raw_p50 = Percentile(raw_samples, 0.50) / 1e3;
  const double raw_p99 = Percentile(raw_samples, 0.99) / 1e3;
  const double lp_p50 = Percentile(lp_samples, 0.50) / 1e3;
  const double lp_p99 = Percentile(lp_samples, 0.99) / 1e3;
  state.counters["raw_p50_us"] = raw_p50;
  state.counters["raw_p99_us"] = raw_p99;
  state.counters["lp_p50_us"] = lp_p50;
  state.counters["lp_p99_us"] = lp_p99;
  state.counters["p50_ratio"] = lp_p50 / raw_p50;
  state.counters["p99_ratio"] = lp_p99 / raw_p99;
}

void RegisterAll() {
  for (Net net : {Net::kTcp, Net::kUnix}) {
    for (size_t size : kStreamSizes) {
      for (bool fixed : {true, false}) {
        const std::string name = absl::StrCat("PairedStream/", NetName(net), "/", SizeName(size),
                                              "/", fixed ? "fixed" : "direct");
        benchmark::RegisterBenchmark(name.c_str(), BM_PairedStream, net, size, fixed)
            ->Unit(benchmark::kMillisecond)
            ->UseManualTime()
            ->Iterations(1);
      }
    }
  }
  for (Net net : {Net::kTcp, Net::kUnix}) {
    for (PingVariant variant :
         {PingVariant::kLp, PingVariant::kLpPoll, PingVariant::kLpBusyPoll, PingVariant::kRawPoll,
          PingVariant::kRawBusyPoll, PingVariant::kLpBusyPollVsRawBusyPoll}) {
      const std::string name =
          absl::StrCat("PairedPingPong/", NetName(net), "/64B/", PingVariantName(variant));
      benchmark::RegisterBenchmark(name.c_str(), BM_PairedPingPong, net, variant)
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime()
          ->Iterations(1);
    }
  }
}

// ---------------------------------------------------------------------------
// Console output plus a Markdown summary of the medians over repetitions.

class SummaryReporter : public SummaryReporterBase {
 public:
  using SummaryReporterBase::SummaryReporterBase;

  void Finalize() override {
    std::ostream& out = BeginSummary(
        "paired slices; medians over repetitions; GB/s = 10^9 payload bytes/s;\n## ");
    std::vector<std::string> targets;
    out << "### One-way streams: lpframe and the raw loop in alternating slices (TCP: "
           "SO_RCVBUF " << (kTcpStreamReceiveBuffer >> 20) << " MiB on every connection)\n\n"
        << "| transport | payload | read mode | raw GB/s | lpframe GB/s | ratio (median of "
           "pairs) | min - max over pairs | target |\n"
        << "|---|---|---|---:|---:|---:|---:|---|\n";
    for (Net net : {Net::kTcp, Net::kUnix}) {
      for (size_t size : kStreamSizes) {
        for (bool fixed : {true, false}) {
          const Result* c = Find(absl::StrCat("PairedStream/", NetName(net), "/",
                                                SizeName(size), "/", fixed ? "fixed" : "direct"));
          if (c == nullptr) continue;
          const double goal = fixed ? 0.95 : 0.9;
          const double ratio = c->Get("ratio");
          const std::string verdict =
              absl::StrFormat(">= %.2fx: %s", goal, ratio >= goal ? "MET" : "MISSED");
          out << absl::StrFormat("| %s | %s | %s | %.3f | %.3f | %.2fx | %.2f - %.2f | %s |\n",
                                 NetName(net), SizeName(size), fixed ? "fixed 8 KiB" : "direct",
                                 c->Get("raw_GBps"), c->Get("lp_GBps"), ratio,
                                 c->Get("ratio_min"), c->Get("ratio_max"), verdict);
          targets.push_back(absl::StrFormat("- %s %s %s >= %.2fx raw: %.2fx %s", NetName(net),
                                            SizeName(size), fixed ? "fixed" : "direct", goal,
                                            ratio, ratio >= goal ? "MET" : "MISSED"));
        }
      }
    }
    out << "\n### Ping-pong, 64 B: a variant and the raw loop in alternating blocks (us; "
           "raw_poll and raw_busy_poll are controls without a target; raw is the blocking loop "
           "except in lp_busy_poll_vs_raw_busy_poll, where it is raw_busy_poll)\n\n"
        << "| transport | variant | raw p50 | variant p50 | p50 ratio | raw p99 | variant p99 | "
           "p99 ratio |\n"
        << "|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (Net net : {Net::kTcp, Net::kUnix}) {
      for (const char* impl : {"lp", "lp_poll", "lp_busy_poll", "raw_poll", "raw_busy_poll",
                               "lp_busy_poll_vs_raw_busy_poll"}) {
        const Result* c = Find(absl::StrCat("PairedPingPong/", NetName(net), "/64B/", impl));
        if (c == nullptr) continue;
        out << absl::StrFormat("| %s | %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |\n",
                               NetName(net), impl, c->Get("raw_p50_us"), c->Get("lp_p50_us"),
                               c->Get("p50_ratio"), c->Get("raw_p99_us"), c->Get("lp_p99_us"),
                               c->Get("p99_ratio"));
        if (absl::StartsWith(impl, "raw_")) continue;
        if (absl::EndsWith(impl, "_vs_raw_busy_poll")) {  // like for like: no target
          targets.push_back(absl::StrFormat(
              "- %s ping-pong 64B lp_busy_poll against raw_busy_poll (like for like, no "
              "target): p50 %.2fx, p99 %.2fx", NetName(net), c->Get("p50_ratio"),
              c->Get("p99_ratio")));
          continue;
        }
        for (const char* p : {"p50", "p99"}) {
          const double ratio = c->Get(absl::StrCat(p, "_ratio"));
          targets.push_back(absl::StrFormat("- %s ping-pong 64B %s %s <= 1.1x raw: %.2fx %s",
                                            NetName(net), impl, p, ratio,
                                            ratio <= 1.1 ? "MET" : "MISSED"));
        }
      }
    }
    out << "\n### Targets\n\n";
    for (const std::string& t : targets) out << t << "\n";
    out << "\n";
    PrintErrors(out);
  }
};

}  // namespace
}  // namespace lpframe_bench

int main(int argc, char** argv) {
  lpframe_bench::RegisterAll();
  return lpframe_bench::RunBenchmarksWithSummary<lpframe_bench::SummaryReporter>(argc, argv);
}
