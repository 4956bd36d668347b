// Tests for ConnectionReader's reads: how much each read asks for, and what
// reaches payload storage without a copy. (Budgets, timeouts and the
// models that use it are tested through StreamServer.)
#include "lib/server/connection_reader.h"

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/frame_encoder.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"
#include "lib/server/read_scratch.h"
#include "lib/server/server_context.h"
#include "lib/testing/pattern_bytes.h"

namespace lpframe {
namespace {

constexpr size_t kReadSize = 1024;
constexpr size_t kBlock = 4096;

Message TestMessage(uint64_t id, uint64_t size) {
  Message m;
  m.envelope.set_id(id);
  m.envelope.set_kind(KIND_REQUEST);
  m.payload = absl::Cord(testing_util::PatternBytes(size, static_cast<uint32_t>(id)));
  return m;
}

// Reads `fd` with `reader` until `count` messages came (or an error, or
// no progress), checking each against TestMessage(i + 1, size). Records
// the reader's direct_bytes() once the first message is out.
void ReadMessages(ConnectionReader& reader, int fd, ReadScratch* scratch, uint64_t count,
                  uint64_t size, uint64_t* direct_after_first) {
  Message m;
  uint64_t got = 0;
  for (int reads = 0; got < count && reads < 1000; ++reads) {
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome =
        reader.ReadOnce(fd, absl::Now(), scratch);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_NE(*outcome, ConnectionReader::ReadOutcome::kEndOfStream);
    for (DecodeStep step = reader.Next(&m, absl::Now()); step.is_message();
         step = reader.Next(&m, absl::Now())) {
      ++got;
      EXPECT_EQ(m.envelope.id(), got);
      EXPECT_EQ(m.payload, TestMessage(got, size).payload) << "message " << got;
      if (got == 1) *direct_after_first = reader.direct_bytes();
    }
  }
  EXPECT_EQ(got, count);
}

// In kDirect without takeover (thread and fork models read into the
// decoder, worker models into a shared scratch), after the first large
// frame every payload is read straight into its storage: the read that
// ends a frame asks for the rest of it plus the prefix of a frame like it.
// All frames are in the socket before the first read, so reads return
// what they ask for.
TEST(ConnectionReaderTest, AfterALargePayloadTheNextOnesAreReadStraightIntoStorage) {
  constexpr uint64_t kCount = 5;
  struct Case {
    const char* name;
    bool checksum;
    uint64_t size;
  } const kCases[] = {
      {"whole blocks", false, 2 * kBlock},
      {"whole blocks, checksum", true, 2 * kBlock},
      {"a 3-byte tail past the blocks", false, 2 * kBlock + 3},
      {"exactly 2 * read_size", false, 2 * kReadSize},
  };
  for (const bool with_scratch : {false, true}) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(absl::StrCat(c.name, with_scratch ? ", shared scratch" : ", own buffer"));
      StreamServerOptions options;
      options.connection.read_size = kReadSize;
      options.connection.checksum = c.checksum;
      options.connection.pool = BlockPool::Create(kBlock, 1 << 20);
      ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
      absl::StatusOr<std::pair<Socket, Socket>> sockets = Socket::Pair(SOCK_STREAM);
      ASSERT_TRUE(sockets.ok()) << sockets.status();
      FrameEncoder encoder(EncoderOptionsFor(options.connection));
      std::string wire;
      for (uint64_t id = 1; id <= kCount; ++id) {
        absl::StatusOr<EncodedFrame> frame = encoder.Encode(TestMessage(id, c.size));
        ASSERT_TRUE(frame.ok()) << frame.status();
        wire += frame->ToString();
      }
      ASSERT_TRUE(sockets->first.WriteAll(wire, absl::Now() + absl::Seconds(10)).ok());
      ReadScratch scratch(options.connection.pool);
      ConnectionReader reader(&context, absl::Now());
      uint64_t first = 0;
      ReadMessages(reader, sockets->second.fd(), with_scratch ? &scratch : nullptr, kCount,
                   c.size, &first);
      const uint64_t rest = reader.direct_bytes() - first;
      // A tail below read_size comes through the input, with the next prefix.
      const uint64_t tail = c.size % kBlock < kReadSize ? c.size % kBlock : 0;
      EXPECT_LE(rest, (kCount - 1) * c.size);
      EXPECT_GE(rest, (kCount - 1) * (c.size - tail));
    }
  }
}

// kFixed keeps every read of input at read_size.
TEST(ConnectionReaderTest, FixedReadsAreNotCapped) {
  constexpr uint64_t kCount = 3;
  const uint64_t size = 2 * kBlock;
  StreamServerOptions options;
  options.connection.read_size = kReadSize;
  options.connection.read_mode = ReadMode::kFixed;
  options.connection.pool = BlockPool::Create(kBlock, 1 << 20);
  ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
  absl::StatusOr<std::pair<Socket, Socket>> sockets = Socket::Pair(SOCK_STREAM);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  FrameEncoder encoder(EncoderOptionsFor(options.connection));
  std::string wire;
  for (uint64_t id = 1; id <= kCount; ++id) {
    absl::StatusOr<EncodedFrame> frame = encoder.Encode(TestMessage(id, size));
    ASSERT_TRUE(frame.ok()) << frame.status();
    wire += frame->ToString();
  }
  ASSERT_TRUE(sockets->first.WriteAll(wire, absl::Now() + absl::Seconds(10)).ok());
  ConnectionReader reader(&context, absl::Now());
  uint64_t first = 0;
  ReadMessages(reader, sockets->second.fd(), nullptr, kCount, size, &first);
  // Each frame after the first starts inside a read_size read of input;
  // the rest of its body is read into storage.
  EXPECT_LT(reader.direct_bytes() - first, (kCount - 1) * size);
  EXPECT_GT(reader.direct_bytes() - first, (kCount - 1) * (size - 2 * kReadSize));
}

}  // namespace
}  // namespace lpframe
