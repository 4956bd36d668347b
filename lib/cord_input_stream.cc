#include "lib/cord_input_stream.h"

#include <algorithm>
#include <climits>

namespace lpframe {

CordInputStream::CordInputStream(const absl::Cord* cord)
    : it_(cord->chunk_begin()), end_(cord->chunk_end()) {}

bool CordInputStream::Next(const void** data, int* size) {
  while (current_.empty()) {
    if (it_ == end_) {
      last_returned_ = 0;
      return false;
    }
    current_ = *it_;
    ++it_;
  }
  const size_t n = std::min<size_t>(current_.size(), INT_MAX);
  *data = current_.data();
  *size = static_cast<int>(n);
  // Keep the returned region reachable for BackUp(): remember its size and
  // move past it.
  last_returned_ = n;
  back_up_base_ = current_.data();
  current_.remove_prefix(n);
  position_ += static_cast<int64_t>(n);
  return true;
}

void CordInputStream::BackUp(int count) {
  if (count <= 0) return;
  const size_t n = std::min<size_t>(static_cast<size_t>(count), last_returned_);
  // The bytes backed up are the tail of the last returned region, which is
  // contiguous with what remains of the current chunk.
  current_ = absl::string_view(back_up_base_ + (last_returned_ - n), n + current_.size());
  last_returned_ -= n;
  position_ -= static_cast<int64_t>(n);
}

bool CordInputStream::Skip(int count) {
  if (count < 0) return false;
  size_t left = static_cast<size_t>(count);
  last_returned_ = 0;
  while (left > 0) {
    if (current_.empty()) {
      if (it_ == end_) return false;
      current_ = *it_;
      ++it_;
      continue;
    }
    const size_t n = std::min(left, current_.size());
    current_.remove_prefix(n);
    left -= n;
    position_ += static_cast<int64_t>(n);
  }
  return true;
}

}  // namespace lpframe
