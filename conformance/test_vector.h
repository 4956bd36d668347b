// File: conformance/test_vector.h
//
// Reading the language-neutral vectors (conformance/vector.proto, stored as
// JSON in conformance/vectors/) and replaying them through FrameDecoder
// under a chosen segmentation.
//
// Test-only; thread-compatible.
#ifndef LPFRAME_CONFORMANCE_TEST_VECTOR_H_
#define LPFRAME_CONFORMANCE_TEST_VECTOR_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "conformance/vector.pb.h"
#include "lib/frame_decoder.h"
#include "lib/message.h"

namespace lpframe {
namespace conformance {

// The vector files, in a fixed order.
inline constexpr const char* kVectorFileNames[] = {"native.json", "varint32.json",
                                                   "u32be.json"};

// The xorshift32 pattern of vector.proto, `length` bytes.
std::string PatternBytes(uint64_t length, uint32_t seed);

// The bytes a run stands for. Errors: InvalidArgument for bad hex.
absl::StatusOr<std::string> MaterializeBytes(const Bytes& bytes);
// The whole input stream of a vector.
absl::StatusOr<std::string> MaterializeInput(const Vector& vector);

absl::StatusOr<VectorFile> ParseVectorFileJson(absl::string_view json);
std::string VectorFileToJson(const VectorFile& file);
absl::StatusOr<VectorFile> LoadVectorFile(const std::string& path);

// Decoder options for a vector of `file`.
absl::StatusOr<DecoderOptions> DecoderOptionsFor(const VectorFile& file,
                                                 const Vector& vector);

// What a receiver saw: the messages, then how the stream ended (OK = clean
// EOF), and whether that error surfaced before end of stream.
struct DecodeOutcome {
  std::vector<Message> messages;
  absl::Status end;
  bool error_before_eof = false;
  size_t reads = 0;  // segments (or direct reads) delivered to the decoder
};

// Feeds `input` cut at `cuts` (strictly increasing offsets inside the
// input), draining every message after each segment, then Finish().
// With `direct_reads`, each segment is delivered through PrepareRead /
// CommitRead as read(2) would, taking payload storage when lent.
DecodeOutcome DecodeSegments(const DecoderOptions& options, absl::string_view input,
                             const std::vector<size_t>& cuts, bool direct_reads);

// Cut offsets for fixed pieces of `piece` bytes.
std::vector<size_t> FixedCuts(size_t input_size, size_t piece);

// Empty when `got` is the vector's message number `index`, otherwise the
// difference.
std::string CheckMessage(const Vector& vector, size_t index, const Message& got);

// Empty when `outcome` is what `vector` expects, otherwise a description
// of the first difference.
std::string CheckOutcome(const Vector& vector, const DecodeOutcome& outcome);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_TEST_VECTOR_H_
