#include "lib/compact_envelope.h"

#include <cstdint>
#include <type_traits>
#include <utility>

namespace lpframe {
namespace {

constexpr unsigned char kIdTag = (Envelope::kIdFieldNumber << 3) | 0;      // varint
constexpr unsigned char kKindTag = (Envelope::kKindFieldNumber << 3) | 0;  // varint
// The hand parser knows exactly this schema: a change to envelope.proto
// must fail the build here rather than make the two parsers disagree.
static_assert(Envelope::kIdFieldNumber == 1 && Envelope::kKindFieldNumber == 2);
static_assert(std::is_same_v<decltype(std::declval<Envelope>().id()), uint64_t>);
static_assert(std::is_same_v<decltype(std::declval<Envelope>().kind()), Kind>);
// Varints longer than this go to protobuf (its rules for the 10th byte).
constexpr int kMaxFastVarintBytes = 9;

}  // namespace

bool ParseCompactEnvelope(absl::string_view bytes, Envelope* out) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* const end = p + bytes.size();
  uint64_t id = 0;
  uint64_t kind = 0;
  while (p != end) {
    const unsigned char tag = *p++;
    if (tag != kIdTag && tag != kKindTag) return false;
    uint64_t value = 0;
    for (int i = 0;; ++i) {
      if (p == end || i == kMaxFastVarintBytes) return false;
      const unsigned char byte = *p++;
      value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) break;
    }
    (tag == kIdTag ? id : kind) = value;
  }
  out->Clear();
  out->set_id(id);
  // As protobuf does: an enum varint keeps its low 32 bits.
  out->set_kind(static_cast<Kind>(static_cast<int32_t>(static_cast<uint32_t>(kind))));
  return true;
}

}  // namespace lpframe
