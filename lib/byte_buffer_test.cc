// Tests for ByteBuffer: FIFO semantics, compaction, and memory that follows
// the readable bytes.
#include "lib/byte_buffer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/testing/pattern_bytes.h"

namespace lpframe {
namespace {

constexpr size_t kBlockSizes[] = {1, 2, 3, 5, 7, 13, 32, 1024, 8192};

using testing_util::PatternBytes;

TEST(ByteBufferTest, StartsEmptyWithoutStorage) {
  ByteBuffer b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.readable(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.view(), "");
  b.Append("");
  EXPECT_EQ(b.capacity(), 0u) << "appending nothing allocates nothing";
  b.ShrinkIfEmpty();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(ByteBufferTest, Fifo) {
  ByteBuffer b;
  b.Append("hello ");
  b.Append("world");
  EXPECT_EQ(b.view(), "hello world");
  EXPECT_EQ(b.readable(), 11u);
  b.Consume(6);
  EXPECT_EQ(b.view(), "world");
  b.Append("!");
  EXPECT_EQ(b.view(), "world!");
  b.Consume(6);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.view(), "");
  b.Append(std::string("\0x\0", 3));
  EXPECT_EQ(b.view(), std::string("\0x\0", 3));
}

TEST(ByteBufferTest, DeadSpaceIsReclaimedBeforeGrowing) {
  ByteBuffer b;
  b.Append(std::string(200, 'a'));
  const size_t cap = b.capacity();
  ASSERT_GE(cap, 200u);
  b.Consume(150);
  // 50 live bytes + room needed for (cap - 60) more: fits after compaction.
  const std::string more = PatternBytes(cap - 60, 1);
  b.Append(more);
  EXPECT_EQ(b.capacity(), cap) << "compacted instead of growing";
  EXPECT_EQ(b.view(), std::string(50, 'a') + more);
}

TEST(ByteBufferTest, GrowsWhenLiveBytesNeedIt) {
  ByteBuffer b;
  const std::string big = PatternBytes(100000, 2);
  b.Append(big.substr(0, 10));
  b.Append(big.substr(10));
  EXPECT_EQ(b.view(), big);
  EXPECT_GE(b.capacity(), big.size());
  EXPECT_LE(b.capacity(), 2 * big.size());
}

TEST(ByteBufferTest, PrepareWriteAndCommit) {
  ByteBuffer b;
  b.Append("ab");
  absl::Span<char> span = b.PrepareWrite(10);
  ASSERT_GE(span.size(), 10u);
  std::memcpy(span.data(), "0123456789", 10);
  b.Commit(4);
  EXPECT_EQ(b.view(), "ab0123");
  // The span is the space right after the readable bytes.
  b.Consume(1);
  span = b.PrepareWrite(1);
  ASSERT_GE(span.size(), 1u);
  EXPECT_EQ(span.data(), b.view().data() + b.view().size());
  span[0] = 'Z';
  b.Commit(1);
  EXPECT_EQ(b.view(), "b0123Z");
  // A large request on a small buffer.
  span = b.PrepareWrite(1 << 20);
  EXPECT_GE(span.size(), size_t{1} << 20);
  EXPECT_EQ(b.view(), "b0123Z");
  b.Commit(0);
  EXPECT_EQ(b.view(), "b0123Z");
}

TEST(ByteBufferTest, ShrinkIfEmptyOnlyWhenEmpty) {
  ByteBuffer b;
  b.Append("abc");
  b.ShrinkIfEmpty();
  EXPECT_EQ(b.view(), "abc");
  EXPECT_GT(b.capacity(), 0u);
  b.Consume(3);
  b.ShrinkIfEmpty();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  b.Append("again");
  EXPECT_EQ(b.view(), "again");
}

// A random mix of operations with `block`-sized appends and reads against a
// std::string model; capacity must stay proportional to what was live.
class ByteBufferModelTest : public ::testing::TestWithParam<size_t> {};

INSTANTIATE_TEST_SUITE_P(AllBlockSizes, ByteBufferModelTest, ::testing::ValuesIn(kBlockSizes));

TEST_P(ByteBufferModelTest, MatchesAStringModel) {
  const size_t block = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(block) * 7919u);
  ByteBuffer b;
  std::string model;
  size_t peak_demand = 0;  // largest live + requested size seen
  for (int step = 0; step < 3000; ++step) {
    SCOPED_TRACE(absl::StrCat("block ", block, ", step ", step));
    switch (rng() % 5) {
      case 0:
      case 1: {
        const std::string bytes = PatternBytes(1 + rng() % block, rng());
        peak_demand = std::max(peak_demand, model.size() + bytes.size());
        b.Append(bytes);
        model += bytes;
        break;
      }
      case 2: {
        const size_t want = 1 + rng() % block;
        peak_demand = std::max(peak_demand, model.size() + want);
        absl::Span<char> span = b.PrepareWrite(want);
        ASSERT_GE(span.size(), want);
        const std::string bytes = PatternBytes(want, rng());
        const size_t n = rng() % (want + 1);
        std::memcpy(span.data(), bytes.data(), n);
        b.Commit(n);
        model.append(bytes, 0, n);
        break;
      }
      case 3: {
        const size_t n = model.empty() ? 0 : rng() % (std::min(model.size(), block) + 1);
        b.Consume(n);
        model.erase(0, n);
        break;
      }
      case 4:
        if (rng() % 8 == 0) {
          b.Consume(model.size());
          model.clear();
          b.ShrinkIfEmpty();
          EXPECT_EQ(b.capacity(), 0u);
        }
        break;
    }
    ASSERT_EQ(b.view(), model);
    ASSERT_EQ(b.readable(), model.size());
    ASSERT_EQ(b.empty(), model.empty());
    ASSERT_LE(b.capacity(), std::max<size_t>(256, 2 * peak_demand));
  }
}

}  // namespace
}  // namespace lpframe
