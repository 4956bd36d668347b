// File: lib/wire_format.h
//
// Byte layout of the native lpframe v1 frame (docs/PROTOCOL.md section 3).
// All integers are unsigned and big-endian; they are read and written with
// shifts, never through a cast pointer.
//
//   offset size field
//   ------ ---- ---------------------------------------------------------
//        0    4 magic            "LPFR" (4C 50 46 52)
//        4    2 version          1
//        6    2 flags            bit 0: CHECKSUM; bits 1-15 reserved, zero
//        8    4 envelope_length  bytes of the Envelope protobuf that follows
//       12    8 payload_length   bytes of raw payload after the envelope
//       20    4 header_check     low 32 bits of XXH3-64 over bytes 0..19
//       24      envelope, then payload, then (if CHECKSUM) an 8-byte
//               XXH3-64 of envelope||payload, big-endian
#ifndef LPFRAME_LIB_WIRE_FORMAT_H_
#define LPFRAME_LIB_WIRE_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/frame_limits.h"

namespace lpframe {

inline constexpr char kMagic[4] = {'L', 'P', 'F', 'R'};
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 24;
inline constexpr size_t kHeaderCheckedBytes = 20;
inline constexpr size_t kChecksumTrailerSize = 8;
inline constexpr uint16_t kFlagChecksum = 0x0001;
inline constexpr uint16_t kKnownFlags = kFlagChecksum;
inline constexpr size_t kMaxVarint32Bytes = 5;
inline constexpr size_t kU32PrefixSize = 4;

struct FrameHeader {
  uint16_t version = kVersion;
  uint16_t flags = 0;
  uint32_t envelope_length = 0;
  uint64_t payload_length = 0;

  bool has_checksum() const { return (flags & kFlagChecksum) != 0; }
};

// Big-endian loads and stores on unaligned bytes.
uint16_t LoadBigEndian16(const char* p);
uint32_t LoadBigEndian32(const char* p);
uint64_t LoadBigEndian64(const char* p);
void StoreBigEndian16(uint16_t v, char* p);
void StoreBigEndian32(uint32_t v, char* p);
void StoreBigEndian64(uint64_t v, char* p);

// Low 32 bits of XXH3-64 over the first kHeaderCheckedBytes of `header`.
uint32_t ComputeHeaderCheck(const char* header);

// Writes the 24 header bytes of `header` (magic, fields, header_check) to
// `out`, which must have room for kHeaderSize bytes.
void EncodeFrameHeader(const FrameHeader& header, char* out);

// Checks the first bytes of a native header as they arrive (any length up
// to kHeaderSize), so a wrong magic or version fails before the header is
// complete. `stream_offset` is where the header starts, for messages.
// Returns OK when the bytes so far are consistent with a v1 header or the
// verdict depends on bytes not yet seen. With `at_eof`, no more bytes will
// come: an undecided wrong magic is then reported as such.
// Errors: kBadMagic, kForeignProtocol, kUnsupportedVersion.
absl::Status CheckHeaderPrefix(absl::string_view bytes, uint64_t stream_offset,
                               bool at_eof);

// Parses and validates a complete header (kHeaderSize bytes): magic,
// version, header_check, reserved flags, then the lengths against `limits`.
// Errors: kBadMagic, kForeignProtocol, kUnsupportedVersion, kHeaderCorrupt,
// kReservedFlags, kEnvelopeTooLarge, kPayloadTooLarge.
absl::StatusOr<FrameHeader> ParseFrameHeader(absl::string_view header,
                                             const FrameLimits& limits,
                                             uint64_t stream_offset);

// Writes the varint32 encoding of `value` to `out` (room for 5 bytes);
// returns the number of bytes written.
size_t EncodeVarint32(uint32_t value, char* out);

// Result of reading a varint32 length prefix from the start of `bytes`.
struct Varint32Prefix {
  bool complete = false;  // false: more bytes are needed
  size_t size = 0;        // bytes of the prefix when complete
  uint32_t value = 0;
};

// Reads a varint32 prefix. Errors: kMalformedLength when a 5th byte has
// its continuation bit set or carries bits above 2^32-1.
absl::StatusOr<Varint32Prefix> DecodeVarint32Prefix(absl::string_view bytes,
                                                    uint64_t stream_offset);

}  // namespace lpframe

#endif  // LPFRAME_LIB_WIRE_FORMAT_H_
