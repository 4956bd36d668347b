#include "lib/frame_limits.h"

#include "absl/strings/str_cat.h"

namespace lpframe {

absl::Status FrameLimits::Validate() const {
  if (max_payload_bytes > kMaxPayloadLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("FrameLimits::max_payload_bytes is ", max_payload_bytes,
                     "; the largest allowed value is ", kMaxPayloadLimit, " (2^62)"));
  }
  if (max_envelope_bytes > kMaxEnvelopeLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("FrameLimits::max_envelope_bytes is ", max_envelope_bytes,
                     "; the largest allowed value is ", kMaxEnvelopeLimit, " (64 MiB)"));
  }
  return absl::OkStatus();
}

}  // namespace lpframe
