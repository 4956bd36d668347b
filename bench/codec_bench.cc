// File: bench/codec_bench.cc
//
// In-memory benchmarks of the lpframe codec (no sockets, no files):
//
//   Memcpy/one_call/<size>      memcpy ceiling: the decode stream's byte count
//   Memcpy/pieces_8KiB/<size>   in one call / in 8 KiB pieces, into a reused,
//                               already-touched destination of that size.
//   Decode/feed_whole/<size>    FrameDecoder::Feed(whole stream), drain Next().
//   Decode/feed_8KiB/<size>     Feed 8 KiB at a time, drain Next() after each.
//   Decode/direct_8KiB/<size>   PrepareRead(8192) + memcpy of at most 8 KiB +
//                               CommitRead (read(2) into decoder-lent memory).
//   Decode/direct_span/<size>   Same, but each "read" fills the whole lent span
//                               (up to one 256 KiB pool block), like a read(2)
//                               of span.size() on a socket with data queued.
//   DecodeChecksum/.../1MiB     Frames with the XXH3-64 trailer.
//   Decode64B/frames_per_second 64 B payloads fed in 8 KiB pieces: frames/s.
//   Encode/plain/<size>         FrameEncoder::EncodeTo into a reused frame.
//   Encode/checksum/<size>      Same with EncoderOptions::checksum.
//   EncodeBatch64B/<way>        64 frames of 64 B (ids 1..64) into one reused
//                               buffer, as a server batches small answers:
//                               encode_append (FrameEncoder::EncodeAppend),
//                               frame_then_copy (EncodeTo into a reused
//                               EncodedFrame, then AppendTo), and memcpy (the
//                               same bytes, pre-encoded, appended: the floor).
//
// Sizes: payloads of 64 B, 1 KiB, 64 KiB, 1 MiB, 16 MiB, 64 MiB. Every frame
// carries the minimal envelope (id + kind). Payloads below 1 MiB are decoded
// in batches: one iteration decodes a pre-encoded stream of ~4 MiB of frames;
// from 1 MiB up, one iteration decodes one frame.
//
// Units: bytes_per_second counts WIRE bytes (header + envelope + payload [+
// trailer]) of the stream decoded or encoded; the "payload_rate" counter
// counts payload bytes only; items_per_second counts frames. All benchmarks
// use real (wall-clock) time. By default every benchmark runs 3 repetitions
// and the console shows mean/median/stddev/cv (--benchmark_repetitions=N
// overrides). After the console output, main() prints a Markdown summary of
// the medians: GB/s (10^9 bytes), frames/s, ratios to the memcpy ceilings of
// the same byte count, a noise indicator, and the target checks.
//
// Each decoded message's payload Cord is destroyed right after Next()
// returns it, so payload blocks go back to BlockPool::Default() (which caches
// up to 64 MiB) and the next frame reuses them: no first-touch page faults
// inside the timed loop. Setup (stream encoding, a verification pass that
// compares every payload, one warm-up pass) happens outside the timed loop.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bench/bench_main.h"
#include "bench/bench_payload.h"
#include "benchmark/benchmark.h"
#include "lib/block_pool.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/message.h"
#include "proto/envelope.pb.h"

namespace lpframe_bench {
namespace {

using lpframe::DecodeStep;
using lpframe::DecoderOptions;
using lpframe::EncodedFrame;
using lpframe::EncoderOptions;
using lpframe::Envelope;
using lpframe::FrameDecoder;
using lpframe::FrameEncoder;
using lpframe::Message;

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kPiece = 8 * kKiB;            // feed / read size
constexpr size_t kSmallBatchBytes = 4 * kMiB;  // stream size for small payloads
constexpr size_t kOneFramePerIterationFrom = 1 * kMiB;

const size_t kSizes[] = {64, kKiB, 64 * kKiB, kMiB, 16 * kMiB, 64 * kMiB};

// ---------------------------------------------------------------------------
// Inputs (payload bytes come from bench_payload.h).

Envelope MinimalEnvelope(uint64_t id) {
  Envelope envelope;
  envelope.set_id(id);
  envelope.set_kind(lpframe::KIND_MESSAGE);
  return envelope;
}

struct Stream {
  std::string bytes;       // the encoded frames, back to back
  size_t frames = 0;       // frames in `bytes`
  uint64_t payload_bytes = 0;
};

const Stream& GetStream(size_t payload_size, bool checksum) {
  static auto* const cache = new std::map<std::pair<size_t, bool>, Stream>;
  const auto key = std::make_pair(payload_size, checksum);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;

  EncoderOptions options;
  options.checksum = checksum;
  const FrameEncoder encoder(options);
  EncodedFrame frame;
  absl::Status status = encoder.EncodeTo(MinimalEnvelope(1), PayloadCord(payload_size), &frame);
  if (!status.ok()) {
    std::fprintf(stderr, "encode failed: %s\n", status.ToString().c_str());
    std::abort();
  }
  Stream stream;
  stream.frames = payload_size >= kOneFramePerIterationFrom
                      ? 1
                      : (kSmallBatchBytes + frame.size() - 1) / frame.size();
  stream.bytes.reserve(stream.frames * (frame.size() + 16));
  for (size_t i = 0; i < stream.frames; ++i) {
    status = encoder.EncodeTo(MinimalEnvelope(i + 1), PayloadCord(payload_size), &frame);
    if (!status.ok()) std::abort();
    frame.AppendTo(&stream.bytes);
  }
  stream.payload_bytes = uint64_t{payload_size} * stream.frames;
  return cache->emplace(key, std::move(stream)).first->second;
}

// ---------------------------------------------------------------------------
// Decoding.

enum class Mode { kFeedWhole, kFeed8K, kDirect8K, kDirectSpan };

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kFeedWhole:
      return "feed_whole";
    case Mode::kFeed8K:
      return "feed_8KiB";
    case Mode::kDirect8K:
      return "direct_8KiB";
    case Mode::kDirectSpan:
      return "direct_span";
  }
  return "?";
}

struct DecodeCounts {
  size_t frames = 0;
  uint64_t direct_bytes = 0;  // bytes written into decoder-lent payload storage
  bool error = false;
};

// Calls `on_message` for every message Next() returns, until need-more.
template <typename OnMessage>
inline void Drain(FrameDecoder* decoder, Message* msg, DecodeCounts* counts,
                  OnMessage&& on_message) {
  while (true) {
    const DecodeStep step = decoder->Next(msg);
    if (!step.is_message()) {
      if (step.is_error()) counts->error = true;
      return;
    }
    on_message(*msg, counts->frames);
    ++counts->frames;
    // Destroy the payload now: its blocks return to the pool and the next
    // frame reuses them (hot in cache, no page faults).
    msg->payload.Clear();
  }
}

// Decodes all of `stream` as `mode` says.
template <typename OnMessage>
DecodeCounts DecodeStream(FrameDecoder* decoder, Message* msg, absl::string_view stream,
                          Mode mode, OnMessage&& on_message) {
  DecodeCounts counts;
  const char* const data = stream.data();
  const size_t size = stream.size();
  switch (mode) {
    case Mode::kFeedWhole:
      decoder->Feed(stream);
      Drain(decoder, msg, &counts, on_message);
      break;
    case Mode::kFeed8K:
      for (size_t pos = 0; pos < size && !counts.error; pos += kPiece) {
        decoder->Feed(absl::string_view(data + pos, std::min(kPiece, size - pos)));
        Drain(decoder, msg, &counts, on_message);
      }
      break;
    case Mode::kDirect8K:
    case Mode::kDirectSpan: {
      const size_t cap = mode == Mode::kDirect8K ? kPiece : SIZE_MAX;
      size_t pos = 0;
      while (pos < size && !counts.error) {
        const absl::Span<char> span = decoder->PrepareRead(kPiece);
        const size_t n = std::min({span.size(), size - pos, cap});
        if (n == 0) {
          counts.error = true;
          break;
        }
        std::memcpy(span.data(), data + pos, n);  // "read(2)"
        if (decoder->read_is_direct()) counts.direct_bytes += n;
        decoder->CommitRead(n);
        pos += n;
        Drain(decoder, msg, &counts, on_message);
      }
      break;
    }
  }
  return counts;
}

// Untimed: decodes `stream` with a fresh decoder and checks every envelope
// and payload byte. Runs once per (size, mode, checksum).
bool VerifyDecode(const Stream& stream, size_t payload_size, Mode mode, bool checksum,
                  std::string* why) {
  static auto* const done = new std::set<std::tuple<size_t, int, bool>>;
  const auto key = std::make_tuple(payload_size, static_cast<int>(mode), checksum);
  if (done->count(key) > 0) return true;
  FrameDecoder decoder;
  Message msg;
  const absl::string_view expected = PayloadBytes(payload_size);
  bool ok = true;
  DecodeCounts counts =
      DecodeStream(&decoder, &msg, stream.bytes, mode, [&](const Message& m, size_t i) {
        if (!ok) return;
        if (m.envelope.id() != i + 1 || m.envelope.kind() != lpframe::KIND_MESSAGE) {
          *why = absl::StrCat("frame ", i, ": wrong envelope ", m.envelope.ShortDebugString());
          ok = false;
        } else if (m.payload != expected) {
          *why = absl::StrCat("frame ", i, ": payload differs (", m.payload.size(), " bytes)");
          ok = false;
        }
      });
  if (ok && counts.error) {
    *why = "decoder error: " + decoder.Next(&msg).error().ToString();
    ok = false;
  }
  if (ok && (counts.frames != stream.frames || !decoder.at_frame_boundary() ||
             !decoder.Finish().ok())) {
    *why = absl::StrCat("decoded ", counts.frames, " of ", stream.frames, " frames");
    ok = false;
  }
  if (ok) done->insert(key);
  return ok;
}

void SetDecodeCounters(benchmark::State& state, const Stream& stream) {
  const int64_t iterations = state.iterations();
  state.SetBytesProcessed(iterations * static_cast<int64_t>(stream.bytes.size()));
  state.SetItemsProcessed(iterations * static_cast<int64_t>(stream.frames));
  state.counters["payload_rate"] = benchmark::Counter(
      static_cast<double>(iterations) * static_cast<double>(stream.payload_bytes),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
  state.counters["frames/iter"] = static_cast<double>(stream.frames);
}

void BM_Decode(benchmark::State& state, size_t payload_size, Mode mode, bool checksum) {
  const Stream& stream = GetStream(payload_size, checksum);
  std::string why;
  if (!VerifyDecode(stream, payload_size, mode, checksum, &why)) {
    state.SkipWithError(why.c_str());
    for (auto _ : state) {
    }
    return;
  }
  FrameDecoder decoder;  // one long-lived decoder, as on a connection
  Message msg;
  auto no_op = [](const Message& m, size_t) { benchmark::DoNotOptimize(&m); };
  DecodeStream(&decoder, &msg, stream.bytes, mode, no_op);  // warm-up: fill the pool

  uint64_t direct_bytes = 0;
  for (auto _ : state) {
    const DecodeCounts counts = DecodeStream(&decoder, &msg, stream.bytes, mode, no_op);
    if (counts.error || counts.frames != stream.frames) {
      state.SkipWithError("decode failed inside the timed loop");
      break;
    }
    direct_bytes += counts.direct_bytes;
    benchmark::DoNotOptimize(direct_bytes);
  }
  SetDecodeCounters(state, stream);
  if (mode == Mode::kDirect8K || mode == Mode::kDirectSpan) {
    state.counters["direct%"] =
        state.iterations() == 0
            ? 0.0
            : 100.0 * static_cast<double>(direct_bytes) /
                  (static_cast<double>(state.iterations()) * stream.bytes.size());
  }
}

// The dedicated frames/s figure: 64 B payloads, minimal envelope, fed in
// 8 KiB pieces as they would come from read(2).
void BM_Decode64BFramesPerSecond(benchmark::State& state) {
  BM_Decode(state, 64, Mode::kFeed8K, /*checksum=*/false);
  const double frames = static_cast<double>(state.iterations()) *
                        static_cast<double>(GetStream(64, false).frames);
  state.counters["frames/s"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
}

// ---------------------------------------------------------------------------
// memcpy ceiling: the same byte count as one Decode iteration (the stream),
// from the stream into a reused destination of that size, touched in setup.

void BM_Memcpy(benchmark::State& state, size_t payload_size, bool pieces) {
  const Stream& stream = GetStream(payload_size, false);
  const char* const src = stream.bytes.data();
  const size_t size = stream.bytes.size();
  std::vector<char> dst(size, 1);  // first touch here, not in the loop
  std::memcpy(dst.data(), src, size);
  for (auto _ : state) {
    if (pieces) {
      for (size_t pos = 0; pos < size; pos += kPiece) {
        std::memcpy(dst.data() + pos, src + pos, std::min(kPiece, size - pos));
      }
    } else {
      std::memcpy(dst.data(), src, size);
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}

// ---------------------------------------------------------------------------
// Encoding: one EncodeTo per iteration into a reused EncodedFrame. Without
// the checksum the payload is shared, never touched: the cost is per frame.

void BM_Encode(benchmark::State& state, size_t payload_size, bool checksum) {
  EncoderOptions options;
  options.checksum = checksum;
  const FrameEncoder encoder(options);
  const Envelope envelope = MinimalEnvelope(1);
  const absl::Cord payload = PayloadCord(payload_size);
  EncodedFrame frame;
  if (!encoder.EncodeTo(envelope, payload, &frame).ok()) {
    state.SkipWithError("encode failed");
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) {
    absl::Status status = encoder.EncodeTo(envelope, payload, &frame);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(frame);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
}

// ---------------------------------------------------------------------------
// Small answers batched into one buffer (the reactor's reply arena).

enum class BatchWay { kEncodeAppend, kFrameThenCopy, kMemcpy };
constexpr int kBatchFrames = 64;

void BM_EncodeBatch64B(benchmark::State& state, BatchWay way) {
  const FrameEncoder encoder;
  const absl::Cord payload = PayloadCord(64);
  std::vector<Envelope> envelopes;
  std::string encoded;  // the batch's bytes, for the memcpy floor and a check
  for (int i = 0; i < kBatchFrames; ++i) {
    envelopes.push_back(MinimalEnvelope(static_cast<uint64_t>(i) + 1));
    absl::StatusOr<EncodedFrame> frame = encoder.Encode(envelopes.back(), payload);
    if (!frame.ok()) {
      state.SkipWithError("encode failed");
      for (auto _ : state) {
      }
      return;
    }
    frame->AppendTo(&encoded);
  }
  std::string batch;
  batch.reserve(encoded.size());
  EncodedFrame frame;
  auto run = [&] {
    batch.clear();
    for (int i = 0; i < kBatchFrames; ++i) {
      switch (way) {
        case BatchWay::kEncodeAppend:
          (void)encoder.EncodeAppend(envelopes[i], payload, &batch);
          break;
        case BatchWay::kFrameThenCopy:
          (void)encoder.EncodeTo(envelopes[i], payload, &frame);
          frame.AppendTo(&batch);
          break;
        case BatchWay::kMemcpy: {
          const size_t each = encoded.size() / kBatchFrames;
          batch.append(encoded, static_cast<size_t>(i) * each, each);
          break;
        }
      }
    }
  };
  run();
  if (batch != encoded) {
    state.SkipWithError("the batch differs from Encode() + AppendTo()");
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(batch.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatchFrames);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size()));
}

// ---------------------------------------------------------------------------
// Registration.

benchmark::TimeUnit UnitFor(size_t bytes_per_iteration) {
  if (bytes_per_iteration >= 16 * kMiB) return benchmark::kMillisecond;
  return benchmark::kMicrosecond;
}

void RegisterAll() {
  for (size_t size : kSizes) {
    const std::string s = SizeName(size);
    const benchmark::TimeUnit unit = UnitFor(size);
    benchmark::RegisterBenchmark(("Memcpy/one_call/" + s).c_str(), BM_Memcpy, size, false)
        ->Unit(unit)->UseRealTime()->MinTime(0.2);
    benchmark::RegisterBenchmark(("Memcpy/pieces_8KiB/" + s).c_str(), BM_Memcpy, size, true)
        ->Unit(unit)->UseRealTime()->MinTime(0.2);
  }
  for (Mode mode : {Mode::kFeedWhole, Mode::kFeed8K, Mode::kDirect8K, Mode::kDirectSpan}) {
    for (size_t size : kSizes) {
      // Direct reads only differ from feeding for payloads of at least
      // DecoderOptions::direct_read_min_bytes (16 KiB).
      if (mode == Mode::kDirectSpan && size < kMiB) continue;
      const std::string name = absl::StrCat("Decode/", ModeName(mode), "/", SizeName(size));
      benchmark::RegisterBenchmark(name.c_str(), BM_Decode, size, mode, false)
          ->Unit(UnitFor(size))->UseRealTime()->MinTime(0.2);
    }
  }
  for (Mode mode : {Mode::kFeedWhole, Mode::kFeed8K, Mode::kDirect8K}) {
    const std::string name = absl::StrCat("DecodeChecksum/", ModeName(mode), "/1MiB");
    benchmark::RegisterBenchmark(name.c_str(), BM_Decode, kMiB, mode, true)
        ->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.2);
  }
  benchmark::RegisterBenchmark("Decode64B/frames_per_second", BM_Decode64BFramesPerSecond)
      ->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.5);
  for (auto [way, name] : {std::make_pair(BatchWay::kEncodeAppend, "encode_append"),
                           std::make_pair(BatchWay::kFrameThenCopy, "frame_then_copy"),
                           std::make_pair(BatchWay::kMemcpy, "memcpy")}) {
    benchmark::RegisterBenchmark(absl::StrCat("EncodeBatch64B/", name).c_str(),
                                 BM_EncodeBatch64B, way)
        ->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.2);
  }
  for (bool checksum : {false, true}) {
    for (size_t size : kSizes) {
      const std::string name =
          absl::StrCat("Encode/", checksum ? "checksum/" : "plain/", SizeName(size));
      benchmark::TimeUnit unit = benchmark::kNanosecond;
      if (checksum && size >= kMiB) unit = UnitFor(size);
      benchmark::RegisterBenchmark(name.c_str(), BM_Encode, size, checksum)
          ->Unit(unit)->UseRealTime()->MinTime(0.2);
    }
  }
}

// ---------------------------------------------------------------------------
// Console output plus a Markdown summary with the ratios and target checks.

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      Result& r = results_[run.run_name.function_name];
      const bool median = run.run_type == Run::RT_Aggregate;
      if (median && run.aggregate_name == "cv") {
        r.cv_percent = 100.0 * run.real_accumulated_time;  // cv of the wall time
        continue;
      }
      if (median && run.aggregate_name != "median") continue;
      if (r.from_median && !median) continue;
      r.from_median = median;
      r.cpu_percent = run.real_accumulated_time > 0
                          ? 100.0 * run.cpu_accumulated_time / run.real_accumulated_time
                          : 0.0;
      r.bytes_per_second = Get(run, "bytes_per_second");
      r.items_per_second = Get(run, "items_per_second");
      r.payload_per_second = Get(run, "payload_rate");
      r.frames_per_iteration = Get(run, "frames/iter");
      r.direct_percent = Get(run, "direct%");
      r.has_direct = run.counters.count("direct%") > 0;
    }
  }

  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    std::ostream& out = GetOutputStream();
    out << "\n## Summary (GB/s = 10^9 bytes/s, wall-clock time; bytes are wire bytes\n"
           "## unless marked payload; ratio = decode rate / memcpy rate, same byte count;\n"
           "## figures are medians over repetitions; cpu/wall = CPU time / wall time (well\n"
           "## below 100% = the process was preempted), cv = spread over repetitions)\n\n";
    PrintDecode(out);
    PrintEncode(out);
    PrintTargets(out);
  }

 private:
  struct Result {
    bool from_median = false;
    double bytes_per_second = 0;
    double items_per_second = 0;
    double payload_per_second = 0;
    double frames_per_iteration = 0;
    double direct_percent = 0;
    bool has_direct = false;
    double cpu_percent = 0;   // CPU time / wall time: well below 100 = preempted
    double cv_percent = -1;   // spread of the wall time over repetitions
  };

  static std::string Noise(const Result* r) {
    if (r == nullptr) return "-";
    std::string out = absl::StrFormat("%.0f%%", r->cpu_percent);
    if (r->cv_percent >= 0) absl::StrAppendFormat(&out, " / %.1f%%", r->cv_percent);
    return out;
  }

  static double Get(const Run& run, const std::string& key) {
    auto it = run.counters.find(key);
    return it == run.counters.end() ? 0.0 : static_cast<double>(it->second.value);
  }

  const Result* Find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }

  static std::string Rate(double per_second) {
    if (per_second >= 1e9) return absl::StrFormat("%.2f G", per_second / 1e9);
    if (per_second >= 1e6) return absl::StrFormat("%.2f M", per_second / 1e6);
    if (per_second >= 1e3) return absl::StrFormat("%.1f k", per_second / 1e3);
    return absl::StrFormat("%.1f", per_second);
  }

  static std::string Ratio(const Result* a, const Result* b) {
    if (a == nullptr || b == nullptr || b->bytes_per_second <= 0) return "-";
    return absl::StrFormat("%.2fx", a->bytes_per_second / b->bytes_per_second);
  }

  void PrintDecode(std::ostream& out) const {
    out << "### Decode (minimal envelope) and memcpy ceiling\n\n"
        << "| payload | mode | frames/iter | wire GB/s | payload GB/s | frames/s | "
           "vs memcpy 8KiB pieces | vs one memcpy | direct % | cpu/wall, cv |\n"
        << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (size_t size : kSizes) {
      const std::string s = SizeName(size);
      const Result* pieces = Find("Memcpy/pieces_8KiB/" + s);
      const Result* whole = Find("Memcpy/one_call/" + s);
      for (const Result* m : {whole, pieces}) {
        if (m == nullptr) continue;
        out << absl::StrFormat("| %s | memcpy %s | - | %.2f | - | - | %s | %s | - | %s |\n", s,
                               m == whole ? "one call" : "8KiB pieces",
                               m->bytes_per_second / 1e9, Ratio(m, pieces), Ratio(m, whole),
                               Noise(m));
      }
      std::vector<std::pair<std::string, std::string>> rows;
      for (const char* mode : {"feed_whole", "feed_8KiB", "direct_8KiB", "direct_span"}) {
        rows.emplace_back(absl::StrCat("Decode/", mode, "/", s), mode);
      }
      if (size == kMiB) {
        for (const char* mode : {"feed_whole", "feed_8KiB", "direct_8KiB"}) {
          rows.emplace_back(absl::StrCat("DecodeChecksum/", mode, "/", s),
                            absl::StrCat(mode, " +checksum"));
        }
      }
      for (const auto& [name, label] : rows) {
        const Result* r = Find(name);
        if (r == nullptr) continue;
        out << absl::StrFormat("| %s | %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s |\n",
                               s, label, r->frames_per_iteration, r->bytes_per_second / 1e9,
                               r->payload_per_second / 1e9, Rate(r->items_per_second),
                               Ratio(r, pieces), Ratio(r, whole),
                               r->has_direct ? absl::StrFormat("%.1f", r->direct_percent)
                                             : std::string("-"),
                               Noise(r));
      }
    }
    if (const Result* r = Find("Decode64B/frames_per_second")) {
      out << absl::StrFormat(
          "\nDecode64B/frames_per_second (64 B payload, fed in 8 KiB pieces): %s frames/s "
          "(%.1f ns/frame; cpu/wall, cv: %s)\n",
          Rate(r->items_per_second), r->items_per_second > 0 ? 1e9 / r->items_per_second : 0.0,
          Noise(r));
    }
    out << "\n";
  }

  void PrintEncode(std::ostream& out) const {
    out << "### Encode (FrameEncoder::EncodeTo into a reused EncodedFrame)\n\n"
        << "| payload | plain frames/s | plain ns/frame | +checksum frames/s | "
           "+checksum wire GB/s | cpu/wall, cv (plain; checksum) |\n"
        << "|---|---:|---:|---:|---:|---|\n";
    for (size_t size : kSizes) {
      const std::string s = SizeName(size);
      const Result* plain = Find("Encode/plain/" + s);
      const Result* sum = Find("Encode/checksum/" + s);
      if (plain == nullptr && sum == nullptr) continue;
      out << absl::StrFormat(
          "| %s | %s | %s | %s | %s | %s; %s |\n", s,
          plain ? Rate(plain->items_per_second) : "-",
          plain && plain->items_per_second > 0
              ? absl::StrFormat("%.1f", 1e9 / plain->items_per_second)
              : std::string("-"),
          sum ? Rate(sum->items_per_second) : "-",
          sum ? absl::StrFormat("%.2f", sum->bytes_per_second / 1e9) : std::string("-"),
          Noise(plain), Noise(sum));
    }
    out << "\n";
  }

  void PrintTargets(std::ostream& out) const {
    out << "### Targets\n\n";
    for (size_t size : kSizes) {
      if (size < kMiB) continue;
      const std::string s = SizeName(size);
      const Result* r = Find("Decode/feed_8KiB/" + s);
      const Result* pieces = Find("Memcpy/pieces_8KiB/" + s);
      const Result* whole = Find("Memcpy/one_call/" + s);
      if (r == nullptr || pieces == nullptr) continue;
      const double ratio = r->bytes_per_second / pieces->bytes_per_second;
      out << absl::StrFormat(
          "- decode %s fed in 8 KiB pieces >= 0.8x memcpy in 8 KiB pieces: %.2fx %s "
          "(vs one memcpy: %s; cpu/wall, cv: decode %s, memcpy %s)\n",
          s, ratio, ratio >= 0.8 ? "MET" : "MISSED", Ratio(r, whole), Noise(r), Noise(pieces));
    }
    if (const Result* r = Find("Decode64B/frames_per_second")) {
      out << absl::StrFormat(
          "- 64 B payloads >= 5 M frames/s (one core): %s frames/s %s (cpu/wall, cv: %s)\n",
          Rate(r->items_per_second), r->items_per_second >= 5e6 ? "MET" : "MISSED", Noise(r));
    }
    out << "\n";
  }

  std::map<std::string, Result> results_;
};

}  // namespace
}  // namespace lpframe_bench

int main(int argc, char** argv) {
  lpframe_bench::RegisterAll();
  return lpframe_bench::RunBenchmarksWithSummary<lpframe_bench::SummaryReporter>(argc, argv);
}
