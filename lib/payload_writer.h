// File: lib/payload_writer.h
//
// Assembles one payload of a known length into an absl::Cord, block by
// block, as its bytes arrive. Bytes are written once (copied from a caller's
// buffer, or read by the caller straight into WritableSpan()) and never
// moved again: each full block becomes one Cord chunk.
//
// Storage follows arrival: a block is allocated only when the next byte
// needs it (or lent ahead by WritableSpans(), within twice the bytes that
// arrived), so a payload declared as 1 GiB of which 10 bytes arrived holds
// one block. Blocks of the pool's size come from the BlockPool and return
// to it when the last Cord referencing them is destroyed; the final,
// shorter piece of a payload is allocated at its exact size.
//
// Thread-compatible. The Cords it produces are independent values that may
// move to other threads.
#ifndef LPFRAME_LIB_PAYLOAD_WRITER_H_
#define LPFRAME_LIB_PAYLOAD_WRITER_H_

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/strings/cord_buffer.h"
#include "lib/block_pool.h"

namespace lpframe {

class PayloadWriter {
 public:
  explicit PayloadWriter(std::shared_ptr<BlockPool> pool);
  ~PayloadWriter();
  PayloadWriter(const PayloadWriter&) = delete;
  PayloadWriter& operator=(const PayloadWriter&) = delete;

  // Starts a payload of exactly `length` bytes, abandoning any previous one.
  void Begin(uint64_t length);

  // Like Begin(), for a payload whose first `filled` bytes a read already
  // put into `block` at `offset`: the writer takes the block over (it goes
  // back to the pool with the last Cord that references it, or on
  // Abandon()) and the payload continues in the block's room after them,
  // then in blocks of its own. Nothing is copied. Requires: `block` came
  // from this writer's pool's Acquire(); offset + filled <= block_size();
  // 0 < filled <= length. The block counts whole in reserved_bytes().
  void BeginInBlock(uint64_t length, char* block, size_t offset, size_t filled);

  uint64_t remaining() const { return remaining_; }
  // The pool full-size blocks come from (never null).
  const std::shared_ptr<BlockPool>& pool() const { return pool_; }

  // Room for the next bytes of the payload, inside its final storage:
  // non-empty while remaining() > 0, never larger than remaining().
  // Write into it, then Commit(n) with n <= its size.
  absl::Span<char> WritableSpan();
  // Commits `n` bytes written into what WritableSpan() or WritableSpans()
  // lent, in payload order: n <= the total size lent.
  void Commit(size_t n);

  // Like WritableSpan(), but as up to `max` spans (max >= 1) in payload
  // order, so one readv/recvmsg can fill several blocks: the room of the
  // block being filled, then whole pool blocks taken ahead while the
  // payload's remainder has room for them. Storage still follows arrival:
  // the first call of a payload lends one span, and the next may lend twice
  // as many as a Commit() filled completely, up to `max`, so the storage
  // held stays at most twice the bytes committed plus one block.
  // Writes the spans to `spans[0..count)` and returns the count (0 when
  // remaining() == 0). Write a prefix of their concatenation, then Commit(n).
  size_t WritableSpans(absl::Span<char>* spans, size_t max);
  // The most spans WritableSpans() lends (the block being filled plus
  // kMaxBlocksAhead blocks taken ahead).
  static constexpr size_t kMaxBlocksAhead = 15;

  // The fast path of WritableSpan()/Commit() for a caller that reads a
  // payload's body in a loop: the room left in the block being filled (a
  // block is started when none is), at most `max` bytes (max >= 1) and
  // never past the payload's end; empty only when remaining() == 0. Fill a
  // prefix, then CommitRoom(n) with n <= its size.
  absl::Span<char> Room(size_t max) {
    assert(max >= 1 && lent_total_ == 0);  // nothing lent by WritableSpans() is due
    if (block_ == nullptr) {
      if (remaining_ == 0) return {};
      StartBlock();
    }
    return absl::Span<char>(block_ + block_used_,
                            std::min<uint64_t>({block_size_ - block_used_, remaining_, max}));
  }
  void CommitRoom(size_t n) {
    if (n < block_size_ - block_used_ && n < remaining_) {  // neither ends
      block_used_ += n;
      remaining_ -= n;
      return;
    }
    Commit(n);
  }

  // Copies `bytes` (at most remaining()) into the payload.
  void Append(absl::string_view bytes) {
    if (block_ != nullptr && bytes.size() < block_size_ - block_used_ &&
        bytes.size() < remaining_) {  // neither the block nor the payload ends
      std::memcpy(block_ + block_used_, bytes.data(), bytes.size());
      block_used_ += bytes.size();
      remaining_ -= bytes.size();
      return;
    }
    AppendSlow(bytes);
  }
  void AppendSlow(absl::string_view bytes);

  // The finished payload. Requires remaining() == 0. Resets the writer.
  absl::Cord Finish();

  // Drops the current payload and its storage.
  void Abandon();

  // Bytes of storage this writer holds right now (blocks of the payload in
  // progress, filled or not), for memory accounting.
  uint64_t reserved_bytes() const { return reserved_; }

 private:
  void SealBlock();
  // Starts the next block: one taken ahead if any, else a new one.
  void StartBlock();

  std::shared_ptr<BlockPool> pool_;
  absl::Cord cord_;
  uint64_t remaining_ = 0;
  uint64_t reserved_ = 0;
  // Where the block being filled comes from: the pool (full-size blocks),
  // a Cord flat (a short final piece: one allocation, no external rep), or
  // the heap (a short final piece longer than a flat holds).
  enum class BlockKind { kPooled, kCordBuffer, kHeap };

  char* block_ = nullptr;    // block being filled
  char* pool_block_ = nullptr;  // kPooled: the pool block block_ lies in
  size_t block_size_ = 0;    // its capacity
  size_t block_used_ = 0;    // bytes written to it
  BlockKind block_kind_ = BlockKind::kHeap;
  absl::CordBuffer small_;   // kCordBuffer: owns block_ (not movable: it
                             // may hold the bytes inline)

  // Pool blocks taken ahead by WritableSpans(), in payload order; they
  // follow block_ and are counted in reserved_.
  char* ahead_[kMaxBlocksAhead] = {};
  size_t ahead_count_ = 0;
  size_t lend_limit_ = 1;   // spans the next WritableSpans() may lend
  size_t lent_count_ = 0;    // spans the last WritableSpans() lent
  uint64_t lent_total_ = 0;  // and their bytes (0 after WritableSpan())
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_PAYLOAD_WRITER_H_
