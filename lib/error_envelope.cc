#include "lib/error_envelope.h"

#include <cstdint>
#include <string>

namespace lpframe {

Envelope ErrorEnvelope(const absl::Status& status) {
  Envelope envelope;
  envelope.set_kind(KIND_ERROR);
  envelope.mutable_status()->set_code(static_cast<int32_t>(status.code()));
  envelope.mutable_status()->set_message(std::string(status.message()));
  return envelope;
}

}  // namespace lpframe
