// File: lib/server/read_scratch.h
//
// ReadScratch is the memory a reactor lends to its connections' reads, one
// connection at a time (ConnectionReader::ReadOnce): one block of a
// BlockPool. When a read brings the start of a large payload, that
// connection's decoder may take the block over (FrameDecoder::FeedBlock),
// so the payload stays where the kernel wrote it; Renew() then takes the
// next block from the pool. Blocks come back to the pool with the payloads
// that hold them, so a steady stream of large requests reuses a few blocks.
//
// Thread-compatible.
#ifndef LPFRAME_LIB_SERVER_READ_SCRATCH_H_
#define LPFRAME_LIB_SERVER_READ_SCRATCH_H_

#include <cstddef>
#include <memory>

#include "absl/types/span.h"
#include "lib/block_pool.h"

namespace lpframe {

class ReadScratch {
 public:
  // `pool` null means BlockPool::Default().
  explicit ReadScratch(std::shared_ptr<BlockPool> pool);
  ~ReadScratch();  // releases the block it holds
  ReadScratch(const ReadScratch&) = delete;
  ReadScratch& operator=(const ReadScratch&) = delete;

  char* block() const { return block_; }
  absl::Span<char> span() const { return absl::Span<char>(block_, pool_->block_size()); }
  const std::shared_ptr<BlockPool>& pool() const { return pool_; }

  // The block was taken over by its reader: hold a new one from the pool.
  void Renew() { block_ = pool_->Acquire(); }

 private:
  std::shared_ptr<BlockPool> pool_;
  char* block_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_READ_SCRATCH_H_
