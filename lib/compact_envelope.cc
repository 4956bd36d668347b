#include "lib/compact_envelope.h"

#include <cstdint>
#include <type_traits>
#include <utility>

#include "google/protobuf/io/coded_stream.h"

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

bool ScanCompactEnvelope(absl::string_view bytes, uint64_t* id, int32_t* kind) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* const end = p + bytes.size();
  uint64_t id_value = 0;
  uint64_t kind_value = 0;
  while (p != end) {
    const unsigned char tag = *p++;
    if (tag != kIdTag && tag != kKindTag) return false;
    if (p == end) return false;
    uint64_t value = *p++;
    if (value >= 0x80) {  // more than one byte (a one-byte value skips the loop)
      value &= 0x7f;
      for (int i = 1;; ++i) {
        if (p == end || i == kMaxFastVarintBytes) return false;
        const unsigned char byte = *p++;
        value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) break;
      }
    }
    (tag == kIdTag ? id_value : kind_value) = value;
  }
  *id = id_value;
  // As protobuf does: an enum varint keeps its low 32 bits.
  *kind = static_cast<int32_t>(static_cast<uint32_t>(kind_value));
  return true;
}

void SetCompactEnvelope(uint64_t id, int32_t kind, Envelope* out) {
  // Clear() costs less than finding out whether it is needed (ByteSizeLong:
  // 83 against 132 instructions per message under callgrind, 2026-12-05).
  out->Clear();
  out->set_id(id);
  out->set_kind(static_cast<Kind>(kind));
}

bool ParseCompactEnvelope(absl::string_view bytes, Envelope* out) {
  uint64_t id;
  int32_t kind;
  if (!ScanCompactEnvelope(bytes, &id, &kind)) return false;
  SetCompactEnvelope(id, kind, out);
  return true;
}

namespace {

using google::protobuf::io::CodedOutputStream;

// The kind as protobuf writes it: an int32 enum sign-extended to 64 bits.
uint64_t KindWireValue(const Envelope& envelope) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(envelope.kind())));
}

}  // namespace

bool IsCompactEnvelope(const Envelope& envelope) {
  return IsCompactEnvelope(envelope, envelope.ByteSizeLong());
}

bool IsCompactEnvelope(const Envelope& envelope, size_t byte_size) {
  // The generated class has no unknown_fields() accessor, and reflection's
  // would build the descriptor pool (code and memory a receiver otherwise
  // never touches): unknown fields show as bytes beyond id's and kind's.
  return envelope.content_type().empty() && envelope.metadata().empty() &&
         !envelope.has_status() && !envelope.has_chunk() &&
         byte_size == CompactEnvelopeSize(envelope);
}

void WriteCompactEnvelope(const Envelope& envelope, char* out) {
  // Field order, as protobuf writes them; fields at their default are absent.
  uint8_t* p = reinterpret_cast<uint8_t*>(out);
  if (envelope.id() != 0) {
    *p++ = kIdTag;
    p = CodedOutputStream::WriteVarint64ToArray(envelope.id(), p);
  }
  if (envelope.kind() != 0) {
    *p++ = kKindTag;
    CodedOutputStream::WriteVarint64ToArray(KindWireValue(envelope), p);
  }
}

size_t CompactEnvelopeSize(const Envelope& envelope) {
  size_t size = 0;
  if (envelope.id() != 0) size += 1 + CodedOutputStream::VarintSize64(envelope.id());
  if (envelope.kind() != 0) size += 1 + CodedOutputStream::VarintSize64(KindWireValue(envelope));
  return size;
}

}  // namespace lpframe
