#include "conformance/vector_generator.h"

#include <cstdint>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "conformance/test_vector.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace conformance {
namespace {

// Payloads at least this long are stored as patterns, not hex.
constexpr size_t kPatternThreshold = 256;

struct Payload {
  std::string literal;
  uint64_t pattern_length = 0;
  bool is_pattern = false;
  uint32_t seed = 0;

  static Payload Text(std::string s) { return Payload{std::move(s), 0, false, 0}; }
  static Payload Pattern(uint64_t n, uint32_t seed) { return Payload{"", n, true, seed}; }

  std::string Bytes() const { return is_pattern ? PatternBytes(pattern_length, seed) : literal; }
  conformance::Bytes Run() const {
    conformance::Bytes run;
    if (is_pattern) {
      run.mutable_pattern()->set_length(pattern_length);
      run.mutable_pattern()->set_seed(seed);
    } else {
      run.set_hex(absl::BytesToHexString(literal));
    }
    return run;
  }
};

Envelope Env(uint64_t id, Kind kind) {
  Envelope e;
  e.set_id(id);
  e.set_kind(kind);
  return e;
}

std::string Header(uint16_t version, uint16_t flags, uint32_t envelope_length,
                   uint64_t payload_length) {
  FrameHeader h;
  h.version = version;
  h.flags = flags;
  h.envelope_length = envelope_length;
  h.payload_length = payload_length;
  char bytes[kHeaderSize];
  EncodeFrameHeader(h, bytes);
  return std::string(bytes, kHeaderSize);
}

std::string U32(uint32_t v) {
  char b[4];
  StoreBigEndian32(v, b);
  return std::string(b, 4);
}

class VectorBuilder {
 public:
  VectorBuilder(Dialect dialect, std::string id, std::string description,
                std::string spec)
      : dialect_(dialect) {
    vector_.set_id(absl::StrCat(DialectName(dialect), ".", id));
    vector_.set_description(std::move(description));
    vector_.set_spec(std::move(spec));
  }

  VectorBuilder& Limits(uint64_t max_payload, uint32_t max_envelope = 0) {
    vector_.mutable_limits()->set_max_payload_bytes(max_payload);
    vector_.mutable_limits()->set_max_envelope_bytes(max_envelope);
    return *this;
  }

  // A valid frame carrying `envelope` and `payload`, delivered.
  VectorBuilder& Frame(const Envelope& envelope, const Payload& payload,
                       bool checksum = false) {
    EncodedFrame frame = EncodeOrDie(envelope, payload, checksum);
    Raw(std::string(frame.prefix()));
    if (payload.is_pattern) {
      *vector_.add_input() = payload.Run();
    } else {
      Raw(payload.literal);
    }
    Raw(std::string(frame.trailer()));
    ExpectedMessage* m = vector_.add_messages();
    if (dialect_ == Dialect::kNative) *m->mutable_envelope() = envelope;
    *m->mutable_payload() = payload.Run();
    return *this;
  }

  // The wire bytes of a valid frame, not expected to be delivered.
  static std::string FrameBytes(Dialect dialect, const Envelope& envelope,
                                const std::string& payload, bool checksum = false) {
    EncoderOptions options;
    options.dialect = dialect;
    options.checksum = checksum;
    options.limits.max_payload_bytes = FrameLimits::kMaxPayloadLimit;
    return FrameEncoder(options).Encode(envelope, absl::Cord(payload))->ToString();
  }

  VectorBuilder& Raw(const std::string& bytes) {
    if (bytes.empty()) return *this;
    const int n = vector_.input_size();
    if (n > 0 && vector_.input(n - 1).has_hex()) {
      vector_.mutable_input(n - 1)->mutable_hex()->append(absl::BytesToHexString(bytes));
    } else {
      vector_.add_input()->set_hex(absl::BytesToHexString(bytes));
    }
    return *this;
  }

  Vector Error(FrameErrorCode code, bool before_eof) {
    vector_.set_error(std::string(FrameErrorCodeName(code)));
    vector_.set_canonical_code(absl::StatusCodeToString(CanonicalCodeFor(code)));
    vector_.set_error_before_eof(before_eof);
    return vector_;
  }

  Vector Clean() { return vector_; }

 private:
  EncodedFrame EncodeOrDie(const Envelope& envelope, const Payload& payload,
                           bool checksum) {
    EncoderOptions options;
    options.dialect = dialect_;
    options.checksum = checksum;
    options.limits.max_payload_bytes = FrameLimits::kMaxPayloadLimit;
    options.limits.max_envelope_bytes = FrameLimits::kMaxEnvelopeLimit;
    absl::StatusOr<EncodedFrame> frame =
        FrameEncoder(options).Encode(envelope, absl::Cord(payload.Bytes()));
    if (!frame.ok()) std::abort();
    return *std::move(frame);
  }

  Dialect dialect_;
  Vector vector_;
};

Payload SizedPayload(uint64_t n) {
  if (n >= kPatternThreshold) return Payload::Pattern(n, static_cast<uint32_t>(n));
  return Payload::Text(PatternBytes(n, static_cast<uint32_t>(n) + 1));
}

// An envelope whose serialization is exactly `size` bytes (size >= 2).
Envelope EnvelopeOfSize(size_t size) {
  Envelope e;
  size_t text = size - 2;
  if (size > 129) text = size - 3;  // two-byte length varint
  e.set_content_type(std::string(text, 'e'));
  if (e.ByteSizeLong() != size) std::abort();
  return e;
}

// Frames delivered by all three dialects: sizes around read and block edges.
void AddCommonSizes(Dialect d, VectorFile* file) {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128},
                     uint64_t{255}, uint64_t{256}, uint64_t{4095}, uint64_t{4096},
                     uint64_t{4097}, uint64_t{8191}, uint64_t{8192}, uint64_t{8193},
                     uint64_t{16383}, uint64_t{16384}, uint64_t{65535}, uint64_t{65536},
                     uint64_t{65537}, uint64_t{262144}, uint64_t{262145},
                     (uint64_t{1} << 20) + 7}) {
    *file->add_vectors() =
        VectorBuilder(d, absl::StrCat("size.", n), absl::StrCat("one ", n, "-byte payload"),
                      d == Dialect::kNative ? "3.1" : "8")
            .Frame(Envelope(), SizedPayload(n))
            .Clean();
  }
  *file->add_vectors() =
      VectorBuilder(d, "size.16MiB", "a 16 MiB payload (multi-MB over 8 KiB reads)",
                    d == Dialect::kNative ? "3.1" : "8")
          .Frame(Envelope(), Payload::Pattern(uint64_t{16} << 20, 16))
          .Clean();
  *file->add_vectors() =
      VectorBuilder(d, "empty_stream", "no bytes at all: a clean end of stream", "7")
          .Clean();
  {
    VectorBuilder b(d, "coalesced.five", "five frames back to back", "3.1");
    for (int i = 0; i < 5; ++i) {
      b.Frame(d == Dialect::kNative ? Env(i + 1, KIND_MESSAGE) : Envelope(),
              Payload::Text(std::string(static_cast<size_t>(i * 3), static_cast<char>('a' + i))));
    }
    *file->add_vectors() = b.Clean();
  }
  for (int64_t delta : {-1, 0, 1}) {
    const uint64_t limit = 1000;
    const uint64_t n = limit + delta;
    const std::string name = delta < 0 ? "minus_1" : (delta == 0 ? "exact" : "plus_1");
    VectorBuilder b(d, absl::StrCat("limit.payload_", name),
                    absl::StrCat("payload of ", n, " bytes against a limit of ", limit), "6");
    b.Limits(limit);
    if (delta <= 0) {
      b.Frame(d == Dialect::kNative ? Env(7, KIND_MESSAGE) : Envelope(), SizedPayload(n));
      *file->add_vectors() = b.Clean();
    } else {
      b.Raw(VectorBuilder::FrameBytes(d, Envelope(), PatternBytes(n, 1)));
      *file->add_vectors() = b.Error(FrameErrorCode::kPayloadTooLarge, true);
    }
  }
  {
    VectorBuilder b(d, "truncated.after_frame",
                    "a good frame, then the first byte of the next frame's header", "7");
    b.Frame(d == Dialect::kNative ? Env(1, KIND_MESSAGE) : Envelope(), Payload::Text("ok"));
    // One byte that cannot be a whole header or length prefix.
    b.Raw(std::string(1, d == Dialect::kNative    ? 'L'
                         : d == Dialect::kVarint32 ? '\x80'
                                                   : '\x00'));
    *file->add_vectors() = b.Error(FrameErrorCode::kTruncatedHeader, false);
  }
  {
    VectorBuilder b(d, "truncated.payload", "end of stream in the middle of a payload", "7");
    const std::string frame =
        VectorBuilder::FrameBytes(d, Envelope(), PatternBytes(5000, 9));
    b.Raw(frame.substr(0, frame.size() - 1234));
    *file->add_vectors() = b.Error(FrameErrorCode::kTruncatedPayload, false);
  }
}

VectorFile NativeVectors() {
  const Dialect d = Dialect::kNative;
  VectorFile file;
  file.set_dialect("native");
  file.set_description("lpframe v1 native frames (docs/PROTOCOL.md section 3)");
  auto add = [&file](Vector v) { *file.add_vectors() = std::move(v); };

  add(VectorBuilder(d, "frame.empty", "no envelope, no payload: 24 bytes", "3.1")
          .Frame(Envelope(), Payload::Text(""))
          .Clean());
  add(VectorBuilder(d, "frame.envelope_only", "an envelope and no payload", "4")
          .Frame(Env(1, KIND_MESSAGE), Payload::Text(""))
          .Clean());
  add(VectorBuilder(d, "frame.payload_only", "a payload and an empty envelope", "5")
          .Frame(Envelope(), Payload::Text("hello"))
          .Clean());
  {
    Envelope e = Env(42, KIND_REQUEST);
    e.set_content_type("type.googleapis.com/lpframe.Envelope");
    (*e.mutable_metadata())["trace"] = "abc123";
    e.mutable_status()->set_code(5);
    e.mutable_status()->set_message("not found");
    e.mutable_chunk()->set_index(3);
    e.mutable_chunk()->set_offset(196608);
    e.mutable_chunk()->set_total_size(1 << 20);
    e.mutable_chunk()->set_total_size_known(true);
    add(VectorBuilder(d, "frame.full_envelope", "every envelope field set", "4")
            .Frame(e, Payload::Text("payload"))
            .Clean());
    // One map entry per vector: JSON printers order map keys freely.
    Envelope b = Env(43, KIND_MESSAGE);
    (*b.mutable_metadata())["bin"] = std::string("\x00\xff", 2);
    add(VectorBuilder(d, "frame.binary_metadata", "a metadata value with 00 and ff bytes",
                      "4")
            .Frame(b, Payload::Text(""))
            .Clean());
  }
  add(VectorBuilder(d, "checksum.empty", "CHECKSUM flag over an empty frame", "3.7")
          .Frame(Envelope(), Payload::Text(""), true)
          .Clean());
  add(VectorBuilder(d, "checksum.hello", "CHECKSUM flag, envelope and payload", "3.7")
          .Frame(Env(9, KIND_MESSAGE), Payload::Text("hello"), true)
          .Clean());
  add(VectorBuilder(d, "checksum.1MiB", "CHECKSUM flag over a 1 MiB payload", "3.7")
          .Frame(Env(10, KIND_MESSAGE), Payload::Pattern(1 << 20, 77), true)
          .Clean());
  add(VectorBuilder(d, "limit.payload_exact_default",
                    "a payload of exactly the default 64 MiB limit", "6")
          .Frame(Env(64, KIND_MESSAGE), Payload::Pattern(uint64_t{64} << 20, 64))
          .Clean());
  AddCommonSizes(d, &file);

  for (int64_t delta : {-1, 0, 1}) {
    const uint32_t limit = 64;
    const size_t n = limit + delta;
    const std::string name = delta < 0 ? "minus_1" : (delta == 0 ? "exact" : "plus_1");
    VectorBuilder b(d, absl::StrCat("limit.envelope_", name),
                    absl::StrCat("envelope of ", n, " bytes against a limit of ", limit), "6");
    b.Limits(0, limit);
    if (delta <= 0) {
      add(b.Frame(EnvelopeOfSize(n), Payload::Text("x")).Clean());
    } else {
      b.Raw(VectorBuilder::FrameBytes(d, EnvelopeOfSize(n), "x"));
      add(b.Error(FrameErrorCode::kEnvelopeTooLarge, true));
    }
  }
  add(VectorBuilder(d, "limit.envelope_default_plus_1",
                    "a header declaring a 65537-byte envelope; nothing follows", "6")
          .Raw(Header(1, 0, 65537, 0))
          .Error(FrameErrorCode::kEnvelopeTooLarge, true));
  const std::pair<const char*, uint64_t> kLengths[] = {
      {"2^31", uint64_t{1} << 31},        {"2^32-1", 0xffffffffull},
      {"2^63", uint64_t{1} << 63},        {"2^64-1", ~uint64_t{0}},
      {"default_plus_1", (uint64_t{64} << 20) + 1}};
  for (const auto& [name, length] : kLengths) {
    add(VectorBuilder(d, absl::StrCat("length.payload_", name),
                      absl::StrCat("a header declaring a ", length,
                                   "-byte payload, then nothing: rejected on the header"),
                      "6")
            .Raw(Header(1, 0, 0, length))
            .Error(FrameErrorCode::kPayloadTooLarge, true));
  }
  add(VectorBuilder(d, "length.envelope_2^32-1", "a header declaring a 4 GiB envelope",
                    "6")
          .Raw(Header(1, 0, 0xffffffffu, 0))
          .Error(FrameErrorCode::kEnvelopeTooLarge, true));

  add(VectorBuilder(d, "magic.garbage", "24 bytes of garbage", "3.2")
          .Raw("XXXXXXXXXXXXXXXXXXXXXXXX")
          .Error(FrameErrorCode::kBadMagic, true));
  add(VectorBuilder(d, "magic.one_zero_byte", "a single zero byte", "3.2")
          .Raw(std::string(1, '\0'))
          .Error(FrameErrorCode::kBadMagic, true));
  add(VectorBuilder(d, "magic.lowercase", "\"lpfr\" instead of \"LPFR\"", "3.2")
          .Raw("lpfr" + Header(1, 0, 0, 0).substr(4))
          .Error(FrameErrorCode::kBadMagic, true));
  add(VectorBuilder(d, "magic.cut_short_http", "\"GE\" then end of stream", "3.8")
          .Raw("GE")
          .Error(FrameErrorCode::kBadMagic, false));
  const std::pair<const char*, std::string> kForeign[] = {
      {"http_get", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"},
      {"http_post", "POST /rpc HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"},
      {"http_response", "HTTP/1.1 200 OK\r\n\r\n"},
      {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"tls_client_hello", std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) +
                               std::string(32, '\x11')},
      {"ssh_banner", "SSH-2.0-OpenSSH_9.2\r\n"}};
  for (const auto& [name, bytes] : kForeign) {
    add(VectorBuilder(d, absl::StrCat("foreign.", name),
                      absl::StrCat("another protocol on the port: ", name), "7")
            .Raw(bytes)
            .Error(FrameErrorCode::kForeignProtocol, true));
  }
  for (uint16_t version : {uint16_t{0}, uint16_t{2}, uint16_t{0xffff}}) {
    add(VectorBuilder(d, absl::StrCat("version.", version),
                      absl::StrCat("a header with version ", version), "3.3")
            .Raw(Header(version, 0, 0, 0))
            .Error(FrameErrorCode::kUnsupportedVersion, true));
  }
  for (int bit = 1; bit < 16; ++bit) {
    add(VectorBuilder(d, absl::StrCat("flags.reserved_bit_", bit),
                      absl::StrCat("reserved flag bit ", bit, " set"), "3.4")
            .Raw(Header(1, static_cast<uint16_t>(1u << bit), 0, 0))
            .Error(FrameErrorCode::kReservedFlags, true));
  }
  {
    std::string h = Header(1, 0, 2, 5);
    h[23] = static_cast<char>(h[23] ^ 0x01);
    add(VectorBuilder(d, "header.check_flipped", "header_check altered", "3.6")
            .Raw(h + std::string("\x08\x01hello", 7))
            .Error(FrameErrorCode::kHeaderCorrupt, true));
    std::string l = Header(1, 0, 0, 5);
    l[19] = static_cast<char>(l[19] ^ 0x04);  // payload length 5 -> 1
    add(VectorBuilder(d, "header.length_bit_flipped",
                      "a payload length bit flipped in transit", "3.6")
            .Raw(l + "hello")
            .Error(FrameErrorCode::kHeaderCorrupt, true));
  }
  {
    const std::pair<const char*, std::string> kBadEnvelopes[] = {
        {"garbage", std::string("\xff\xff\xff\xff", 4)},
        {"cut_varint", std::string("\x08\xff", 2)},
        {"overlong_field", std::string("\x1a\x05\x41", 3)}};
    for (const auto& [name, env] : kBadEnvelopes) {
      add(VectorBuilder(d, absl::StrCat("envelope.invalid_", name),
                        "envelope bytes that are not a valid Envelope", "4")
              .Raw(Header(1, 0, static_cast<uint32_t>(env.size()), 2) + env + "ok")
              .Error(FrameErrorCode::kInvalidEnvelope, true));
    }
  }
  {
    std::string f = VectorBuilder::FrameBytes(d, Env(1, KIND_MESSAGE), "hello", true);
    std::string payload_flip = f;
    payload_flip[f.size() - 8 - 1] ^= 0x20;
    add(VectorBuilder(d, "checksum.payload_flipped", "a payload byte altered", "3.7")
            .Raw(payload_flip)
            .Error(FrameErrorCode::kChecksumMismatch, true));
    std::string trailer_flip = f;
    trailer_flip[f.size() - 1] ^= 0x01;
    add(VectorBuilder(d, "checksum.trailer_flipped", "a trailer byte altered", "3.7")
            .Raw(trailer_flip)
            .Error(FrameErrorCode::kChecksumMismatch, true));
    add(VectorBuilder(d, "truncated.trailer", "end of stream inside the trailer", "7")
            .Raw(f.substr(0, f.size() - 3))
            .Error(FrameErrorCode::kTruncatedTrailer, false));
  }
  {
    const std::string f = VectorBuilder::FrameBytes(d, Env(5, KIND_REQUEST), "payload");
    for (size_t cut : {size_t{1}, size_t{4}, size_t{6}, size_t{12}, size_t{23}}) {
      add(VectorBuilder(d, absl::StrCat("truncated.header_", cut),
                        absl::StrCat("end of stream after ", cut, " header bytes"), "7")
              .Raw(f.substr(0, cut))
              .Error(FrameErrorCode::kTruncatedHeader, false));
    }
    add(VectorBuilder(d, "truncated.envelope", "end of stream inside the envelope", "7")
            .Raw(f.substr(0, kHeaderSize + 2))
            .Error(FrameErrorCode::kTruncatedEnvelope, false));
    add(VectorBuilder(d, "truncated.payload_start",
                      "end of stream right after the envelope", "7")
            .Raw(f.substr(0, f.size() - 7))
            .Error(FrameErrorCode::kTruncatedPayload, false));
  }
  add(VectorBuilder(d, "after_error.garbage", "a good frame, then garbage", "7")
          .Frame(Env(1, KIND_MESSAGE), Payload::Text("first"))
          .Raw("GARBAGE GARBAGE GARBAGE!")
          .Error(FrameErrorCode::kBadMagic, true));
  add(VectorBuilder(d, "after_error.oversize_then_good",
                    "a good frame, an over-limit header, a good frame never delivered",
                    "7")
          .Frame(Env(1, KIND_MESSAGE), Payload::Text("first"))
          .Raw(Header(1, 0, 0, ~uint64_t{0}))
          .Raw(VectorBuilder::FrameBytes(d, Env(2, KIND_MESSAGE), "second"))
          .Error(FrameErrorCode::kPayloadTooLarge, true));
  return file;
}

VectorFile Varint32Vectors() {
  const Dialect d = Dialect::kVarint32;
  VectorFile file;
  file.set_dialect("varint32");
  file.set_description(
      "varint32-delimited messages: protobuf writeDelimitedTo / "
      "SerializeDelimitedToOstream, Netty ProtobufVarint32LengthFieldPrepender "
      "(docs/PROTOCOL.md section 8.1)");
  auto add = [&file](Vector v) { *file.add_vectors() = std::move(v); };
  {
    Envelope e = Env(3, KIND_RESPONSE);
    add(VectorBuilder(d, "message.protobuf", "a serialized protobuf message as the body",
                      "8.1")
            .Frame(Envelope(), Payload::Text(e.SerializeAsString()))
            .Clean());
  }
  AddCommonSizes(d, &file);
  add(VectorBuilder(d, "prefix.non_minimal", "length 5 written in five varint bytes",
                    "8.1")
          .Raw(std::string("\x85\x80\x80\x80\x00", 5) + "hello")
          .Clean());
  // The expected message for the vector above.
  file.mutable_vectors(file.vectors_size() - 1)->add_messages()->mutable_payload()->set_hex(
      absl::BytesToHexString("hello"));
  add(VectorBuilder(d, "prefix.2^32-1", "varint for 2^32-1 (ff ff ff ff 0f)", "8.1")
          .Raw(std::string("\xff\xff\xff\xff\x0f", 5))
          .Error(FrameErrorCode::kPayloadTooLarge, true));
  add(VectorBuilder(d, "prefix.continuation_on_5th_byte",
                    "five bytes all with the continuation bit", "8.1")
          .Raw(std::string("\xff\xff\xff\xff\xff\x01", 6))
          .Error(FrameErrorCode::kMalformedLength, true));
  add(VectorBuilder(d, "prefix.over_32_bits", "5th byte carries bits above 2^32-1", "8.1")
          .Raw(std::string("\x80\x80\x80\x80\x10", 5))
          .Error(FrameErrorCode::kMalformedLength, true));
  add(VectorBuilder(d, "truncated.prefix", "end of stream inside the varint", "7")
          .Raw(std::string("\x80\x80", 2))
          .Error(FrameErrorCode::kTruncatedHeader, false));
  return file;
}

VectorFile U32beVectors() {
  const Dialect d = Dialect::kU32BE;
  VectorFile file;
  file.set_dialect("u32be");
  file.set_description(
      "4-byte big-endian length prefix: Netty LengthFieldPrepender(4), Thrift "
      "TFramedTransport (docs/PROTOCOL.md section 8.2)");
  auto add = [&file](Vector v) { *file.add_vectors() = std::move(v); };
  AddCommonSizes(d, &file);
  add(VectorBuilder(d, "length.2^31", "0x80000000: negative to signed readers", "8.2")
          .Raw(U32(0x80000000u))
          .Error(FrameErrorCode::kPayloadTooLarge, true));
  add(VectorBuilder(d, "length.2^32-1", "0xffffffff", "8.2")
          .Raw(U32(0xffffffffu))
          .Error(FrameErrorCode::kPayloadTooLarge, true));
  add(VectorBuilder(d, "length.thrift_default_plus_1",
                    "16384001 against Thrift's default maximum frame of 16384000", "8.2")
          .Limits(16384000)
          .Raw(U32(16384001u))
          .Error(FrameErrorCode::kPayloadTooLarge, true));
  const std::pair<const char*, std::string> kForeign[] = {
      {"http_get", "GET / HTTP/1.1\r\n\r\n"},
      {"http_post", "POST /x HTTP/1.1\r\n\r\n"},
      {"tls_client_hello", std::string("\x16\x03\x01\x00\xa5\x01\x00\x00", 8)}};
  for (const auto& [name, bytes] : kForeign) {
    add(VectorBuilder(d, absl::StrCat("foreign.", name),
                      absl::StrCat("another protocol on the port: ", name), "8.2")
            .Raw(bytes)
            .Error(FrameErrorCode::kForeignProtocol, true));
  }
  add(VectorBuilder(d, "truncated.prefix", "end of stream after 2 prefix bytes", "7")
          .Raw(std::string("\x00\x00", 2))
          .Error(FrameErrorCode::kTruncatedHeader, false));
  return file;
}

}  // namespace

std::vector<std::pair<std::string, VectorFile>> GenerateVectorFiles() {
  return {{"native.json", NativeVectors()},
          {"varint32.json", Varint32Vectors()},
          {"u32be.json", U32beVectors()}};
}

}  // namespace conformance
}  // namespace lpframe
