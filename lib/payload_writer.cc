#include "lib/payload_writer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace lpframe {

PayloadWriter::PayloadWriter(std::shared_ptr<BlockPool> pool)
    : pool_(pool != nullptr ? std::move(pool) : BlockPool::Default()) {}

PayloadWriter::~PayloadWriter() { Abandon(); }

void PayloadWriter::Begin(uint64_t length) {
  Abandon();
  remaining_ = length;
}

void PayloadWriter::BeginInBlock(uint64_t length, char* block, size_t offset, size_t filled) {
  Abandon();
  remaining_ = length - filled;
  pool_block_ = block;
  block_ = block + offset;
  block_size_ = pool_->block_size() - offset;
  block_used_ = filled;
  block_kind_ = BlockKind::kPooled;
  reserved_ = pool_->block_size();
  if (block_used_ == block_size_ || remaining_ == 0) SealBlock();
}

absl::Span<char> PayloadWriter::WritableSpan() {
  lent_count_ = 0;
  lent_total_ = 0;
  return Room(SIZE_MAX);
}

void PayloadWriter::StartBlock() {
  if (ahead_count_ > 0) {
    block_ = pool_block_ = ahead_[0];
    std::copy(ahead_ + 1, ahead_ + ahead_count_, ahead_);
    --ahead_count_;
    block_size_ = pool_->block_size();
    block_kind_ = BlockKind::kPooled;
    block_used_ = 0;
    return;  // already counted in reserved_
  }
  if (remaining_ >= pool_->block_size()) {
    block_ = pool_block_ = pool_->Acquire();
    block_size_ = pool_->block_size();
    block_kind_ = BlockKind::kPooled;
  } else if (remaining_ <= absl::CordBuffer::kDefaultLimit) {
    small_ = absl::CordBuffer::CreateWithDefaultLimit(static_cast<size_t>(remaining_));
    block_ = small_.data();
    block_size_ = std::min<size_t>(small_.capacity(), static_cast<size_t>(remaining_));
    block_kind_ = BlockKind::kCordBuffer;
  } else {
    block_size_ = static_cast<size_t>(remaining_);
    block_ = new char[block_size_];
    block_kind_ = BlockKind::kHeap;
  }
  block_used_ = 0;
  reserved_ += block_size_;
}

size_t PayloadWriter::WritableSpans(absl::Span<char>* spans, size_t max) {
  const absl::Span<char> first = WritableSpan();
  if (first.empty()) return 0;
  lent_total_ = first.size();
  spans[0] = first;
  size_t count = 1;
  const size_t limit = std::min({max, lend_limit_, kMaxBlocksAhead + 1});
  const size_t block = pool_->block_size();
  uint64_t beyond = remaining_ - first.size();  // payload bytes after the first span
  while (count < limit && beyond >= block) {
    if (count - 1 == ahead_count_) {
      ahead_[ahead_count_++] = pool_->Acquire();
      reserved_ += block;
    }
    spans[count] = absl::Span<char>(ahead_[count - 1], block);
    ++count;
    beyond -= block;
    lent_total_ += block;
  }
  lent_count_ = count;
  return count;
}

void PayloadWriter::Commit(size_t n) {
  if (n > 0 && n == lent_total_) {
    lend_limit_ = std::min(2 * lent_count_, kMaxBlocksAhead + 1);
  }
  lent_count_ = 0;
  lent_total_ = 0;
  while (true) {
    const size_t take = std::min(n, block_size_ - block_used_);
    block_used_ += take;
    remaining_ -= take;
    n -= take;
    if (block_used_ == block_size_ || remaining_ == 0) SealBlock();
    if (n == 0) return;
    StartBlock();  // the next span lent was a block taken ahead
  }
}

void PayloadWriter::AppendSlow(absl::string_view bytes) {
  while (!bytes.empty()) {
    absl::Span<char> span = WritableSpan();
    const size_t n = std::min(span.size(), bytes.size());
    std::memcpy(span.data(), bytes.data(), n);
    bytes.remove_prefix(n);
    Commit(n);
  }
}

void PayloadWriter::SealBlock() {
  if (block_ == nullptr) return;
  absl::string_view data(block_, block_used_);
  switch (block_kind_) {
    case BlockKind::kPooled:
      cord_.Append(absl::MakeCordFromExternal(
          data, [pool = pool_, block = pool_block_]() { pool->Release(block); }));
      break;
    case BlockKind::kCordBuffer:
      small_.SetLength(block_used_);
      cord_.Append(std::move(small_));
      small_ = absl::CordBuffer();
      break;
    case BlockKind::kHeap:
      cord_.Append(absl::MakeCordFromExternal(data, [block = block_]() { delete[] block; }));
      break;
  }
  block_ = nullptr;
  block_size_ = block_used_ = 0;
}

absl::Cord PayloadWriter::Finish() {
  SealBlock();
  lend_limit_ = 1;
  absl::Cord out = std::move(cord_);
  cord_.Clear();
  remaining_ = 0;
  reserved_ = 0;
  return out;
}

void PayloadWriter::Abandon() {
  if (block_ != nullptr) {
    switch (block_kind_) {
      case BlockKind::kPooled:
        pool_->Release(pool_block_);
        break;
      case BlockKind::kCordBuffer:
        small_ = absl::CordBuffer();
        break;
      case BlockKind::kHeap:
        delete[] block_;
        break;
    }
    block_ = nullptr;
  }
  for (size_t i = 0; i < ahead_count_; ++i) pool_->Release(ahead_[i]);
  ahead_count_ = 0;
  lend_limit_ = 1;
  lent_count_ = 0;
  lent_total_ = 0;
  block_size_ = block_used_ = 0;
  cord_.Clear();
  remaining_ = 0;
  reserved_ = 0;
}

}  // namespace lpframe
