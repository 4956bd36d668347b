// Tests for BlockPool: reuse, the cache bound, and thread safety.
#include "lib/block_pool.h"

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/sanitizers.h"

namespace lpframe {
namespace {

TEST(BlockPoolTest, SizesAndDefault) {
  EXPECT_EQ(BlockPool::Create()->block_size(), BlockPool::kDefaultBlockSize);
  EXPECT_EQ(BlockPool::Create(4096)->block_size(), 4096u);
  EXPECT_EQ(BlockPool::Create(0)->block_size(), BlockPool::kDefaultBlockSize);
  ASSERT_NE(BlockPool::Default(), nullptr);
  EXPECT_EQ(BlockPool::Default().get(), BlockPool::Default().get());
  EXPECT_EQ(BlockPool::Default()->block_size(), size_t{256} << 10);
}

TEST(BlockPoolTest, BlocksAreDistinctWritableAndReused) {
  auto pool = BlockPool::Create(1024, 1 << 20);
  std::vector<char*> blocks;
  std::set<char*> distinct;
  for (int i = 0; i < 5; ++i) {
    char* b = pool->Acquire();
    ASSERT_NE(b, nullptr);
    std::memset(b, i, 1024);  // the whole block is writable
    blocks.push_back(b);
    distinct.insert(b);
  }
  EXPECT_EQ(distinct.size(), 5u);
  EXPECT_EQ(pool->cached_blocks(), 0u);
  for (char* b : blocks) pool->Release(b);
  EXPECT_EQ(pool->cached_blocks(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(distinct.count(pool->Acquire()), 1u) << "a cached block is handed out again";
  }
  EXPECT_EQ(pool->cached_blocks(), 0u);
  for (char* b : blocks) pool->Release(b);
}

TEST(BlockPoolTest, CacheIsBounded) {
  auto pool = BlockPool::Create(1000, 3500);  // room for 3 blocks
  std::vector<char*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(pool->Acquire());
  for (char* b : blocks) pool->Release(b);
  EXPECT_EQ(pool->cached_blocks(), 3u);
  auto none = BlockPool::Create(1000, 999);  // less than one block: no cache
  char* b = none->Acquire();
  none->Release(b);
  EXPECT_EQ(none->cached_blocks(), 0u);
}

#if LPFRAME_ASAN
// Built only under AddressSanitizer (bazel test --config=asan): a cached
// block is poisoned until it is handed out again, so a payload that still
// points into a released block is reported instead of reading whatever the
// block holds next.
TEST(BlockPoolAsanTest, CachedBlocksArePoisonedUntilHandedOutAgain) {
  auto pool = BlockPool::Create(4096, 1 << 20);
  char* block = pool->Acquire();
  std::memset(block, 'x', 4096);
  EXPECT_FALSE(__asan_address_is_poisoned(block + 4095));
  pool->Release(block);
  EXPECT_TRUE(__asan_address_is_poisoned(block));
  EXPECT_TRUE(__asan_address_is_poisoned(block + 4095));
  EXPECT_DEATH(
      {
        volatile char* stale = block;
        stale[100] = 'y';
      },
      "use-after-poison");
  char* again = pool->Acquire();
  ASSERT_EQ(again, block);
  EXPECT_FALSE(__asan_address_is_poisoned(again));
  EXPECT_FALSE(__asan_address_is_poisoned(again + 4095));
  pool->Release(again);
}
#endif  // LPFRAME_ASAN

TEST(BlockPoolTest, ConcurrentAcquireRelease) {
  auto pool = BlockPool::Create(256, 64 * 256);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([pool, t] {
      for (int i = 0; i < 2000; ++i) {
        char* a = pool->Acquire();
        char* b = pool->Acquire();
        a[0] = static_cast<char>(t);
        b[255] = static_cast<char>(i);
        pool->Release(a);
        pool->Release(b);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(pool->cached_blocks(), 64u);
  EXPECT_GE(pool->cached_blocks(), 2u);
}

}  // namespace
}  // namespace lpframe
