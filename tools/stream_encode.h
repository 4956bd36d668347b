// File: tools/stream_encode.h
//
// Turns a text description of messages into a framed stream (the input of
// `lpframe encode`). The format, also printed by `lpframe --help`:
//
//   # One message per line. Blank lines and lines starting with # are
//   # ignored. A line is
//   #   envelope <text proto of lpframe.Envelope> payload <spec>
//   # and either part may be omitted (an empty envelope, an empty payload).
//   envelope id: 1 kind: KIND_REQUEST metadata { key: "k" value: "v" } payload "hi\n"
//   payload hex:0a0b0c
//   envelope id: 3 kind: KIND_PING
//
// Payload specs:
//   "C-escaped string"           unescaped with absl::CUnescape
//   hex:0a0b...                  pairs of hex digits (hex: alone is empty)
//   repeat:<byte hex>:<count>    <count> copies of one byte, e.g. repeat:ff:1000
//   file:<path>                  the bytes of a file (path relative to the cwd)
//   typed:<type> <text proto>    a protobuf message linked into lpframe
//                                (lpframe.*, google.protobuf.*) serialized;
//                                native: sets an empty content_type to
//                                "type.googleapis.com/<type>"
//   empty                        no payload
//
// The envelope text must not contain comments; the word payload outside a
// quoted string ends it. The interop dialects (varint32, u32be) carry no
// envelope: a line with a non-empty envelope fails with
// ENVELOPE_NOT_SUPPORTED.
//
// Errors name the line and, where it applies, the 1-based column (for text
// protos, where protobuf's parser noticed the error, e.g. after a bad name):
//   "line 4, column 22: envelope: Expected integer, got: abc".
#ifndef LPFRAME_TOOLS_STREAM_ENCODE_H_
#define LPFRAME_TOOLS_STREAM_ENCODE_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <istream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/frame_encoder.h"
#include "lib/message.h"

namespace lpframe {

// The format description above, for --help.
extern const char kStreamTextFormatHelp[];

// Parses one line (without its newline). std::nullopt for a blank or
// comment line. `options` decide the content_type of typed: payloads and
// cap repeat: counts (at limits.max_payload_bytes).
// Errors (no line number; EncodeText adds it): InvalidArgument naming the
// column and what was wrong; NotFound etc. for an unreadable file: payload;
// PAYLOAD_TOO_LARGE for an over-limit repeat: count.
absl::StatusOr<std::optional<Message>> ParseStreamLine(absl::string_view line,
                                                       const EncoderOptions& options);

// Called with each encoded frame, in order; an error stops the encoding.
using FrameSink = std::function<absl::Status(const EncodedFrame&)>;

// Reads the text format from `in` to EOF, encodes each message with a
// FrameEncoder(options) and hands the frames to `sink`. Stops at the first
// error, returned with "line N: " in front (codes and FrameErrorCode
// payloads are kept), after the frames of the lines before it were sunk.
// *frames (optional) counts the frames sunk.
absl::Status EncodeText(std::istream& in, const EncoderOptions& options,
                        const FrameSink& sink, uint64_t* frames = nullptr);

// EncodeText writing each frame's slices to `out` with fwrite. A failed
// write is an Unavailable error (ferror(out) is then set).
absl::Status EncodeTextToFile(std::istream& in, const EncoderOptions& options,
                              std::FILE* out, uint64_t* frames = nullptr);

// EncodeText of `text` into a string (tests, small inputs).
absl::StatusOr<std::string> EncodeTextToString(absl::string_view text,
                                               const EncoderOptions& options);

}  // namespace lpframe

#endif  // LPFRAME_TOOLS_STREAM_ENCODE_H_
