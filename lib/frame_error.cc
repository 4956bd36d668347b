#include "lib/frame_error.h"

#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace lpframe {
namespace {

constexpr absl::string_view kPayloadUrl = "type.lpframe.dev/lpframe.FrameErrorCode";

struct CodeInfo {
  FrameErrorCode code;
  absl::string_view name;
  absl::StatusCode canonical;
};

constexpr CodeInfo kCodes[] = {
    {FrameErrorCode::kNone, "NONE", absl::StatusCode::kOk},
    {FrameErrorCode::kBadMagic, "BAD_MAGIC", absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kForeignProtocol, "FOREIGN_PROTOCOL",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kUnsupportedVersion, "UNSUPPORTED_VERSION",
     absl::StatusCode::kUnimplemented},
    {FrameErrorCode::kHeaderCorrupt, "HEADER_CORRUPT", absl::StatusCode::kDataLoss},
    {FrameErrorCode::kReservedFlags, "RESERVED_FLAGS",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kMalformedLength, "MALFORMED_LENGTH",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kEnvelopeTooLarge, "ENVELOPE_TOO_LARGE",
     absl::StatusCode::kResourceExhausted},
    {FrameErrorCode::kPayloadTooLarge, "PAYLOAD_TOO_LARGE",
     absl::StatusCode::kResourceExhausted},
    {FrameErrorCode::kInvalidEnvelope, "INVALID_ENVELOPE",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kChecksumMismatch, "CHECKSUM_MISMATCH",
     absl::StatusCode::kDataLoss},
    {FrameErrorCode::kTruncatedHeader, "TRUNCATED_HEADER", absl::StatusCode::kDataLoss},
    {FrameErrorCode::kTruncatedEnvelope, "TRUNCATED_ENVELOPE",
     absl::StatusCode::kDataLoss},
    {FrameErrorCode::kTruncatedPayload, "TRUNCATED_PAYLOAD",
     absl::StatusCode::kDataLoss},
    {FrameErrorCode::kTruncatedTrailer, "TRUNCATED_TRAILER",
     absl::StatusCode::kDataLoss},
    {FrameErrorCode::kEnvelopeNotSupported, "ENVELOPE_NOT_SUPPORTED",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kEndOfStream, "END_OF_STREAM", absl::StatusCode::kOutOfRange},
    {FrameErrorCode::kIdleTimeout, "IDLE_TIMEOUT", absl::StatusCode::kDeadlineExceeded},
    {FrameErrorCode::kStallTimeout, "STALL_TIMEOUT", absl::StatusCode::kDeadlineExceeded},
    {FrameErrorCode::kConnectionClosed, "CONNECTION_CLOSED",
     absl::StatusCode::kFailedPrecondition},
    {FrameErrorCode::kIoError, "IO_ERROR", absl::StatusCode::kUnavailable},
    {FrameErrorCode::kMemoryBudgetExceeded, "MEMORY_BUDGET_EXCEEDED",
     absl::StatusCode::kResourceExhausted},
    {FrameErrorCode::kConnectionLimit, "CONNECTION_LIMIT",
     absl::StatusCode::kResourceExhausted},
    {FrameErrorCode::kPeerRefused, "PEER_REFUSED", absl::StatusCode::kPermissionDenied},
    {FrameErrorCode::kDatagramTruncated, "DATAGRAM_TRUNCATED", absl::StatusCode::kDataLoss},
    {FrameErrorCode::kOutputBudgetExceeded, "OUTPUT_BUDGET_EXCEEDED",
     absl::StatusCode::kResourceExhausted},
    {FrameErrorCode::kShuttingDown, "SHUTTING_DOWN", absl::StatusCode::kUnavailable},
    {FrameErrorCode::kHandlerError, "HANDLER_ERROR", absl::StatusCode::kUnknown},
    {FrameErrorCode::kDatagramTrailingBytes, "DATAGRAM_TRAILING_BYTES",
     absl::StatusCode::kInvalidArgument},
    {FrameErrorCode::kDatagramTooLarge, "DATAGRAM_TOO_LARGE",
     absl::StatusCode::kResourceExhausted},
};

const CodeInfo* Find(FrameErrorCode code) {
  for (const CodeInfo& info : kCodes) {
    if (info.code == code) return &info;
  }
  return nullptr;
}

}  // namespace

absl::string_view FrameErrorCodeName(FrameErrorCode code) {
  const CodeInfo* info = Find(code);
  return info == nullptr ? "UNKNOWN" : info->name;
}

bool ParseFrameErrorCode(absl::string_view name, FrameErrorCode* code) {
  for (const CodeInfo& info : kCodes) {
    if (info.name == name) {
      *code = info.code;
      return true;
    }
  }
  return false;
}

absl::StatusCode CanonicalCodeFor(FrameErrorCode code) {
  const CodeInfo* info = Find(code);
  return info == nullptr ? absl::StatusCode::kUnknown : info->canonical;
}

absl::Status WithFrameErrorCode(absl::Status status, FrameErrorCode code) {
  if (!status.ok()) {
    status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(code))));
  }
  return status;
}

absl::Status MakeFrameError(FrameErrorCode code, absl::string_view message) {
  return WithFrameErrorCode(
      absl::Status(CanonicalCodeFor(code),
                   absl::StrCat(FrameErrorCodeName(code), ": ", message)),
      code);
}

FrameErrorCode GetFrameErrorCode(const absl::Status& status) {
  if (status.ok()) return FrameErrorCode::kNone;
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return FrameErrorCode::kNone;
  std::string text(*payload);
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return FrameErrorCode::kNone;
    value = value * 10 + (c - '0');
    if (value > 1000) return FrameErrorCode::kNone;
  }
  FrameErrorCode code = static_cast<FrameErrorCode>(value);
  return Find(code) == nullptr ? FrameErrorCode::kNone : code;
}

bool IsTruncation(FrameErrorCode code) {
  return code == FrameErrorCode::kTruncatedHeader ||
         code == FrameErrorCode::kTruncatedEnvelope ||
         code == FrameErrorCode::kTruncatedPayload ||
         code == FrameErrorCode::kTruncatedTrailer;
}

}  // namespace lpframe
