// File: lib/block_pool.h
//
// A pool of fixed-size memory blocks for multi-megabyte payloads. Fresh
// memory costs a page fault per 4 KiB on first touch (~400 MB/s on the
// reference machine); reusing blocks keeps large transfers at memory speed.
//
// Blocks are page-aligned anonymous mappings (mmap), not heap blocks: a
// heap block's allocator header would make every block touch one page more
// than its size (1 MiB extra per 64 MiB payload).
//
// Blocks are handed out by Acquire() and come back through Release(),
// typically from the releaser of an absl::Cord built over the block, which
// may run on any thread after the decoder is gone: hold the pool by
// std::shared_ptr so it outlives every block.
//
// Thread-safe.
#ifndef LPFRAME_LIB_BLOCK_POOL_H_
#define LPFRAME_LIB_BLOCK_POOL_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace lpframe {

class BlockPool {
 public:
  static constexpr size_t kDefaultBlockSize = size_t{256} << 10;       // 256 KiB
  static constexpr size_t kDefaultMaxCachedBytes = size_t{64} << 20;   // 64 MiB

  // `block_size` > 0. At most `max_cached_bytes` of released blocks are
  // kept for reuse; the rest are freed.
  static std::shared_ptr<BlockPool> Create(size_t block_size = kDefaultBlockSize,
                                           size_t max_cached_bytes = kDefaultMaxCachedBytes);

  // The process-wide pool with the default sizes.
  static const std::shared_ptr<BlockPool>& Default();

  BlockPool(size_t block_size, size_t max_cached_bytes);
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  size_t block_size() const { return block_size_; }

  // A block of block_size() bytes (contents unspecified). Never null.
  char* Acquire();
  // Returns a block obtained from this pool's Acquire().
  void Release(char* block);

  // Blocks currently cached (for tests and stats).
  size_t cached_blocks() const;
  // Bytes of blocks that exist right now, handed out or cached.
  size_t mapped_bytes() const { return mapped_bytes_.load(std::memory_order_relaxed); }

 private:
  const size_t block_size_;
  const size_t max_cached_blocks_;
  std::atomic<size_t> mapped_bytes_{0};
  // A std::mutex, not an absl::Mutex: Debian's Abseil is built without
  // NDEBUG, so every absl::Mutex::Lock() updates the process-wide deadlock
  // detection graph: about 500 instructions per Acquire() or Release(),
  // a fifth of the echo server's own work per 64 KiB request
  // (bench/RESULTS.md, 2026-12-05 18:15). The lock is held for a vector
  // push or pop, never across a call.
  mutable std::mutex mu_;
  std::vector<char*> free_;  // guarded by mu_
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_BLOCK_POOL_H_
