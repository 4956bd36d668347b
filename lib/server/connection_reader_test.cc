// Tests for ConnectionReader's reads: how much each read asks for, and what
// reaches payload storage without a copy. (Budgets, timeouts and the
// models that use it are tested through StreamServer.)
#include "lib/server/connection_reader.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"
#include "lib/server/read_scratch.h"
#include "lib/server/server_context.h"
#include "lib/testing/pattern_bytes.h"
#include "lib/testing/prefix_read_cases.h"

namespace lpframe {
namespace {

using testing_util::kPrefixReadBlock;
using testing_util::kPrefixReadSize;

Message TestMessage(uint64_t id, uint64_t size) {
  Message m;
  m.envelope.set_id(id);
  m.envelope.set_kind(KIND_REQUEST);
  m.payload = absl::Cord(testing_util::PatternBytes(size, static_cast<uint32_t>(id)));
  return m;
}

// Reads 1 KiB at a time into 4 KiB pool blocks (lib/testing/prefix_read_cases.h).
StreamServerOptions ReaderOptions(ReadMode mode, bool checksum) {
  StreamServerOptions options;
  options.connection.read_size = kPrefixReadSize;
  options.connection.read_mode = mode;
  options.connection.checksum = checksum;
  options.connection.pool = BlockPool::Create(kPrefixReadBlock, 1 << 20);
  return options;
}

// Writes TestMessage(1..count, size), framed with `options`, to `peer`.
void WriteFrames(const ConnectionOptions& options, uint64_t count, uint64_t size,
                 Socket& peer) {
  FrameEncoder encoder(EncoderOptionsFor(options));
  std::string wire;
  for (uint64_t id = 1; id <= count; ++id) {
    absl::StatusOr<EncodedFrame> frame = encoder.Encode(TestMessage(id, size));
    ASSERT_TRUE(frame.ok()) << frame.status();
    wire += frame->ToString();
  }
  ASSERT_TRUE(peer.WriteAll(wire, absl::Now() + absl::Seconds(10)).ok());
}

// Reads `fd` with `reader` until `count` messages came (or an error, or
// no progress), checking each against TestMessage(i + 1, size). Returns
// the payload bytes read straight into storage after the first message.
uint64_t DirectBytesAfterTheFirst(ConnectionReader& reader, int fd, ReadScratch* scratch,
                                  uint64_t count, uint64_t size) {
  Message m;
  uint64_t got = 0;
  uint64_t after_first = 0;
  for (int reads = 0; got < count && reads < 1000; ++reads) {
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome =
        reader.ReadOnce(fd, absl::Now(), scratch);
    if (!outcome.ok() || *outcome == ConnectionReader::ReadOutcome::kEndOfStream) {
      ADD_FAILURE() << "after " << got << " messages: " << outcome.status();
      break;
    }
    for (DecodeStep step = reader.Next(&m, absl::Now()); step.is_message();
         step = reader.Next(&m, absl::Now())) {
      ++got;
      EXPECT_EQ(m.envelope.id(), got);
      EXPECT_EQ(m.payload, TestMessage(got, size).payload) << "message " << got;
      if (got == 1) after_first = reader.direct_bytes();
    }
  }
  EXPECT_EQ(got, count);
  return reader.direct_bytes() - after_first;
}

// In kDirect without takeover (thread and fork models read into the
// decoder, worker models into a shared scratch), after the first large
// frame every payload is read straight into its storage.
TEST(ConnectionReaderTest, AfterALargePayloadTheNextOnesAreReadStraightIntoStorage) {
  constexpr uint64_t kCount = 5;
  for (const bool with_scratch : {false, true}) {
    for (const testing_util::PrefixReadCase& c : testing_util::kPrefixReadCases) {
      SCOPED_TRACE(absl::StrCat(c.name, with_scratch ? ", shared scratch" : ", own buffer"));
      const StreamServerOptions options = ReaderOptions(ReadMode::kDirect, c.checksum);
      ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
      absl::StatusOr<std::pair<Socket, Socket>> sockets = Socket::Pair(SOCK_STREAM);
      ASSERT_TRUE(sockets.ok()) << sockets.status();
      WriteFrames(options.connection, kCount, c.size, sockets->first);
      ReadScratch scratch(options.connection.pool);
      ConnectionReader reader(&context, absl::Now());
      const uint64_t rest = DirectBytesAfterTheFirst(
          reader, sockets->second.fd(), with_scratch ? &scratch : nullptr, kCount, c.size);
      EXPECT_LE(rest, (kCount - 1) * c.size);
      EXPECT_GE(rest, testing_util::MinDirectPayloadBytes(c, kCount - 1));
    }
  }
}

// kFixed keeps every read of input at read_size.
TEST(ConnectionReaderTest, FixedReadsAreNotCapped) {
  constexpr uint64_t kCount = 3;
  const uint64_t size = 2 * kPrefixReadBlock;
  const StreamServerOptions options = ReaderOptions(ReadMode::kFixed, false);
  ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
  absl::StatusOr<std::pair<Socket, Socket>> sockets = Socket::Pair(SOCK_STREAM);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  WriteFrames(options.connection, kCount, size, sockets->first);
  ConnectionReader reader(&context, absl::Now());
  const uint64_t rest =
      DirectBytesAfterTheFirst(reader, sockets->second.fd(), nullptr, kCount, size);
  // Each frame after the first starts inside a read_size read of input;
  // the rest of its body is read into storage.
  EXPECT_LT(rest, (kCount - 1) * size);
  EXPECT_GT(rest, (kCount - 1) * (size - 2 * kPrefixReadSize));
}

// Reads made ahead (PrereadSize, recv into the caller's memory, then
// AbsorbRead) deliver what ReadOnce() does: every message once and in order,
// small payloads as views of that memory when views are on, large ones
// read straight into storage once their header is in.
TEST(ConnectionReaderTest, ReadsMadeAheadDeliverWhatReadOnceDoes) {
  constexpr uint64_t kCount = 6;
  for (const bool views : {false, true}) {
    for (const uint64_t size : {uint64_t{0}, uint64_t{64}, uint64_t{1000}, 3 * kPrefixReadBlock}) {
      SCOPED_TRACE(absl::StrCat(size, "-byte payloads", views ? ", views" : ""));
      const StreamServerOptions options = ReaderOptions(ReadMode::kDirect, false);
      ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
      absl::StatusOr<std::pair<Socket, Socket>> sockets = Socket::Pair(SOCK_STREAM);
      ASSERT_TRUE(sockets.ok()) << sockets.status();
      WriteFrames(options.connection, kCount, size, sockets->first);
      ReadScratch scratch(options.connection.pool);
      ConnectionReader reader(&context, absl::Now());
      if (views) reader.EnableViews();
      std::string room(64 << 10, '\0');
      uint64_t got = 0;
      uint64_t ahead = 0;
      for (int reads = 0; got < kCount && reads < 1000; ++reads) {
        const size_t want = reader.PrereadSize(room.size());
        EXPECT_LE(want, options.connection.read_size);
        absl::StatusOr<ConnectionReader::ReadOutcome> outcome;
        if (want == 0) {
          outcome = reader.ReadOnce(sockets->second.fd(), absl::Now(), &scratch);
        } else {
          ++ahead;
          const ssize_t n = ::recv(sockets->second.fd(), room.data(), want, MSG_DONTWAIT);
          outcome = reader.AbsorbRead(room.data(), n, n < 0 ? errno : 0, want, absl::Now());
        }
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ASSERT_NE(*outcome, ConnectionReader::ReadOutcome::kEndOfStream);
        for (DecodeStep step = reader.Poll(); step.is_message(); step = reader.Poll()) {
          ++got;
          const Message expected = TestMessage(got, size);
          if (reader.payload_is_view()) {
            Envelope envelope;
            const absl::string_view payload = reader.TakeView(&envelope, absl::Now());
            EXPECT_GE(payload.data(), room.data());
            EXPECT_LE(payload.data() + payload.size(), room.data() + room.size());
            EXPECT_EQ(envelope.id(), got);
            EXPECT_EQ(payload, std::string(expected.payload)) << "message " << got;
          } else {
            Message m = reader.Take(absl::Now());
            EXPECT_EQ(m.envelope.id(), got);
            EXPECT_EQ(m.payload, expected.payload) << "message " << got;
          }
        }
        std::fill(room.begin(), room.end(), 'x');  // the next read reuses it
      }
      EXPECT_EQ(got, kCount);
      EXPECT_GT(ahead, 0u);
      if (size >= kPrefixReadBlock) {
        EXPECT_GT(reader.direct_bytes(), 0u);
      }
      EXPECT_EQ(reader.messages_received(), kCount);
    }
  }
}

// A read made ahead reports what ReadOnce() would: nothing to read, the end
// of the stream (clean or inside a frame), and a failed recv.
TEST(ConnectionReaderTest, AReadMadeAheadReportsEndsAndErrors) {
  const StreamServerOptions options = ReaderOptions(ReadMode::kDirect, false);
  ServerContext context(options, [] { return std::unique_ptr<StreamHandler>(); });
  const char* none = nullptr;
  {
    ConnectionReader reader(&context, absl::Now());
    ASSERT_GT(reader.PrereadSize(1 << 10), 0u);
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome =
        reader.AbsorbRead(none, -1, EAGAIN, 1 << 10, absl::Now());
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(*outcome, ConnectionReader::ReadOutcome::kWouldBlock);
    outcome = reader.AbsorbRead(none, 0, 0, 1 << 10, absl::Now());
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(*outcome, ConnectionReader::ReadOutcome::kEndOfStream);
  }
  {
    ConnectionReader reader(&context, absl::Now());
    const std::string half_header(kHeaderSize / 2, '\0');
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome = reader.AbsorbRead(
        half_header.data(), static_cast<ssize_t>(half_header.size()), 0, 1 << 10, absl::Now());
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(*outcome, ConnectionReader::ReadOutcome::kShortData);
    outcome = reader.AbsorbRead(none, 0, 0, 1 << 10, absl::Now());
    EXPECT_FALSE(outcome.ok());
  }
  {
    ConnectionReader reader(&context, absl::Now());
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome =
        reader.AbsorbRead(none, -1, ECONNRESET, 1 << 10, absl::Now());
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(GetFrameErrorCode(outcome.status()), FrameErrorCode::kIoError);
    EXPECT_NE(outcome.status().message().find("recv after 0 bytes"), absl::string_view::npos)
        << outcome.status();
  }
}

}  // namespace
}  // namespace lpframe
