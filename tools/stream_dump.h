// File: tools/stream_dump.h
//
// StreamDumper prints a framed stream the way a protocol analyzer would:
// for each frame its index, stream offset, wire size, header fields (native:
// flags, checksum, envelope length), payload length, the envelope as one
// line of protobuf text format, and a hex + printable payload preview; at
// the end one summary line, or the framing error with its FrameErrorCode
// name and the byte offset of the frame in error.
//
//   #0 offset=0 wire=45 flags=0x0000 envelope=16 payload=5
//     envelope: id: 1 kind: KIND_REQUEST content_type: "text/plain"
//     payload:  0000  68 65 6c 6c 6f                                   |hello|
//   #1 offset=45 wire=33 flags=0x0001(CHECKSUM) checksum=0x... envelope=0 payload=1
//   ...
//   3 messages, 123 bytes, clean end of stream
// or, last:
//   error at byte offset 78 (frame #2): TRUNCATED_PAYLOAD: stream ended ...
//
// The interop dialects show prefix=<length prefix bytes> instead of the
// native header fields, and no envelope line. A typed payload (content_type
// "type.googleapis.com/<type>") whose type is linked in is also shown
// decoded, on a "typed:" line.
//
// The dumper feeds the decoder at most DecodeStep::bytes_needed() bytes at a
// time. That bound never reaches past the end of the frame being decoded, so
// every frame ends exactly at a Feed() boundary: frame offsets and sizes
// come from FrameDecoder::stream_offset(), and the raw header and checksum
// trailer bytes of each frame can be shown as they were on the wire.
#ifndef LPFRAME_TOOLS_STREAM_DUMP_H_
#define LPFRAME_TOOLS_STREAM_DUMP_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/frame_decoder.h"
#include "lib/message.h"

namespace lpframe {

struct DumpOptions {
  DecoderOptions decoder;
  // Payload bytes shown per frame (hex + printable); 0 shows none.
  size_t payload_preview = 32;
};

// What a dump found.
struct DumpSummary {
  uint64_t messages = 0;
  uint64_t bytes = 0;        // stream bytes read
  absl::Status error;        // the framing error; OK for a clean end of stream
  uint64_t error_offset = 0;  // stream offset of the frame in error

  // The process exit code for this outcome: 0 clean EOF, 1 framing error.
  int exit_code() const { return error.ok() ? 0 : 1; }
};

class StreamDumper {
 public:
  // Prints to *out, which must outlive the dumper.
  StreamDumper(const DumpOptions& options, std::ostream* out);
  StreamDumper(const StreamDumper&) = delete;
  StreamDumper& operator=(const StreamDumper&) = delete;

  // Decodes `bytes` (any segmentation) and prints the frames they complete.
  // Returns false once the stream has failed; later bytes are ignored.
  bool Feed(absl::string_view bytes);

  // Declares end of stream, prints the summary or error line, and returns
  // the outcome. Call once.
  const DumpSummary& Finish();

 private:
  void Drain();
  void PrintFrame(const Message& message, uint64_t wire_size);
  void PrintPayload(const Message& message);
  void Fail(absl::Status status);

  DumpOptions options_;
  std::ostream& out_;
  FrameDecoder decoder_;
  uint64_t needed_ = 0;       // bytes the decoder may take before a frame ends
  uint64_t frame_start_ = 0;  // stream offset of the frame being decoded
  std::string head_;          // its first bytes (up to a native header)
  std::string tail_;          // its last bytes (up to a checksum trailer)
  DumpSummary summary_;
};

// Dumps the stream read from `fd` to EOF, in 8 KiB reads.
// Errors: I/O errors only (with errno text); framing errors are reported in
// the returned summary (and printed).
absl::StatusOr<DumpSummary> DumpFd(int fd, const DumpOptions& options, std::ostream* out);

// Dumps an in-memory stream fed in `chunk_size`-byte pieces (tests, tools).
DumpSummary DumpString(absl::string_view stream, const DumpOptions& options,
                       std::ostream* out, size_t chunk_size = 8192);

}  // namespace lpframe

#endif  // LPFRAME_TOOLS_STREAM_DUMP_H_
