#include "lib/server/read_scratch.h"

#include <utility>

namespace lpframe {

ReadScratch::ReadScratch(std::shared_ptr<BlockPool> pool)
    : pool_(pool != nullptr ? std::move(pool) : BlockPool::Default()),
      block_(pool_->Acquire()) {}

ReadScratch::~ReadScratch() { pool_->Release(block_); }

}  // namespace lpframe
