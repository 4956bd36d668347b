#include "lib/block_pool.h"

#include <sys/mman.h>

#include <mutex>
#include <new>

#include "lib/sanitizers.h"

namespace lpframe {

std::shared_ptr<BlockPool> BlockPool::Create(size_t block_size, size_t max_cached_bytes) {
  return std::make_shared<BlockPool>(block_size, max_cached_bytes);
}

const std::shared_ptr<BlockPool>& BlockPool::Default() {
  static const auto* const pool = new std::shared_ptr<BlockPool>(Create());
  return *pool;
}

BlockPool::BlockPool(size_t block_size, size_t max_cached_bytes)
    : block_size_(block_size == 0 ? kDefaultBlockSize : block_size),
      max_cached_blocks_(max_cached_bytes / (block_size == 0 ? kDefaultBlockSize
                                                             : block_size)) {}

BlockPool::~BlockPool() {
  for (char* block : free_) {
    LPFRAME_ASAN_UNPOISON(block, block_size_);  // the address range may be mapped again
    ::munmap(block, block_size_);
  }
}

char* BlockPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      char* block = free_.back();
      free_.pop_back();
      LPFRAME_ASAN_UNPOISON(block, block_size_);
      return block;
    }
  }
  void* block = ::mmap(nullptr, block_size_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) throw std::bad_alloc();
  mapped_bytes_.fetch_add(block_size_, std::memory_order_relaxed);
  return static_cast<char*>(block);
}

void BlockPool::Release(char* block) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < max_cached_blocks_) {
      // Under AddressSanitizer a cached block may not be touched until it
      // is handed out again: a payload still pointing into it is reported.
      LPFRAME_ASAN_POISON(block, block_size_);
      free_.push_back(block);
      return;
    }
  }
  ::munmap(block, block_size_);
  mapped_bytes_.fetch_sub(block_size_, std::memory_order_relaxed);
}

size_t BlockPool::cached_blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

}  // namespace lpframe
