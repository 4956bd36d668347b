// File: lib/byte_buffer.h
//
// A contiguous FIFO of bytes for headers and small frames: bytes are
// appended at the back (or read straight into spare capacity) and consumed
// from the front. Layout:
//
//   +-------------------+------------------+------------------+
//   |  consumed (dead)  |  readable bytes  |  writable space  |
//   +-------------------+------------------+------------------+
//   0            read_index_        write_index_          capacity
//
// Dead space is reclaimed by moving the readable bytes to the front when
// room is needed; capacity grows only when the readable bytes need it, so
// memory follows the bytes that arrived.
//
// Thread-compatible: no internal locking.
#ifndef LPFRAME_LIB_BYTE_BUFFER_H_
#define LPFRAME_LIB_BYTE_BUFFER_H_

#include <cstddef>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace lpframe {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  size_t readable() const { return write_index_ - read_index_; }
  bool empty() const { return readable() == 0; }
  // The readable bytes; valid until the next non-const call.
  absl::string_view view() const {
    return absl::string_view(data_.get() + read_index_, readable());
  }
  // Bytes of storage held (for memory accounting).
  size_t capacity() const { return capacity_; }

  void Append(absl::string_view bytes);
  // Drops `n` readable bytes from the front. Requires n <= readable().
  void Consume(size_t n);

  // Writable space of at least `min_size` bytes after the readable bytes;
  // the caller writes into it, then calls Commit(n) with n <= its size.
  absl::Span<char> PrepareWrite(size_t min_size);
  void Commit(size_t n) { write_index_ += n; }

  // Releases the storage when the buffer is empty.
  void ShrinkIfEmpty();

 private:
  void EnsureWritable(size_t n);

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t read_index_ = 0;
  size_t write_index_ = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_BYTE_BUFFER_H_
