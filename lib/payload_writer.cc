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

absl::Span<char> PayloadWriter::WritableSpan() {
  if (remaining_ == 0) return {};
  if (block_ == nullptr) {
    if (remaining_ >= pool_->block_size()) {
      block_ = pool_->Acquire();
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
  const size_t room = std::min<uint64_t>(block_size_ - block_used_, remaining_);
  return absl::Span<char>(block_ + block_used_, room);
}

void PayloadWriter::Commit(size_t n) {
  block_used_ += n;
  remaining_ -= n;
  if (block_used_ == block_size_ || remaining_ == 0) SealBlock();
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
          data, [pool = pool_, block = block_]() { pool->Release(block); }));
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
        pool_->Release(block_);
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
  block_size_ = block_used_ = 0;
  cord_.Clear();
  remaining_ = 0;
  reserved_ = 0;
}

}  // namespace lpframe
