#include "conformance/case_catalogue.h"

#include <cstdlib>
#include <map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "conformance/test_vector.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace conformance {
namespace {

constexpr size_t kReadSize = 8192;  // the read size of the tutorial receiver

// ---- streams ----------------------------------------------------------------

std::string FrameBytes(uint64_t id, absl::string_view payload, bool checksum = false,
                       absl::string_view content_type = "") {
  Envelope envelope;
  envelope.set_id(id);
  envelope.set_kind(KIND_MESSAGE);
  if (!content_type.empty()) envelope.set_content_type(std::string(content_type));
  EncoderOptions options;
  options.checksum = checksum;
  absl::StatusOr<EncodedFrame> frame = FrameEncoder(options).Encode(envelope, absl::Cord(payload));
  if (!frame.ok()) std::abort();  // the catalogue's own frames are valid
  return frame->ToString();
}

// Size of the frame FrameBytes(id, payload of n bytes) makes, id < 128.
size_t FrameOverhead() { return FrameBytes(1, "").size(); }

// A mixed stream: sizes around the read size, empty payloads, checksums.
std::string MixedStream() {
  std::string out;
  const size_t sizes[] = {0, 1, 100, 4095, 8192, 8193, 70000, 23, 100000, 0};
  uint64_t id = 1;
  for (size_t size : sizes) {
    out += FrameBytes(id, PatternBytes(size, static_cast<uint32_t>(id)), id % 3 == 0,
                      id % 2 == 0 ? "application/x-test" : "");
    ++id;
  }
  return out;
}

// One frame of an interop dialect carrying `body`.
std::string DialectFrame(Dialect dialect, absl::string_view body) {
  EncoderOptions options;
  options.dialect = dialect;
  absl::StatusOr<EncodedFrame> frame = FrameEncoder(options).Encode(Envelope(), absl::Cord(body));
  if (!frame.ok()) std::abort();  // the catalogue's own frames are valid
  return frame->ToString();
}

// The stream with its expectation from the reference decoder (whole input).
Vector Synthesized(std::string id, std::string spec, std::string description,
                   const std::string& bytes, Dialect dialect = Dialect::kNative) {
  DecoderOptions decoder_options;
  decoder_options.dialect = dialect;
  Vector vector;
  vector.set_id(std::move(id));
  vector.set_spec(std::move(spec));
  vector.set_description(std::move(description));
  vector.add_input()->set_hex(absl::BytesToHexString(bytes));
  DecodeOutcome outcome = DecodeSegments(decoder_options, bytes, {}, /*direct_reads=*/false);
  for (const Message& message : outcome.messages) {
    ExpectedMessage* expected = vector.add_messages();
    *expected->mutable_envelope() = message.envelope;
    expected->mutable_payload()->set_hex(absl::BytesToHexString(std::string(message.payload)));
  }
  if (!outcome.end.ok()) {
    vector.set_error(std::string(FrameErrorCodeName(GetFrameErrorCode(outcome.end))));
    vector.set_canonical_code(absl::StatusCodeToString(outcome.end.code()));
    vector.set_error_before_eof(outcome.error_before_eof);
  }
  return vector;
}

// One frame whose payload is the xorshift pattern of `size` bytes, stored as
// a recipe so that a 16 MiB case stays small.
Vector PatternFrame(std::string id, uint64_t size) {
  Vector vector;
  vector.set_id(std::move(id));
  vector.set_spec("5");
  vector.set_description(absl::StrCat("one frame with a ", size, "-byte payload"));
  Envelope envelope;
  envelope.set_id(1);
  envelope.set_kind(KIND_MESSAGE);
  const std::string envelope_bytes = envelope.SerializeAsString();
  FrameHeader header;
  header.envelope_length = static_cast<uint32_t>(envelope_bytes.size());
  header.payload_length = size;
  std::string prefix(kHeaderSize, '\0');
  EncodeFrameHeader(header, &prefix[0]);
  prefix += envelope_bytes;
  vector.add_input()->set_hex(absl::BytesToHexString(prefix));
  Bytes payload;
  payload.mutable_pattern()->set_length(size);
  payload.mutable_pattern()->set_seed(static_cast<uint32_t>(size) + 7);
  *vector.add_input() = payload;
  ExpectedMessage* expected = vector.add_messages();
  *expected->mutable_envelope() = envelope;
  *expected->mutable_payload() = payload;
  return vector;
}

// ---- case construction -------------------------------------------------------

class Catalogue {
 public:
  Case& Add(std::string klass, std::string sub, size_t k, std::string spec, Level level,
            CaseKind kind, std::string description) {
    Case c;
    c.id = absl::StrCat(klass, ".", sub, ".", k);
    c.klass = std::move(klass);
    c.spec = std::move(spec);
    c.level = level;
    c.kind = kind;
    c.description = std::move(description);
    cases_.push_back(std::move(c));
    return cases_.back();
  }
  Case& Stream(std::string klass, std::string sub, size_t k, Vector vector, SegmentPlan plan,
               absl::Duration pause = absl::ZeroDuration(), Level level = Level::kRequired) {
    std::string spec = vector.spec();
    std::string description = vector.description();
    Case& c = Add(std::move(klass), std::move(sub), k, std::move(spec), level,
                  CaseKind::kStream, std::move(description));
    c.vector = std::move(vector);
    c.plan = std::move(plan);
    c.pause = pause;
    return c;
  }
  std::vector<Case> Take() { return std::move(cases_); }

 private:
  std::vector<Case> cases_;
};

// Catalogue class of a native vector ("native.size.4096" -> "size_boundary").
std::string ClassOfVector(absl::string_view group, absl::string_view name) {
  static const auto* const kByName = new std::map<std::string, std::string>{
      {"frame.empty", "zero_length"},         {"size.0", "zero_length"},
      {"checksum.empty", "zero_length"},      {"frame.envelope_only", "zero_length"},
      {"frame.payload_only", "zero_length"},  {"size.16MiB", "large_payload"},
      {"size.1048583", "large_payload"},      {"checksum.1MiB", "large_payload"},
      {"limit.payload_exact_default", "limit_exact"},
      {"length.payload_default_plus_1", "limit_over"},
      {"limit.envelope_default_plus_1", "limit_over"},
      {"checksum.payload_flipped", "checksum_mismatch"},
      {"checksum.trailer_flipped", "checksum_mismatch"},
      {"empty_stream.", "eof_boundary"},
  };
  static const auto* const kByGroup = new std::map<std::string, std::string>{
      {"frame", "envelope_fields"}, {"size", "size_boundary"},   {"checksum", "checksum"},
      {"length", "length_overflow"}, {"magic", "magic"},          {"foreign", "foreign"},
      {"version", "version"},        {"flags", "reserved_flags"}, {"header", "header_corrupt"},
      {"envelope", "invalid_envelope"}, {"truncated", "eof_inside"},
      {"after_error", "after_error"}, {"coalesced", "coalesced"}, {"empty_stream", "eof_boundary"},
  };
  auto it = kByName->find(absl::StrCat(group, ".", name));
  if (it != kByName->end()) return it->second;
  auto group_it = kByGroup->find(std::string(group));
  return group_it != kByGroup->end() ? group_it->second : std::string(group);
}

// Each vector of `file` with the default limits, under the standard plans;
// `class_of(group, name)` names its class.
template <typename ClassOf>
void AddVectorCases(const VectorFile& file, Dialect dialect, const CatalogueOptions& options,
                    ClassOf class_of, Catalogue* out) {
  for (const Vector& vector : file.vectors()) {
    // Cases with non-default limits run in process only (vector_test): the
    // echo contract fixes the testee's limits at the defaults.
    if (vector.limits().max_payload_bytes() != 0 || vector.limits().max_envelope_bytes() != 0) {
      continue;
    }
    std::vector<std::string> parts = absl::StrSplit(vector.id(), absl::MaxSplits('.', 2));
    const std::string group = parts.size() > 1 ? parts[1] : vector.id();
    std::string name = parts.size() > 2 ? parts[2] : "stream";
    const std::string klass = class_of(group, name);
    if (klass == "zero_length" || klass == "large_payload") name = absl::StrCat(group, "_", name);
    uint64_t size = 0;
    for (const Bytes& run : vector.input()) {
      size += run.has_pattern() ? run.pattern().length() : run.hex().size() / 2;
    }
    std::vector<SegmentPlan> plans;
    if (size <= options.fine_plans_max_input) {
      plans = StandardPlans(size);
    } else {
      plans = {SegmentPlan::Whole(), SegmentPlan::SeededRandom(3, 65536)};
    }
    if (klass == "large_payload") plans.push_back(SegmentPlan::Chop(kReadSize));
    for (size_t k = 0; k < plans.size(); ++k) {
      const absl::Duration pause = size <= 4096 && plans[k].kind != SegmentPlan::Kind::kWhole
                                       ? absl::Milliseconds(1)
                                       : absl::ZeroDuration();
      out->Stream(klass, name, k, vector, plans[k], pause).dialect = dialect;
    }
  }
}

void AddSegmentationCases(Catalogue* out) {
  const absl::Duration pause = absl::Milliseconds(2);
  // A frame split at every byte offset: two frames, the first with a trailer.
  const std::string pair = FrameBytes(1, "hello", true) + FrameBytes(2, "world!", false, "t/x");
  const Vector pair_vector = Synthesized("split_offset", "3.8", "two frames cut once", pair);
  for (size_t at = 1; at < pair.size(); ++at) {
    out->Stream("split_offset", "at", at, pair_vector, SegmentPlan::Offsets({at}), pause);
  }
  // Every cut set of the checked prefix of a header (magic, version) and of
  // a foreign signature; cut sets at the header's field edges.
  const std::string frame = FrameBytes(7, "payload");
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  struct CutSet { const char* sub; std::vector<size_t> points; const std::string* bytes; };
  const CutSet sets[] = {{"magic_version", {1, 2, 3, 4, 5}, &frame},
                         {"fields", {6, 8, 12, 20, 23}, &frame},
                         {"http", {1, 2, 3}, &http}};
  for (const CutSet& set : sets) {
    const Vector vector = Synthesized("header_cuts", "3.8", "header cut at a set of offsets",
                                      *set.bytes);
    for (size_t mask = 1; mask < (size_t{1} << set.points.size()); ++mask) {
      std::vector<size_t> cuts;
      for (size_t i = 0; i < set.points.size(); ++i) {
        if (mask & (size_t{1} << i)) cuts.push_back(set.points[i]);
      }
      out->Stream("header_cuts", set.sub, mask, vector, SegmentPlan::Offsets(cuts), pause);
    }
  }
  // 1-byte dribble of small streams, good and bad.
  const std::string small = FrameBytes(1, "a") + FrameBytes(2, "", true) + FrameBytes(3, "xyz");
  const Vector dribbles[] = {
      Synthesized("dribble", "3.8", "three frames", small),
      Synthesized("dribble", "3.8", "a frame then garbage", FrameBytes(1, "a") + "GARBAGE!"),
      Synthesized("dribble", "7.3", "a frame then half a header", small + frame.substr(0, 13))};
  for (size_t k = 0; k < 3; ++k) {
    out->Stream("dribble", "bytewise", k, dribbles[k], SegmentPlan::Chop(1),
                absl::Milliseconds(1));
  }
  // Fixed chop sweep and seeded random slicing of a mixed stream.
  const Vector mixed = Synthesized("mixed", "3.1", "ten frames of mixed sizes", MixedStream());
  const size_t chops[] = {2, 3, 7, 997, 4095, 4096, 4097, 8191, 8192, 8193, 65536};
  for (size_t chop : chops) out->Stream("chop_sweep", "mixed", chop, mixed, SegmentPlan::Chop(chop));
  const size_t max_pieces[] = {16, 64, 1024, 9000};
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    out->Stream("random_slicing", "mixed", seed, mixed,
                SegmentPlan::SeededRandom(seed, max_pieces[seed % 4]));
  }
  // A header straddling an 8 KiB read edge by j bytes; a payload ending
  // exactly on a read edge.
  for (size_t j = 1; j < kHeaderSize; ++j) {
    const size_t first = kReadSize - j - FrameOverhead();
    const std::string bytes = FrameBytes(1, PatternBytes(first, 1)) + FrameBytes(2, "next");
    out->Stream("read_edge", "straddle", j,
                Synthesized("read_edge", "3.8", "header across a read edge", bytes),
                SegmentPlan::Chop(kReadSize));
  }
  for (size_t k : {1, 2, 8}) {
    const std::string bytes = FrameBytes(1, PatternBytes(k * kReadSize - FrameOverhead(), 2)) +
                              FrameBytes(2, "after the edge");
    out->Stream("read_edge", "exact", k,
                Synthesized("read_edge", "3.8", "payload ends on a read edge", bytes),
                SegmentPlan::Chop(kReadSize));
  }
  // A frame and a half, then the rest.
  size_t k = 0;
  for (size_t size : {30, 1000, 10000, 100000}) {
    const std::string one = FrameBytes(1, PatternBytes(size, 3));
    const std::string bytes = one + FrameBytes(2, PatternBytes(size, 4)) + FrameBytes(3, "end");
    const Vector vector = Synthesized("frame_and_half", "3.8", "1.5 frames in a segment", bytes);
    out->Stream("frame_and_half", "cut", k++, vector, SegmentPlan::Offsets({one.size() * 3 / 2}),
                absl::Milliseconds(5));
    out->Stream("frame_and_half", "cut", k++, vector,
                SegmentPlan::Offsets({one.size() / 2, one.size() * 3 / 2}), absl::Milliseconds(5));
  }
  // The sender pauses 300 ms inside the header, the envelope, the payload,
  // the trailer and between frames: nothing is delivered early or lost.
  const std::string paused = FrameBytes(1, PatternBytes(5000, 6), true, "t/x") + FrameBytes(2, "b");
  const Vector paused_vector = Synthesized("stall", "3.8", "a sender pausing mid-frame", paused);
  const size_t stall_points[] = {10, kHeaderSize + 2, 2000, 5000 + FrameOverhead() + 7,
                                paused.size() - FrameBytes(2, "b").size()};
  for (size_t k = 0; k < 5; ++k) {
    Case& c = out->Stream("stall", "pause_at", stall_points[k], paused_vector, SegmentPlan::Whole());
    c.stall_at = stall_points[k];
    c.stall = absl::Milliseconds(300);
  }
  // Many frames in one segment.
  for (size_t count : {100, 1000}) {
    std::string bytes;
    for (size_t i = 0; i < count; ++i) bytes += FrameBytes(i % 100, PatternBytes(i % 64, 5));
    out->Stream("coalesced", "many", count,
                Synthesized("coalesced", "3.1", "many frames in one write", bytes),
                SegmentPlan::Whole());
  }
}

void AddCorruptionAndSizeCases(Catalogue* out) {
  // Bit flips in a header: bits 0 and 7 of every header byte.
  const std::string frame = FrameBytes(9, "bit flip victim");
  for (size_t i = 0; i < kHeaderSize; ++i) {
    for (int bit : {0, 7}) {
      std::string bytes = frame;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      out->Stream("bit_flips", absl::StrCat("byte", i), static_cast<size_t>(bit),
                  Synthesized("bit_flips", "3.8", "one header bit flipped", bytes),
                  SegmentPlan::Whole());
    }
  }
  // Random garbage (the xorshift pattern, seeded), alone and after good
  // frames: rejected on the first bad header, the frames before it kept.
  const std::string good = FrameBytes(1, "before") + FrameBytes(2, PatternBytes(3000, 2), true);
  uint32_t seed = 100;
  for (size_t size : {1, 5, 23, 24, 25, 100, 4096, 65536}) {
    for (bool after_frames : {false, true}) {
      const std::string bytes = (after_frames ? good : "") + PatternBytes(size, ++seed);
      const Vector vector = Synthesized(
          "random_garbage", "3.2",
          absl::StrCat(size, " random bytes", after_frames ? " after two good frames" : ""),
          bytes);
      const std::string sub = absl::StrCat(after_frames ? "after_frames_" : "alone_", size);
      out->Stream("random_garbage", sub, 0, vector, SegmentPlan::Whole());
      const bool paced = !after_frames && size <= 100;
      out->Stream("random_garbage", sub, 1, vector,
                  after_frames ? SegmentPlan::Chop(997) : SegmentPlan::Chop(3),
                  paced ? absl::Milliseconds(1) : absl::ZeroDuration());
    }
  }
  // Round trip of one frame, payload sizes 0 and 2^0 .. 2^24.
  out->Stream("roundtrip_sweep", "size", 0, PatternFrame("roundtrip", 0), SegmentPlan::Whole());
  for (size_t bits = 0; bits <= 24; ++bits) {
    out->Stream("roundtrip_sweep", "size", uint64_t{1} << bits,
                PatternFrame("roundtrip", uint64_t{1} << bits), SegmentPlan::Whole());
  }
  // Half-close after frames (clean) and inside each part of a frame.
  const std::string three = FrameBytes(1, "one") + FrameBytes(2, "two", true) + FrameBytes(3, "3");
  const std::string last = FrameBytes(4, "fourth payload", true, "t/x");
  const size_t cuts[] = {0, 10, kHeaderSize + 2, last.size() - 12, last.size() - 3, last.size()};
  for (size_t k = 0; k < 6; ++k) {
    const std::string bytes = three + last.substr(0, cuts[k]);
    out->Stream("half_close", k == 0 || k == 5 ? "after_frames" : "mid_frame", k,
                Synthesized("half_close", "7.3", "half-close after three frames plus a part",
                            bytes),
                SegmentPlan::Whole());
  }
}

void AddScenarioCases(Catalogue* out) {
  const std::string three = FrameBytes(1, PatternBytes(300, 1)) + FrameBytes(2, "two", true) +
                            FrameBytes(3, PatternBytes(5000, 3));
  const Vector stream = Synthesized("reset", "7.2", "three frames", three);
  const size_t offsets[] = {0, 10, kHeaderSize + 1, 200, FrameOverhead() + 300};
  for (size_t k = 0; k < 5; ++k) {
    Case& c = out->Add("reset", "mid_stream", k, "7.2", Level::kRequired, CaseKind::kReset,
                       "a reset after some bytes: the testee serves the next connection");
    c.vector = stream;
    c.offset = offsets[k];
  }
  out->Add("peer_leaves", "while_sending", 0, "7.2", Level::kRequired, CaseKind::kPeerLeaves,
           "8 MiB sent, echo never read, then a reset: the testee serves the next connection");
  out->Add("slowloris", "header", 0, "7.1", Level::kRecommended, CaseKind::kSlowloris,
           "a header trickled a byte every 100 ms: closed within the stall timeout");
  out->Add("idle", "silent", 0, "7.1", Level::kRecommended, CaseKind::kIdle,
           "a connection that sends nothing: closed within the idle timeout");
  const Vector mixed = Synthesized("interleaved", "3.1", "ten frames of mixed sizes", MixedStream());
  for (int n : {2, 64, 1024}) {
    Case& c = out->Add("interleaved", "connections", static_cast<size_t>(n), "3.1",
                       Level::kRequired, CaseKind::kInterleaved,
                       "connections at once, writes interleaved in 1 KiB pieces");
    c.vector = n == 1024 ? stream : mixed;
    c.connections = n;
  }
  Case& mix = out->Add("transport_mix", "tcp_unix", 64, "3.1", Level::kRequired,
                       CaseKind::kTransportMix, "32 TCP and 32 Unix connections at once");
  mix.vector = mixed;
  mix.connections = 64;
  Case& bad = out->Add("one_bad", "among", 64, "7.2", Level::kRequired, CaseKind::kOneBad,
                       "one connection sends garbage after a frame; 63 others are untouched");
  bad.vector = stream;
  bad.connections = 64;
  bad.bad_index = 17;
  bad.bad_vector = Synthesized("one_bad", "7.2", "a frame then garbage",
                               FrameBytes(1, "good") + "NOT A FRAME AT ALL......");
  Case& tiny = out->Add("tiny_frames", "million", 1000000, "3.1", Level::kRequired,
                        CaseKind::kTinyFrames, "10^6 frames of 1-byte payloads, ids 0..10^6-1");
  tiny.frames = 1000000;
  Case& bomb = out->Add("alloc_bomb", "stalled_headers", 256, "6.2", Level::kRequired,
                        CaseKind::kAllocationBomb,
                        "connections each announce the maximum payload, send 64 KiB, stall: "
                        "the testee's memory stays bounded");
  bomb.connections = 256;
}


// Streams synthesized in an interop dialect; classes "<prefix>_<class>".
void AddDialectStreamCases(Dialect dialect, const std::string& prefix, const std::string& spec,
                           Catalogue* out) {
  auto frame = [dialect](absl::string_view body) { return DialectFrame(dialect, body); };
  auto vector = [&](const std::string& klass, const std::string& description,
                    const std::string& bytes) {
    return Synthesized(klass, spec, description, bytes, dialect);
  };
  auto stream = [&](const std::string& klass, const std::string& sub, size_t k, const Vector& v,
                    SegmentPlan plan, absl::Duration pause = absl::ZeroDuration()) {
    out->Stream(klass, sub, k, v, std::move(plan), pause).dialect = dialect;
  };
  const absl::Duration pause = absl::Milliseconds(2);
  // A pair split at every byte offset.
  const std::string pair = frame("hello") + frame(PatternBytes(200, 1));
  const std::string split = prefix + "_split_offset";
  const Vector pair_vector = vector(split, "two frames cut once", pair);
  for (size_t at = 1; at < pair.size(); ++at) {
    stream(split, "at", at, pair_vector, SegmentPlan::Offsets({at}), pause);
  }
  // 1-byte dribble, clean and cut inside a length prefix.
  const std::string small = frame("a") + frame("") + frame(PatternBytes(300, 2));
  const std::string big_prefix = frame(PatternBytes(70000, 3)).substr(0, 2);
  const Vector dribbles[] = {vector(prefix + "_dribble", "three frames", small),
                             vector(prefix + "_dribble", "three frames then 2 bytes of a length",
                                    small + big_prefix)};
  for (size_t k = 0; k < 2; ++k) {
    stream(prefix + "_dribble", "bytewise", k, dribbles[k], SegmentPlan::Chop(1),
           absl::Milliseconds(1));
  }
  // A fixed chop sweep and seeded slicing of a mixed stream.
  std::string mixed_bytes;
  const size_t sizes[] = {0, 1, 127, 128, 4095, 8192, 8193, 16384, 70000, 0};
  for (size_t i = 0; i < 10; ++i) mixed_bytes += frame(PatternBytes(sizes[i], 10 + i));
  const Vector mixed = vector(prefix + "_mixed", "ten frames of mixed sizes", mixed_bytes);
  for (size_t chop : {2, 3, 7, 997, 4095, 4096, 4097, 8191, 8192, 8193, 65536}) {
    stream(prefix + "_chop_sweep", "mixed", chop, mixed, SegmentPlan::Chop(chop));
  }
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    stream(prefix + "_random_slicing", "mixed", seed, mixed,
           SegmentPlan::SeededRandom(seed, seed % 2 == 0 ? 64 : 9000));
  }
  // The length prefix of the second frame across an 8 KiB read edge by j
  // bytes (its body is 20000 bytes: a 3-byte varint, a 4-byte u32be).
  const std::string second = frame(PatternBytes(20000, 4));
  const size_t second_prefix = second.size() - 20000;
  const size_t first_overhead = frame(PatternBytes(8000, 5)).size() - 8000;
  for (size_t j = 1; j < second_prefix; ++j) {
    const std::string bytes =
        frame(PatternBytes(kReadSize - j - first_overhead, 5)) + second;
    stream(prefix + "_read_edge", "straddle", j,
           vector(prefix + "_read_edge", "length prefix across a read edge", bytes),
           SegmentPlan::Chop(kReadSize));
  }
  // A frame and a half, then the rest.
  size_t k = 0;
  for (size_t size : {30, 10000}) {
    const std::string one = frame(PatternBytes(size, 6));
    const std::string bytes = one + frame(PatternBytes(size, 7)) + frame("end");
    const Vector v = vector(prefix + "_frame_and_half", "1.5 frames in a segment", bytes);
    stream(prefix + "_frame_and_half", "cut", k++, v, SegmentPlan::Offsets({one.size() * 3 / 2}),
           absl::Milliseconds(5));
  }
  // Many frames in one segment.
  std::string many;
  for (size_t i = 0; i < 1000; ++i) many += frame(PatternBytes(i % 64, 8));
  stream(prefix + "_coalesced", "many", 1000,
         vector(prefix + "_coalesced", "many frames in one write", many), SegmentPlan::Whole());
  // A length one over the default limit, after a good frame: rejected on
  // the prefix, before any body byte.
  std::string over(kU32PrefixSize, '\0');
  const uint32_t too_long = static_cast<uint32_t>(FrameLimits::kDefaultMaxPayloadBytes + 1);
  if (dialect == Dialect::kVarint32) {
    over.resize(EncodeVarint32(too_long, &over[0]));
  } else {
    StoreBigEndian32(too_long, &over[0]);
  }
  stream(prefix + "_limit_over", "payload_default_plus_1", 0,
         vector(prefix + "_limit_over", "a length of the limit + 1 after a frame",
                frame("ok") + over + PatternBytes(1000, 9)),
         SegmentPlan::Whole());
  // Half-close after frames (clean) and inside a prefix or a body.
  const std::string last = frame(PatternBytes(300, 11));
  const size_t cuts[] = {0, 1, last.size() - 100, last.size()};
  for (size_t i = 0; i < 4; ++i) {
    stream(prefix + "_half_close", i == 0 || i == 3 ? "after_frames" : "mid_frame", i,
           vector(prefix + "_half_close", "half-close after three frames plus a part",
                  small + last.substr(0, cuts[i])),
           SegmentPlan::Whole());
  }
}

// "<prefix>_<group>" for a dialect vector "varint32.size.4096".
std::string DialectClassOfVector(const std::string& prefix, absl::string_view group) {
  return absl::StrCat(prefix, "_", group == "truncated" ? "eof_inside" : group);
}
}  // namespace

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kRequired:
      return "REQUIRED";
    case Level::kRecommended:
      return "RECOMMENDED";
    case Level::kInfo:
      return "INFO";
  }
  return "?";
}

std::string Case::Expected() const {
  switch (kind) {
    case CaseKind::kStream:
      return vector.error().empty()
                 ? absl::StrCat("DELIVER ", vector.messages_size())
                 : absl::StrCat("REJECT ", vector.error(), " after ", vector.messages_size());
    case CaseKind::kReset:
    case CaseKind::kPeerLeaves:
      return "testee serves a new connection afterwards";
    case CaseKind::kSlowloris:
    case CaseKind::kIdle:
      return "closed within the declared timeout";
    case CaseKind::kInterleaved:
    case CaseKind::kTransportMix:
      return absl::StrCat("DELIVER ", vector.messages_size(), " on each of ", connections);
    case CaseKind::kOneBad:
      return absl::StrCat("DELIVER on ", connections - 1, "; REJECT ", bad_vector.error(),
                          " on one");
    case CaseKind::kTinyFrames:
      return absl::StrCat("DELIVER ", frames);
    case CaseKind::kAllocationBomb:
      return "testee RSS grows by at most 128 MiB";
  }
  return "?";
}

std::vector<Case> BuildCatalogue(const VectorFile& native, const CatalogueOptions& options) {
  Catalogue catalogue;
  AddVectorCases(native, Dialect::kNative, options, ClassOfVector, &catalogue);
  AddSegmentationCases(&catalogue);
  AddCorruptionAndSizeCases(&catalogue);
  AddScenarioCases(&catalogue);
  return catalogue.Take();
}

absl::StatusOr<std::vector<Case>> BuildDialectCatalogue(const VectorFile& file,
                                                        const CatalogueOptions& options) {
  Dialect dialect;
  if (!ParseDialect(file.dialect(), &dialect) || dialect == Dialect::kNative) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vector file dialect \"", file.dialect(), "\" is not an interop dialect (varint32, u32be)"));
  }
  const std::string prefix(DialectName(dialect));
  const std::string spec = dialect == Dialect::kVarint32 ? "8.1" : "8.2";
  Catalogue catalogue;
  AddVectorCases(
      file, dialect, options,
      [&prefix](absl::string_view group, absl::string_view) {
        return DialectClassOfVector(prefix, group);
      },
      &catalogue);
  AddDialectStreamCases(dialect, prefix, spec, &catalogue);
  return catalogue.Take();
}

std::string ClassOfCaseId(absl::string_view id) {
  return std::string(id.substr(0, id.find('.')));
}

}  // namespace conformance
}  // namespace lpframe
