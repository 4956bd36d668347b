// Tests for the native header layout, header checks and varint32 prefixes
// (PROTOCOL.md §2, §3).
#include "lib/wire_format.h"

#include <xxhash.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/frame_limits.h"

namespace lpframe {

void PrintTo(FrameErrorCode code, std::ostream* os) { *os << FrameErrorCodeName(code); }

namespace {

using ::testing::HasSubstr;

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }
std::string Unhex(absl::string_view hex) { return absl::HexStringToBytes(hex); }

std::string Header(const FrameHeader& h) {
  std::string out(kHeaderSize, '\0');
  EncodeFrameHeader(h, &out[0]);
  return out;
}

FrameHeader MakeHeader(uint64_t payload, uint32_t envelope = 0, uint16_t flags = 0,
                       uint16_t version = kVersion) {
  FrameHeader h;
  h.version = version;
  h.flags = flags;
  h.envelope_length = envelope;
  h.payload_length = payload;
  return h;
}

// Replaces bytes 20..23 with the check of bytes 0..19.
void Recheck(std::string* header) {
  StoreBigEndian32(static_cast<uint32_t>(XXH3_64bits(header->data(), 20)), &(*header)[20]);
}

TEST(WireFormatTest, BigEndian) {
  struct Case {
    uint64_t value;
    std::string be64;
  };
  const Case cases[] = {
      {0, "0000000000000000"},
      {5, "0000000000000005"},
      {0x0102030405060708ull, "0102030405060708"},
      {0x8000000000000000ull, "8000000000000000"},
      {0xfffffffffffffffeull, "fffffffffffffffe"},
      {0x00000000ff00ff80ull, "00000000ff00ff80"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.be64);
    // Odd offset: nothing may assume alignment.
    char buf[1 + 8] = {};
    StoreBigEndian64(c.value, buf + 1);
    EXPECT_EQ(Hex(absl::string_view(buf + 1, 8)), c.be64);
    EXPECT_EQ(LoadBigEndian64(buf + 1), c.value);
    const uint32_t v32 = static_cast<uint32_t>(c.value);
    StoreBigEndian32(v32, buf + 1);
    EXPECT_EQ(Hex(absl::string_view(buf + 1, 4)), c.be64.substr(8));
    EXPECT_EQ(LoadBigEndian32(buf + 1), v32);
    const uint16_t v16 = static_cast<uint16_t>(c.value);
    StoreBigEndian16(v16, buf + 1);
    EXPECT_EQ(Hex(absl::string_view(buf + 1, 2)), c.be64.substr(12));
    EXPECT_EQ(LoadBigEndian16(buf + 1), v16);
  }
  // Bytes with the top bit set must not sign-extend.
  const std::string ff = Unhex("ffffffffffffffff");
  EXPECT_EQ(LoadBigEndian16(ff.data()), 0xffffu);
  EXPECT_EQ(LoadBigEndian32(ff.data()), 0xffffffffu);
  EXPECT_EQ(LoadBigEndian64(ff.data()), ~uint64_t{0});
  const std::string mixed = Unhex("80ff7f0180ff7f01");
  EXPECT_EQ(LoadBigEndian32(mixed.data()), 0x80ff7f01u);
  EXPECT_EQ(LoadBigEndian64(mixed.data()), 0x80ff7f0180ff7f01ull);
}

TEST(WireFormatTest, HeaderLayout) {
  const std::string h = Header(MakeHeader(0x0102030405060708ull, 0x0a0b0c0d, 0x0001));
  EXPECT_EQ(Hex(h.substr(0, 20)), "4c504652" "0001" "0001" "0a0b0c0d" "0102030405060708");
  EXPECT_EQ(LoadBigEndian32(h.data() + 20), static_cast<uint32_t>(XXH3_64bits(h.data(), 20)));
  EXPECT_EQ(ComputeHeaderCheck(h.data()), static_cast<uint32_t>(XXH3_64bits(h.data(), 20)));
  // PROTOCOL.md §3.1 examples 1 and 3.
  EXPECT_EQ(Hex(Header(MakeHeader(5, 4))),
            "4c5046520001000000000004000000000000000507f8e147");
  EXPECT_EQ(Hex(Header(MakeHeader(5, 4, kFlagChecksum))),
            "4c504652000100010000000400000000000000053d3c3ad2");
  EXPECT_EQ(Hex(Header(MakeHeader(0))), "4c50465200010000000000000000000000000000a7af474d");
  // The header check covers bytes 0..19 only.
  std::string tail_changed = h;
  tail_changed[23] ^= 1;
  EXPECT_EQ(ComputeHeaderCheck(tail_changed.data()), ComputeHeaderCheck(h.data()));
}

// ComputeHeaderCheck hashes inline; it must agree with libxxhash's XXH3-64
// (what other implementations of the format use) on any 20 bytes.
TEST(WireFormatTest, HeaderCheckIsLibxxhashsXxh3OnRandomHeaders) {
  std::mt19937_64 random(20261205);
  for (int i = 0; i < 10000; ++i) {
    char bytes[kHeaderSize];
    for (char& b : bytes) b = static_cast<char>(random());
    ASSERT_EQ(ComputeHeaderCheck(bytes), static_cast<uint32_t>(XXH3_64bits(bytes, 20)))
        << Hex(std::string(bytes, 20));
  }
}

TEST(WireFormatTest, ParseRoundTrip) {
  FrameLimits big;
  big.max_payload_bytes = FrameLimits::kMaxPayloadLimit;
  big.max_envelope_bytes = FrameLimits::kMaxEnvelopeLimit;
  const FrameHeader cases[] = {
      MakeHeader(0),
      MakeHeader(1, 1, kFlagChecksum),
      MakeHeader(FrameLimits::kMaxPayloadLimit, FrameLimits::kMaxEnvelopeLimit, kFlagChecksum),
      MakeHeader(0x00ff00ff00ff00ffull, 0x00ff00ff & 0x3ffffff),
  };
  for (const FrameHeader& want : cases) {
    SCOPED_TRACE(absl::StrCat(want.payload_length, "/", want.envelope_length, "/", want.flags));
    absl::StatusOr<FrameHeader> got = ParseFrameHeader(Header(want), big, 0);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->version, want.version);
    EXPECT_EQ(got->flags, want.flags);
    EXPECT_EQ(got->envelope_length, want.envelope_length);
    EXPECT_EQ(got->payload_length, want.payload_length);
    EXPECT_EQ(got->has_checksum(), (want.flags & kFlagChecksum) != 0);
  }
  // Bytes after the 24 header bytes are not looked at.
  EXPECT_TRUE(ParseFrameHeader(Header(MakeHeader(3)) + "extra", FrameLimits(), 0).ok());
  EXPECT_FALSE(ParseFrameHeader(Header(MakeHeader(3)).substr(0, 23), FrameLimits(), 0).ok());
}

// PROTOCOL.md §3.8: the checks and their order.
TEST(WireFormatTest, ParseErrors) {
  FrameLimits limits;
  limits.max_payload_bytes = 1000;
  limits.max_envelope_bytes = 100;
  auto with_version = [](uint16_t v) {  // header check left as for version 1
    std::string h = Header(MakeHeader(1));
    StoreBigEndian16(v, &h[4]);
    return h;
  };
  auto with_flags = [](uint16_t flags, bool recheck) {
    std::string h = Header(MakeHeader(1));
    StoreBigEndian16(flags, &h[6]);
    if (recheck) Recheck(&h);
    return h;
  };
  struct Case {
    const char* name;
    std::string header;
    FrameErrorCode code;  // kNone: accepted
    std::string in_message;
  };
  std::string bad_magic = Header(MakeHeader(1));
  bad_magic[3] = 'X';
  std::string http = "GET /index.html HTTP/1.1";
  std::string flipped_length = Header(MakeHeader(1));
  flipped_length[19] ^= 0x40;
  std::string flipped_check = Header(MakeHeader(1));
  flipped_check[22] ^= 0x01;
  const Case cases[] = {
      {"valid", Header(MakeHeader(1)), FrameErrorCode::kNone, ""},
      {"bad magic (check not recomputed)", bad_magic, FrameErrorCode::kBadMagic, "LPFR"},
      {"http", http, FrameErrorCode::kForeignProtocol, "HTTP"},
      {"version 2 before the header check", with_version(2),
       FrameErrorCode::kUnsupportedVersion, "version 2"},
      {"version 0", with_version(0), FrameErrorCode::kUnsupportedVersion, "version 0"},
      {"flipped payload length", flipped_length, FrameErrorCode::kHeaderCorrupt, ""},
      {"flipped header check", flipped_check, FrameErrorCode::kHeaderCorrupt, ""},
      {"reserved flag without recheck", with_flags(2, false), FrameErrorCode::kHeaderCorrupt,
       ""},
      {"reserved flag", with_flags(2, true), FrameErrorCode::kReservedFlags, "0x0002"},
      {"all flags", with_flags(0xffff, true), FrameErrorCode::kReservedFlags, "0xfffe"},
      {"envelope at the limit", Header(MakeHeader(1, 100)), FrameErrorCode::kNone, ""},
      {"envelope over the limit", Header(MakeHeader(1, 101)),
       FrameErrorCode::kEnvelopeTooLarge, "101"},
      {"payload at the limit", Header(MakeHeader(1000)), FrameErrorCode::kNone, ""},
      {"payload over the limit", Header(MakeHeader(1001)), FrameErrorCode::kPayloadTooLarge,
       "1001"},
      {"both over: envelope first", Header(MakeHeader(1001, 101)),
       FrameErrorCode::kEnvelopeTooLarge, "101"},
      {"reserved flag and over limit: flags first", Header(MakeHeader(1001, 101, 4)),
       FrameErrorCode::kReservedFlags, ""},
      {"payload 2^64-1", Header(MakeHeader(~uint64_t{0})), FrameErrorCode::kPayloadTooLarge,
       "18446744073709551615"},
      {"envelope 2^32-1", Header(MakeHeader(0, 0xffffffffu)),
       FrameErrorCode::kEnvelopeTooLarge, "4294967295"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<FrameHeader> got = ParseFrameHeader(c.header, limits, 4242);
    if (c.code == FrameErrorCode::kNone) {
      EXPECT_TRUE(got.ok()) << got.status();
      continue;
    }
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(GetFrameErrorCode(got.status()), c.code) << got.status();
    EXPECT_EQ(got.status().code(), CanonicalCodeFor(c.code));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("stream offset 4242"));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.in_message));
  }
}

TEST(WireFormatTest, CheckHeaderPrefix) {
  struct Case {
    std::string bytes;
    bool at_eof;
    FrameErrorCode code;  // kNone: OK
  };
  const std::string v1 = Header(MakeHeader(0));
  const Case cases[] = {
      {"", false, FrameErrorCode::kNone},
      {"L", false, FrameErrorCode::kNone},
      {"LPF", true, FrameErrorCode::kNone},
      {"LPFR", false, FrameErrorCode::kNone},
      {v1.substr(0, 5), false, FrameErrorCode::kNone},
      {v1.substr(0, 6), false, FrameErrorCode::kNone},
      {v1.substr(0, 23), true, FrameErrorCode::kNone},
      {v1, true, FrameErrorCode::kNone},
      {std::string("LPFR\x00\x02", 6), false, FrameErrorCode::kUnsupportedVersion},
      {std::string("LPFR\x01\x01", 6), true, FrameErrorCode::kUnsupportedVersion},
      {std::string("LPFR\x00", 5), false, FrameErrorCode::kNone},  // version not known yet
      {"X", false, FrameErrorCode::kBadMagic},
      {"LX", false, FrameErrorCode::kBadMagic},
      {"LPFX", false, FrameErrorCode::kBadMagic},
      {"PX", false, FrameErrorCode::kBadMagic},
      {"G", false, FrameErrorCode::kNone},  // could become "GET "
      {"GE", false, FrameErrorCode::kNone},
      {"GET", false, FrameErrorCode::kNone},
      {"G", true, FrameErrorCode::kBadMagic},
      {"GET", true, FrameErrorCode::kBadMagic},
      {"GEX", false, FrameErrorCode::kBadMagic},
      {"GET ", false, FrameErrorCode::kForeignProtocol},
      {"GET ", true, FrameErrorCode::kForeignProtocol},
      {"HTTP/1.1 200 OK", false, FrameErrorCode::kForeignProtocol},
      {std::string("\x16", 1), false, FrameErrorCode::kNone},
      {std::string("\x16\x03", 2), false, FrameErrorCode::kNone},
      {std::string("\x16\x03", 2), true, FrameErrorCode::kBadMagic},
      {std::string("\x16\x03\x01", 3), false, FrameErrorCode::kForeignProtocol},
      {std::string("\x16\x03\x05", 3), false, FrameErrorCode::kBadMagic},
      {"SSH-2.0", false, FrameErrorCode::kForeignProtocol},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("\"", absl::CHexEscape(c.bytes), "\" at_eof=", c.at_eof));
    absl::Status s = CheckHeaderPrefix(c.bytes, 77, c.at_eof);
    EXPECT_EQ(GetFrameErrorCode(s), c.code) << s;
    if (c.code != FrameErrorCode::kNone) {
      EXPECT_THAT(std::string(s.message()), HasSubstr("stream offset 77"));
    }
  }
}

TEST(WireFormatTest, Varint32EncodeDecode) {
  struct Case {
    uint32_t value;
    std::string hex;
  };
  const Case cases[] = {
      {0, "00"},
      {1, "01"},
      {5, "05"},
      {127, "7f"},
      {128, "8001"},
      {300, "ac02"},
      {16383, "ff7f"},
      {16384, "808001"},
      {(1u << 21) - 1, "ffff7f"},
      {1u << 21, "80808001"},
      {(1u << 28) - 1, "ffffff7f"},
      {1u << 28, "8080808001"},
      {0x7fffffffu, "ffffffff07"},
      {0xffffffffu, "ffffffff0f"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hex);
    char buf[kMaxVarint32Bytes + 1];
    const size_t n = EncodeVarint32(c.value, buf);
    EXPECT_EQ(Hex(absl::string_view(buf, n)), c.hex);
    const std::string bytes = Unhex(c.hex);
    // Every proper prefix is incomplete; the whole is complete, trailing
    // bytes are not part of it.
    for (size_t k = 0; k < bytes.size(); ++k) {
      absl::StatusOr<Varint32Prefix> p = DecodeVarint32Prefix(bytes.substr(0, k), 0);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_FALSE(p->complete) << "prefix of " << k;
    }
    absl::StatusOr<Varint32Prefix> p = DecodeVarint32Prefix(bytes + "\xff\x01", 0);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->complete);
    EXPECT_EQ(p->size, bytes.size());
    EXPECT_EQ(p->value, c.value);
  }
}

TEST(WireFormatTest, Varint32NonMinimalAndMalformed) {
  struct Case {
    std::string hex;
    FrameErrorCode code;
    uint32_t value;
    size_t size;
  };
  const Case cases[] = {
      {"8500", FrameErrorCode::kNone, 5, 2},  // PROTOCOL.md §2.2
      {"8080808000", FrameErrorCode::kNone, 0, 5},
      {"ffffffff0f", FrameErrorCode::kNone, 0xffffffffu, 5},
      {"ffffffff8f", FrameErrorCode::kMalformedLength, 0, 0},
      {"ffffffff10", FrameErrorCode::kMalformedLength, 0, 0},
      {"8080808080", FrameErrorCode::kMalformedLength, 0, 0},
      {"80808080ff01", FrameErrorCode::kMalformedLength, 0, 0},
      {"8080808070", FrameErrorCode::kMalformedLength, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hex);
    absl::StatusOr<Varint32Prefix> p = DecodeVarint32Prefix(Unhex(c.hex), 99);
    if (c.code == FrameErrorCode::kNone) {
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_TRUE(p->complete);
      EXPECT_EQ(p->value, c.value);
      EXPECT_EQ(p->size, c.size);
    } else {
      ASSERT_FALSE(p.ok());
      EXPECT_EQ(GetFrameErrorCode(p.status()), c.code);
      EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(p.status().message()), HasSubstr("stream offset 99"));
      // Four bytes are not enough to decide.
      absl::StatusOr<Varint32Prefix> four = DecodeVarint32Prefix(Unhex(c.hex).substr(0, 4), 99);
      ASSERT_TRUE(four.ok());
      EXPECT_FALSE(four->complete);
    }
  }
}

}  // namespace
}  // namespace lpframe
