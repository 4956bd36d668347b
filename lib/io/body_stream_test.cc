// Tests for streamed bodies (BodyWriter, ReceiveBody, CordBodySink,
// FdBodySink): reassembly of bodies written in odd-sized pieces, streaming
// into a file, progress reports, and detection of tampered chunk streams
// (wrong index, offset, total, digest, algorithm, stream or kind).
#include "lib/io/body_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/message.h"
#include "lib/wire_format.h"
#include "lib/xxh3_digest.h"

namespace lpframe {
namespace {

using ::lpframe::iotest::CordMismatch;
using ::lpframe::iotest::PatternCord;
using ::lpframe::iotest::PatternString;
using ::lpframe::iotest::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

const absl::Duration kSafety = absl::Seconds(20);
absl::Time In(absl::Duration d) { return absl::Now() + d; }

std::pair<FramedConnection, FramedConnection> Connections() {
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::Pair(SOCK_STREAM);
  EXPECT_TRUE(p.ok()) << p.status();
  return {FramedConnection(std::move(p->first)), FramedConnection(std::move(p->second))};
}

// Writes `body` through `writer` in pieces of the (cycled) sizes given.
absl::Status WriteInPieces(BodyWriter& writer, const std::string& body,
                           const std::vector<size_t>& piece_sizes) {
  size_t offset = 0;
  for (size_t i = 0; offset < body.size(); ++i) {
    const size_t n = std::min(piece_sizes[i % piece_sizes.size()], body.size() - offset);
    absl::Status s = writer.Write(absl::Cord(absl::string_view(body).substr(offset, n)),
                                  In(kSafety));
    if (!s.ok()) return s;
    offset += n;
  }
  return writer.Finish(In(kSafety));
}

std::string DigestBytes(absl::string_view body) {
  char bytes[8];
  StoreBigEndian64(Xxh3Digest::Of(body), bytes);
  return std::string(bytes, 8);
}

const std::vector<size_t> kOddPieces = {1, 7, 1000, 65537, 333333, 4096, 3, 1 << 20};

TEST(BodyStreamTest, UnknownLengthBodyReassembledInMemory) {
  const std::string body = PatternString((5 << 20) + 123, 11);
  auto [a, b] = Connections();
  BodyOptions options;
  options.chunk_bytes = 100000;
  uint64_t written = 0;
  std::thread sender([&, &a = a] {
    BodyWriter writer(&a, 7, options);
    EXPECT_TRUE(WriteInPieces(writer, body, kOddPieces).ok());
    written = writer.bytes_written();
  });
  CordBodySink sink;
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 7, sink, nullptr, In(kSafety));
  sender.join();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, body.size());
  EXPECT_EQ(written, body.size());
  EXPECT_EQ(CordMismatch(absl::Cord(body), sink.body()), "");
  // ceil(size / chunk_bytes) chunks and the END frame.
  const uint64_t chunks = (body.size() + options.chunk_bytes - 1) / options.chunk_bytes;
  EXPECT_EQ(b.stats().messages_received, chunks + 1);
  EXPECT_EQ(a.stats().messages_sent, chunks + 1);
}

TEST(BodyStreamTest, BodyStreamedIntoAFile) {
  const std::string body = PatternString((5 << 20) + 123, 12);
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = dir->File("body.bin");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  auto [a, b] = Connections();
  std::thread sender([&, &a = a] {
    BodyWriter writer(&a, 42);  // default 256 KiB chunks
    EXPECT_TRUE(WriteInPieces(writer, body, {65536 + 17, 999}).ok());
  });
  FdBodySink sink(fd);
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 42, sink, nullptr, In(kSafety));
  sender.join();
  ::close(fd);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, body.size());

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), body.size());
  std::string file;
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(in, 0);
  char buf[1 << 16];
  for (ssize_t r; (r = ::read(in, buf, sizeof(buf))) > 0;) file.append(buf, r);
  ::close(in);
  EXPECT_EQ(Xxh3Digest::Of(file), Xxh3Digest::Of(body));
  EXPECT_TRUE(file == body) << CordMismatch(absl::Cord(body), absl::Cord(file));
}

TEST(BodyStreamTest, ProgressWithAndWithoutKnownTotal) {
  for (bool known : {true, false}) {
    SCOPED_TRACE(known ? "total_size set" : "unknown total");
    const std::string body = PatternString(1000000 + 7, 13);
    auto [a, b] = Connections();
    BodyOptions options;
    options.chunk_bytes = 65536;
    if (known) options.total_size = body.size();
    std::thread sender([&, &a = a] {
      BodyWriter writer(&a, 3, options);
      EXPECT_TRUE(WriteInPieces(writer, body, {12345}).ok());
    });
    std::vector<uint64_t> counts;
    std::vector<absl::optional<uint64_t>> totals;
    CordBodySink sink;
    absl::StatusOr<uint64_t> n = ReceiveBody(
        b, 3, sink,
        [&](uint64_t received, absl::optional<uint64_t> total) {
          counts.push_back(received);
          totals.push_back(total);
        },
        In(kSafety));
    sender.join();
    ASSERT_TRUE(n.ok()) << n.status();
    const size_t chunks = (body.size() + options.chunk_bytes - 1) / options.chunk_bytes;
    ASSERT_EQ(counts.size(), chunks) << "one call per chunk";
    for (size_t i = 0; i < counts.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("call ", i));
      EXPECT_EQ(counts[i], std::min<uint64_t>((i + 1) * options.chunk_bytes, body.size()));
      if (i > 0) {
        EXPECT_GT(counts[i], counts[i - 1]);
      }
      if (known) {
        EXPECT_EQ(totals[i], absl::optional<uint64_t>(body.size()));
      } else {
        EXPECT_EQ(totals[i], absl::nullopt);
      }
    }
    EXPECT_EQ(counts.back(), body.size());
  }
}

TEST(BodyStreamTest, EmptyBody) {
  auto [a, b] = Connections();
  BodyWriter writer(&a, 1);
  ASSERT_TRUE(writer.Finish(In(kSafety)).ok());
  CordBodySink sink;
  int calls = 0;
  absl::StatusOr<uint64_t> n =
      ReceiveBody(b, 1, sink, [&](uint64_t, absl::optional<uint64_t>) { ++calls; }, In(kSafety));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(sink.body().empty());
  EXPECT_EQ(calls, 0);
}

TEST(BodyStreamTest, WireFormatOfChunksAndEnd) {
  const std::string body = PatternString(250, 14);
  auto [a, b] = Connections();
  BodyOptions options;
  options.chunk_bytes = 100;
  options.total_size = body.size();
  options.content_type = "text/x-test";
  BodyWriter writer(&a, 9, options);
  ASSERT_TRUE(writer.Write(absl::Cord(body)).ok());
  ASSERT_TRUE(writer.Finish(In(kSafety)).ok());
  for (uint64_t i = 0; i < 3; ++i) {
    absl::StatusOr<Message> m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    const Envelope& e = m->envelope;
    EXPECT_EQ(e.id(), 9u);
    EXPECT_EQ(e.kind(), KIND_CHUNK);
    EXPECT_EQ(e.content_type(), "text/x-test");
    EXPECT_EQ(e.chunk().index(), i);
    EXPECT_EQ(e.chunk().offset(), i * 100);
    EXPECT_TRUE(e.chunk().total_size_known());
    EXPECT_EQ(e.chunk().total_size(), 250u);
    EXPECT_EQ(std::string(m->payload), body.substr(i * 100, 100));
  }
  absl::StatusOr<Message> end = b.Receive(In(kSafety));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->envelope.kind(), KIND_END);
  EXPECT_EQ(end->envelope.id(), 9u);
  EXPECT_EQ(end->envelope.chunk().total_size(), 250u);
  EXPECT_EQ(end->envelope.chunk().digest_algorithm(), "xxh3-64");
  EXPECT_EQ(end->envelope.chunk().digest(), DigestBytes(body));
  EXPECT_TRUE(end->payload.empty());
}

TEST(BodyStreamTest, FirstChunkHandedInByTheCaller) {
  const std::string body = PatternString(300000, 15);
  auto [a, b] = Connections();
  BodyOptions options;
  options.chunk_bytes = 50000;
  std::thread sender([&, &a = a] {
    BodyWriter writer(&a, 5, options);
    EXPECT_TRUE(WriteInPieces(writer, body, {70000}).ok());
  });
  // A dispatcher received the first chunk before knowing it starts a body.
  absl::StatusOr<Message> first = b.Receive(In(kSafety));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->envelope.kind(), KIND_CHUNK);
  CordBodySink sink;
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 5, sink, nullptr, In(kSafety), &*first);
  sender.join();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(sink.body()), body);
}

TEST(BodyStreamTest, WriterMisuse) {
  auto [a, b] = Connections();
  {
    BodyOptions options;
    options.total_size = 10;
    BodyWriter writer(&a, 1, options);
    ASSERT_TRUE(writer.Write(absl::Cord("12345")).ok());
    absl::Status s = writer.Finish(In(kSafety));
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr("promised 10"), HasSubstr("5 were")));
    EXPECT_EQ(writer.Finish().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(writer.Write(absl::Cord("x")).code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    BodyWriter writer(&a, 2);
    ASSERT_TRUE(writer.Finish(In(kSafety)).ok());
    EXPECT_EQ(writer.Write(absl::Cord("late")).code(), absl::StatusCode::kFailedPrecondition);
  }
}

// Frames written by hand, as a buggy or malicious sender would.
struct HandFrame {
  uint64_t id = 0;
  Kind kind = KIND_CHUNK;
  uint64_t index = 0;
  uint64_t offset = 0;
  std::string payload;
  // KIND_END only:
  uint64_t total = 0;
  std::string digest;
  std::string algorithm = "xxh3-64";
  bool total_known = false;
};

HandFrame Chunk(uint64_t id, uint64_t index, uint64_t offset, std::string payload,
                Kind kind = KIND_CHUNK) {
  HandFrame f;
  f.id = id;
  f.kind = kind;
  f.index = index;
  f.offset = offset;
  f.payload = std::move(payload);
  return f;
}

// A chunk that announces the body's total size.
HandFrame ChunkOfKnownTotal(uint64_t id, uint64_t index, uint64_t offset, std::string payload,
                            uint64_t total) {
  HandFrame f = Chunk(id, index, offset, std::move(payload));
  f.total = total;
  f.total_known = true;
  return f;
}

HandFrame End(uint64_t id, uint64_t index, uint64_t offset, uint64_t total, std::string digest,
              std::string algorithm = "xxh3-64") {
  HandFrame f = Chunk(id, index, offset, "", KIND_END);
  f.total = total;
  f.digest = std::move(digest);
  f.algorithm = std::move(algorithm);
  return f;
}

Message ToMessage(const HandFrame& f) {
  Message m;
  m.envelope.set_id(f.id);
  m.envelope.set_kind(f.kind);
  ChunkInfo* c = m.envelope.mutable_chunk();
  c->set_index(f.index);
  c->set_offset(f.offset);
  if (f.kind == KIND_END || f.total_known) {
    c->set_total_size(f.total);
    c->set_total_size_known(true);
  }
  if (f.kind == KIND_END) {
    c->set_digest(f.digest);
    c->set_digest_algorithm(f.algorithm);
  }
  m.payload = absl::Cord(f.payload);
  return m;
}

TEST(BodyStreamTest, TamperedStreamsAreDetected) {
  const std::string good_digest = DigestBytes("aaaabbbb");
  struct Case {
    const char* name;
    std::vector<HandFrame> frames;
    absl::StatusCode code;
    std::vector<std::string> mentions;
  };
  const Case cases[] = {
      {"the well-formed stream (control)",
       {Chunk(7, 0, 0, "aaaa"),
        Chunk(7, 1, 4, "bbbb"),
        End(7, 2, 8, 8, good_digest)},
       absl::StatusCode::kOk,
       {}},
      {"first chunk has index 1",
       {Chunk(7, 1, 0, "aaaa")},
       absl::StatusCode::kDataLoss,
       {"expected chunk 0 at offset 0", "got chunk 1 at offset 0"}},
      {"a chunk is skipped",
       {Chunk(7, 0, 0, "aaaa"), Chunk(7, 2, 4, "bbbb")},
       absl::StatusCode::kDataLoss,
       {"expected chunk 1 at offset 4", "got chunk 2 at offset 4"}},
      {"a chunk is repeated",
       {Chunk(7, 0, 0, "aaaa"), Chunk(7, 0, 0, "aaaa")},
       absl::StatusCode::kDataLoss,
       {"expected chunk 1 at offset 4", "got chunk 0 at offset 0"}},
      {"wrong offset",
       {Chunk(7, 0, 0, "aaaa"), Chunk(7, 1, 5, "bbbb")},
       absl::StatusCode::kDataLoss,
       {"expected chunk 1 at offset 4", "got chunk 1 at offset 5"}},
      {"END with a wrong total",
       {Chunk(7, 0, 0, "aaaa"),
        Chunk(7, 1, 4, "bbbb"),
        End(7, 2, 8, 9, good_digest)},
       absl::StatusCode::kDataLoss,
       {"KIND_END says 9 bytes", "received 8"}},
      {"END with a wrong digest",
       {Chunk(7, 0, 0, "aaaa"),
        Chunk(7, 1, 4, "bbbb"),
        End(7, 2, 8, 8, DigestBytes("aaaabbbc"))},
       absl::StatusCode::kDataLoss,
       {"digest mismatch over 8 bytes"}},
      {"END with an empty digest",
       {Chunk(7, 0, 0, "aaaa"),
        Chunk(7, 1, 4, "bbbb"),
        End(7, 2, 8, 8, "")},
       absl::StatusCode::kDataLoss,
       {"digest mismatch"}},
      {"END with an unknown digest algorithm",
       {Chunk(7, 0, 0, "aaaa"),
        Chunk(7, 1, 4, "bbbb"),
        End(7, 2, 8, 8, good_digest, "md5")},
       absl::StatusCode::kDataLoss,
       {"unknown digest algorithm \"md5\""}},
      {"chunk overruns the announced total",
       {ChunkOfKnownTotal(7, 0, 0, "aaaa", 6), ChunkOfKnownTotal(7, 1, 4, "bbbb", 6)},
       absl::StatusCode::kDataLoss,
       {"chunk 1 overruns the announced total of 6 bytes"}},
      {"a frame of another stream",
       {Chunk(7, 0, 0, "aaaa"), Chunk(8, 1, 4, "bbbb")},
       absl::StatusCode::kFailedPrecondition,
       {"body of stream 7 after 4 bytes", "not part of it"}},
      {"a frame of another kind",
       {Chunk(7, 0, 0, "aaaa"), Chunk(7, 1, 4, "bbbb", KIND_MESSAGE)},
       absl::StatusCode::kFailedPrecondition,
       {"not part of it", "KIND_MESSAGE"}},
      {"another stream's END",
       {End(9, 0, 0, 0, DigestBytes(""))},
       absl::StatusCode::kFailedPrecondition,
       {"body of stream 7 after 0 bytes", "not part of it"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [a, b] = Connections();
    for (const HandFrame& f : c.frames) ASSERT_TRUE(a.Send(ToMessage(f), In(kSafety)).ok());
    a.Close();  // a stream that is missing frames ends instead of hanging
    CordBodySink sink;
    absl::StatusOr<uint64_t> n = ReceiveBody(b, 7, sink, nullptr, In(kSafety));
    EXPECT_EQ(n.status().code(), c.code) << n.status();
    for (const std::string& mention : c.mentions) {
      EXPECT_THAT(std::string(n.status().message()), HasSubstr(mention));
    }
    if (c.code == absl::StatusCode::kOk) {
      EXPECT_EQ(*n, 8u);
      EXPECT_EQ(std::string(sink.body()), "aaaabbbb");
    }
  }
}

TEST(BodyStreamTest, ConnectionEndingMidBodyIsReported) {
  auto [a, b] = Connections();
  BodyOptions options;
  options.chunk_bytes = 10;
  BodyWriter writer(&a, 4, options);
  ASSERT_TRUE(writer.Write(absl::Cord(std::string(25, 'z'))).ok());
  ASSERT_TRUE(a.Flush(In(kSafety)).ok());
  a.Close();  // no END frame
  CordBodySink sink;
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 4, sink, nullptr, In(kSafety));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(GetFrameErrorCode(n.status()), FrameErrorCode::kEndOfStream) << n.status();
  EXPECT_EQ(sink.body().size(), 20u) << "the two whole chunks reached the sink";
}

TEST(BodyStreamTest, ReceiveDeadline) {
  auto [a, b] = Connections();
  CordBodySink sink;
  const absl::Time start = absl::Now();
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 1, sink, nullptr, start + absl::Milliseconds(50));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded) << n.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(49));
}

TEST(BodyStreamTest, SinkErrorsArePassedOn) {
  auto [a, b] = Connections();
  BodyWriter writer(&a, 6);
  ASSERT_TRUE(writer.Write(absl::Cord("some body")).ok());
  ASSERT_TRUE(writer.Finish(In(kSafety)).ok());
  const int read_only = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  FdBodySink sink(read_only);
  absl::StatusOr<uint64_t> n = ReceiveBody(b, 6, sink, nullptr, In(kSafety));
  ::close(read_only);
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(std::string(n.status().message()),
              AllOf(HasSubstr("writing a body chunk to fd"), HasSubstr("errno")));
}

}  // namespace
}  // namespace lpframe
