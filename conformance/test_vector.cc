#include "conformance/test_vector.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "lib/dialect.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace conformance {

std::string PatternBytes(uint64_t length, uint32_t seed) {
  std::string out(static_cast<size_t>(length), '\0');
  uint32_t state = seed == 0 ? 2463534242u : seed;
  for (size_t i = 0; i < out.size(); ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    out[i] = static_cast<char>(state & 0xff);
  }
  return out;
}

absl::StatusOr<std::string> MaterializeBytes(const Bytes& bytes) {
  if (bytes.has_pattern()) {
    // Multi-MB patterns are replayed many times by the tests: memoize them.
    const uint64_t length = bytes.pattern().length();
    const uint32_t seed = bytes.pattern().seed();
    if (length < (uint64_t{1} << 20)) return PatternBytes(length, seed);
    static absl::Mutex mu(absl::kConstInit);
    static auto* const memo = new std::map<std::pair<uint64_t, uint32_t>, std::string>;
    absl::MutexLock lock(&mu);
    auto it = memo->find({length, seed});
    if (it == memo->end()) {
      it = memo->emplace(std::make_pair(length, seed), PatternBytes(length, seed)).first;
    }
    return it->second;
  }
  const std::string& hex = bytes.hex();
  if (hex.size() % 2 != 0 ||
      !std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(c); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid hex run of ", hex.size(), " characters"));
  }
  return absl::HexStringToBytes(hex);
}

absl::StatusOr<std::string> MaterializeInput(const Vector& vector) {
  std::string out;
  for (const Bytes& run : vector.input()) {
    absl::StatusOr<std::string> bytes = MaterializeBytes(run);
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(),
                          absl::StrCat(vector.id(), ": ", bytes.status().message()));
    }
    out += *bytes;
  }
  return out;
}

absl::StatusOr<VectorFile> ParseVectorFileJson(absl::string_view json) {
  VectorFile file;
  google::protobuf::util::JsonParseOptions options;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &file, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector file is not valid JSON for VectorFile: ", status.ToString()));
  }
  return file;
}

std::string VectorFileToJson(const VectorFile& file) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(file, &json, options);
  return json;
}

absl::StatusOr<VectorFile> LoadVectorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open vector file ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<VectorFile> file = ParseVectorFileJson(text.str());
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(path, ": ", file.status().message()));
  }
  return file;
}

absl::StatusOr<DecoderOptions> DecoderOptionsFor(const VectorFile& file,
                                                 const Vector& vector) {
  DecoderOptions options;
  if (!ParseDialect(file.dialect(), &options.dialect)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dialect \"", file.dialect(), "\""));
  }
  if (vector.limits().max_payload_bytes() != 0) {
    options.limits.max_payload_bytes = vector.limits().max_payload_bytes();
  }
  if (vector.limits().max_envelope_bytes() != 0) {
    options.limits.max_envelope_bytes = vector.limits().max_envelope_bytes();
  }
  return options;
}

DecodeOutcome DecodeSegments(const DecoderOptions& options, absl::string_view input,
                             const std::vector<size_t>& cuts, bool direct_reads) {
  DecodeOutcome outcome;
  FrameDecoder decoder(options);
  auto drain = [&]() -> bool {
    while (true) {
      Message message;
      DecodeStep step = decoder.Next(&message);
      if (step.is_message()) {
        outcome.messages.push_back(std::move(message));
        continue;
      }
      if (step.is_error()) {
        outcome.end = step.error();
        outcome.error_before_eof = true;
        return false;
      }
      return true;
    }
  };
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    absl::string_view segment = input.substr(start, end - start);
    start = end;
    if (segment.empty()) continue;
    if (!direct_reads) {
      ++outcome.reads;
      decoder.Feed(segment);
      if (!drain()) return outcome;
      continue;
    }
    while (!segment.empty()) {
      absl::Span<char> span = decoder.PrepareRead(segment.size());
      const size_t n = std::min(span.size(), segment.size());
      std::memcpy(span.data(), segment.data(), n);
      decoder.CommitRead(n);
      segment.remove_prefix(n);
      ++outcome.reads;
      if (!drain()) return outcome;
    }
  }
  outcome.end = decoder.Finish();
  return outcome;
}

std::vector<size_t> FixedCuts(size_t input_size, size_t piece) {
  std::vector<size_t> cuts;
  for (size_t at = piece; at < input_size; at += piece) cuts.push_back(at);
  return cuts;
}

std::string CheckMessage(const Vector& vector, size_t index, const Message& got) {
  if (index >= static_cast<size_t>(vector.messages_size())) {
    return absl::StrCat("message ", index, " delivered; only ", vector.messages_size(),
                        " expected");
  }
  const ExpectedMessage& want = vector.messages(static_cast<int>(index));
  if (!google::protobuf::util::MessageDifferencer::Equals(want.envelope(), got.envelope)) {
    return absl::StrCat("message ", index, ": envelope {", got.envelope.ShortDebugString(),
                        "}, expected {", want.envelope().ShortDebugString(), "}");
  }
  absl::StatusOr<std::string> payload = MaterializeBytes(want.payload());
  if (!payload.ok()) return std::string(payload.status().message());
  if (got.payload != *payload) {
    return absl::StrCat("message ", index, ": payload of ", got.payload.size(),
                        " bytes differs from the expected ", payload->size(), " bytes");
  }
  return "";
}

std::string CheckOutcome(const Vector& vector, const DecodeOutcome& outcome) {
  const size_t expected = static_cast<size_t>(vector.messages_size());
  for (size_t i = 0; i < std::min(expected, outcome.messages.size()); ++i) {
    std::string difference = CheckMessage(vector, i, outcome.messages[i]);
    if (!difference.empty()) return difference;
  }
  if (outcome.messages.size() != expected) {
    return absl::StrCat("delivered ", outcome.messages.size(), " messages, expected ",
                        expected, " (end: ", outcome.end.ToString(), ")");
  }
  if (vector.error().empty()) {
    if (!outcome.end.ok()) {
      return absl::StrCat("expected a clean end of stream, got ", outcome.end.ToString());
    }
    return "";
  }
  const absl::string_view got = FrameErrorCodeName(GetFrameErrorCode(outcome.end));
  if (got != vector.error()) {
    return absl::StrCat("expected error ", vector.error(), ", got ", got, " (",
                        outcome.end.ToString(), ")");
  }
  if (absl::StatusCodeToString(outcome.end.code()) != vector.canonical_code()) {
    return absl::StrCat("expected canonical code ", vector.canonical_code(), ", got ",
                        absl::StatusCodeToString(outcome.end.code()));
  }
  if (vector.error_before_eof() && !outcome.error_before_eof) {
    return absl::StrCat("error ", got, " surfaced only at end of stream; it must be "
                        "reported as soon as the offending bytes arrive");
  }
  return "";
}

}  // namespace conformance
}  // namespace lpframe
