// Tests for PackTypedMessage / UnpackTypedMessage. lpframe.Envelope is the
// only generated message available, so it is also the payload type here.
#include "lib/typed_message.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/message.h"

namespace lpframe {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

Envelope Payload(size_t big_value_bytes = 0) {
  Envelope p;
  p.set_id(99);
  p.set_kind(KIND_CHUNK);
  p.set_content_type("application/x-inner");
  (*p.mutable_metadata())["a"] = "1";
  (*p.mutable_metadata())["big"] = std::string(big_value_bytes, '\xab');
  p.mutable_chunk()->set_index(3);
  p.mutable_chunk()->set_digest_algorithm("xxh3-64");
  p.mutable_status()->set_code(14);
  return p;
}

// A Cord of `bytes` cut into external pieces of at least 600 bytes.
absl::Cord Chunked(const std::string& bytes, size_t piece) {
  absl::Cord cord;
  for (size_t i = 0; i < bytes.size(); i += piece) {
    auto* owned = new std::string(bytes.substr(i, piece));
    cord.Append(absl::MakeCordFromExternal(*owned, [owned] { delete owned; }));
  }
  return cord;
}

TEST(TypedMessageTest, ContentTypeHelpers) {
  struct Case {
    std::string content_type;
    std::string type_name;
  };
  const Case cases[] = {
      {"type.googleapis.com/lpframe.Envelope", "lpframe.Envelope"},
      {"type.googleapis.com/a.b.C", "a.b.C"},
      {"type.googleapis.com/", ""},
      {"application/octet-stream", ""},
      {"", ""},
      {"TYPE.googleapis.com/x.Y", ""},
      {"type.googleapis.co/x.Y", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content_type);
    EXPECT_EQ(TypeNameFromContentType(c.content_type), c.type_name);
  }
  EXPECT_EQ(ContentTypeForTypeName("lpframe.Envelope"), "type.googleapis.com/lpframe.Envelope");
  EXPECT_EQ(TypeNameFromContentType(ContentTypeForTypeName("x.y.Z")), "x.y.Z");
}

TEST(TypedMessageTest, PackSetsContentTypeAndKeepsTheEnvelope) {
  Envelope outer;
  outer.set_id(5);
  outer.set_kind(KIND_REQUEST);
  outer.set_content_type("will be replaced");
  (*outer.mutable_metadata())["trace"] = "t";
  const Envelope inner = Payload();
  const Message m = PackTypedMessage(inner, outer);
  EXPECT_EQ(m.envelope.content_type(), "type.googleapis.com/lpframe.Envelope");
  EXPECT_EQ(m.envelope.id(), 5u);
  EXPECT_EQ(m.envelope.kind(), KIND_REQUEST);
  EXPECT_EQ(m.envelope.metadata().at("trace"), "t");
  Envelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(std::string(m.payload)));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, inner));
  // Default envelope argument.
  EXPECT_EQ(PackTypedMessage(inner).envelope.content_type(),
            "type.googleapis.com/lpframe.Envelope");
  EXPECT_EQ(PackTypedMessage(inner).envelope.id(), 0u);
}

TEST(TypedMessageTest, RoundTrip) {
  for (size_t big : {size_t{0}, size_t{10}, size_t{5000}, size_t{300000}}) {
    SCOPED_TRACE(absl::StrCat("payload with a ", big, "-byte field"));
    const Envelope inner = Payload(big);
    const Message m = PackTypedMessage(inner);
    Envelope out;
    out.set_id(1234);  // Unpack replaces, not merges
    (*out.mutable_metadata())["stale"] = "x";
    ASSERT_TRUE(UnpackTypedMessage(m, &out).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(out, inner)) << out.ShortDebugString().substr(0, 200);
  }
}

TEST(TypedMessageTest, RoundTripOverAMultiChunkPayload) {
  const Envelope inner = Payload(20000);
  Message m = PackTypedMessage(inner);
  const std::string bytes(m.payload);
  for (size_t piece : {size_t{600}, size_t{1000}, size_t{4096}, size_t{7777}}) {
    SCOPED_TRACE(absl::StrCat("pieces of ", piece));
    m.payload = Chunked(bytes, piece);
    size_t chunks = 0;
    for (absl::string_view c : m.payload.Chunks()) chunks += c.empty() ? 0 : 1;
    ASSERT_GE(chunks, bytes.size() / piece) << "precondition: a multi-chunk Cord";
    Envelope out;
    ASSERT_TRUE(UnpackTypedMessage(m, &out).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(out, inner));
  }
}

TEST(TypedMessageTest, RoundTripThroughTheCodec) {
  // The payload arrives as a chain of 256 KiB blocks and is parsed in place.
  const Envelope inner = Payload(700000);
  Envelope outer;
  outer.set_id(77);
  const Message sent = PackTypedMessage(inner, outer);
  absl::StatusOr<EncodedFrame> frame = FrameEncoder().Encode(sent);
  ASSERT_TRUE(frame.ok()) << frame.status();
  FrameDecoder decoder;
  const std::string wire = frame->ToString();
  for (size_t i = 0; i < wire.size(); i += 50000) decoder.Feed(wire.substr(i, 50000));
  Message got;
  ASSERT_TRUE(decoder.Next(&got).is_message());
  size_t chunks = 0;
  for (absl::string_view c : got.payload.Chunks()) chunks += c.empty() ? 0 : 1;
  EXPECT_GE(chunks, 3u);
  Envelope out;
  ASSERT_TRUE(UnpackTypedMessage(got, &out).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(out, inner));
  EXPECT_EQ(got.envelope.id(), 77u);
}

TEST(TypedMessageTest, WrongTypeNamesBothTypes) {
  const std::string contents[] = {
      "type.googleapis.com/acme.OtherMessage",
      "type.googleapis.com/lpframe.EnvelopeX",
      "type.googleapis.com/",
      "application/octet-stream",
  };
  for (const std::string& content_type : contents) {
    SCOPED_TRACE(content_type);
    Message m = PackTypedMessage(Payload());
    m.envelope.set_content_type(content_type);
    Envelope out;
    absl::Status s = UnpackTypedMessage(m, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(content_type));
    EXPECT_THAT(std::string(s.message()), HasSubstr("lpframe.Envelope"));
  }
}

TEST(TypedMessageTest, EmptyContentTypeIsAccepted) {
  Message m = PackTypedMessage(Payload());
  m.envelope.clear_content_type();
  Envelope out;
  ASSERT_TRUE(UnpackTypedMessage(m, &out).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(out, Payload()));
}

TEST(TypedMessageTest, InvalidPayloadBytes) {
  const std::string bad[] = {
      std::string(10, '\xff'),
      std::string("\x1a\x10" "abc", 5),  // string longer than the payload
      std::string("\x1a\x02\xff\xfe", 4),  // invalid UTF-8 in a proto3 string
  };
  for (const std::string& bytes : bad) {
    SCOPED_TRACE(absl::CEscape(bytes));
    Message m;
    m.envelope.set_id(31337);
    m.envelope.set_content_type(ContentTypeForTypeName("lpframe.Envelope"));
    m.payload = absl::Cord(bytes);
    Envelope out;
    absl::Status s = UnpackTypedMessage(m, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("lpframe.Envelope"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("31337"));
  }
  // An empty payload is the default message.
  Message empty;
  Envelope out;
  out.set_id(3);
  ASSERT_TRUE(UnpackTypedMessage(empty, &out).ok());
  EXPECT_EQ(out.ByteSizeLong(), 0u);
}

}  // namespace
}  // namespace lpframe
