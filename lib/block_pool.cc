#include "lib/block_pool.h"

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
  for (char* block : free_) delete[] block;
}

char* BlockPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      char* block = free_.back();
      free_.pop_back();
      return block;
    }
  }
  return new char[block_size_];
}

void BlockPool::Release(char* block) {
  {
    absl::MutexLock lock(&mu_);
    if (free_.size() < max_cached_blocks_) {
      free_.push_back(block);
      return;
    }
  }
  delete[] block;
}

size_t BlockPool::cached_blocks() const {
  absl::MutexLock lock(&mu_);
  return free_.size();
}

}  // namespace lpframe
