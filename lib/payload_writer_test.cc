// Tests for PayloadWriter: block-by-block assembly, storage that follows
// arrival, and blocks going back to the pool.
#include "lib/payload_writer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/cord_buffer.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/testing/pattern_bytes.h"

namespace lpframe {
namespace {

constexpr size_t kBlockSizes[] = {1, 2, 3, 5, 7, 13, 32, 1024, 8192};

using testing_util::PatternBytes;

// Lends spans (up to all PayloadWriter allows) and returns their total size.
size_t LendAll(PayloadWriter& w, absl::Span<char> (&spans)[PayloadWriter::kMaxBlocksAhead + 1]) {
  const size_t count = w.WritableSpans(spans, std::size(spans));
  size_t total = 0;
  for (size_t k = 0; k < count; ++k) total += spans[k].size();
  return total;
}

std::vector<size_t> ChunkSizes(const absl::Cord& cord) {
  std::vector<size_t> out;
  for (absl::string_view c : cord.Chunks()) out.push_back(c.size());
  return out;
}

TEST(PayloadWriterTest, EmptyPayload) {
  auto pool = BlockPool::Create(16, 1024);
  PayloadWriter w(pool);
  w.Begin(0);
  EXPECT_EQ(w.remaining(), 0u);
  EXPECT_TRUE(w.WritableSpan().empty());
  EXPECT_EQ(w.reserved_bytes(), 0u);
  EXPECT_TRUE(w.Finish().empty());
}

// WritableSpans(): one span at first, twice as many after each Commit()
// that filled everything lent, never more than `max`, whole pool blocks
// only after the first, never past the payload's end; storage stays at
// most twice the bytes committed plus one block, and every block goes back
// to the pool.
TEST(PayloadWriterSpansTest, LendingDoublesAfterFullCommitsWithinTheBounds) {
  constexpr size_t kBlock = 1024;
  auto pool = BlockPool::Create(kBlock, 1 << 20);
  const std::string data = PatternBytes(100 * kBlock + 300, 3);
  PayloadWriter w(pool);
  w.Begin(data.size());
  absl::Span<char> spans[PayloadWriter::kMaxBlocksAhead + 1];
  size_t committed = 0;
  size_t expected_count = 1;
  int round = 0;
  while (w.remaining() > 0) {
    SCOPED_TRACE(absl::StrCat("round ", round, ", committed ", committed));
    const size_t count = w.WritableSpans(spans, std::size(spans));
    ASSERT_GE(count, 1u);
    const uint64_t whole_blocks_left = (w.remaining() - spans[0].size()) / kBlock;
    EXPECT_EQ(count, std::min<uint64_t>(expected_count, 1 + whole_blocks_left));
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) {
      if (i > 0) {
        EXPECT_EQ(spans[i].size(), kBlock) << "span " << i;
      }
      total += spans[i].size();
    }
    EXPECT_LE(total, w.remaining());
    EXPECT_LE(w.reserved_bytes(), 2 * committed + kBlock);
    // Every third round fills only part of what was lent: no doubling.
    const bool partial = round % 3 == 2 && total > 1;
    const size_t n = partial ? total - 1 : total;
    size_t written = 0;
    for (size_t i = 0; i < count && written < n; ++i) {
      const size_t part = std::min(spans[i].size(), n - written);
      std::memcpy(spans[i].data(), data.data() + committed + written, part);
      written += part;
    }
    w.Commit(n);
    committed += n;
    if (!partial) expected_count = std::min(2 * expected_count, std::size(spans));
    ++round;
  }
  {
    const absl::Cord cord = w.Finish();
    EXPECT_EQ(std::string(cord), data);
    EXPECT_EQ(w.reserved_bytes(), 0u);
  }
  EXPECT_LT(round, 30) << "lending did not grow";
  EXPECT_EQ(pool->cached_blocks() * kBlock, pool->mapped_bytes()) << "a block was not returned";
}

// Lending grows from what was really lent: commits of single spans (max 1)
// do not entitle a later call with a larger max to more than two.
TEST(PayloadWriterSpansTest, GrowthFollowsTheSpansReallyLent) {
  constexpr size_t kBlock = 1024;
  auto pool = BlockPool::Create(kBlock, 1 << 20);
  PayloadWriter w(pool);
  w.Begin(64 * kBlock);
  absl::Span<char> spans[PayloadWriter::kMaxBlocksAhead + 1];
  uint64_t committed = 0;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(w.WritableSpans(spans, 1), 1u);
    w.Commit(spans[0].size());
    committed += spans[0].size();
  }
  EXPECT_EQ(w.WritableSpans(spans, std::size(spans)), 2u);
  EXPECT_LE(w.reserved_bytes(), 2 * committed + kBlock);
  // A Commit(0) forgets the lend: a later commit of the same size through
  // WritableSpan() (the copy path) does not count as filling it.
  w.Begin(64 * kBlock);
  ASSERT_EQ(w.WritableSpans(spans, std::size(spans)), 1u);
  w.Commit(0);
  absl::Span<char> one = w.WritableSpan();
  ASSERT_EQ(one.size(), kBlock);
  w.Commit(one.size());
  EXPECT_EQ(w.WritableSpans(spans, std::size(spans)), 1u);
}

TEST(PayloadWriterSpansTest, MaxLimitsTheSpansAndOneSpanIsWritableSpan) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  PayloadWriter w(pool);
  w.Begin(64 * 1024);
  absl::Span<char> spans[PayloadWriter::kMaxBlocksAhead + 1];
  for (int i = 0; i < 6; ++i) w.Commit(LendAll(w, spans));  // grow the limit
  ASSERT_EQ(w.WritableSpans(spans, 2), 2u);
  ASSERT_EQ(w.WritableSpans(spans, 1), 1u);
  EXPECT_EQ(spans[0].data(), w.WritableSpan().data());
}

// Blocks taken ahead belong to the writer until they are filled: Abandon()
// (and Begin() of the next payload) gives them back to the pool, and the
// pool's mappings all end up cached again.
TEST(PayloadWriterSpansTest, AbandonReturnsTheBlocksTakenAhead) {
  constexpr size_t kBlock = 1024;
  auto pool = BlockPool::Create(kBlock, 1 << 20);
  {
    PayloadWriter w(pool);
    w.Begin(40 * kBlock);
    absl::Span<char> spans[PayloadWriter::kMaxBlocksAhead + 1];
    for (int i = 0; i < 4; ++i) {  // 1 + 2 + 4 blocks filled, 8 lent
      const size_t total = LendAll(w, spans);
      w.Commit(i < 3 ? total : 10);
    }
    EXPECT_EQ(w.WritableSpans(spans, std::size(spans)), 8u);
    EXPECT_EQ(w.reserved_bytes(), (7 + 8) * kBlock);
    w.Begin(5);  // abandons the payload, its sealed blocks and those ahead
    EXPECT_EQ(w.reserved_bytes(), 0u);
  }
  EXPECT_EQ(pool->cached_blocks() * kBlock, pool->mapped_bytes());
}

// The final piece shorter than a block is never taken ahead: it is
// allocated at its exact size when the bytes before it are in.
TEST(PayloadWriterSpansTest, TheShortFinalPieceIsNotLentAhead) {
  constexpr size_t kBlock = 1024;
  auto pool = BlockPool::Create(kBlock, 1 << 20);
  const std::string data = PatternBytes(2 * kBlock + 100, 9);
  PayloadWriter w(pool);
  w.Begin(data.size());
  absl::Span<char> spans[PayloadWriter::kMaxBlocksAhead + 1];
  size_t committed = 0;
  while (w.remaining() > 0) {
    const size_t count = w.WritableSpans(spans, std::size(spans));
    size_t total = 0;
    for (size_t k = 0; k < count; ++k) {
      std::memcpy(spans[k].data(), data.data() + committed + total, spans[k].size());
      total += spans[k].size();
    }
    w.Commit(total);
    committed += total;
  }
  const absl::Cord cord = w.Finish();
  EXPECT_EQ(std::string(cord), data);
  EXPECT_EQ(ChunkSizes(cord), (std::vector<size_t>{kBlock, kBlock, 100}));
}

TEST(PayloadWriterTest, SmallPayloadIsOneExactAllocation) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  PayloadWriter w(pool);
  const std::string data = PatternBytes(100, 1);
  w.Begin(data.size());
  EXPECT_EQ(w.reserved_bytes(), 0u) << "nothing before the first byte";
  absl::Span<char> span = w.WritableSpan();
  EXPECT_EQ(span.size(), 100u);
  EXPECT_EQ(w.reserved_bytes(), 100u);
  std::memcpy(span.data(), data.data(), 40);
  w.Commit(40);
  EXPECT_EQ(w.remaining(), 60u);
  w.Append(absl::string_view(data).substr(40));
  EXPECT_EQ(w.remaining(), 0u);
  const absl::Cord out = w.Finish();
  EXPECT_EQ(out, data);
  EXPECT_EQ(ChunkSizes(out), std::vector<size_t>{100});
  EXPECT_EQ(w.reserved_bytes(), 0u);
  EXPECT_EQ(pool->cached_blocks(), 0u) << "not a pool block";
}

// Short final pieces go into a Cord flat (or inline for tiny ones) and
// longer ones onto the heap; every size round-trips, one chunk per piece.
TEST(PayloadWriterTest, ShortPayloadsOfEverySizeAroundTheFlatLimit) {
  auto pool = BlockPool::Create(64 << 10, 1 << 20);
  PayloadWriter w(pool);
  const size_t flat = absl::CordBuffer::kDefaultLimit;
  for (size_t size : {size_t{1}, size_t{15}, size_t{16}, size_t{64}, size_t{1000}, flat - 1,
                      flat, flat + 1, size_t{8192}, size_t{(64 << 10) - 1}}) {
    SCOPED_TRACE(size);
    const std::string data = PatternBytes(size, static_cast<uint32_t>(size));
    for (int abandon = 0; abandon < 2; ++abandon) {
      w.Begin(size);
      w.Append(absl::string_view(data).substr(0, size / 2));
      if (abandon == 1) {
        w.Abandon();  // storage of each kind is given back (ASan checks)
        continue;
      }
      w.Append(absl::string_view(data).substr(size / 2));
      const absl::Cord out = w.Finish();
      EXPECT_EQ(out, data);
      EXPECT_EQ(ChunkSizes(out).size(), 1u);
    }
  }
  EXPECT_EQ(pool->cached_blocks(), 0u) << "short payloads never take pool blocks";
}

class PayloadWriterBlockTest : public ::testing::TestWithParam<size_t> {};

INSTANTIATE_TEST_SUITE_P(AllBlockSizes, PayloadWriterBlockTest, ::testing::ValuesIn(kBlockSizes));

// Pieces of `piece` bytes, in turn copied with Append, written into
// WritableSpan and written into Room (a body-read loop), into 1 KiB pool
// blocks. (Blocks of at least 512 bytes: absl
// copies smaller appended Cords, which would hide the block layout.)
TEST_P(PayloadWriterBlockTest, AssemblesAnyPieceSizes) {
  const size_t piece = GetParam();
  constexpr size_t kBlock = 1024;
  for (size_t total : {size_t{1}, size_t{1023}, size_t{1024}, size_t{1025}, size_t{4096},
                       size_t{10007}, size_t{30000}}) {
    SCOPED_TRACE(absl::StrCat("payload ", total, ", pieces of ", piece));
    auto pool = BlockPool::Create(kBlock, 1 << 20);
    const std::string data = PatternBytes(total, static_cast<uint32_t>(total));
    absl::Cord out;
    {
      PayloadWriter w(pool);
      w.Begin(total);
      size_t pos = 0;
      int way = 0;  // 0: Append, 1: WritableSpan, 2: Room
      while (pos < total) {
        const size_t n = std::min(piece, total - pos);
        if (way == 2) {
          size_t left = n;
          while (left > 0) {
            absl::Span<char> room = w.Room(left);
            ASSERT_FALSE(room.empty());
            ASSERT_LE(room.size(), left);
            ASSERT_LE(room.size(), w.remaining());
            ASSERT_LE(room.size(), kBlock);
            std::memcpy(room.data(), data.data() + pos + (n - left), room.size());
            w.CommitRoom(room.size());
            left -= room.size();
          }
        } else if (way == 1) {
          size_t left = n;
          while (left > 0) {
            absl::Span<char> span = w.WritableSpan();
            ASSERT_FALSE(span.empty());
            ASSERT_LE(span.size(), w.remaining());
            ASSERT_LE(span.size(), kBlock);
            const size_t k = std::min(left, span.size());
            std::memcpy(span.data(), data.data() + pos + (n - left), k);
            w.Commit(k);
            left -= k;
          }
        } else {
          w.Append(absl::string_view(data).substr(pos, n));
        }
        way = (way + 1) % 3;
        pos += n;
        ASSERT_EQ(w.remaining(), total - pos);
        // Storage follows arrival: at most one block beyond the bytes written.
        ASSERT_LE(w.reserved_bytes(), pos + kBlock);
      }
      out = w.Finish();
      EXPECT_EQ(w.reserved_bytes(), 0u);
    }
    EXPECT_EQ(out, data);
    // Full pool blocks, then the remainder allocated at its exact size.
    const std::vector<size_t> chunks = ChunkSizes(out);
    ASSERT_EQ(chunks.size(), (total + kBlock - 1) / kBlock);
    for (size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_EQ(chunks[i], kBlock);
    EXPECT_EQ(chunks.back(), total % kBlock == 0 ? kBlock : total % kBlock);
    // The pooled blocks come back when the Cord goes away.
    EXPECT_EQ(pool->cached_blocks(), 0u);
    out.Clear();
    EXPECT_EQ(pool->cached_blocks(), total / kBlock);
  }
}

// Room() takes a block only when bytes are due, lends at most `max` and
// the rest of the block, and a partial CommitRoom() keeps the block open.
TEST(PayloadWriterTest, RoomTakesABlockOnlyWhenBytesAreDue) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  PayloadWriter w(pool);
  EXPECT_TRUE(w.Room(100).empty()) << "no payload begun";
  w.Begin(3000);
  EXPECT_EQ(w.reserved_bytes(), 0u);
  absl::Span<char> room = w.Room(SIZE_MAX);
  EXPECT_EQ(room.size(), 1024u);
  EXPECT_EQ(w.reserved_bytes(), 1024u);
  std::memset(room.data(), 'a', 1000);
  w.CommitRoom(1000);
  room = w.Room(100);
  EXPECT_EQ(room.size(), 24u) << "the rest of the block, not more";
  std::memset(room.data(), 'b', 24);
  w.CommitRoom(24);
  EXPECT_EQ(w.reserved_bytes(), 1024u) << "the next block waits for the next Room()";
  room = w.Room(7);
  EXPECT_EQ(room.size(), 7u);
  EXPECT_EQ(w.reserved_bytes(), 2048u);
  std::memset(room.data(), 'c', 7);
  w.CommitRoom(7);
  EXPECT_EQ(w.remaining(), 3000u - 1031u);
  w.Abandon();
  EXPECT_EQ(pool->cached_blocks(), 2u);
}

TEST(PayloadWriterTest, AbandonReturnsTheBlock) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  PayloadWriter w(pool);
  w.Begin(10000);
  w.Append(PatternBytes(10, 1));
  EXPECT_EQ(w.reserved_bytes(), 1024u);
  w.Abandon();
  EXPECT_EQ(w.reserved_bytes(), 0u);
  EXPECT_EQ(w.remaining(), 0u);
  EXPECT_EQ(pool->cached_blocks(), 1u);
  // Sealed blocks of an abandoned payload come back too.
  w.Begin(10000);
  w.Append(PatternBytes(3000, 2));  // 2 full blocks + part of a 3rd
  EXPECT_EQ(w.reserved_bytes(), 3072u);
  EXPECT_EQ(pool->cached_blocks(), 0u);
  w.Abandon();
  EXPECT_EQ(pool->cached_blocks(), 3u);
  // The writer is reusable.
  w.Begin(3);
  w.Append("xyz");
  EXPECT_EQ(w.Finish(), "xyz");
}

TEST(PayloadWriterTest, BeginAbandonsThePreviousPayload) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  PayloadWriter w(pool);
  w.Begin(5000);
  w.Append(PatternBytes(1500, 1));
  w.Begin(5);
  EXPECT_EQ(w.remaining(), 5u);
  EXPECT_EQ(w.reserved_bytes(), 0u);
  EXPECT_EQ(pool->cached_blocks(), 2u);
  w.Append("hello");
  EXPECT_EQ(w.Finish(), "hello");
}

TEST(PayloadWriterTest, DestructorReleasesWork) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  {
    PayloadWriter w(pool);
    w.Begin(5000);
    w.Append(PatternBytes(1500, 1));
  }
  EXPECT_EQ(pool->cached_blocks(), 2u);
}

TEST(PayloadWriterTest, CordOutlivesWriterAndPoolHandle) {
  std::weak_ptr<BlockPool> weak;
  absl::Cord out;
  const std::string data = PatternBytes(1000, 3);
  {
    auto pool = BlockPool::Create(100, 1 << 20);
    weak = pool;
    PayloadWriter w(pool);
    w.Begin(data.size());
    w.Append(data);
    out = w.Finish();
  }
  EXPECT_FALSE(weak.expired()) << "the Cord's blocks keep the pool alive";
  EXPECT_EQ(out, data);
  out.Clear();
  EXPECT_TRUE(weak.expired());
}

// BeginInBlock(): the bytes already in the block become the payload's first
// chunk where they lie (no copy), the rest follows in the block's room and
// then in blocks of its own, and the block goes back to the pool with the
// last Cord that holds it, whatever the offset, the bytes already there and
// the length; Abandon() gives it back too.
TEST(PayloadWriterTest, BeginInBlockKeepsTheBytesWhereTheReadPutThem) {
  constexpr size_t kBlock = 1024;
  struct Case {
    size_t offset;
    size_t filled;
    size_t length;
  };
  const Case cases[] = {
      {0, 1024, 1024},   // the whole block is the whole payload
      {24, 1000, 1000},  // whole payload, block not full
      {24, 100, 1000},   // the rest fits in the block's room
      {24, 1000, 1001},  // the block is full: 1 byte in a block of its own
      {24, 500, 5000},   // the rest spans further blocks
      {1023, 1, 3000},   // one byte of the payload in the block
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("offset ", c.offset, " filled ", c.filled, " length ",
                              c.length));
    auto pool = BlockPool::Create(kBlock, 1 << 20);
    const std::string data = PatternBytes(c.length, static_cast<uint32_t>(c.length));
    char* block = pool->Acquire();
    std::memcpy(block + c.offset, data.data(), c.filled);
    absl::Cord out;
    {
      PayloadWriter w(pool);
      w.BeginInBlock(c.length, block, c.offset, c.filled);
      EXPECT_EQ(w.remaining(), c.length - c.filled);
      EXPECT_EQ(w.reserved_bytes(), kBlock);
      for (size_t at = c.filled; at < c.length;) {  // the rest, read in place
        absl::Span<char> span = w.WritableSpan();
        ASSERT_FALSE(span.empty());
        const size_t n = std::min<size_t>(span.size(), 300);
        if (at == c.filled && c.filled < kBlock - c.offset) {
          EXPECT_EQ(span.data(), block + c.offset + c.filled) << "the block's room first";
        }
        std::memcpy(span.data(), data.data() + at, n);
        w.Commit(n);
        at += n;
      }
      out = w.Finish();
    }
    EXPECT_EQ(out, data);
    EXPECT_EQ(out.Chunks().begin()->data(), block + c.offset) << "the first bytes moved";
    EXPECT_EQ(pool->cached_blocks(), 0u) << "the block is held by the Cord";
    out.Clear();
    EXPECT_EQ(pool->cached_blocks() * kBlock, pool->mapped_bytes()) << "a block was not returned";
  }
}

TEST(PayloadWriterTest, AbandonReturnsATakenBlock) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  char* block = pool->Acquire();
  {
    PayloadWriter w(pool);
    w.BeginInBlock(4000, block, 100, 50);
    w.Append(PatternBytes(2000, 4));  // fills the block's room and one more block
    EXPECT_EQ(pool->cached_blocks(), 0u);
    w.Abandon();
    EXPECT_EQ(pool->cached_blocks(), 3u);
    EXPECT_EQ(w.reserved_bytes(), 0u);
    // Begin() after BeginInBlock() gives the block back as well.
    w.BeginInBlock(4000, pool->Acquire(), 0, 10);
    w.Begin(3);
    EXPECT_EQ(pool->cached_blocks(), 3u);
    w.Append("abc");
    EXPECT_EQ(w.Finish(), "abc");
  }
  EXPECT_EQ(pool->cached_blocks() * 1024, pool->mapped_bytes());
}

TEST(PayloadWriterTest, NullPoolMeansTheDefaultPool) {
  PayloadWriter w(nullptr);
  const size_t block = BlockPool::Default()->block_size();
  w.Begin(block + 10);
  w.Append(std::string(5, 'a'));
  EXPECT_EQ(w.reserved_bytes(), block);
  w.Append(std::string(block + 5, 'b'));
  const absl::Cord out = w.Finish();
  EXPECT_EQ(out.size(), block + 10);
  EXPECT_EQ(ChunkSizes(out), (std::vector<size_t>{block, 10}));
}

}  // namespace
}  // namespace lpframe
