#include "tools/stream_dump.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/wire_format.h"
#include "tools/stream_encode.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Encode(absl::string_view text, Dialect dialect = Dialect::kNative,
                   bool checksum = false) {
  EncoderOptions options;
  options.dialect = dialect;
  options.checksum = checksum;
  absl::StatusOr<std::string> stream = EncodeTextToString(text, options);
  EXPECT_TRUE(stream.ok()) << stream.status();
  return stream.ok() ? *stream : "";
}

struct Dump {
  DumpSummary summary;
  std::string text;
};

Dump DumpOf(absl::string_view stream, Dialect dialect = Dialect::kNative,
            size_t chunk_size = 8192, size_t preview = 32) {
  DumpOptions options;
  options.decoder.dialect = dialect;
  options.payload_preview = preview;
  std::ostringstream out;
  Dump dump;
  dump.summary = DumpString(stream, options, &out, chunk_size);
  dump.text = out.str();
  return dump;
}

constexpr absl::string_view kTwoMessages =
    "envelope id: 7 kind: KIND_REQUEST metadata { key: \"k\" value: \"v\" } payload \"hello\"\n"
    "envelope id: 7 kind: KIND_RESPONSE payload hex:00ff\n";

TEST(StreamDumpTest, EncodedTextDumpsWithAllFields) {
  const std::string first = Encode(
      "envelope id: 7 kind: KIND_REQUEST metadata { key: \"k\" value: \"v\" } payload \"hello\"");
  const std::string stream = Encode(kTwoMessages);
  const Dump dump = DumpOf(stream);
  EXPECT_EQ(dump.summary.exit_code(), 0);
  EXPECT_EQ(dump.summary.messages, 2u);
  EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("#0 offset=0 wire=", first.size(),
                                                " flags=0x0000 envelope=", first.size() - 24 - 5,
                                                " payload=5\n")));
  EXPECT_THAT(dump.text, HasSubstr("  envelope: id: 7 kind: KIND_REQUEST metadata { key: \"k\" "
                                   "value: \"v\" }\n"));
  EXPECT_THAT(dump.text, HasSubstr("  payload:  0000  68 65 6c 6c 6f "));
  EXPECT_THAT(dump.text, HasSubstr("|hello|\n"));
  EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("#1 offset=", first.size(), " wire=",
                                                stream.size() - first.size())));
  EXPECT_THAT(dump.text, HasSubstr("  envelope: id: 7 kind: KIND_RESPONSE\n"));
  EXPECT_THAT(dump.text, HasSubstr("0000  00 ff "));
  EXPECT_THAT(dump.text, HasSubstr("|..|"));
  EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("2 messages, ", stream.size(),
                                                " bytes, clean end of stream\n")));
}

TEST(StreamDumpTest, ShowsChecksumFlagAndTrailer) {
  const std::string stream = Encode("payload \"x\"", Dialect::kNative, /*checksum=*/true);
  const Dump dump = DumpOf(stream);
  const uint64_t trailer = LoadBigEndian64(stream.data() + stream.size() - 8);
  EXPECT_THAT(dump.text, HasSubstr(absl::StrFormat(
                             "#0 offset=0 wire=33 flags=0x0001(CHECKSUM) checksum=0x%016x "
                             "envelope=0 payload=1\n",
                             trailer)));
  EXPECT_THAT(dump.text, HasSubstr("  envelope: (empty)\n"));
  EXPECT_EQ(dump.summary.exit_code(), 0);
}

TEST(StreamDumpTest, OutputDoesNotDependOnSegmentation) {
  const std::string stream = Encode(
      "envelope id: 1 payload repeat:61:20000\npayload empty\nenvelope id: 3\n"
      "payload \"tail\"\n",
      Dialect::kNative, /*checksum=*/true);
  const Dump whole = DumpOf(stream);
  EXPECT_THAT(whole.text, HasSubstr("4 messages"));
  for (size_t chunk : {1, 2, 7, 23, 24, 25, 4096}) {
    EXPECT_EQ(DumpOf(stream, Dialect::kNative, chunk).text, whole.text) << chunk;
  }
}

TEST(StreamDumpTest, EmptyStreamIsClean) {
  const Dump dump = DumpOf("");
  EXPECT_EQ(dump.text, "0 messages, 0 bytes, clean end of stream\n");
  EXPECT_EQ(dump.summary.exit_code(), 0);
}

TEST(StreamDumpTest, TruncatedStreamsReportCodeAndOffset) {
  const std::string one = Encode("envelope id: 1 payload \"0123456789\"", Dialect::kNative, true);
  const std::string stream = one + one;  // second frame starts at one.size()
  struct Case {
    size_t cut;  // bytes dropped from the end
    FrameErrorCode code;
  } cases[] = {
      {3, FrameErrorCode::kTruncatedTrailer},
      {12, FrameErrorCode::kTruncatedPayload},
      {one.size() - 25, FrameErrorCode::kTruncatedEnvelope},
      {one.size() - 10, FrameErrorCode::kTruncatedHeader},
  };
  for (const Case& c : cases) {
    const std::string name(FrameErrorCodeName(c.code));
    SCOPED_TRACE(name);
    const Dump dump = DumpOf(absl::string_view(stream).substr(0, stream.size() - c.cut));
    EXPECT_EQ(dump.summary.exit_code(), 1);
    EXPECT_EQ(GetFrameErrorCode(dump.summary.error), c.code);
    EXPECT_EQ(dump.summary.error_offset, one.size());
    EXPECT_EQ(dump.summary.messages, 1u);
    EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("error at byte offset ", one.size(),
                                                  " (frame #1): ", name, ": ")));
    EXPECT_THAT(dump.text, Not(HasSubstr("clean end of stream")));
  }
}

TEST(StreamDumpTest, HttpRequestIsRecognized) {
  for (Dialect dialect : {Dialect::kNative, Dialect::kU32BE}) {
    SCOPED_TRACE(DialectName(dialect));
    const Dump dump = DumpOf("GET / HTTP/1.1\r\n\r\n", dialect);
    EXPECT_EQ(dump.summary.exit_code(), 1);
    EXPECT_EQ(GetFrameErrorCode(dump.summary.error), FrameErrorCode::kForeignProtocol);
    EXPECT_THAT(dump.text, HasSubstr("error at byte offset 0 (frame #0): FOREIGN_PROTOCOL: "));
    EXPECT_THAT(dump.text, HasSubstr("HTTP"));
  }
}

TEST(StreamDumpTest, ChecksumMismatchPointsAtTheFrame) {
  const std::string first = Encode("payload \"aaaa\"", Dialect::kNative, true);
  std::string stream = first + first;
  stream[first.size() + 24] ^= 0x01;  // first payload byte of frame #1
  const Dump dump = DumpOf(stream);
  EXPECT_EQ(GetFrameErrorCode(dump.summary.error), FrameErrorCode::kChecksumMismatch);
  EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("error at byte offset ", first.size(),
                                                " (frame #1): CHECKSUM_MISMATCH")));
}

TEST(StreamDumpTest, LimitsApplyBeforeTheBody) {
  DumpOptions options;
  options.decoder.limits.max_payload_bytes = 100;
  std::ostringstream out;
  const std::string stream = Encode("payload repeat:00:1000");
  DumpSummary summary = DumpString(stream.substr(0, 30), options, &out);
  EXPECT_EQ(GetFrameErrorCode(summary.error), FrameErrorCode::kPayloadTooLarge);
  EXPECT_THAT(out.str(), HasSubstr("error at byte offset 0 (frame #0): PAYLOAD_TOO_LARGE"));
}

TEST(StreamDumpTest, AllDialectsRoundTrip) {
  const std::string text = "payload \"abc\"\npayload empty\npayload repeat:5a:200\n";
  struct Case {
    Dialect dialect;
    std::string first_frame;  // header line of frame #0
  } cases[] = {
      {Dialect::kNative, "#0 offset=0 wire=27 flags=0x0000 envelope=0 payload=3\n"},
      {Dialect::kVarint32, "#0 offset=0 wire=4 prefix=1 payload=3\n"},
      {Dialect::kU32BE, "#0 offset=0 wire=7 prefix=4 payload=3\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(DialectName(c.dialect));
    const std::string stream = Encode(text, c.dialect);
    const Dump dump = DumpOf(stream, c.dialect, /*chunk_size=*/5);
    EXPECT_EQ(dump.summary.exit_code(), 0) << dump.text;
    EXPECT_THAT(dump.text, HasSubstr(c.first_frame));
    EXPECT_THAT(dump.text, HasSubstr("  payload:  0000  61 62 63 "));
    EXPECT_THAT(dump.text, HasSubstr("#1 offset="));
    EXPECT_THAT(dump.text, HasSubstr("  payload:  (empty)\n"));
    EXPECT_THAT(dump.text, HasSubstr("payload=200\n"));
    EXPECT_THAT(dump.text, HasSubstr("|ZZZZZZZZZZZZZZZZ|"));
    EXPECT_THAT(dump.text, HasSubstr("            ... 168 more bytes\n"));
    EXPECT_THAT(dump.text, HasSubstr(absl::StrCat("3 messages, ", stream.size(),
                                                  " bytes, clean end of stream")));
    // The interop dialects have no envelope to show.
    EXPECT_EQ(dump.text.find("envelope:") != std::string::npos, c.dialect == Dialect::kNative);
  }
}

TEST(StreamDumpTest, TypedPayloadIsDecoded) {
  const Dump dump = DumpOf(Encode(
      "envelope id: 4 kind: KIND_ERROR payload typed:lpframe.Status code: 5 message: \"gone\"\n"
      "envelope content_type: \"type.googleapis.com/x.Unknown\" payload \"?\"\n"));
  EXPECT_THAT(dump.text, HasSubstr("content_type: \"type.googleapis.com/lpframe.Status\""));
  EXPECT_THAT(dump.text, HasSubstr("  typed:    lpframe.Status { code: 5 message: \"gone\" }\n"));
  EXPECT_THAT(dump.text, HasSubstr("  typed:    x.Unknown (unknown type, not decoded)\n"));
}

TEST(StreamDumpTest, PreviewSize) {
  const std::string stream = Encode("payload \"0123456789\"");
  EXPECT_THAT(DumpOf(stream, Dialect::kNative, 8192, 4).text,
              HasSubstr("|0123|\n            ... 6 more bytes\n"));
  EXPECT_THAT(DumpOf(stream, Dialect::kNative, 8192, 0).text,
              HasSubstr("  payload:  (10 bytes not shown)\n"));
}

TEST(DumpFdTest, ReadsAFileToEof) {
  const std::string stream = Encode(kTwoMessages) + "LPFX";
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/stream.lpf");
  std::ofstream(path, std::ios::binary) << stream;
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::ostringstream out;
  absl::StatusOr<DumpSummary> summary = DumpFd(fd, DumpOptions(), &out);
  close(fd);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->messages, 2u);
  EXPECT_EQ(GetFrameErrorCode(summary->error), FrameErrorCode::kBadMagic);
  EXPECT_EQ(out.str(), DumpOf(stream).text);
}

TEST(DumpFdTest, ReadErrorIsAnIoError) {
  std::ostringstream out;
  absl::StatusOr<DumpSummary> summary = DumpFd(-1, DumpOptions(), &out);
  EXPECT_FALSE(summary.ok());
  EXPECT_THAT(summary.status().message(), HasSubstr("reading the stream"));
}

}  // namespace
}  // namespace lpframe
