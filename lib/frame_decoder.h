// File: lib/frame_decoder.h
//
// FrameDecoder cuts a byte stream back into the messages that were sent,
// whatever the segmentation: bytes may arrive one at a time, a frame may be
// split over many reads, many frames may arrive in one read. It does no
// I/O: the caller feeds bytes (or reads into a buffer the decoder lends)
// and pulls messages.
//
//   FrameDecoder decoder(options);
//   while (true) {
//     ssize_t n = read(fd, buf, sizeof buf);
//     if (n == 0) { status = decoder.Finish(); break; }  // OK = clean EOF
//     decoder.Feed(absl::string_view(buf, n));
//     Message m;
//     DecodeStep step = decoder.Next(&m);
//     for (; step.is_message(); step = decoder.Next(&m)) Handle(m);  // drain all
//     if (step.is_error()) { Close(step.error()); break; }          // stop
//   }
//
// Each Next() has exactly one of three outcomes: a complete message, "need
// more" with a lower bound on the bytes still needed, or a fatal error.
// After a fatal error the decoder stays failed: every later Next() and
// Finish() return the same error and fed bytes are dropped.
//
// Limits (FrameLimits) are checked as soon as a header is complete, before
// any of the body is buffered. Storage follows the bytes that arrived, not
// the declared lengths: a header announcing a 1 GiB payload followed by
// nothing allocates at most one payload block (reserved_bytes() tells).
//
// Zero-copy reading: PrepareRead()/CommitRead() let the caller read(2)
// straight into the payload's final storage once a header has announced a
// large payload, so the payload is copied once, by the kernel.
// PrepareReadSpans() lends several payload blocks for one scatter read.
//
// Thread-compatible: one thread at a time.
#ifndef LPFRAME_LIB_FRAME_DECODER_H_
#define LPFRAME_LIB_FRAME_DECODER_H_

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/cord_buffer.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/block_pool.h"
#include "lib/byte_buffer.h"
#include "lib/dialect.h"
#include "lib/frame_limits.h"
#include "lib/message.h"
#include "lib/payload_writer.h"
#include "lib/string_heap_bytes.h"
#include "lib/wire_format.h"
#include "lib/xxh3_digest.h"

namespace lpframe {

struct DecoderOptions {
  Dialect dialect = Dialect::kNative;
  FrameLimits limits;
  // Payload storage; null means BlockPool::Default().
  std::shared_ptr<BlockPool> pool;
  // PrepareRead() lends payload storage only when at least this many payload
  // bytes are still due (smaller tails go through the input buffer).
  size_t direct_read_min_bytes = 16 << 10;
};

// Outcome of FrameDecoder::Next().
class DecodeStep {
 public:
  enum class Kind { kMessage, kNeedMore, kError };

  static DecodeStep Message() { return DecodeStep(Kind::kMessage, 0, absl::OkStatus()); }
  static DecodeStep NeedMore(uint64_t n) { return DecodeStep(Kind::kNeedMore, n, absl::OkStatus()); }
  static DecodeStep Error(absl::Status s) { return DecodeStep(Kind::kError, 0, std::move(s)); }

  Kind kind() const { return kind_; }
  bool is_message() const { return kind_ == Kind::kMessage; }
  bool need_more() const { return kind_ == Kind::kNeedMore; }
  bool is_error() const { return kind_ == Kind::kError; }
  // kNeedMore: no message can complete before at least this many more
  // bytes arrive (>= 1). It is a lower bound, useful to size reads.
  uint64_t bytes_needed() const { return bytes_needed_; }
  // kError: the fatal error (see lib/frame_error.h for the codes).
  const absl::Status& error() const { return error_; }

 private:
  DecodeStep(Kind kind, uint64_t n, absl::Status s)
      : kind_(kind), bytes_needed_(n), error_(std::move(s)) {}
  Kind kind_;
  uint64_t bytes_needed_;
  absl::Status error_;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(DecoderOptions options = {});
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Hands the decoder the next bytes of the stream (copied; `bytes` may be
  // reused after the call). Never fails: errors surface from Next().
  void Feed(absl::string_view bytes);

  // Like Feed(), for bytes a read put into `block`, a block of pool()
  // (from pool()->Acquire(), pool()->block_size() bytes, `bytes` inside
  // it). When a payload of at least takeover_min_bytes() starts in `bytes`
  // (consumed straight from them, not from buffered input) with at least
  // takeover_min_bytes() of the block from its first byte on, the decoder
  // takes the block over instead of copying: the payload's first bytes stay
  // where the read put them and the rest follows in the block's room. Then
  // it returns true, and the block is no longer the caller's: it must not
  // write to it or release it (it goes back to the pool with the payload).
  // Otherwise it returns false and behaves exactly as Feed().
  bool FeedBlock(char* block, absl::string_view bytes);
  // Payloads from this size on are taken over by FeedBlock(): at least a
  // quarter of a pool block, and they get at least that much of the block,
  // so a taken block holds at most 4x its payload.
  uint64_t takeover_min_bytes() const { return takeover_min_bytes_; }
  const std::shared_ptr<BlockPool>& pool() const { return payload_.pool(); }

  // The next message (moved into *out), need-more, or the fatal error.
  // Call until it stops returning messages: one Feed may complete many.
  // When *out still holds a small payload (at most CordBuffer's default
  // limit, just under 4 KiB) in a buffer nothing else shares, that buffer
  // is kept for the next small payload: a loop that receives into the same
  // Message allocates nothing per small message. A payload shared with a
  // copy the caller kept is never written to.
  DecodeStep Next(Message* out) {
    DecodeStep step = Poll();
    if (step.is_message()) TakeInto(out, /*fresh=*/false);
    return step;
  }

  // Next() in two steps, for a caller that hands the message on by value
  // (a prvalue argument is built in place: no Envelope is moved or
  // cleared): Poll() tells what Next() would, without taking the message
  // (it may decode buffered input; calling it again changes nothing);
  // after it returned a message, Take() returns that message and the
  // decoder moves on. Take() at any other time is a contract violation.
  DecodeStep Poll() {
    if (queued_ == 0 && error_.ok()) {
      if (ready_) return DecodeStep::Message();
      if (pending_.empty()) {  // nothing buffered to decode
        return DecodeStep::NeedMore(state_ == State::kPayload
                                        ? payload_remaining_ + (checksum_ ? kChecksumTrailerSize : 0)
                                        : BytesNeeded());
      }
    }
    return PollSlow();
  }
  Message Take() {
    Message message;
    TakeInto(&message, /*fresh=*/true);
    return message;
  }

  // Lending mode, for a caller that reads into memory of its own and
  // hands each message on before it reads again (a server reading into a
  // buffer shared by its connections). When on, the bytes given to Feed()
  // and FeedBlock() are lent, not copied at once: they must stay valid and
  // unchanged until the next Feed(), FeedBlock(), PrepareRead*(),
  // CommitRead(), Finish(), set_lend_input() or EndLend(), each of which
  // first copies a view still held. A payload of at most 4 KiB that lies
  // whole in them, in bytes still the caller's (not in a block a large
  // payload took over), with its checksum trailer, is then held as a view
  // (payload_is_view()) once complete, and TakeView() hands it out without
  // a copy or an allocation; Next() and Take() copy it. Off by default.
  void set_lend_input(bool on) {
    EndLend();
    lend_input_ = on;
  }
  // After Poll() returned a message: true when that message's payload is a
  // view into lent bytes. Take() still works then (it copies the view).
  bool payload_is_view() const { return payload_is_view_ && queued_ == 0; }
  // Takes the message Poll() found, when payload_is_view(): stores its
  // envelope into *envelope (`fresh`: *envelope is default-constructed, so
  // it needs no clearing) and returns its payload, which lies in the lent
  // bytes and is valid only as long as they are.
  absl::string_view TakeView(Envelope* envelope, bool fresh);
  // Copies a payload view still held into the decoder's own storage: the
  // lent bytes are the caller's again. Cheap when none is held.
  void EndLend() {
    if (payload_is_view_) CopyPayloadView();
  }

  // Declares end of stream after Next() returned need-more. OK when the
  // stream ended exactly at a frame boundary (a clean EOF); otherwise the
  // truncation error (kTruncatedHeader/Envelope/Payload/Trailer, with the
  // bytes had and wanted) or the pending fatal error. A wrong magic cut
  // short by EOF is reported as such. After Finish() the decoder is done.
  absl::Status Finish();

  // Writable memory for the next stream bytes (at least `min_size` bytes
  // unless it is payload storage, which is never larger than the payload
  // remainder). Fill a prefix, then CommitRead(n). Valid until the next
  // non-const call.
  absl::Span<char> PrepareRead(size_t min_size);
  // Like PrepareRead(), but payload storage may be lent as several spans
  // (up to `max_spans`, at most kMaxReadSpans) for one readv/recvmsg: see
  // PayloadWriter::WritableSpans() for how their number grows while a
  // payload arrives. Input-buffer memory is always one span. Fill a prefix
  // of their concatenation, then CommitRead(n). Valid until the next
  // non-const call.
  absl::Span<const absl::Span<char>> PrepareReadSpans(size_t min_size, size_t max_spans);
  static constexpr size_t kMaxReadSpans = PayloadWriter::kMaxBlocksAhead + 1;
  void CommitRead(size_t n);
  // True when the last PrepareRead() or PrepareReadSpans() lent payload
  // storage.
  bool read_is_direct() const { return lent_direct_; }
  // Frees the input buffer's storage when it holds no bytes: a caller that
  // reads into its own memory and Feed()s then keeps no idle buffer.
  void ReleaseEmptyInputBuffer() {
    if (pending_.capacity() != 0) pending_.ShrinkIfEmpty();
  }
  // The fast path of PrepareReadSpans()/CommitRead() for a caller that
  // reads a large payload's body in a loop, one read per call: up to `max`
  // bytes (max >= 1) of the block being filled, inside the payload. Empty
  // when WantsDirectRead() is false. Read into a prefix, then
  // CommitDirectRead(room, n) with 0 < n <= room.size(). Not to be mixed
  // with a PrepareReadSpans() whose CommitRead() is still due.
  absl::Span<char> DirectReadRoom(size_t max) {
    assert(max >= 1);
    if (!WantsDirectRead()) return {};
    StartPayload();
    return payload_.Room(max);
  }
  void CommitDirectRead(absl::Span<const char> room, size_t n) {
    assert(n <= room.size());
    received_ += n;
    if (checksum_) digest_.Update(absl::string_view(room.data(), n));
    payload_.CommitRoom(n);
    AdvancePayload(n);
  }

  // How many bytes a read of input (not of payload storage) should ask for,
  // at most `read_size` (>= 1). In and right after a frame whose payload is
  // at least 2 * read_size: the rest of that frame plus the prefix of a
  // frame like it (last_frame_prefix_bytes()), so that a next payload like
  // it is read straight into its storage rather than copied out of input.
  size_t InputReadSize(size_t read_size) const;

  // True when PrepareRead() would lend payload storage now: a payload of at
  // least direct_read_min_bytes is due and nothing is buffered before it.
  // Otherwise a caller may as well read into its own buffer and Feed().
  bool WantsDirectRead() const {
    return error_.ok() && !finished_ && !ready_ && pending_.empty() &&
           state_ == State::kPayload &&
           payload_remaining_ >= std::max<size_t>(options_.direct_read_min_bytes, 1);
  }

  // --- Introspection -------------------------------------------------------
  // True between frames with nothing buffered: EOF now would be clean.
  bool at_frame_boundary() const;
  // True when every byte received so far belongs to complete frames, taken
  // by Next() or not: the input ends exactly at the end of a frame.
  bool input_at_frame_end() const;
  bool failed() const { return !error_.ok(); }
  // Stream offset where the frame in progress (or the next one) starts.
  uint64_t frame_start_offset() const {
    return state_ == State::kHeader && header_have_ == 0 ? offset_ : frame_offset_;
  }
  // Stream offset of the first byte not yet consumed by the state machine.
  uint64_t stream_offset() const { return offset_; }
  // The bytes before the payload (header and envelope) in the frame whose
  // header was parsed last: at a frame boundary, the last frame's. A reader
  // expecting a frame like the last one can read that much and then the
  // payload straight into its storage. 0 before the first header.
  uint64_t last_frame_prefix_bytes() const { return prefix_bytes_; }
  // The declared payload length of that same frame; 0 before the first header.
  uint64_t last_frame_payload_bytes() const { return payload_length_; }
  // Total bytes fed or committed so far.
  uint64_t bytes_received() const { return received_; }
  uint64_t messages_decoded() const { return messages_; }
  // Storage held right now: input buffer, envelope buffer, payload blocks.
  uint64_t reserved_bytes() const {
    return pending_.capacity() + StringHeapBytes(envelope_buf_) +
           (payload_started_ ? payload_.reserved_bytes() : 0);
  }
  // A short description of the state, e.g. "payload (1000 of 4096 bytes)".
  std::string DescribeState() const;

 private:
  DecodeStep PollSlow();
  // Moves the message Poll() found into *out; `fresh`: *out is
  // default-constructed, so its envelope needs no clearing.
  void TakeInto(Message* out, bool fresh);
  enum class State { kHeader, kEnvelope, kPayload, kTrailer };

  // Runs the state machine over `src`; returns the bytes consumed. Stops
  // when a message is complete (ready_), on error, or when `src` is used up.
  size_t Consume(absl::string_view src);
  size_t ConsumeHeader(absl::string_view src);
  // Right after StartBody() of a header parsed in place from the front of
  // a fed block of bytes: when `body` (the bytes after the header) holds
  // the whole rest of a small frame without a trailer and with a compact
  // envelope, completes the message in one step and returns the bytes it
  // took (the envelope and payload); otherwise returns 0 and the state
  // machine goes on as usual.
  size_t ConsumeWholeSmallBody(absl::string_view body);
  size_t ConsumeEnvelope(absl::string_view src);
  size_t ConsumePayload(absl::string_view src);
  size_t ConsumeTrailer(absl::string_view src);
  // `header_bytes`: the frame's header (or length prefix) as read.
  void StartBody(size_t header_bytes, uint64_t envelope_length, uint64_t payload_length,
                 bool checksum);
  void AfterEnvelope();
  void AfterPayload();
  // Begins payload_ for this frame's payload, once.
  void StartPayload() {
    if (!payload_started_) {
      payload_.Begin(payload_remaining_);
      payload_started_ = true;
    }
  }
  // `n` payload bytes were committed to payload_.
  void AdvancePayload(size_t n) {
    payload_remaining_ -= n;
    offset_ += n;
    if (payload_remaining_ == 0) AfterPayload();
  }
  void CompleteMessage();
  // A whole small payload, in the bytes being consumed: kept as a view of
  // them when they are lent, else copied into current_payload_.
  void KeepSmallPayload(absl::string_view bytes);
  // Turns the payload view into current_payload_ (a copy).
  void CopyPayloadView();
  // Keeps the buffer of `old` (a caller's previous payload) in
  // spare_payload_ when it is small and not shared; `old` is overwritten
  // next, so taking its buffer out changes nothing the caller sees.
  void RecyclePayload(absl::Cord* old);
  // Stores the envelope of the message Poll() found into *out.
  void TakeEnvelope(Envelope* out, bool fresh);
  // Stores a compact envelope kept as numbers into current_envelope_.
  void MaterializeEnvelope();
  void Fail(absl::Status status);
  absl::Status LengthTooLarge(uint64_t declared, absl::string_view prefix);
  uint64_t BytesNeeded() const;
  void PumpPending();
  bool NextFrameIsLarge(absl::string_view bytes) const;
  // True when `bytes` lie inside the block FeedBlock() was given and the
  // block has room for a takeover from their first byte on.
  bool InTakeoverBlock(absl::string_view bytes) const;

  // Fields are ordered by use: the first four cache lines (about 250 bytes,
  // options_ last) hold all that a small frame touches; a server keeps one
  // decoder per connection, cold in cache, so each line is a likely miss
  // per request.
  State state_ = State::kHeader;
  bool finished_ = false;
  bool ready_ = false;        // a complete message is held (current_*)
  bool lent_direct_ = false;  // last PrepareRead lent payload storage
  // payload_ holds this frame's bytes; payload_ holds storage only then.
  bool payload_started_ = false;
  bool checksum_ = false;
  // The current frame's envelope when it is compact (id and kind only):
  // kept as two numbers and stored straight into the caller's message by
  // Take(), so the common frame never touches current_envelope_.
  bool compact_ = false;
  bool block_taken_ = false;
  bool lend_input_ = false;       // see set_lend_input()
  bool consuming_lent_ = false;   // Consume() runs over lent bytes
  bool payload_is_view_ = false;  // the ready payload is payload_view_
  int32_t compact_kind_ = 0;
  absl::Status error_;
  uint64_t compact_id_ = 0;
  ByteBuffer pending_;        // received, not yet consumed
  size_t header_have_ = 0;
  uint64_t frame_offset_ = 0;  // stream offset of the current frame
  uint64_t prefix_bytes_ = 0;  // header and envelope of the current frame
  uint64_t envelope_length_ = 0;
  uint64_t payload_length_ = 0;
  uint64_t payload_remaining_ = 0;
  uint64_t offset_ = 0;
  uint64_t received_ = 0;
  uint64_t messages_ = 0;
  size_t queued_ = 0;  // queue_.size(), kept here so empty checks stay hot
  // During FeedBlock(): the block its bytes lie in, until a payload takes
  // it over (then null, and block_taken_ is set).
  char* takeover_block_ = nullptr;
  uint64_t takeover_min_bytes_ = 0;
  absl::Cord current_payload_;
  // A caller's earlier small payload buffer, reused by KeepSmallPayload().
  absl::CordBuffer spare_payload_;
  absl::string_view payload_view_;  // when payload_is_view_
  std::string envelope_buf_;  // partial envelope bytes
  DecoderOptions options_;    // dialect and limits hot, the pool cold

  // Touched by frames that are large, split or not compact.
  char header_[kHeaderSize];  // partial header bytes
  char trailer_[kChecksumTrailerSize];
  size_t trailer_have_ = 0;
  Envelope current_envelope_;  // unless compact_
  std::deque<Message> queue_;  // complete messages decoded ahead by Feed
  PayloadWriter payload_;
  Xxh3Digest digest_;

  // Last (cold): the spans PrepareRead*() lent.
  absl::Span<char> lent_[kMaxReadSpans];
  size_t lent_count_ = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_FRAME_DECODER_H_
