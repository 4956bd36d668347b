#include "lib/compact_envelope.h"

#include <climits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/envelope.pb.h"

namespace lpframe {
namespace {

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Id(uint64_t v) { return "\x08" + Varint(v); }
std::string KindField(uint64_t v) { return "\x10" + Varint(v); }

// An envelope with every kind of field set, so a parse that forgets to
// clear shows.
Envelope Dirty() {
  Envelope e;
  e.set_id(77);
  e.set_kind(KIND_ERROR);
  e.set_content_type("text/plain");
  (*e.mutable_metadata())["k"] = "v";
  e.mutable_status()->set_code(3);
  e.mutable_chunk()->set_index(9);
  return e;
}

// Checks the contract against protobuf for one input.
void ExpectParseAgreesWithProtobuf(const std::string& bytes, bool want_fast) {
  SCOPED_TRACE(absl::CEscape(bytes));
  Envelope fast = Dirty();
  const bool took = ParseCompactEnvelope(bytes, &fast);
  EXPECT_EQ(took, want_fast);
  if (!took) {
    EXPECT_EQ(fast.SerializeAsString(), Dirty().SerializeAsString()) << "*out was touched";
  }
  Envelope reference;
  const bool valid = reference.ParseFromString(bytes);
  if (took) {
    ASSERT_TRUE(valid) << "the fast path accepted bytes protobuf rejects";
    EXPECT_EQ(fast.id(), reference.id());
    EXPECT_EQ(fast.kind(), reference.kind());
    EXPECT_EQ(fast.SerializeAsString(), reference.SerializeAsString());
  }
}

TEST(ParseCompactEnvelope, Table) {
  struct Case {
    const char* name;
    std::string bytes;
    bool fast;
  };
  const std::vector<Case> cases = {
      {"empty", "", true},
      {"id 1", Id(1), true},
      {"id 127", Id(127), true},
      {"id 128", Id(128), true},
      {"id 300", Id(300), true},
      {"id 2^56-1 (8 bytes)", Id((uint64_t{1} << 56) - 1), true},
      {"id 2^63-1 (9 bytes)", Id((uint64_t{1} << 63) - 1), true},
      {"id 2^63 (10 bytes): protobuf", Id(uint64_t{1} << 63), false},
      {"id 0 written out", Id(0), true},
      {"kind message", KindField(KIND_MESSAGE), true},
      {"kind pong", KindField(KIND_PONG), true},
      {"kind unknown 99", KindField(99), true},
      {"kind over 32 bits (truncated)", KindField((uint64_t{1} << 33) + 5), true},
      {"kind -1 (10 bytes): protobuf", KindField(~uint64_t{0}), false},
      {"kind bit 31 (INT32_MIN after truncation)", KindField(0x80000000u), true},
      {"kind 0xffffffff (-1 after truncation)", KindField(0xffffffffu), true},
      {"9 bytes still continued: protobuf", std::string("\x08") + std::string(9, '\x80') + "\x01",
       false},
      {"two-byte tag for field 1: protobuf", std::string("\x88\x00\x05", 3), false},
      {"tag 0: protobuf (invalid)", std::string("\x00\x01", 2), false},
      {"id then kind", Id(5) + KindField(KIND_REQUEST), true},
      {"kind then id", KindField(KIND_RESPONSE) + Id(6), true},
      {"repeated id: last wins", Id(1) + Id(2), true},
      {"repeated kind: last wins", KindField(2) + KindField(3) + Id(4), true},
      {"non-canonical varint", std::string("\x08\x81\x80\x00", 4), true},
      {"content_type: protobuf", Id(1) + std::string("\x1a\x01x", 3), false},
      {"status: protobuf", std::string("\x2a\x02\x08\x01", 4), false},
      {"metadata: protobuf", std::string("\x22\x00", 2), false},
      {"unknown field 15: protobuf", std::string("\x78\x01", 2), false},
      {"id with fixed64 wire type: protobuf", std::string("\x09", 1) + std::string(8, '\0'),
       false},
      {"truncated varint", std::string("\x08\x80", 2), false},
      {"tag alone", std::string("\x10", 1), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectParseAgreesWithProtobuf(c.bytes, c.fast);
  }
}

TEST(ParseCompactEnvelope, AgreesWithProtobufOnRandomBytes) {
  // Bytes drawn mostly from tags and varint bytes, so many inputs are
  // compact envelopes and many are near misses.
  const unsigned char alphabet[] = {0x08, 0x10, 0x80, 0x81, 0xff, 0x00,
                                    0x01, 0x7f, 0x1a, 0x09, 0x78};
  std::mt19937_64 rng(20261204);
  int fast = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 14, '\0');
    for (char& b : bytes) b = static_cast<char>(alphabet[rng() % sizeof(alphabet)]);
    Envelope out = Dirty();
    Envelope reference;
    const bool valid = reference.ParseFromString(bytes);
    if (ParseCompactEnvelope(bytes, &out)) {
      ++fast;
      ASSERT_TRUE(valid) << absl::CEscape(bytes);
      ASSERT_EQ(out.SerializeAsString(), reference.SerializeAsString()) << absl::CEscape(bytes);
    } else {
      ASSERT_EQ(out.SerializeAsString(), Dirty().SerializeAsString())
          << "*out was touched: " << absl::CEscape(bytes);
    }
  }
  EXPECT_GT(fast, 1000);  // the sweep does exercise the fast path
}

// Sets `field` of *e to a value other than its default, through reflection.
void SetNonDefault(const google::protobuf::FieldDescriptor* field, Envelope* e) {
  const google::protobuf::Reflection* r = e->GetReflection();
  using FD = google::protobuf::FieldDescriptor;
  if (field->is_map()) {
    google::protobuf::Message* entry = r->AddMessage(e, field);
    entry->GetReflection()->SetString(entry, entry->GetDescriptor()->field(0), "k");
    return;
  }
  switch (field->cpp_type()) {
    case FD::CPPTYPE_STRING:
      r->SetString(e, field, "x");
      break;
    case FD::CPPTYPE_MESSAGE:
      r->MutableMessage(e, field);  // present, even if empty
      break;
    case FD::CPPTYPE_UINT64:
      r->SetUInt64(e, field, 3);
      break;
    case FD::CPPTYPE_ENUM:
      r->SetEnumValue(e, field, 3);
      break;
    default:
      FAIL() << "a field of a new type: extend this test: " << field->full_name();
  }
}

// Every field but id and kind, set alone, makes an envelope non-compact:
// a field added to envelope.proto later cannot be dropped by the fast paths.
TEST(IsCompactEnvelope, EveryOtherFieldOfTheSchemaCounts) {
  const google::protobuf::Descriptor* d = Envelope::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = d->field(i);
    SCOPED_TRACE(field->name());
    Envelope e;
    SetNonDefault(field, &e);
    const bool id_or_kind = field->number() == Envelope::kIdFieldNumber ||
                            field->number() == Envelope::kKindFieldNumber;
    EXPECT_EQ(IsCompactEnvelope(e), id_or_kind);
    // A compact parse into it leaves exactly what protobuf's parse does.
    const std::string bytes = Id(9);
    Envelope reference;
    ASSERT_TRUE(reference.ParseFromString(bytes));
    ASSERT_TRUE(ParseCompactEnvelope(bytes, &e));
    EXPECT_EQ(e.SerializeAsString(), reference.SerializeAsString());
  }
  Envelope unknown;
  ASSERT_TRUE(unknown.ParseFromString(std::string("\x78\x01", 2)));  // field 15
  EXPECT_FALSE(IsCompactEnvelope(unknown));
}

// Size and bytes of every id and kind class (varint lengths 1 to 10; a
// negative kind is a sign-extended 10-byte varint) equal protobuf's.
TEST(CompactEnvelopeSize, SizeAndBytesEqualProtobufs) {
  const uint64_t ids[] = {0, 1, 127, 128, 300, (uint64_t{1} << 56) - 1, ~uint64_t{0}};
  const int kinds[] = {0, KIND_MESSAGE, KIND_PONG, 99, -1, INT32_MIN, INT32_MAX};
  for (uint64_t id : ids) {
    for (int kind : kinds) {
      SCOPED_TRACE(absl::StrCat("id ", id, " kind ", kind));
      Envelope e;
      e.set_id(id);
      e.set_kind(static_cast<Kind>(kind));
      const std::string reference = e.SerializeAsString();
      ASSERT_TRUE(IsCompactEnvelope(e));
      ASSERT_TRUE(IsCompactEnvelope(e, e.ByteSizeLong()));
      EXPECT_FALSE(IsCompactEnvelope(e, e.ByteSizeLong() + 1));  // unknown bytes
      ASSERT_EQ(CompactEnvelopeSize(e), reference.size());
      std::string written(reference.size() + 1, '\xee');  // one guard byte
      WriteCompactEnvelope(e, &written[0]);
      EXPECT_EQ(absl::CEscape(written.substr(0, reference.size())), absl::CEscape(reference));
      EXPECT_EQ(written.back(), '\xee') << "wrote past CompactEnvelopeSize()";
    }
  }
}

}  // namespace
}  // namespace lpframe
