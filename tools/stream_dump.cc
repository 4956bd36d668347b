#include "tools/stream_dump.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "lib/frame_error.h"
#include "lib/typed_message.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace {

constexpr size_t kReadSize = 8 << 10;
constexpr size_t kRowBytes = 16;
constexpr absl::string_view kIndent = "            ";  // aligns with "  payload:  "

// "FOO_BAR: message", adding the name when the message lacks it.
std::string DescribeError(const absl::Status& status) {
  const FrameErrorCode code = GetFrameErrorCode(status);
  if (code == FrameErrorCode::kNone) return status.ToString();
  const absl::string_view name = FrameErrorCodeName(code);
  if (absl::StartsWith(status.message(), name)) return std::string(status.message());
  return absl::StrCat(name, ": ", status.message());
}

}  // namespace

StreamDumper::StreamDumper(const DumpOptions& options, std::ostream* out)
    : options_(options), out_(*out), decoder_(options.decoder) {
  Drain();  // learns the first header's size, or the options' error
}

bool StreamDumper::Feed(absl::string_view bytes) {
  while (!bytes.empty() && summary_.error.ok()) {
    const absl::string_view piece =
        bytes.substr(0, static_cast<size_t>(std::min<uint64_t>(bytes.size(), needed_)));
    bytes.remove_prefix(piece.size());
    summary_.bytes += piece.size();
    if (head_.size() < kHeaderSize) {
      head_.append(piece.data(), std::min(piece.size(), kHeaderSize - head_.size()));
    }
    tail_.append(piece.data(), piece.size());
    if (tail_.size() > kChecksumTrailerSize) tail_.erase(0, tail_.size() - kChecksumTrailerSize);
    decoder_.Feed(piece);
    Drain();
  }
  return summary_.error.ok();
}

void StreamDumper::Drain() {
  Message message;
  DecodeStep step = decoder_.Next(&message);
  if (step.is_message()) {
    // The piece just fed ended exactly at this frame's last byte.
    PrintFrame(message, decoder_.stream_offset() - frame_start_);
    ++summary_.messages;
    frame_start_ = decoder_.stream_offset();
    head_.clear();
    tail_.clear();
    step = decoder_.Next(&message);
  }
  if (step.is_error()) {
    Fail(step.error());
  } else if (step.need_more()) {
    needed_ = step.bytes_needed();
  } else {  // cannot happen: no byte of the next frame was fed yet
    Fail(absl::InternalError("decoder returned two messages from one frame's bytes"));
  }
}

const DumpSummary& StreamDumper::Finish() {
  if (summary_.error.ok()) {
    absl::Status status = decoder_.Finish();
    if (!status.ok()) Fail(std::move(status));
  }
  if (summary_.error.ok()) {
    out_ << summary_.messages << (summary_.messages == 1 ? " message, " : " messages, ")
         << summary_.bytes << " bytes, clean end of stream\n";
  } else {
    out_ << "error at byte offset " << summary_.error_offset << " (frame #"
         << summary_.messages << "): " << DescribeError(summary_.error) << "\n";
  }
  return summary_;
}

void StreamDumper::Fail(absl::Status status) {
  summary_.error = std::move(status);
  summary_.error_offset = frame_start_;
}

void StreamDumper::PrintFrame(const Message& message, uint64_t wire_size) {
  const uint64_t payload_size = message.payload.size();
  out_ << "#" << summary_.messages << " offset=" << frame_start_ << " wire=" << wire_size;
  if (options_.decoder.dialect == Dialect::kNative) {
    const uint16_t flags = LoadBigEndian16(head_.data() + 6);
    out_ << absl::StrFormat(" flags=0x%04x%s", flags,
                            (flags & kFlagChecksum) != 0 ? "(CHECKSUM)" : "");
    if ((flags & kFlagChecksum) != 0) {
      out_ << absl::StrFormat(" checksum=0x%016x", LoadBigEndian64(tail_.data()));
    }
    out_ << " envelope=" << LoadBigEndian32(head_.data() + 8);
  } else {
    out_ << " prefix=" << wire_size - payload_size;
  }
  out_ << " payload=" << payload_size << "\n";

  if (options_.decoder.dialect == Dialect::kNative) {
    const std::string text = message.envelope.ShortDebugString();
    out_ << "  envelope: " << (text.empty() ? "(empty)" : text) << "\n";
  }
  PrintPayload(message);

  // A typed payload whose type is linked in (lpframe.*, google.protobuf.*).
  const absl::string_view type_name =
      TypeNameFromContentType(message.envelope.content_type());
  if (type_name.empty()) return;
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          std::string(type_name));
  if (descriptor == nullptr) {
    out_ << "  typed:    " << type_name << " (unknown type, not decoded)\n";
    return;
  }
  std::unique_ptr<google::protobuf::Message> typed(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  const absl::Status status = UnpackTypedMessage(message, typed.get());
  out_ << "  typed:    " << type_name << " "
       << (status.ok() ? absl::StrCat("{ ", typed->ShortDebugString(), " }")
                       : absl::StrCat("(", status.message(), ")"))
       << "\n";
}

void StreamDumper::PrintPayload(const Message& message) {
  const uint64_t size = message.payload.size();
  if (size == 0) {
    out_ << "  payload:  (empty)\n";
    return;
  }
  std::string shown;
  absl::CopyCordToString(message.payload.Subcord(0, options_.payload_preview), &shown);
  for (size_t row = 0; row < shown.size(); row += kRowBytes) {
    const absl::string_view bytes = absl::string_view(shown).substr(row, kRowBytes);
    std::string hex, text;
    for (char c : bytes) {
      const unsigned char u = static_cast<unsigned char>(c);
      absl::StrAppendFormat(&hex, "%02x ", u);
      text.push_back(u >= 0x20 && u < 0x7f ? c : '.');
    }
    out_ << (row == 0 ? "  payload:  " : kIndent)
         << absl::StrFormat("%04x  %-*s |%s|\n", row, 3 * kRowBytes, hex, text);
  }
  if (shown.empty()) {
    out_ << "  payload:  (" << size << " bytes not shown)\n";
  } else if (size > shown.size()) {
    out_ << kIndent << "... " << size - shown.size() << " more bytes\n";
  }
}

absl::StatusOr<DumpSummary> DumpFd(int fd, const DumpOptions& options, std::ostream* out) {
  StreamDumper dumper(options, out);
  char buf[kReadSize];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::Status(absl::ErrnoToStatusCode(errno),
                          absl::StrCat("reading the stream: ", std::strerror(errno)));
    }
    if (n == 0 || !dumper.Feed(absl::string_view(buf, static_cast<size_t>(n)))) break;
  }
  return dumper.Finish();
}

DumpSummary DumpString(absl::string_view stream, const DumpOptions& options,
                       std::ostream* out, size_t chunk_size) {
  StreamDumper dumper(options, out);
  chunk_size = std::max<size_t>(chunk_size, 1);
  for (size_t at = 0; at < stream.size(); at += chunk_size) {
    if (!dumper.Feed(stream.substr(at, chunk_size))) break;
  }
  return dumper.Finish();
}

}  // namespace lpframe
