// File: lib/frame_error.h
//
// Typed framing errors. Every error the codec reports is an absl::Status
// with a canonical code chosen per cause (table below) and a FrameErrorCode
// attached as a Status payload, so callers can branch on the exact cause:
//
//   absl::Status s = decoder.Finish();
//   if (GetFrameErrorCode(s) == FrameErrorCode::kTruncatedPayload) ...
//
// Cause                        FrameErrorCode           absl::StatusCode
// ---------------------------  -----------------------  -------------------
// magic bytes wrong            kBadMagic                kInvalidArgument
// HTTP / TLS / SSH on the port kForeignProtocol         kInvalidArgument
// unknown version              kUnsupportedVersion      kUnimplemented
// header check mismatch        kHeaderCorrupt           kDataLoss
// reserved flag bit set        kReservedFlags           kInvalidArgument
// malformed length prefix      kMalformedLength         kInvalidArgument
// envelope over the limit      kEnvelopeTooLarge        kResourceExhausted
// payload over the limit       kPayloadTooLarge         kResourceExhausted
// envelope not a protobuf      kInvalidEnvelope         kInvalidArgument
// checksum trailer mismatch    kChecksumMismatch        kDataLoss
// EOF inside header            kTruncatedHeader         kDataLoss
// EOF inside envelope          kTruncatedEnvelope       kDataLoss
// EOF inside payload           kTruncatedPayload        kDataLoss
// EOF inside checksum trailer  kTruncatedTrailer        kDataLoss
// sender: envelope not allowed kEnvelopeNotSupported    kInvalidArgument
//
// Reported by the io layer (lib/io), which frames real connections:
// peer closed at a boundary    kEndOfStream             kOutOfRange
// no message within idle time  kIdleTimeout             kDeadlineExceeded
// message stalled mid-frame    kStallTimeout            kDeadlineExceeded
// use after close / failure    kConnectionClosed        kFailedPrecondition
// socket error (reset, EPIPE)  kIoError                 (from errno)
// input over a memory budget   kMemoryBudgetExceeded    kResourceExhausted
// server at max connections    kConnectionLimit         kResourceExhausted
// VerifyPeer refused the peer  kPeerRefused             kPermissionDenied
// datagram cut (MSG_TRUNC)     kDatagramTruncated       kDataLoss
// unread output over budget    kOutputBudgetExceeded    kResourceExhausted
// server shutting down         kShuttingDown            kUnavailable
// handler returned an error    kHandlerError            (the handler's code)
// datagram: bytes after frame  kDatagramTrailingBytes   kInvalidArgument
// sender: frame over datagram  kDatagramTooLarge        kResourceExhausted
//
// docs/PROTOCOL.md section 7 is the normative version of this table.
#ifndef LPFRAME_LIB_FRAME_ERROR_H_
#define LPFRAME_LIB_FRAME_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lpframe {

enum class FrameErrorCode : int {
  kNone = 0,  // not a framing error (OK, or a status from elsewhere)
  kBadMagic = 1,
  kForeignProtocol = 2,
  kUnsupportedVersion = 3,
  kHeaderCorrupt = 4,
  kReservedFlags = 5,
  kMalformedLength = 6,
  kEnvelopeTooLarge = 7,
  kPayloadTooLarge = 8,
  kInvalidEnvelope = 9,
  kChecksumMismatch = 10,
  kTruncatedHeader = 11,
  kTruncatedEnvelope = 12,
  kTruncatedPayload = 13,
  kTruncatedTrailer = 14,
  kEnvelopeNotSupported = 15,
  kEndOfStream = 16,
  kIdleTimeout = 17,
  kStallTimeout = 18,
  kConnectionClosed = 19,
  kIoError = 20,
  // Server-level refusals (lib/server): the connection or datagram is
  // refused, the server keeps serving others.
  kMemoryBudgetExceeded = 21,
  kConnectionLimit = 22,
  kPeerRefused = 23,
  kDatagramTruncated = 24,
  kOutputBudgetExceeded = 25,
  kShuttingDown = 26,
  kHandlerError = 27,
  // Datagram transports (lib/io/datagram_socket.h): one frame per datagram.
  kDatagramTrailingBytes = 28,
  kDatagramTooLarge = 29,
};

// Stable upper-snake name used in test vectors and reports, e.g.
// "PAYLOAD_TOO_LARGE". "NONE" for kNone.
absl::string_view FrameErrorCodeName(FrameErrorCode code);

// Inverse of FrameErrorCodeName. Returns false for an unknown name.
bool ParseFrameErrorCode(absl::string_view name, FrameErrorCode* code);

// The canonical absl code used for `code` (see the table above).
absl::StatusCode CanonicalCodeFor(FrameErrorCode code);

// Attaches `code` to `status` (keeping its canonical code and message).
absl::Status WithFrameErrorCode(absl::Status status, FrameErrorCode code);

// Builds the status for `code`: canonical code, `message`, and the typed
// payload. The message is prefixed with the name, e.g.
// "PAYLOAD_TOO_LARGE: frame at stream offset 0 declares ...".
absl::Status MakeFrameError(FrameErrorCode code, absl::string_view message);

// The FrameErrorCode attached to `status`, or kNone when there is none.
FrameErrorCode GetFrameErrorCode(const absl::Status& status);

// True for the truncation codes (EOF inside a frame).
bool IsTruncation(FrameErrorCode code);

}  // namespace lpframe

#endif  // LPFRAME_LIB_FRAME_ERROR_H_
