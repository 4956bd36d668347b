#include "lib/byte_buffer.h"

#include <algorithm>
#include <cstring>

namespace lpframe {

void ByteBuffer::Append(absl::string_view bytes) {
  if (bytes.empty()) return;
  EnsureWritable(bytes.size());
  std::memcpy(data_.get() + write_index_, bytes.data(), bytes.size());
  write_index_ += bytes.size();
}

void ByteBuffer::Consume(size_t n) {
  read_index_ += n;
  if (read_index_ == write_index_) read_index_ = write_index_ = 0;
}

absl::Span<char> ByteBuffer::PrepareWrite(size_t min_size) {
  EnsureWritable(min_size);
  return absl::Span<char>(data_.get() + write_index_, capacity_ - write_index_);
}

void ByteBuffer::ShrinkIfEmpty() {
  if (empty()) {
    data_.reset();
    capacity_ = read_index_ = write_index_ = 0;
  }
}

void ByteBuffer::EnsureWritable(size_t n) {
  if (capacity_ - write_index_ >= n) return;
  const size_t live = readable();
  if (capacity_ - live >= n && read_index_ > 0) {
    std::memmove(data_.get(), data_.get() + read_index_, live);
  } else {
    const size_t new_capacity = std::max(live + n, std::max<size_t>(2 * capacity_, 256));
    std::unique_ptr<char[]> bigger(new char[new_capacity]);
    if (live > 0) std::memcpy(bigger.get(), data_.get() + read_index_, live);
    data_ = std::move(bigger);
    capacity_ = new_capacity;
  }
  read_index_ = 0;
  write_index_ = live;
}

}  // namespace lpframe
