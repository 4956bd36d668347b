// File: lib/frame_limits.h
//
// Size limits shared by senders and receivers (docs/PROTOCOL.md section 6).
// A receiver rejects a frame whose header declares more than a limit as soon
// as the header is complete, before buffering any of the body; a sender
// refuses to encode such a frame, before writing any byte of it.
#ifndef LPFRAME_LIB_FRAME_LIMITS_H_
#define LPFRAME_LIB_FRAME_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace lpframe {

struct FrameLimits {
  static constexpr uint64_t kDefaultMaxPayloadBytes = uint64_t{64} << 20;  // 64 MiB
  static constexpr uint32_t kDefaultMaxEnvelopeBytes = uint32_t{64} << 10;  // 64 KiB
  // Largest configurable payload limit: keeps every offset sum far from
  // uint64 overflow. Declared lengths above it are always rejected.
  static constexpr uint64_t kMaxPayloadLimit = uint64_t{1} << 62;
  // Largest configurable envelope limit (protobuf parses at most 2 GiB).
  static constexpr uint32_t kMaxEnvelopeLimit = uint32_t{64} << 20;

  uint64_t max_payload_bytes = kDefaultMaxPayloadBytes;
  uint32_t max_envelope_bytes = kDefaultMaxEnvelopeBytes;

  // InvalidArgument when a limit is above its k*Limit ceiling.
  absl::Status Validate() const;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_FRAME_LIMITS_H_
