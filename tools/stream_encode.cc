#include "tools/stream_encode.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "lib/frame_error.h"
#include "lib/typed_message.h"

namespace lpframe {

const char kStreamTextFormatHelp[] = R"(Text format read by `lpframe encode`, one message per line:

  envelope <text proto of lpframe.Envelope> payload <spec>

Either part may be omitted (empty envelope / empty payload). Blank lines and
lines starting with # are ignored. The envelope text must not contain
comments; the word payload outside a quoted string ends it.
Payload specs:
  "C-escaped string"         unescaped with absl::CUnescape
  hex:0a0b...                pairs of hex digits (hex: alone is empty)
  repeat:<byte hex>:<count>  <count> copies of one byte, e.g. repeat:ff:1000
  file:<path>                the bytes of a file
  typed:<type> <text proto>  a protobuf message linked into lpframe
                             (lpframe.*, google.protobuf.*), serialized; in the
                             native dialect an empty content_type becomes
                             "type.googleapis.com/<type>"
  empty                      no payload
Examples:
  envelope id: 1 kind: KIND_REQUEST metadata { key: "k" value: "v" } payload "hi\n"
  payload hex:0a0b0c
  envelope id: 2 kind: KIND_ERROR status { code: 5 message: "no such key" }
  envelope id: 3 payload typed:google.protobuf.Duration seconds: 90
The varint32 and u32be dialects carry no envelope: only payload lines.
)";

namespace {

constexpr size_t npos = absl::string_view::npos;

absl::Status ColumnError(size_t column0, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("column ", column0 + 1, ": ", what));
}

// `status` with `context` in front of its message; code and payloads kept.
absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  const absl::string_view sep = absl::StartsWith(status.message(), "column ") ? ", " : ": ";
  absl::Status out(status.code(), absl::StrCat(context, sep, status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

bool IsIdentChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// True when `word` stands at `pos` in `line` as a whole word.
bool WordAt(absl::string_view line, size_t pos, absl::string_view word) {
  const size_t end = pos + word.size();
  return line.substr(pos, word.size()) == word && (pos == 0 || !IsIdentChar(line[pos - 1])) &&
         (end >= line.size() || !IsIdentChar(line[end]));
}

size_t SkipSpace(absl::string_view line, size_t pos) {
  while (pos < line.size() && absl::ascii_isspace(static_cast<unsigned char>(line[pos]))) ++pos;
  return pos;
}

// The word at `pos` (for messages).
absl::string_view WordFrom(absl::string_view line, size_t pos) {
  const absl::string_view rest = line.substr(pos);
  size_t n = 0;
  while (n < rest.size() && !absl::ascii_isspace(static_cast<unsigned char>(rest[n]))) ++n;
  return rest.substr(0, n);
}

// Position of the word `payload` at or after `pos` outside quoted strings.
size_t FindPayloadKeyword(absl::string_view line, size_t pos) {
  char quote = 0;
  for (; pos < line.size(); ++pos) {
    const char c = line[pos];
    if (quote != 0) {
      if (c == '\\') {
        ++pos;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (WordAt(line, pos, "payload")) {
      return pos;
    }
  }
  return npos;
}

// Keeps the first text-format error, with its column in the whole line.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  FirstError(size_t base_column, absl::string_view what) : base_(base_column), what_(what) {}
  void AddError(int /*line*/, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (status.ok()) status = ColumnError(base_ + column, absl::StrCat(what_, ": ", message));
  }
  absl::Status status;

 private:
  size_t base_;
  std::string what_;
};

// Parses `text`, which starts at `column` (0-based) of the line.
absl::Status ParseTextProto(absl::string_view text, size_t column, absl::string_view what,
                            google::protobuf::Message* out) {
  FirstError errors(column, what);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(std::string(text), out)) return absl::OkStatus();
  return errors.status.ok() ? ColumnError(column, absl::StrCat(what, ": invalid text proto"))
                            : errors.status;
}

// `digits` (at `column`) as bytes; even count of hex digits.
absl::StatusOr<std::string> ParseHex(absl::string_view digits, size_t column) {
  for (size_t i = 0; i < digits.size(); ++i) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(digits[i]))) {
      return ColumnError(column + i, absl::StrCat("'", digits.substr(i, 1),
                                                  "' is not a hex digit"));
    }
  }
  if (digits.size() % 2 != 0) {
    return ColumnError(column, absl::StrCat("odd number of hex digits (", digits.size(), ")"));
  }
  return absl::HexStringToBytes(digits);
}

absl::StatusOr<absl::Cord> ParseQuoted(absl::string_view spec, size_t column) {
  size_t end = 1;
  while (end < spec.size() && spec[end] != '"') end += spec[end] == '\\' ? 2 : 1;
  if (end >= spec.size()) return ColumnError(column, "unterminated string");
  if (end + 1 != spec.size()) {
    return ColumnError(column + end + 1, "unexpected text after the closing quote");
  }
  std::string bytes, error;
  if (!absl::CUnescape(spec.substr(1, end - 1), &bytes, &error)) {
    return ColumnError(column + 1, absl::StrCat("bad string: ", error));
  }
  return absl::Cord(std::move(bytes));
}

absl::StatusOr<absl::Cord> ParseRepeat(absl::string_view args, size_t column,
                                       const EncoderOptions& options) {
  const size_t colon = args.find(':');
  const absl::string_view byte_hex = args.substr(0, colon);
  uint32_t byte = 0;
  uint64_t count = 0;
  if (colon == npos || byte_hex.empty() || byte_hex.size() > 2 ||
      !std::all_of(byte_hex.begin(), byte_hex.end(), [](char c) { return absl::ascii_isxdigit(c); }) ||
      !absl::SimpleHexAtoi(byte_hex, &byte) || !absl::SimpleAtoi(args.substr(colon + 1), &count)) {
    return ColumnError(column, "expected repeat:<byte hex>:<count>, e.g. repeat:ff:1000");
  }
  if (count > options.limits.max_payload_bytes) {
    return MakeFrameError(
        FrameErrorCode::kPayloadTooLarge,
        absl::StrCat("column ", column + 1, ": repeat count ", count, " is over the limit of ",
                     options.limits.max_payload_bytes, " payload bytes"));
  }
  return absl::Cord(std::string(count, static_cast<char>(byte)));
}

absl::StatusOr<absl::Cord> ReadFile(absl::string_view path, size_t column) {
  std::ifstream file{std::string(path), std::ios::binary};
  std::string bytes;
  if (file) bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (!file.is_open() || file.bad()) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat("column ", column + 1, ": cannot read payload file '",
                                     path, "': ", std::strerror(error)));
  }
  return absl::Cord(std::move(bytes));
}

absl::StatusOr<absl::Cord> ParseTyped(absl::string_view args, size_t column,
                                      const EncoderOptions& options, Envelope* envelope) {
  const absl::string_view type = WordFrom(args, 0);
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          std::string(type));
  if (descriptor == nullptr) {
    return ColumnError(column, absl::StrCat("unknown message type '", type,
                                            "' (lpframe.* and google.protobuf.* are known)"));
  }
  std::unique_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  const size_t text = SkipSpace(args, type.size());
  absl::Status status = ParseTextProto(args.substr(text), column + text, type, message.get());
  if (!status.ok()) return status;
  if (options.dialect == Dialect::kNative && envelope->content_type().empty()) {
    envelope->set_content_type(ContentTypeForTypeName(type));
  }
  return absl::Cord(message->SerializeAsString());
}

// The payload spec starting at `column` of `line` (the line's end).
absl::StatusOr<absl::Cord> ParsePayload(absl::string_view line, size_t column,
                                        const EncoderOptions& options, Envelope* envelope) {
  const absl::string_view spec = line.substr(column);
  if (spec.empty()) return ColumnError(column, "missing payload spec (use empty for none)");
  if (spec == "empty") return absl::Cord();
  if (spec[0] == '"') return ParseQuoted(spec, column);
  if (absl::StartsWith(spec, "hex:")) {
    absl::StatusOr<std::string> bytes = ParseHex(spec.substr(4), column + 4);
    if (!bytes.ok()) return bytes.status();
    return absl::Cord(*std::move(bytes));
  }
  if (absl::StartsWith(spec, "repeat:")) return ParseRepeat(spec.substr(7), column + 7, options);
  if (absl::StartsWith(spec, "file:")) return ReadFile(spec.substr(5), column + 5);
  if (absl::StartsWith(spec, "typed:")) {
    return ParseTyped(spec.substr(6), column + 6, options, envelope);
  }
  return ColumnError(column, absl::StrCat("unknown payload spec '", WordFrom(spec, 0),
                                          "'; expected \"string\", hex:, repeat:, file:, "
                                          "typed: or empty"));
}

}  // namespace

absl::StatusOr<std::optional<Message>> ParseStreamLine(absl::string_view line,
                                                       const EncoderOptions& options) {
  line = absl::StripTrailingAsciiWhitespace(line);  // columns stay those of the input
  size_t pos = SkipSpace(line, 0);
  if (pos == line.size() || line[pos] == '#') return std::nullopt;
  Message message;
  if (WordAt(line, pos, "envelope")) {
    const size_t begin = pos + 8;
    pos = std::min(FindPayloadKeyword(line, begin), line.size());
    absl::Status status = ParseTextProto(line.substr(begin, pos - begin), begin, "envelope",
                                         &message.envelope);
    if (!status.ok()) return status;
  }
  if (pos < line.size()) {
    if (!WordAt(line, pos, "payload")) {
      return ColumnError(pos, absl::StrCat("expected 'envelope' or 'payload', found '",
                                           WordFrom(line, pos), "'"));
    }
    absl::StatusOr<absl::Cord> payload =
        ParsePayload(line, SkipSpace(line, pos + 7), options, &message.envelope);
    if (!payload.ok()) return payload.status();
    message.payload = *std::move(payload);
  }
  return message;
}

absl::Status EncodeText(std::istream& in, const EncoderOptions& options, const FrameSink& sink,
                        uint64_t* frames) {
  const FrameEncoder encoder(options);
  EncodedFrame frame;
  uint64_t count = 0;
  absl::Status status;
  std::string line;
  for (uint64_t number = 1; status.ok() && std::getline(in, line); ++number) {
    absl::StatusOr<std::optional<Message>> message = ParseStreamLine(line, options);
    status = message.status();
    if (status.ok() && message->has_value()) {
      status = encoder.EncodeTo((*message)->envelope, std::move((*message)->payload), &frame);
      if (status.ok()) status = sink(frame);
      if (status.ok()) ++count;
    }
    if (!status.ok()) status = WithContext(status, absl::StrCat("line ", number));
  }
  if (status.ok() && in.bad()) status = absl::DataLossError("reading the text input failed");
  if (frames != nullptr) *frames = count;
  return status;
}

absl::Status EncodeTextToFile(std::istream& in, const EncoderOptions& options, std::FILE* out,
                              uint64_t* frames) {
  std::vector<absl::string_view> slices;
  return EncodeText(
      in, options,
      [out, &slices](const EncodedFrame& frame) {
        slices.clear();
        frame.AppendSlices(&slices);
        for (absl::string_view slice : slices) {
          if (std::fwrite(slice.data(), 1, slice.size(), out) != slice.size()) {
            return absl::UnavailableError(
                absl::StrCat("writing the stream: ", std::strerror(errno)));
          }
        }
        return absl::OkStatus();
      },
      frames);
}

absl::StatusOr<std::string> EncodeTextToString(absl::string_view text,
                                               const EncoderOptions& options) {
  std::istringstream in{std::string(text)};
  std::string out;
  absl::Status status = EncodeText(in, options, [&out](const EncodedFrame& frame) {
    frame.AppendTo(&out);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace lpframe
