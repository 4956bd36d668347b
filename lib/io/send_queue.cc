#include "lib/io/send_queue.h"

#include <limits.h>

#include <algorithm>
#include <utility>

#include "lib/string_heap_bytes.h"

namespace lpframe {

void SendQueue::AppendBytes(absl::string_view bytes) {
  if (bytes.empty()) return;
  // An empty run (kept by Consume()) takes any bytes: its capacity is reused.
  if (pieces_.empty() || pieces_.back().is_cord ||
      (!pieces_.back().bytes.empty() &&
       pieces_.back().bytes.size() + bytes.size() > run_bytes_ + 4096)) {
    pieces_.emplace_back();
    std::string& run = pieces_.back().bytes;
    run.swap(spare_);
    run.clear();
    run.reserve(std::max<size_t>(bytes.size(), 256));
  }
  pieces_.back().bytes.append(bytes.data(), bytes.size());
  size_ += bytes.size();
}

void SendQueue::AppendCord(const absl::Cord& cord) {
  if (cord.empty()) return;
  if (cord.size() <= copy_payload_bytes_) {
    for (absl::string_view chunk : cord.Chunks()) AppendBytes(chunk);
    return;
  }
  Piece piece;
  piece.cord = cord;
  piece.is_cord = true;
  size_ += cord.size();
  pieces_.push_back(std::move(piece));
}

void SendQueue::Append(const EncodedFrame& frame) {
  AppendBytes(frame.prefix());
  AppendCord(frame.payload());
  AppendBytes(frame.trailer());
}

void SendQueue::PrependBytes(absl::string_view bytes) {
  if (bytes.empty()) return;
  if (front_sent_ > 0) {  // the consumed part of the front piece goes first
    Piece& front = pieces_.front();
    if (front.is_cord) {
      front.cord.RemovePrefix(front_sent_);
    } else {
      front.bytes.erase(0, front_sent_);
    }
    front_sent_ = 0;
  }
  Piece piece;
  piece.bytes.assign(bytes.data(), bytes.size());
  pieces_.push_front(std::move(piece));
  size_ += bytes.size();
}

void SendQueue::FillIovecs(std::vector<struct iovec>* iov, size_t max_iovecs) const {
  iov->clear();
  if (max_iovecs == 0 || max_iovecs > IOV_MAX) max_iovecs = IOV_MAX;
  uint64_t skip = front_sent_;
  for (const Piece& piece : pieces_) {
    if (iov->size() >= max_iovecs) break;
    if (!piece.is_cord) {
      if (piece.bytes.size() > skip) {  // not an empty run kept by Consume()
        iov->push_back({const_cast<char*>(piece.bytes.data()) + skip,
                        static_cast<size_t>(piece.bytes.size() - skip)});
      }
    } else {
      for (absl::string_view chunk : piece.cord.Chunks()) {
        if (skip >= chunk.size()) {
          skip -= chunk.size();
          continue;
        }
        iov->push_back({const_cast<char*>(chunk.data()) + skip,
                        static_cast<size_t>(chunk.size() - skip)});
        skip = 0;
        if (iov->size() >= max_iovecs) break;
      }
    }
    skip = 0;
  }
}

void SendQueue::Consume(uint64_t n) {
  size_ -= n;
  while (n > 0) {
    Piece& front = pieces_.front();
    const uint64_t rest = front.size() - front_sent_;
    if (n < rest) {
      front_sent_ += n;
      return;
    }
    n -= rest;
    front_sent_ = 0;
    const bool reusable = !front.is_cord && front.bytes.capacity() <= 2 * run_bytes_ + 8192;
    if (reusable && pieces_.size() == 1) {
      // The queue is empty now: keep the run for the next bytes, so a
      // request/response connection does not pop and push a piece per frame.
      // One idle buffer at most: the spare goes.
      front.bytes.clear();
      if (StringHeapBytes(spare_) > 0) std::string().swap(spare_);
      return;
    }
    if (reusable && front.bytes.capacity() > spare_.capacity()) spare_.swap(front.bytes);
    pieces_.pop_front();
  }
}

uint64_t SendQueue::capacity_bytes() const {
  uint64_t total = StringHeapBytes(spare_);
  for (const Piece& piece : pieces_) {
    if (!piece.is_cord) total += StringHeapBytes(piece.bytes);
  }
  return total;
}

void SendQueue::Clear() {
  pieces_.clear();
  front_sent_ = 0;
  size_ = 0;
}

}  // namespace lpframe
