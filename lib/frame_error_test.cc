// Tests for the typed framing errors (PROTOCOL.md §7.1 table).
#include "lib/frame_error.h"

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {

void PrintTo(FrameErrorCode code, std::ostream* os) { *os << FrameErrorCodeName(code); }

namespace {

using ::testing::StartsWith;

struct Row {
  FrameErrorCode code;
  int number;
  const char* name;
  absl::StatusCode canonical;
  bool truncation;
};

// PROTOCOL.md §7.1, written out independently of the implementation.
constexpr Row kTable[] = {
    {FrameErrorCode::kBadMagic, 1, "BAD_MAGIC", absl::StatusCode::kInvalidArgument, false},
    {FrameErrorCode::kForeignProtocol, 2, "FOREIGN_PROTOCOL", absl::StatusCode::kInvalidArgument,
     false},
    {FrameErrorCode::kUnsupportedVersion, 3, "UNSUPPORTED_VERSION",
     absl::StatusCode::kUnimplemented, false},
    {FrameErrorCode::kHeaderCorrupt, 4, "HEADER_CORRUPT", absl::StatusCode::kDataLoss, false},
    {FrameErrorCode::kReservedFlags, 5, "RESERVED_FLAGS", absl::StatusCode::kInvalidArgument,
     false},
    {FrameErrorCode::kMalformedLength, 6, "MALFORMED_LENGTH", absl::StatusCode::kInvalidArgument,
     false},
    {FrameErrorCode::kEnvelopeTooLarge, 7, "ENVELOPE_TOO_LARGE",
     absl::StatusCode::kResourceExhausted, false},
    {FrameErrorCode::kPayloadTooLarge, 8, "PAYLOAD_TOO_LARGE",
     absl::StatusCode::kResourceExhausted, false},
    {FrameErrorCode::kInvalidEnvelope, 9, "INVALID_ENVELOPE", absl::StatusCode::kInvalidArgument,
     false},
    {FrameErrorCode::kChecksumMismatch, 10, "CHECKSUM_MISMATCH", absl::StatusCode::kDataLoss,
     false},
    {FrameErrorCode::kTruncatedHeader, 11, "TRUNCATED_HEADER", absl::StatusCode::kDataLoss, true},
    {FrameErrorCode::kTruncatedEnvelope, 12, "TRUNCATED_ENVELOPE", absl::StatusCode::kDataLoss,
     true},
    {FrameErrorCode::kTruncatedPayload, 13, "TRUNCATED_PAYLOAD", absl::StatusCode::kDataLoss,
     true},
    {FrameErrorCode::kTruncatedTrailer, 14, "TRUNCATED_TRAILER", absl::StatusCode::kDataLoss,
     true},
    {FrameErrorCode::kEnvelopeNotSupported, 15, "ENVELOPE_NOT_SUPPORTED",
     absl::StatusCode::kInvalidArgument, false},
    {FrameErrorCode::kEndOfStream, 16, "END_OF_STREAM", absl::StatusCode::kOutOfRange, false},
    {FrameErrorCode::kIdleTimeout, 17, "IDLE_TIMEOUT", absl::StatusCode::kDeadlineExceeded,
     false},
    {FrameErrorCode::kStallTimeout, 18, "STALL_TIMEOUT", absl::StatusCode::kDeadlineExceeded,
     false},
    {FrameErrorCode::kConnectionClosed, 19, "CONNECTION_CLOSED",
     absl::StatusCode::kFailedPrecondition, false},
    {FrameErrorCode::kIoError, 20, "IO_ERROR", absl::StatusCode::kUnavailable, false},
    {FrameErrorCode::kMemoryBudgetExceeded, 21, "MEMORY_BUDGET_EXCEEDED",
     absl::StatusCode::kResourceExhausted, false},
    {FrameErrorCode::kConnectionLimit, 22, "CONNECTION_LIMIT",
     absl::StatusCode::kResourceExhausted, false},
    {FrameErrorCode::kPeerRefused, 23, "PEER_REFUSED", absl::StatusCode::kPermissionDenied,
     false},
    {FrameErrorCode::kDatagramTruncated, 24, "DATAGRAM_TRUNCATED", absl::StatusCode::kDataLoss,
     false},
    {FrameErrorCode::kOutputBudgetExceeded, 25, "OUTPUT_BUDGET_EXCEEDED",
     absl::StatusCode::kResourceExhausted, false},
    {FrameErrorCode::kShuttingDown, 26, "SHUTTING_DOWN", absl::StatusCode::kUnavailable, false},
    {FrameErrorCode::kHandlerError, 27, "HANDLER_ERROR", absl::StatusCode::kUnknown, false},
    {FrameErrorCode::kDatagramTrailingBytes, 28, "DATAGRAM_TRAILING_BYTES",
     absl::StatusCode::kInvalidArgument, false},
    {FrameErrorCode::kDatagramTooLarge, 29, "DATAGRAM_TOO_LARGE",
     absl::StatusCode::kResourceExhausted, false},
};

TEST(FrameErrorTest, Table) {
  for (const Row& row : kTable) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(static_cast<int>(row.code), row.number);
    EXPECT_EQ(FrameErrorCodeName(row.code), row.name);
    FrameErrorCode parsed = FrameErrorCode::kNone;
    EXPECT_TRUE(ParseFrameErrorCode(row.name, &parsed));
    EXPECT_EQ(parsed, row.code);
    EXPECT_EQ(CanonicalCodeFor(row.code), row.canonical);
    EXPECT_EQ(IsTruncation(row.code), row.truncation);

    const absl::Status s = MakeFrameError(row.code, "frame at stream offset 7 is bad");
    EXPECT_EQ(s.code(), row.canonical);
    EXPECT_EQ(s.message(), absl::StrCat(row.name, ": frame at stream offset 7 is bad"));
    EXPECT_EQ(GetFrameErrorCode(s), row.code);
    // The code survives copies and a rewrite of the message.
    const absl::Status copy = s;
    EXPECT_EQ(GetFrameErrorCode(copy), row.code);
    absl::Status rewritten(s.code(), "context: " + std::string(s.message()));
    s.ForEachPayload([&rewritten](absl::string_view url, const absl::Cord& payload) {
      rewritten.SetPayload(url, payload);
    });
    EXPECT_EQ(GetFrameErrorCode(rewritten), row.code);
  }
}

TEST(FrameErrorTest, NamesAreDistinct) {
  for (const Row& a : kTable) {
    for (const Row& b : kTable) {
      if (a.code != b.code) {
        EXPECT_NE(std::string(a.name), std::string(b.name));
      }
    }
  }
}

TEST(FrameErrorTest, NoneAndUnknown) {
  EXPECT_EQ(FrameErrorCodeName(FrameErrorCode::kNone), "NONE");
  FrameErrorCode parsed = FrameErrorCode::kBadMagic;
  EXPECT_TRUE(ParseFrameErrorCode("NONE", &parsed));
  EXPECT_EQ(parsed, FrameErrorCode::kNone);
  EXPECT_FALSE(IsTruncation(FrameErrorCode::kNone));
  for (const char* bad : {"", "bad_magic", "BAD_MAGIC ", "UNKNOWN", "TRUNCATED"}) {
    SCOPED_TRACE(bad);
    FrameErrorCode code = FrameErrorCode::kChecksumMismatch;
    EXPECT_FALSE(ParseFrameErrorCode(bad, &code));
    EXPECT_EQ(code, FrameErrorCode::kChecksumMismatch) << "left unchanged";
  }
  const FrameErrorCode out_of_range = static_cast<FrameErrorCode>(99);
  EXPECT_EQ(FrameErrorCodeName(out_of_range), "UNKNOWN");
  EXPECT_EQ(CanonicalCodeFor(out_of_range), absl::StatusCode::kUnknown);
  EXPECT_FALSE(IsTruncation(out_of_range));
}

TEST(FrameErrorTest, StatusesWithoutACode) {
  EXPECT_EQ(GetFrameErrorCode(absl::OkStatus()), FrameErrorCode::kNone);
  EXPECT_EQ(GetFrameErrorCode(absl::DataLossError("PAYLOAD_TOO_LARGE: looks like one")),
            FrameErrorCode::kNone);
  // A payload under the same URL that is not a valid code.
  std::string url;
  MakeFrameError(FrameErrorCode::kBadMagic, "x")
      .ForEachPayload([&url](absl::string_view u, const absl::Cord&) { url = std::string(u); });
  ASSERT_FALSE(url.empty());
  for (const char* junk : {"", "abc", "-1", "0", "99", "30", "1000000000000", "8 "}) {
    SCOPED_TRACE(junk);
    absl::Status s = absl::InternalError("x");
    s.SetPayload(url, absl::Cord(junk));
    EXPECT_EQ(GetFrameErrorCode(s), FrameErrorCode::kNone);
  }
  // An OK status carries no code even if asked to.
  EXPECT_TRUE(MakeFrameError(FrameErrorCode::kNone, "fine").ok());
}

}  // namespace
}  // namespace lpframe
