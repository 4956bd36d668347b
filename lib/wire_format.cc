#include "lib/wire_format.h"

// The 20-byte header check is hashed inline (the same XXH3-64 as the
// library's; wire_format_test compares them): no call into libxxhash for
// every frame sent and received.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/foreign_protocol.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

unsigned char Byte(const char* p, int i) { return static_cast<unsigned char>(p[i]); }

absl::string_view MagicView() { return absl::string_view(kMagic, sizeof(kMagic)); }

absl::Status MagicError(absl::string_view bytes, uint64_t stream_offset) {
  absl::string_view foreign = DescribeForeignProtocol(bytes);
  if (!foreign.empty()) {
    return MakeFrameError(
        FrameErrorCode::kForeignProtocol,
        absl::StrCat("the peer is not speaking lpframe: the bytes at stream offset ",
                     stream_offset, " (\"", EscapeBytesForMessage(bytes, 16),
                     "\") look like ", foreign,
                     "; expected the frame magic \"LPFR\""));
  }
  return MakeFrameError(
      FrameErrorCode::kBadMagic,
      absl::StrCat("expected the frame magic \"LPFR\" at stream offset ", stream_offset,
                   ", got \"", EscapeBytesForMessage(bytes.substr(0, 4), 4),
                   "\" (decoder state: frame header, ", bytes.size(), " of ",
                   kHeaderSize, " header bytes buffered)"));
}

}  // namespace

uint16_t LoadBigEndian16(const char* p) {
  return static_cast<uint16_t>((Byte(p, 0) << 8) | Byte(p, 1));
}
uint32_t LoadBigEndian32(const char* p) {
  return (uint32_t{Byte(p, 0)} << 24) | (uint32_t{Byte(p, 1)} << 16) |
         (uint32_t{Byte(p, 2)} << 8) | uint32_t{Byte(p, 3)};
}
uint64_t LoadBigEndian64(const char* p) {
  return (uint64_t{LoadBigEndian32(p)} << 32) | LoadBigEndian32(p + 4);
}
void StoreBigEndian16(uint16_t v, char* p) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
void StoreBigEndian32(uint32_t v, char* p) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}
void StoreBigEndian64(uint64_t v, char* p) {
  StoreBigEndian32(static_cast<uint32_t>(v >> 32), p);
  StoreBigEndian32(static_cast<uint32_t>(v), p + 4);
}

uint32_t ComputeHeaderCheck(const char* header) {
  return static_cast<uint32_t>(XXH3_64bits(header, kHeaderCheckedBytes));
}

void EncodeFrameHeader(const FrameHeader& header, char* out) {
  for (size_t i = 0; i < sizeof(kMagic); ++i) out[i] = kMagic[i];
  StoreBigEndian16(header.version, out + 4);
  StoreBigEndian16(header.flags, out + 6);
  StoreBigEndian32(header.envelope_length, out + 8);
  StoreBigEndian64(header.payload_length, out + 12);
  StoreBigEndian32(ComputeHeaderCheck(out), out + 20);
}

absl::Status CheckHeaderPrefix(absl::string_view bytes, uint64_t stream_offset,
                               bool at_eof) {
  const size_t n = std::min(bytes.size(), sizeof(kMagic));
  if (bytes.substr(0, n) != MagicView().substr(0, n)) {
    // Wait for a foreign signature to complete so the verdict does not
    // depend on how the bytes were split.
    if (!at_eof && bytes.size() < kHeaderSize && IsForeignProtocolPrefix(bytes)) {
      return absl::OkStatus();
    }
    return MagicError(bytes, stream_offset);
  }
  if (bytes.size() >= 6) {
    const uint16_t version = LoadBigEndian16(bytes.data() + 4);
    if (version != kVersion) {
      return MakeFrameError(
          FrameErrorCode::kUnsupportedVersion,
          absl::StrCat("frame at stream offset ", stream_offset, " has version ",
                       version, "; this decoder speaks version ", kVersion));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FrameHeader> ParseFrameHeader(absl::string_view bytes,
                                             const FrameLimits& limits,
                                             uint64_t stream_offset) {
  if (bytes.size() < kHeaderSize) {
    return absl::InternalError("ParseFrameHeader needs kHeaderSize bytes");
  }
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0 || LoadBigEndian16(p + 4) != kVersion) {
    absl::Status prefix = CheckHeaderPrefix(bytes.substr(0, kHeaderSize), stream_offset,
                                            /*at_eof=*/true);
    if (!prefix.ok()) return prefix;
  }
  const uint32_t check = LoadBigEndian32(p + 20);
  const uint32_t expected = ComputeHeaderCheck(p);
  if (check != expected) {
    return MakeFrameError(
        FrameErrorCode::kHeaderCorrupt,
        absl::StrFormat("header check mismatch in the frame at stream offset %d: "
                        "header says 0x%08x, bytes 0..19 hash to 0x%08x (a header "
                        "byte was altered in transit or by the sender)",
                        stream_offset, check, expected));
  }
  FrameHeader header;
  header.version = LoadBigEndian16(p + 4);
  header.flags = LoadBigEndian16(p + 6);
  header.envelope_length = LoadBigEndian32(p + 8);
  header.payload_length = LoadBigEndian64(p + 12);
  if ((header.flags & ~kKnownFlags) != 0) {
    return MakeFrameError(
        FrameErrorCode::kReservedFlags,
        absl::StrFormat("frame at stream offset %d sets reserved flag bits 0x%04x "
                        "(flags 0x%04x; only 0x%04x is defined in version 1)",
                        stream_offset, header.flags & ~kKnownFlags, header.flags,
                        kKnownFlags));
  }
  if (header.envelope_length > limits.max_envelope_bytes) {
    return MakeFrameError(
        FrameErrorCode::kEnvelopeTooLarge,
        absl::StrCat("frame at stream offset ", stream_offset, " declares a ",
                     header.envelope_length, "-byte envelope; the limit is ",
                     limits.max_envelope_bytes,
                     " bytes (FrameLimits::max_envelope_bytes); rejected on the header, "
                     "before reading the envelope"));
  }
  if (header.payload_length > limits.max_payload_bytes) {
    return MakeFrameError(
        FrameErrorCode::kPayloadTooLarge,
        absl::StrCat("frame at stream offset ", stream_offset, " declares a ",
                     header.payload_length, "-byte payload; the limit is ",
                     limits.max_payload_bytes,
                     " bytes (FrameLimits::max_payload_bytes); rejected on the header, "
                     "before reading the payload"));
  }
  return header;
}

size_t EncodeVarint32(uint32_t value, char* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<char>(value);
  return n;
}

absl::StatusOr<Varint32Prefix> DecodeVarint32Prefix(absl::string_view bytes,
                                                    uint64_t stream_offset) {
  Varint32Prefix result;
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size() && i < kMaxVarint32Bytes; ++i) {
    const unsigned char b = static_cast<unsigned char>(bytes[i]);
    if (i == kMaxVarint32Bytes - 1 && b > 0x0f) {
      return MakeFrameError(
          FrameErrorCode::kMalformedLength,
          absl::StrFormat("malformed varint32 length prefix at stream offset %d: "
                          "byte 5 is 0x%02x (%s); a varint32 ends by its 5th byte "
                          "and holds at most 32 bits",
                          stream_offset, b,
                          (b & 0x80) ? "continuation bit set" : "value above 2^32-1"));
    }
    value |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) {
      result.complete = true;
      result.size = i + 1;
      result.value = static_cast<uint32_t>(value);
      return result;
    }
  }
  return result;
}

}  // namespace lpframe
