// File: lib/io/send_queue.h
//
// SendQueue holds encoded frames waiting for a non-blocking socket to take
// them. Prefixes, trailers and payloads of at most `copy_payload_bytes` are
// copied into contiguous runs (so many small frames go out in one writev);
// larger payload Cords are held by reference, never copied.
//
//   queue.Append(frame);
//   int n = queue.FillIovecs(&iov);      // front of the queue, in order
//   ssize_t w = sendmsg(...);            // any prefix of those bytes
//   queue.Consume(w);
//
// Thread-compatible: one thread at a time (callers lock).
#ifndef LPFRAME_LIB_IO_SEND_QUEUE_H_
#define LPFRAME_LIB_IO_SEND_QUEUE_H_

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "lib/frame_encoder.h"

namespace lpframe {

class SendQueue {
 public:
  explicit SendQueue(size_t copy_payload_bytes = 4096, size_t run_bytes = 64 << 10)
      : copy_payload_bytes_(copy_payload_bytes), run_bytes_(run_bytes) {}

  void Append(const EncodedFrame& frame);
  void AppendBytes(absl::string_view bytes);
  void AppendCord(const absl::Cord& cord);
  // Puts a copy of `bytes` before everything queued (bytes that must go out
  // first, such as the rest of a partly sent buffer held elsewhere).
  void PrependBytes(absl::string_view bytes);

  // Bytes queued and not yet consumed.
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Heap bytes of the runs that hold copied bytes, in use or kept for
  // reuse (referenced payloads not included). An emptied queue keeps at
  // most one run.
  uint64_t capacity_bytes() const;

  // Replaces *iov with iovecs for the front of the queue (at most
  // `max_iovecs`, IOV_MAX if 0). They stay valid until the next non-const
  // call.
  void FillIovecs(std::vector<struct iovec>* iov, size_t max_iovecs = 0) const;

  // Drops the first n bytes (n <= size()).
  void Consume(uint64_t n);
  void Clear();

 private:
  struct Piece {
    std::string bytes;
    absl::Cord cord;
    bool is_cord = false;
    uint64_t size() const { return is_cord ? cord.size() : bytes.size(); }
  };

  uint64_t size_ = 0;  // first: the field read most often (empty())
  uint64_t front_sent_ = 0;  // bytes of pieces_.front() already consumed
  size_t copy_payload_bytes_;
  size_t run_bytes_;
  std::deque<Piece> pieces_;
  std::string spare_;  // capacity of a consumed run, reused
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_SEND_QUEUE_H_
