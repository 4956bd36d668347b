// Tests for FrameEncoder / EncodedFrame: the exact bytes of each dialect,
// the slices, limits, and that payloads are shared, not copied.
#include "lib/frame_encoder.h"

#include <sys/uio.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/io/coded_stream.h"
#include "gtest/gtest.h"
#include "lib/dialect.h"
#include "lib/frame_error.h"
#include "lib/frame_limits.h"
#include "lib/message.h"
#include "lib/testing/pattern_bytes.h"
#include "lib/wire_format.h"

namespace lpframe {

// Readable gtest output for FrameErrorCode values.
void PrintTo(FrameErrorCode code, std::ostream* os) { *os << FrameErrorCodeName(code); }

namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

using testing_util::PatternBytes;

// A Cord made of several external pieces, to make multi-chunk payloads.
absl::Cord ChunkedCord(const std::vector<std::string>& pieces) {
  absl::Cord cord;
  for (const std::string& piece : pieces) {
    auto* copy = new std::string(piece);
    cord.Append(absl::MakeCordFromExternal(*copy, [copy] { delete copy; }));
  }
  return cord;
}

// A Cord of `size` bytes that shares one 1 MiB buffer (no big allocation).
absl::Cord HugeCord(uint64_t size) {
  static const std::string* const mib = new std::string(PatternBytes(1 << 20, 1));
  const absl::Cord unit = absl::MakeCordFromExternal(*mib, [] {});
  absl::Cord out;
  absl::Cord doubling = unit;
  uint64_t left = size >> 20;
  while (left > 0) {
    if (left & 1) out.Append(doubling);
    left >>= 1;
    if (left > 0) {
      const absl::Cord copy = doubling;
      doubling.Append(copy);
    }
  }
  out.Append(unit.Subcord(0, size & ((1 << 20) - 1)));
  return out;
}

Envelope SampleEnvelope() {
  Envelope e;
  e.set_id(42);
  e.set_kind(KIND_RESPONSE);
  e.set_content_type("type.googleapis.com/lpframe.Envelope");
  (*e.mutable_metadata())["k"] = "v";
  e.mutable_chunk()->set_digest(std::string("\x00\xff", 2));
  return e;
}

// Envelope whose serialization is exactly `size` bytes (size >= 2).
Envelope EnvelopeOfSize(size_t size) {
  Envelope e;
  for (size_t overhead = 2; overhead <= 6 && overhead <= size; ++overhead) {
    e.set_content_type(std::string(size - overhead, 'c'));
    if (e.ByteSizeLong() == size) return e;
  }
  ADD_FAILURE() << "no envelope of " << size << " bytes";
  return e;
}

EncoderOptions Options(Dialect dialect, bool checksum = false, FrameLimits limits = {}) {
  EncoderOptions o;
  o.dialect = dialect;
  o.checksum = checksum;
  o.limits = limits;
  return o;
}

void ExpectFrameError(const absl::Status& s, FrameErrorCode code) {
  EXPECT_EQ(GetFrameErrorCode(s), code) << s;
  EXPECT_EQ(s.code(), CanonicalCodeFor(code)) << s;
}

std::string Concat(const std::vector<absl::string_view>& slices) {
  std::string out;
  for (absl::string_view s : slices) out.append(s.data(), s.size());
  return out;
}

// Checks that prefix/payload/trailer, size(), ToString(), AppendTo(),
// AppendSlices() and AppendIovecs() all describe the same bytes.
void ExpectConsistentViews(const EncodedFrame& frame) {
  const std::string whole = frame.ToString();
  EXPECT_EQ(whole.size(), frame.size());
  EXPECT_EQ(whole, absl::StrCat(frame.prefix(), std::string(frame.payload()),
                                frame.trailer()));
  std::string appended = "already here";
  frame.AppendTo(&appended);
  EXPECT_EQ(appended, "already here" + whole);

  std::vector<absl::string_view> slices = {"x"};
  frame.AppendSlices(&slices);
  ASSERT_GE(slices.size(), 1u);
  EXPECT_EQ(slices[0], "x");
  slices.erase(slices.begin());
  for (absl::string_view s : slices) EXPECT_FALSE(s.empty()) << "empty slice";
  EXPECT_EQ(Concat(slices), whole);

  std::vector<struct iovec> iov;
  frame.AppendIovecs(&iov);
  ASSERT_EQ(iov.size(), slices.size());
  std::string from_iov;
  for (size_t i = 0; i < iov.size(); ++i) {
    EXPECT_EQ(iov[i].iov_base, slices[i].data());
    EXPECT_GT(iov[i].iov_len, 0u);
    from_iov.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  }
  EXPECT_EQ(from_iov, whole);

  // A cap keeps the leading slices: the bytes of a prefix of the frame.
  for (size_t cap = 0; cap <= slices.size() + 1; ++cap) {
    SCOPED_TRACE(absl::StrCat("max_iovecs ", cap));
    std::vector<struct iovec> capped;
    frame.AppendIovecs(&capped, cap);
    ASSERT_EQ(capped.size(), std::min(cap, slices.size()));
    for (size_t i = 0; i < capped.size(); ++i) {
      EXPECT_EQ(capped[i].iov_base, slices[i].data());
      EXPECT_EQ(capped[i].iov_len, slices[i].size());
    }
  }
}

TEST(FrameEncoderTest, GoldenNativeFrame) {
  absl::StatusOr<EncodedFrame> frame =
      FrameEncoder(Options(Dialect::kNative)).Encode(Envelope(), absl::Cord("hi"));
  ASSERT_TRUE(frame.ok()) << frame.status();
  std::string header = Bytes({'L', 'P', 'F', 'R', 0, 1, 0, 0, 0, 0, 0, 0,  //
                              0, 0, 0, 0, 0, 0, 0, 2});
  const uint32_t check = static_cast<uint32_t>(XXH3_64bits(header.data(), 20));
  header += Bytes({static_cast<int>(check >> 24), static_cast<int>((check >> 16) & 0xff),
                   static_cast<int>((check >> 8) & 0xff), static_cast<int>(check & 0xff)});
  EXPECT_EQ(absl::BytesToHexString(frame->ToString()), absl::BytesToHexString(header + "hi"));
  EXPECT_EQ(frame->trailer(), "");
  ExpectConsistentViews(*frame);
}

// PROTOCOL.md §3.1, examples 1 to 3, byte for byte.
TEST(FrameEncoderTest, ProtocolExamples) {
  Envelope e;
  e.set_id(1);
  e.set_kind(KIND_MESSAGE);
  struct Case {
    const char* name;
    Envelope envelope;
    std::string payload;
    bool checksum;
    std::string hex;
  };
  const Case cases[] = {
      {"example 1", e, "hello", false,
       "4c5046520001000000000004000000000000000507f8e147080110016865"
       "6c6c6f"},
      {"example 2", e, "hello", true,
       "4c50465200010001000000040000000000000005"
       "3d3c3ad2080110016865"
       "6c6c6f035cd175f1291530"},
      {"example 3", Envelope(), "", false,
       "4c50465200010000000000000000000000000000a7af474d"},
      {"empty with checksum: trailer of the empty input", Envelope(), "", true, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<EncodedFrame> frame = FrameEncoder(Options(Dialect::kNative, c.checksum))
                                             .Encode(c.envelope, absl::Cord(c.payload));
    ASSERT_TRUE(frame.ok()) << frame.status();
    if (!c.hex.empty()) {
      EXPECT_EQ(absl::BytesToHexString(frame->ToString()), c.hex);
    } else {
      EXPECT_EQ(absl::BytesToHexString(frame->trailer()), "2d06800538d394c2");
    }
  }
  // The dialect examples of §8.1 and §8.2.
  absl::StatusOr<EncodedFrame> v =
      FrameEncoder(Options(Dialect::kVarint32)).Encode(Envelope(), absl::Cord("hello"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(absl::BytesToHexString(v->ToString()), "0568656c6c6f");
  absl::StatusOr<EncodedFrame> u =
      FrameEncoder(Options(Dialect::kU32BE)).Encode(Envelope(), absl::Cord("hello"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(absl::BytesToHexString(u->ToString()), "0000000568656c6c6f");
}

// The interop dialects have no trailer: asking for one is an invalid option.
TEST(FrameEncoderTest, ChecksumOptionIsNativeOnly) {
  for (Dialect d : {Dialect::kVarint32, Dialect::kU32BE}) {
    SCOPED_TRACE(DialectName(d));
    EncodedFrame frame;
    absl::Status s = FrameEncoder(Options(d, true)).EncodeTo(Envelope(), absl::Cord("x"), &frame);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(frame.size(), 0u);
  }
}

// PROTOCOL.md §4.1: the reference sender serializes deterministically, map
// entries sorted by key, so equal envelopes give equal bytes.
TEST(FrameEncoderTest, EnvelopeMapEntriesAreSortedByKey) {
  const std::vector<std::string> keys = {"m", "b", "zz", "a", "k", "c", "y", "aa", "q", "e"};
  Envelope forward, backward;
  forward.set_id(7);
  backward.set_id(7);
  for (size_t i = 0; i < keys.size(); ++i) {
    (*forward.mutable_metadata())[keys[i]] = absl::StrCat("v", keys[i]);
    const std::string& k = keys[keys.size() - 1 - i];
    (*backward.mutable_metadata())[k] = absl::StrCat("v", k);
  }
  forward.set_content_type("t");
  backward.set_content_type("t");
  const FrameEncoder encoder(Options(Dialect::kNative, true));
  absl::StatusOr<EncodedFrame> a = encoder.Encode(forward, absl::Cord("p"));
  absl::StatusOr<EncodedFrame> b = encoder.Encode(backward, absl::Cord("p"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ToString(), b->ToString());
  // Walk the envelope's fields: numbers ascending, map keys ascending.
  const std::string envelope(a->prefix().substr(kHeaderSize));
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(envelope.data()),
                                            static_cast<int>(envelope.size()));
  uint32_t last_field = 0;
  std::vector<std::string> seen;
  while (uint32_t tag = in.ReadTag()) {
    const uint32_t field = tag >> 3;
    EXPECT_GE(field, last_field);
    last_field = field;
    if (field == 1) {
      uint64_t v;
      ASSERT_TRUE(in.ReadVarint64(&v));
    } else {
      std::string bytes;
      uint32_t len;
      ASSERT_TRUE(in.ReadVarint32(&len));
      ASSERT_TRUE(in.ReadString(&bytes, static_cast<int>(len)));
      if (field == 4) {
        google::protobuf::io::CodedInputStream entry(
            reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
        ASSERT_EQ(entry.ReadTag(), (1u << 3) | 2u);
        uint32_t key_len;
        std::string key;
        ASSERT_TRUE(entry.ReadVarint32(&key_len));
        ASSERT_TRUE(entry.ReadString(&key, static_cast<int>(key_len)));
        seen.push_back(key);
      }
    }
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(seen, sorted);
}

// PROTOCOL.md §6.3: the payload is checked before the envelope, so a frame
// over both limits is refused as PAYLOAD_TOO_LARGE.
TEST(FrameEncoderLimitsTest, OverBothLimitsIsPayloadTooLarge) {
  FrameLimits limits;
  limits.max_payload_bytes = 10;
  limits.max_envelope_bytes = 10;
  for (bool checksum : {false, true}) {
    SCOPED_TRACE(absl::StrCat("checksum ", checksum));
    EncodedFrame frame;
    absl::Status s = FrameEncoder(Options(Dialect::kNative, checksum, limits))
                         .EncodeTo(EnvelopeOfSize(11), absl::Cord(std::string(11, 'p')), &frame);
    ExpectFrameError(s, FrameErrorCode::kPayloadTooLarge);
    EXPECT_EQ(frame.size(), 0u);
    // Each limit alone.
    ExpectFrameError(FrameEncoder(Options(Dialect::kNative, checksum, limits))
                         .EncodeTo(EnvelopeOfSize(11), absl::Cord(std::string(10, 'p')), &frame),
                     FrameErrorCode::kEnvelopeTooLarge);
    ExpectFrameError(FrameEncoder(Options(Dialect::kNative, checksum, limits))
                         .EncodeTo(EnvelopeOfSize(10), absl::Cord(std::string(11, 'p')), &frame),
                     FrameErrorCode::kPayloadTooLarge);
    EXPECT_TRUE(FrameEncoder(Options(Dialect::kNative, checksum, limits))
                    .EncodeTo(EnvelopeOfSize(10), absl::Cord(std::string(10, 'p')), &frame)
                    .ok());
  }
}

TEST(FrameEncoderTest, NativeLayout) {
  struct Case {
    const char* name;
    Envelope envelope;
    absl::Cord payload;
    bool checksum;
  };
  const Case cases[] = {
      {"empty", Envelope(), absl::Cord(), false},
      {"empty+checksum", Envelope(), absl::Cord(), true},
      {"envelope only", SampleEnvelope(), absl::Cord(), false},
      {"payload only", Envelope(), absl::Cord(PatternBytes(5000, 1)), true},
      {"both", SampleEnvelope(), absl::Cord(PatternBytes(100, 2)), false},
      {"both+checksum", SampleEnvelope(), absl::Cord(PatternBytes(100, 2)), true},
      {"chunked+checksum", SampleEnvelope(),
       ChunkedCord({PatternBytes(600, 3), PatternBytes(1000, 4), PatternBytes(700, 5)}), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<EncodedFrame> frame =
        FrameEncoder(Options(Dialect::kNative, c.checksum)).Encode(c.envelope, c.payload);
    ASSERT_TRUE(frame.ok()) << frame.status();
    const size_t envelope_size = c.envelope.ByteSizeLong();
    ASSERT_EQ(frame->prefix().size(), kHeaderSize + envelope_size);
    absl::StatusOr<FrameHeader> header =
        ParseFrameHeader(frame->prefix().substr(0, kHeaderSize), FrameLimits(), 0);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->version, kVersion);
    EXPECT_EQ(header->flags, c.checksum ? kFlagChecksum : 0);
    EXPECT_EQ(header->envelope_length, envelope_size);
    EXPECT_EQ(header->payload_length, c.payload.size());
    Envelope parsed;
    ASSERT_TRUE(parsed.ParseFromString(std::string(frame->prefix().substr(kHeaderSize))));
    EXPECT_TRUE(MessageDifferencer::Equals(parsed, c.envelope));
    EXPECT_EQ(frame->payload(), c.payload);
    if (c.checksum) {
      const std::string body =
          absl::StrCat(frame->prefix().substr(kHeaderSize), std::string(c.payload));
      ASSERT_EQ(frame->trailer().size(), kChecksumTrailerSize);
      EXPECT_EQ(LoadBigEndian64(frame->trailer().data()), XXH3_64bits(body.data(), body.size()));
    } else {
      EXPECT_TRUE(frame->trailer().empty());
    }
    EXPECT_EQ(frame->size(), kHeaderSize + envelope_size + c.payload.size() +
                                 (c.checksum ? kChecksumTrailerSize : 0));
    ExpectConsistentViews(*frame);
  }
}

TEST(FrameEncoderTest, InteropPrefixes) {
  struct Case {
    uint64_t size;
    std::string varint;
    std::string u32be;
  };
  const Case cases[] = {
      {0, Bytes({0x00}), Bytes({0, 0, 0, 0})},
      {1, Bytes({0x01}), Bytes({0, 0, 0, 1})},
      {127, Bytes({0x7f}), Bytes({0, 0, 0, 0x7f})},
      {128, Bytes({0x80, 0x01}), Bytes({0, 0, 0, 0x80})},
      {300, Bytes({0xac, 0x02}), Bytes({0, 0, 0x01, 0x2c})},
      {16383, Bytes({0xff, 0x7f}), Bytes({0, 0, 0x3f, 0xff})},
      {16384, Bytes({0x80, 0x80, 0x01}), Bytes({0, 0, 0x40, 0x00})},
      {(1 << 20) + 3, Bytes({0x83, 0x80, 0x40}), Bytes({0, 0x10, 0, 0x03})},
  };
  for (const Case& c : cases) {
    const absl::Cord payload(PatternBytes(c.size, 9));
    {
      SCOPED_TRACE(absl::StrCat("size ", c.size));
      absl::StatusOr<EncodedFrame> v =
          FrameEncoder(Options(Dialect::kVarint32)).Encode(Envelope(), payload);
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_EQ(absl::BytesToHexString(v->prefix()), absl::BytesToHexString(c.varint));
      EXPECT_EQ(v->payload(), payload);
      EXPECT_TRUE(v->trailer().empty());
      ExpectConsistentViews(*v);
      absl::StatusOr<EncodedFrame> u =
          FrameEncoder(Options(Dialect::kU32BE)).Encode(Envelope(), payload);
      ASSERT_TRUE(u.ok()) << u.status();
      EXPECT_EQ(absl::BytesToHexString(u->prefix()), absl::BytesToHexString(c.u32be));
      EXPECT_EQ(u->payload(), payload);
      EXPECT_TRUE(u->trailer().empty());
      ExpectConsistentViews(*u);
    }
  }
}

TEST(FrameEncoderTest, PayloadIsSharedNotCopied) {
  const std::string piece_a = PatternBytes(4000, 1);
  const std::string piece_b = PatternBytes(3000, 2);
  int released = 0;
  {
    absl::Cord payload;
    payload.Append(absl::MakeCordFromExternal(piece_a, [&released] { ++released; }));
    payload.Append(absl::MakeCordFromExternal(piece_b, [&released] { ++released; }));
    for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
      SCOPED_TRACE(DialectName(d));
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder(Options(d, d == Dialect::kNative)).Encode(Envelope(), payload);
      ASSERT_TRUE(frame.ok());
      std::vector<absl::string_view> slices;
      frame->AppendSlices(&slices);
      ASSERT_EQ(slices.size(), d == Dialect::kNative ? 4u : 3u);
      EXPECT_EQ(slices[1].data(), piece_a.data());
      EXPECT_EQ(slices[1].size(), piece_a.size());
      EXPECT_EQ(slices[2].data(), piece_b.data());
    }
  }
  EXPECT_EQ(released, 2);  // the frames released their references too
}

TEST(FrameEncoderTest, EncodeMessageOverloadMatches) {
  Message m;
  m.envelope = SampleEnvelope();
  m.payload = absl::Cord("payload bytes");
  const FrameEncoder encoder(Options(Dialect::kNative, true));
  absl::StatusOr<EncodedFrame> a = encoder.Encode(m);
  absl::StatusOr<EncodedFrame> b = encoder.Encode(m.envelope, m.payload);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ToString(), b->ToString());
  EXPECT_EQ(encoder.options().dialect, Dialect::kNative);
  EXPECT_TRUE(encoder.options().checksum);
}

TEST(FrameEncoderTest, EncodeToReusesTheFrame) {
  EncodedFrame frame;
  ASSERT_TRUE(FrameEncoder(Options(Dialect::kNative, true))
                  .EncodeTo(SampleEnvelope(), absl::Cord("first"), &frame)
                  .ok());
  EXPECT_EQ(frame.trailer().size(), kChecksumTrailerSize);
  ASSERT_TRUE(FrameEncoder(Options(Dialect::kNative, false))
                  .EncodeTo(Envelope(), absl::Cord("second"), &frame)
                  .ok());
  EXPECT_EQ(frame.prefix().size(), kHeaderSize);
  EXPECT_TRUE(frame.trailer().empty());
  EXPECT_EQ(frame.payload(), "second");
  EXPECT_EQ(frame.size(), kHeaderSize + 6);
  ASSERT_TRUE(FrameEncoder(Options(Dialect::kNative, true))
                  .EncodeTo(Envelope(), absl::Cord("x"), &frame)
                  .ok());
  ASSERT_TRUE(FrameEncoder(Options(Dialect::kVarint32))
                  .EncodeTo(Envelope(), absl::Cord("third"), &frame)
                  .ok());
  EXPECT_EQ(frame.ToString(), "\x05third");
  ExpectConsistentViews(frame);
}

TEST(FrameEncoderLimitsTest, PayloadLimitBoundary) {
  FrameLimits limits;
  limits.max_payload_bytes = 1000;
  for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
    for (bool checksum : {false, true}) {
      if (checksum && d != Dialect::kNative) continue;
      for (uint64_t size : {999, 1000, 1001}) {
        SCOPED_TRACE(absl::StrCat(DialectName(d), ", checksum ", checksum, ", payload ", size));
        EncodedFrame frame;
        absl::Status s = FrameEncoder(Options(d, checksum, limits))
                             .EncodeTo(Envelope(), absl::Cord(std::string(size, 'p')), &frame);
        if (size <= 1000) {
          EXPECT_TRUE(s.ok()) << s;
          EXPECT_EQ(frame.payload().size(), size);
        } else {
          ExpectFrameError(s, FrameErrorCode::kPayloadTooLarge);
          EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
          EXPECT_THAT(std::string(s.message()), HasSubstr("1001"));
          EXPECT_THAT(std::string(s.message()), HasSubstr("1000"));
          EXPECT_EQ(frame.size(), 0u) << "nothing may be written";
        }
      }
    }
  }
}

TEST(FrameEncoderLimitsTest, DefaultPayloadLimitBoundary) {
  const uint64_t limit = FrameLimits::kDefaultMaxPayloadBytes;
  for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
    for (uint64_t size : {limit - 1, limit, limit + 1}) {
      SCOPED_TRACE(absl::StrCat(DialectName(d), ", payload ", size));
      const absl::Cord payload = HugeCord(size);
      ASSERT_EQ(payload.size(), size);
      absl::StatusOr<EncodedFrame> frame = FrameEncoder(Options(d)).Encode(Envelope(), payload);
      if (size <= limit) {
        ASSERT_TRUE(frame.ok()) << frame.status();
        EXPECT_EQ(frame->size(), frame->prefix().size() + size);
      } else {
        ASSERT_FALSE(frame.ok());
        ExpectFrameError(frame.status(), FrameErrorCode::kPayloadTooLarge);
        EXPECT_THAT(std::string(frame.status().message()), HasSubstr(absl::StrCat(size)));
        EXPECT_THAT(std::string(frame.status().message()), HasSubstr(absl::StrCat(limit)));
      }
    }
  }
}

TEST(FrameEncoderLimitsTest, InteropLengthCeiling) {
  FrameLimits limits;
  limits.max_payload_bytes = uint64_t{1} << 40;
  const uint64_t max32 = 0xFFFFFFFFull;
  struct Case {
    Dialect dialect;
    uint64_t size;
    bool ok;
    std::string prefix;
  };
  const Case cases[] = {
      {Dialect::kVarint32, max32, true, Bytes({0xff, 0xff, 0xff, 0xff, 0x0f})},
      {Dialect::kU32BE, max32, true, Bytes({0xff, 0xff, 0xff, 0xff})},
      {Dialect::kVarint32, max32 + 1, false, ""},
      {Dialect::kU32BE, max32 + 1, false, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(DialectName(c.dialect), ", payload ", c.size));
    absl::StatusOr<EncodedFrame> frame =
        FrameEncoder(Options(c.dialect, false, limits)).Encode(Envelope(), HugeCord(c.size));
    if (c.ok) {
      ASSERT_TRUE(frame.ok()) << frame.status();
      EXPECT_EQ(absl::BytesToHexString(frame->prefix()), absl::BytesToHexString(c.prefix));
    } else {
      ASSERT_FALSE(frame.ok());
      ExpectFrameError(frame.status(), FrameErrorCode::kPayloadTooLarge);
      EXPECT_THAT(std::string(frame.status().message()), HasSubstr("4294967295"));
    }
  }
  // The native header has 64 bits for the length.
  absl::StatusOr<EncodedFrame> native =
      FrameEncoder(Options(Dialect::kNative, false, limits))
          .Encode(Envelope(), HugeCord(max32 + 2));
  ASSERT_TRUE(native.ok()) << native.status();
  absl::StatusOr<FrameHeader> header = ParseFrameHeader(native->prefix(), limits, 0);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->payload_length, max32 + 2);
}

TEST(FrameEncoderLimitsTest, EnvelopeLimitBoundary) {
  struct Case {
    uint32_t limit;
    size_t size;
  };
  const Case cases[] = {{100, 99},     {100, 100},     {100, 101},
                        {65536, 65535}, {65536, 65536}, {65536, 65537}};
  for (const Case& c : cases) {
    for (bool checksum : {false, true}) {
      SCOPED_TRACE(absl::StrCat("envelope ", c.size, ", limit ", c.limit, ", checksum ",
                                checksum));
      FrameLimits limits;
      limits.max_envelope_bytes = c.limit;
      const Envelope envelope = EnvelopeOfSize(c.size);
      ASSERT_EQ(envelope.ByteSizeLong(), c.size);
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder(Options(Dialect::kNative, checksum, limits))
              .Encode(envelope, absl::Cord("p"));
      if (c.size <= c.limit) {
        ASSERT_TRUE(frame.ok()) << frame.status();
        EXPECT_EQ(frame->prefix().size(), kHeaderSize + c.size);
      } else {
        ASSERT_FALSE(frame.ok());
        ExpectFrameError(frame.status(), FrameErrorCode::kEnvelopeTooLarge);
        EXPECT_EQ(frame.status().code(), absl::StatusCode::kResourceExhausted);
        EXPECT_THAT(std::string(frame.status().message()), HasSubstr(absl::StrCat(c.size)));
        EXPECT_THAT(std::string(frame.status().message()), HasSubstr(absl::StrCat(c.limit)));
      }
    }
  }
}

// EncodeAppend() writes exactly what Encode() then AppendTo() gives, for
// every dialect, with and without checksum, for compact envelopes (the
// hand-written path), full ones, sorted maps and unknown fields, and for
// payloads of several chunks, given as a Cord or in one piece; on error the
// string is left as it was.
TEST(FrameEncoderTest, EncodeAppendEqualsEncodeThenAppendTo) {
  Envelope compact;
  compact.set_id(300);
  compact.set_kind(KIND_RESPONSE);
  Envelope negative_kind;
  negative_kind.set_kind(static_cast<Kind>(-1));
  Envelope two_keys = SampleEnvelope();
  (*two_keys.mutable_metadata())["a"] = "first";
  Envelope unknown;
  ASSERT_TRUE(unknown.ParseFromString(std::string("\x08\x05\x78\x01", 4)));  // id + field 15
  const struct {
    const char* name;
    Envelope envelope;
  } envelopes[] = {{"empty", Envelope()},     {"compact", compact},
                   {"negative kind", negative_kind}, {"sample", SampleEnvelope()},
                   {"two map keys", two_keys}, {"unknown field", unknown}};
  const absl::Cord payloads[] = {absl::Cord(), absl::Cord("x"), absl::Cord(PatternBytes(64, 3)),
                                 ChunkedCord({"ab", "", "cde", PatternBytes(5000, 4)})};
  for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
    for (bool checksum : {false, true}) {
      const FrameEncoder encoder(Options(d, checksum));
      for (const auto& e : envelopes) {
        for (const absl::Cord& payload : payloads) {
          SCOPED_TRACE(absl::StrCat(DialectName(d), checksum ? " checksum " : " ", e.name,
                                    " payload ", payload.size()));
          absl::StatusOr<EncodedFrame> frame = encoder.Encode(e.envelope, payload);
          std::string appended = "already here";
          absl::Status status = encoder.EncodeAppend(e.envelope, payload, &appended);
          ASSERT_EQ(status.ok(), frame.ok()) << status;
          if (!frame.ok()) {
            EXPECT_EQ(status, frame.status());
            EXPECT_EQ(appended, "already here");
            continue;
          }
          EXPECT_EQ(absl::CEscape(appended), absl::CEscape("already here" + frame->ToString()));
          // The same frame from the payload in one piece.
          const std::string flat(payload);
          std::string from_view = "already here";
          ASSERT_TRUE(encoder.EncodeAppend(e.envelope, absl::string_view(flat), &from_view).ok());
          EXPECT_EQ(absl::CEscape(from_view), absl::CEscape(appended));
        }
      }
    }
  }
  FrameLimits small;
  small.max_payload_bytes = 10;
  small.max_envelope_bytes = 4;
  const FrameEncoder limited(Options(Dialect::kNative, false, small));
  for (const auto& [envelope, payload, code] :
       {std::make_tuple(Envelope(), absl::Cord(PatternBytes(11, 1)),
                        FrameErrorCode::kPayloadTooLarge),
        std::make_tuple(SampleEnvelope(), absl::Cord("x"), FrameErrorCode::kEnvelopeTooLarge)}) {
    std::string out = "kept";
    ExpectFrameError(limited.EncodeAppend(envelope, payload, &out), code);
    EXPECT_EQ(out, "kept");
    const std::string flat(payload);
    ExpectFrameError(limited.EncodeAppend(envelope, absl::string_view(flat), &out), code);
    EXPECT_EQ(out, "kept");
  }
}

TEST(FrameEncoderTest, InteropDialectsCarryNoEnvelope) {
  for (Dialect d : {Dialect::kVarint32, Dialect::kU32BE}) {
    SCOPED_TRACE(DialectName(d));
    absl::StatusOr<EncodedFrame> frame =
        FrameEncoder(Options(d)).Encode(SampleEnvelope(), absl::Cord("x"));
    ASSERT_FALSE(frame.ok());
    ExpectFrameError(frame.status(), FrameErrorCode::kEnvelopeNotSupported);
    EXPECT_THAT(std::string(frame.status().message()), HasSubstr(std::string(DialectName(d))));
    // An envelope with only default values serializes to nothing: accepted.
    Envelope defaults;
    defaults.set_id(0);
    defaults.set_kind(KIND_UNSPECIFIED);
    EXPECT_TRUE(FrameEncoder(Options(d)).Encode(defaults, absl::Cord("x")).ok());
  }
}

TEST(FrameEncoderTest, InvalidLimitsAreRefused) {
  FrameLimits bad_payload;
  bad_payload.max_payload_bytes = FrameLimits::kMaxPayloadLimit + 1;
  FrameLimits bad_envelope;
  bad_envelope.max_envelope_bytes = FrameLimits::kMaxEnvelopeLimit + 1;
  for (const FrameLimits& limits : {bad_payload, bad_envelope}) {
    for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
      SCOPED_TRACE(DialectName(d));
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder(Options(d, false, limits)).Encode(Envelope(), absl::Cord("x"));
      ASSERT_FALSE(frame.ok());
      EXPECT_EQ(frame.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace lpframe
