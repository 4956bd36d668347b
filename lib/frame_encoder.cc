#include "lib/frame_encoder.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "lib/compact_envelope.h"
#include "lib/frame_error.h"
#include "lib/xxh3_digest.h"

namespace lpframe {
namespace {

absl::Status PayloadTooLarge(uint64_t payload_size, const FrameLimits& limits) {
  return MakeFrameError(
      FrameErrorCode::kPayloadTooLarge,
      absl::StrCat("refusing to send a ", payload_size, "-byte payload; the limit is ",
                   limits.max_payload_bytes,
                   " bytes (FrameLimits::max_payload_bytes); nothing was written"));
}

}  // namespace

void EncodedFrame::AppendSlices(std::vector<absl::string_view>* out) const {
  if (prefix_size_ > 0) out->push_back(prefix());
  for (absl::string_view chunk : payload_.Chunks()) {
    if (!chunk.empty()) out->push_back(chunk);
  }
  if (trailer_size_ > 0) out->push_back(trailer());
}

void EncodedFrame::AppendIovecs(std::vector<struct iovec>* out, size_t max_iovecs) const {
  size_t left = max_iovecs;
  // False once `max_iovecs` are appended: no later slice may follow.
  auto add = [out, &left](absl::string_view s) {
    if (s.empty()) return true;
    if (left == 0) return false;
    out->push_back({const_cast<char*>(s.data()), s.size()});
    --left;
    return true;
  };
  if (!add(prefix())) return;
  for (absl::string_view chunk : payload_.Chunks()) {
    if (!add(chunk)) return;
  }
  add(trailer());
}

void EncodedFrame::AppendTo(std::string* out) const {
  out->reserve(out->size() + size());
  out->append(prefix().data(), prefix().size());
  for (absl::string_view chunk : payload_.Chunks()) out->append(chunk.data(), chunk.size());
  out->append(trailer().data(), trailer().size());
}

std::string EncodedFrame::ToString() const {
  std::string out;
  AppendTo(&out);
  return out;
}

FrameEncoder::FrameEncoder(EncoderOptions options)
    : options_(std::move(options)), options_status_(options_.limits.Validate()) {}

absl::StatusOr<EncodedFrame> FrameEncoder::Encode(const Envelope& envelope,
                                                  absl::Cord payload) const {
  EncodedFrame frame;
  absl::Status status = EncodeTo(envelope, std::move(payload), &frame);
  if (!status.ok()) return status;
  return frame;
}

absl::Status FrameEncoder::EncodeTo(const Envelope& envelope, absl::Cord payload,
                                    EncodedFrame* out) const {
  out->trailer_size_ = 0;
  absl::Status status = EncodePrefix(envelope, payload.size(),
                                     [out](size_t n) { return out->PreparePrefix(n); });
  if (!status.ok()) return status;
  out->payload_ = std::move(payload);
  if (options_.checksum) {
    ComputeTrailer(out->prefix().substr(kHeaderSize), out->payload_, out->trailer_);
    out->trailer_size_ = kChecksumTrailerSize;
  }
  return absl::OkStatus();
}

namespace {

// Copies the payload's bytes to `to`.
void CopyPayload(const absl::Cord& payload, char* to) {
  if (absl::optional<absl::string_view> flat = payload.TryFlat()) {
    if (!flat->empty()) std::memcpy(to, flat->data(), flat->size());
    return;
  }
  for (absl::string_view chunk : payload.Chunks()) {
    std::memcpy(to, chunk.data(), chunk.size());
    to += chunk.size();
  }
}

void CopyPayload(absl::string_view payload, char* to) {
  if (!payload.empty()) std::memcpy(to, payload.data(), payload.size());
}

}  // namespace

absl::Status FrameEncoder::EncodeAppend(const Envelope& envelope, const absl::Cord& payload,
                                        std::string* out) const {
  return EncodeAppendImpl(envelope, payload, out);
}

absl::Status FrameEncoder::EncodeAppend(const Envelope& envelope, absl::string_view payload,
                                        std::string* out) const {
  return EncodeAppendImpl(envelope, payload, out);
}

template <typename Payload>
absl::Status FrameEncoder::EncodeAppendImpl(const Envelope& envelope, const Payload& payload,
                                            std::string* out) const {
  // The frame is written in place: EncodePrefix() calls prepare() only once
  // every check has passed, so on error *out is untouched.
  const size_t before = out->size();
  const size_t trailer = options_.checksum ? kChecksumTrailerSize : 0;
  char* prefix = nullptr;
  size_t prefix_size = 0;
  absl::Status status =
      EncodePrefix(envelope, payload.size(), [&](size_t n) {
        out->resize(before + n + payload.size() + trailer);
        prefix = &(*out)[before];
        prefix_size = n;
        return prefix;
      });
  if (!status.ok()) return status;
  CopyPayload(payload, prefix + prefix_size);
  if (options_.checksum) {
    ComputeTrailer(absl::string_view(prefix + kHeaderSize, prefix_size - kHeaderSize), payload,
                   prefix + prefix_size + payload.size());
  }
  return absl::OkStatus();
}

template <typename Payload>
void FrameEncoder::ComputeTrailer(absl::string_view envelope, const Payload& payload,
                                  char out[kChecksumTrailerSize]) {
  Xxh3Digest digest;
  digest.Update(envelope);
  digest.Update(payload);
  StoreBigEndian64(digest.Digest(), out);
}

absl::Status FrameEncoder::EncodePrefix(const Envelope& envelope, uint64_t payload_size,
                                        absl::FunctionRef<char*(size_t)> prepare) const {
  if (!options_status_.ok()) return options_status_;
  const FrameLimits& limits = options_.limits;
  if (options_.dialect != Dialect::kNative) {
    if (options_.checksum) {
      return absl::InvalidArgumentError(
          absl::StrCat("EncoderOptions::checksum is a native-format feature; the ",
                       DialectName(options_.dialect), " dialect has no checksum trailer"));
    }
    if (envelope.ByteSizeLong() != 0) {
      return MakeFrameError(
          FrameErrorCode::kEnvelopeNotSupported,
          absl::StrCat("the ", DialectName(options_.dialect),
                       " dialect carries only a body; the envelope (",
                       envelope.ShortDebugString(), ") cannot be sent"));
    }
    if (payload_size > limits.max_payload_bytes) return PayloadTooLarge(payload_size, limits);
    if (payload_size > UINT32_MAX) {
      return MakeFrameError(
          FrameErrorCode::kPayloadTooLarge,
          absl::StrCat("refusing to send a ", payload_size, "-byte body: the ",
                       DialectName(options_.dialect),
                       " length prefix holds at most 4294967295; nothing was written"));
    }
    char prefix[kMaxVarint32Bytes];
    size_t n;
    if (options_.dialect == Dialect::kVarint32) {
      n = EncodeVarint32(static_cast<uint32_t>(payload_size), prefix);
    } else {
      StoreBigEndian32(static_cast<uint32_t>(payload_size), prefix);
      n = kU32PrefixSize;
    }
    std::memcpy(prepare(n), prefix, n);
    return absl::OkStatus();
  }
  // PROTOCOL.md §6.3: the payload is checked before the envelope.
  if (payload_size > limits.max_payload_bytes) return PayloadTooLarge(payload_size, limits);
  const size_t envelope_size = envelope.ByteSizeLong();
  if (envelope_size > limits.max_envelope_bytes) {
    return MakeFrameError(
        FrameErrorCode::kEnvelopeTooLarge,
        absl::StrCat("refusing to send a ", envelope_size, "-byte envelope; the limit is ",
                     limits.max_envelope_bytes,
                     " bytes (FrameLimits::max_envelope_bytes); nothing was written"));
  }
  FrameHeader header;
  header.flags = options_.checksum ? kFlagChecksum : 0;
  header.envelope_length = static_cast<uint32_t>(envelope_size);
  header.payload_length = payload_size;
  char* p = prepare(kHeaderSize + envelope_size);
  EncodeFrameHeader(header, p);
  if (envelope.metadata_size() > 1) {
    // Map order is unspecified; sort it so equal envelopes give equal bytes.
    google::protobuf::io::ArrayOutputStream array(p + kHeaderSize,
                                                  static_cast<int>(envelope_size));
    google::protobuf::io::CodedOutputStream coded(&array);
    coded.SetSerializationDeterministic(true);
    envelope.SerializeWithCachedSizes(&coded);
  } else if (IsCompactEnvelope(envelope, envelope_size)) {
    WriteCompactEnvelope(envelope, p + kHeaderSize);  // protobuf's bytes, without its setup
  } else {
    envelope.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + kHeaderSize));
  }
  return absl::OkStatus();
}

}  // namespace lpframe
