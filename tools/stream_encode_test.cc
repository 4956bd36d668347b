#include "tools/stream_encode.h"

#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_decoder.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;

EncoderOptions Native() { return EncoderOptions(); }

Message ParseOk(absl::string_view line, const EncoderOptions& options = Native()) {
  absl::StatusOr<std::optional<Message>> m = ParseStreamLine(line, options);
  EXPECT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m.ok() && m->has_value()) << line;
  return m.ok() && m->has_value() ? **m : Message();
}

std::string ParseError(absl::string_view line, const EncoderOptions& options = Native()) {
  absl::StatusOr<std::optional<Message>> m = ParseStreamLine(line, options);
  EXPECT_FALSE(m.ok()) << line;
  return m.ok() ? "" : std::string(m.status().message());
}

std::vector<Message> Decode(absl::string_view stream, Dialect dialect) {
  DecoderOptions options;
  options.dialect = dialect;
  FrameDecoder decoder(options);
  decoder.Feed(stream);
  std::vector<Message> out;
  Message m;
  while (decoder.Next(&m).is_message()) out.push_back(m);
  EXPECT_TRUE(decoder.Finish().ok());
  return out;
}

TEST(ParseStreamLineTest, EnvelopeAndQuotedPayload) {
  Message m = ParseOk(
      R"(envelope id: 3 kind: KIND_REQUEST metadata { key: "k" value: "v\001" } payload "a\tb\x00")");
  EXPECT_EQ(m.envelope.id(), 3u);
  EXPECT_EQ(m.envelope.kind(), KIND_REQUEST);
  EXPECT_EQ(m.envelope.metadata().at("k"), std::string("v\001"));
  EXPECT_EQ(std::string(m.payload), std::string("a\tb\0", 4));
}

TEST(ParseStreamLineTest, EitherPartMayBeOmitted) {
  Message only_payload = ParseOk(R"(payload "hi")");
  EXPECT_EQ(only_payload.envelope.ByteSizeLong(), 0u);
  EXPECT_EQ(std::string(only_payload.payload), "hi");
  Message only_envelope = ParseOk("  envelope id: 3 kind: KIND_REQUEST  ");
  EXPECT_EQ(only_envelope.envelope.id(), 3u);
  EXPECT_TRUE(only_envelope.payload.empty());
}

TEST(ParseStreamLineTest, BlankAndCommentLinesAreSkipped) {
  for (absl::string_view line : {"", "   \r", "# comment", "  # indented payload \"x\""}) {
    absl::StatusOr<std::optional<Message>> m = ParseStreamLine(line, Native());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_FALSE(m->has_value()) << line;
  }
}

TEST(ParseStreamLineTest, PayloadSpecs) {
  EXPECT_EQ(std::string(ParseOk("payload hex:0A0b00ff").payload), std::string("\x0a\x0b\0\xff", 4));
  EXPECT_TRUE(ParseOk("payload hex:").payload.empty());
  EXPECT_EQ(std::string(ParseOk("payload repeat:ff:3").payload), "\xff\xff\xff");
  EXPECT_EQ(std::string(ParseOk("payload repeat:7:2").payload), "\x07\x07");
  EXPECT_TRUE(ParseOk("envelope id: 1 payload empty").payload.empty());

  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/payload.bin");
  std::ofstream(path, std::ios::binary) << std::string("file\0bytes", 10);
  EXPECT_EQ(std::string(ParseOk("payload file:" + path).payload), std::string("file\0bytes", 10));
}

TEST(ParseStreamLineTest, TypedPayloadSetsContentTypeInNativeOnly) {
  Message m = ParseOk("envelope id: 2 payload typed:lpframe.Status code: 5 message: \"x\"");
  EXPECT_EQ(m.envelope.content_type(), "type.googleapis.com/lpframe.Status");
  Status status;
  ASSERT_TRUE(status.ParseFromString(std::string(m.payload)));
  EXPECT_EQ(status.code(), 5);
  EXPECT_EQ(status.message(), "x");

  EncoderOptions u32be;
  u32be.dialect = Dialect::kU32BE;
  Message bare = ParseOk("payload typed:google.protobuf.Duration seconds: 90", u32be);
  EXPECT_EQ(bare.envelope.ByteSizeLong(), 0u);
  EXPECT_FALSE(bare.payload.empty());
}

TEST(ParseStreamLineTest, PayloadWordInsideQuotedEnvelopeStringDoesNotSplit) {
  Message m = ParseOk(
      R"(envelope content_type: "payload \" payload" metadata { key: "payload" value: 'x payload' } payload "p")");
  EXPECT_EQ(m.envelope.content_type(), "payload \" payload");
  EXPECT_EQ(m.envelope.metadata().at("payload"), "x payload");
  EXPECT_EQ(std::string(m.payload), "p");
}

TEST(ParseStreamLineTest, ErrorsNameTheColumnAndWhatWasWrong) {
  EXPECT_THAT(ParseError("envelope id: abc"), HasSubstr("column 14: envelope: Expected integer"));
  EXPECT_THAT(ParseError("envelope nope: 1"), HasSubstr("column 14: envelope: Message type \"lpframe.Envelope\" has no field named \"nope\""));
  EXPECT_THAT(ParseError("payload hex:0g"), HasSubstr("column 14: 'g' is not a hex digit"));
  EXPECT_THAT(ParseError("payload hex:abc"), HasSubstr("odd number of hex digits (3)"));
  EXPECT_THAT(ParseError("payload \"abc"), HasSubstr("column 9: unterminated string"));
  EXPECT_THAT(ParseError("payload \"abc\" x"), HasSubstr("column 14: unexpected text"));
  EXPECT_THAT(ParseError("payload \"\\q\""), HasSubstr("bad string"));
  EXPECT_THAT(ParseError("payload repeat:zz:3"), HasSubstr("expected repeat:<byte hex>:<count>"));
  EXPECT_THAT(ParseError("payload"), HasSubstr("missing payload spec"));
  EXPECT_THAT(ParseError("payload base64:AAAA"), HasSubstr("unknown payload spec 'base64:AAAA'"));
  EXPECT_THAT(ParseError("payload typed:no.Such x: 1"), HasSubstr("unknown message type 'no.Such'"));
  EXPECT_THAT(ParseError("payload typed:lpframe.Status code: x"),
              HasSubstr("column 36: lpframe.Status: Expected integer"));
  EXPECT_THAT(ParseError("payload file:/no/such/file"),
              HasSubstr("cannot read payload file '/no/such/file'"));
  EXPECT_THAT(ParseError("id: 3"), HasSubstr("column 1: expected 'envelope' or 'payload', found 'id:'"));
}

TEST(ParseStreamLineTest, RepeatOverThePayloadLimitIsRefusedBeforeAllocating) {
  EncoderOptions options;
  options.limits.max_payload_bytes = 10;
  absl::StatusOr<std::optional<Message>> m =
      ParseStreamLine("payload repeat:00:1000000000000", options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(GetFrameErrorCode(m.status()), FrameErrorCode::kPayloadTooLarge);
}

TEST(EncodeTextTest, ErrorsNameTheLineNumber) {
  absl::StatusOr<std::string> out = EncodeTextToString(
      "# header\n\npayload \"ok\"\nenvelope id: 1 kind: KIND_NOPE\n", Native());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("line 4, column 31: envelope: Unknown enumeration value"));
  EXPECT_THAT(out.status().message(), HasSubstr("KIND_NOPE"));
}

TEST(EncodeTextTest, StopsAtTheFirstErrorAfterSinkingEarlierFrames) {
  std::istringstream in("payload \"a\"\npayload \"b\"\npayload hex:1\npayload \"c\"\n");
  std::string sunk;
  uint64_t frames = 0;
  absl::Status status = EncodeText(
      in, Native(),
      [&sunk](const EncodedFrame& f) {
        f.AppendTo(&sunk);
        return absl::OkStatus();
      },
      &frames);
  EXPECT_THAT(status.message(), HasSubstr("line 3, column 13"));
  EXPECT_EQ(frames, 2u);
  EXPECT_EQ(Decode(sunk, Dialect::kNative).size(), 2u);
}

TEST(EncodeTextTest, InteropDialectRefusesEnvelopeWithLineNumber) {
  EncoderOptions options;
  options.dialect = Dialect::kVarint32;
  absl::StatusOr<std::string> out =
      EncodeTextToString("payload \"fine\"\nenvelope id: 3 payload \"x\"\n", options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(GetFrameErrorCode(out.status()), FrameErrorCode::kEnvelopeNotSupported);
  EXPECT_THAT(out.status().message(), HasSubstr("line 2: ENVELOPE_NOT_SUPPORTED"));
}

TEST(EncodeTextTest, EncoderLimitErrorsKeepTheirCode) {
  EncoderOptions options;
  options.limits.max_envelope_bytes = 4;
  absl::StatusOr<std::string> out =
      EncodeTextToString("envelope content_type: \"too long for four bytes\"\n", options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(GetFrameErrorCode(out.status()), FrameErrorCode::kEnvelopeTooLarge);
  EXPECT_THAT(out.status().message(), HasSubstr("line 1: ENVELOPE_TOO_LARGE"));
}

TEST(EncodeTextTest, AllDialectsRoundTrip) {
  const std::string text = "payload \"one\"\n\npayload empty\npayload repeat:61:300\r\n";
  for (Dialect dialect : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
    SCOPED_TRACE(DialectName(dialect));
    EncoderOptions options;
    options.dialect = dialect;
    absl::StatusOr<std::string> stream = EncodeTextToString(text, options);
    ASSERT_TRUE(stream.ok()) << stream.status();
    std::vector<Message> messages = Decode(*stream, dialect);
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(std::string(messages[0].payload), "one");
    EXPECT_TRUE(messages[1].payload.empty());
    EXPECT_EQ(std::string(messages[2].payload), std::string(300, 'a'));
  }
}

TEST(EncodeTextTest, ChecksumOptionSetsTheFlag) {
  EncoderOptions options;
  options.checksum = true;
  absl::StatusOr<std::string> stream = EncodeTextToString("payload \"x\"\n", options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(stream->size(), 24u + 1 + 8);
  EXPECT_EQ((*stream)[7], '\x01');  // flags low byte: CHECKSUM
}

TEST(EncodeTextToFileTest, WritesTheSameBytes) {
  const std::string text = "envelope id: 1 payload \"abc\"\npayload repeat:00:10000\n";
  absl::StatusOr<std::string> expected = EncodeTextToString(text, Native());
  ASSERT_TRUE(expected.ok());
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  std::istringstream in(text);
  uint64_t frames = 0;
  ASSERT_TRUE(EncodeTextToFile(in, Native(), file, &frames).ok());
  EXPECT_EQ(frames, 2u);
  std::string written(static_cast<size_t>(std::ftell(file)), '\0');
  std::rewind(file);
  ASSERT_EQ(std::fread(&written[0], 1, written.size(), file), written.size());
  std::fclose(file);
  EXPECT_EQ(written, *expected);
}

}  // namespace
}  // namespace lpframe
