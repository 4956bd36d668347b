// File: lib/frame_encoder.h
//
// FrameEncoder turns an Envelope and a payload into the bytes of one frame,
// as a short list of slices ready for writev(2):
//
//   [ header + envelope ] [ payload chunk ]* [ checksum trailer ]
//
// The payload is never copied: the EncodedFrame shares the caller's
// absl::Cord (reference-counted), and its slices point into the Cord's
// chunks. To send bytes the caller owns without a copy, wrap them with
// absl::MakeCordFromExternal and keep them alive until the frame is written.
//
// The encoder enforces the same FrameLimits as the receiver: an over-limit
// frame is refused (kResourceExhausted, with the declared size and the
// limit) before any byte of it exists, so nothing partial is ever written.
//
// Thread-compatible; an encoder may be shared by threads for Encode() calls
// since they do not modify it.
#ifndef LPFRAME_LIB_FRAME_ENCODER_H_
#define LPFRAME_LIB_FRAME_ENCODER_H_

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "lib/dialect.h"
#include "lib/frame_limits.h"
#include "lib/message.h"
#include "lib/wire_format.h"

namespace lpframe {

struct EncoderOptions {
  Dialect dialect = Dialect::kNative;
  FrameLimits limits;
  // Native only: append the XXH3-64 checksum trailer (flag CHECKSUM).
  bool checksum = false;
};

// The bytes of one encoded frame. Movable; slices stay valid while the
// EncodedFrame lives and is not modified.
class EncodedFrame {
 public:
  EncodedFrame() = default;

  // Header and envelope (or the dialect's length prefix), contiguous.
  absl::string_view prefix() const { return absl::string_view(prefix_.data(), prefix_size_); }
  const absl::Cord& payload() const { return payload_; }
  // The checksum trailer, or empty.
  absl::string_view trailer() const {
    return absl::string_view(trailer_, trailer_size_);
  }
  // Total bytes on the wire.
  uint64_t size() const { return prefix_size_ + payload_.size() + trailer_size_; }

  // Appends the frame's slices, in wire order, skipping empty ones.
  // AppendIovecs() appends at most `max_iovecs` of them: always the leading
  // ones, so what they describe is a prefix of the frame's bytes (a writer
  // bound by IOV_MAX sends that and keeps the rest).
  void AppendSlices(std::vector<absl::string_view>* out) const;
  void AppendIovecs(std::vector<struct iovec>* out, size_t max_iovecs = SIZE_MAX) const;
  // Appends a copy of the frame's bytes (tests, tools, small frames).
  void AppendTo(std::string* out) const;
  std::string ToString() const;
  // Drops the payload reference and the bytes, keeping the prefix's
  // capacity for the next EncodeTo().
  void Clear() {
    prefix_size_ = 0;
    payload_.Clear();
    trailer_size_ = 0;
  }

 private:
  friend class FrameEncoder;
  // Writable storage for an n-byte prefix. The string keeps its largest
  // size: an encode writes no filler bytes and calls no string code.
  char* PreparePrefix(size_t n) {
    if (prefix_.size() < n) prefix_.resize(n);
    prefix_size_ = n;
    return &prefix_[0];
  }

  std::string prefix_;  // the prefix is its first prefix_size_ bytes
  size_t prefix_size_ = 0;
  absl::Cord payload_;
  char trailer_[kChecksumTrailerSize] = {};
  size_t trailer_size_ = 0;
};

class FrameEncoder {
 public:
  explicit FrameEncoder(EncoderOptions options = {});

  const EncoderOptions& options() const { return options_; }

  // Encodes one frame into *out (reusing its storage).
  // Errors: kEnvelopeTooLarge / kPayloadTooLarge (over the limits, or over
  // the dialect's own ceiling: 2^32-1 for varint32 and u32be);
  // kEnvelopeNotSupported when a dialect without envelopes is given a
  // non-empty envelope; InvalidArgument for invalid options.
  absl::Status EncodeTo(const Envelope& envelope, absl::Cord payload,
                        EncodedFrame* out) const;

  // Appends the bytes of one frame to *out: the same bytes as EncodeTo()
  // then EncodedFrame::AppendTo(), with no EncodedFrame in between and the
  // payload copied once. For small frames batched into one buffer. Same
  // errors as EncodeTo(); on error *out is as it was.
  absl::Status EncodeAppend(const Envelope& envelope, const absl::Cord& payload,
                            std::string* out) const;
  // The same, for a payload in one piece (the bytes are copied; they need
  // live only during the call, and must not lie in *out).
  absl::Status EncodeAppend(const Envelope& envelope, absl::string_view payload,
                            std::string* out) const;

  absl::StatusOr<EncodedFrame> Encode(const Envelope& envelope, absl::Cord payload) const;
  absl::StatusOr<EncodedFrame> Encode(const Message& message) const {
    return Encode(message.envelope, message.payload);
  }

 private:
  // Checks the frame and writes its prefix (native: header and envelope;
  // other dialects: the length prefix) into prepare(prefix size), which is
  // called once, after every check has passed (on error, never).
  absl::Status EncodePrefix(const Envelope& envelope, uint64_t payload_size,
                            absl::FunctionRef<char*(size_t)> prepare) const;
  // EncodeAppend() for a payload of either kind (absl::Cord or
  // absl::string_view); defined and instantiated in the .cc file.
  template <typename Payload>
  absl::Status EncodeAppendImpl(const Envelope& envelope, const Payload& payload,
                                std::string* out) const;
  // The native checksum trailer over a frame's envelope and payload (an
  // absl::Cord or absl::string_view).
  template <typename Payload>
  static void ComputeTrailer(absl::string_view envelope, const Payload& payload,
                             char out[kChecksumTrailerSize]);

  EncoderOptions options_;
  absl::Status options_status_;  // options_.limits.Validate(), checked once
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_FRAME_ENCODER_H_
