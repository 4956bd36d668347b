#include "lib/frame_decoder.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/compact_envelope.h"
#include "lib/foreign_protocol.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

// Payloads up to this size that arrive whole are copied into the Cord in
// one piece instead of going through payload blocks.
constexpr uint64_t kSmallPayloadBytes = 4096;
// A Cord (and a CordBuffer) keeps up to this many bytes inline, without a
// buffer of its own.
constexpr size_t kMaxInlineCordBytes = 15;

}  // namespace

FrameDecoder::FrameDecoder(DecoderOptions options)
    : options_(std::move(options)),
      payload_(options_.pool) {
  takeover_min_bytes_ = std::max<uint64_t>(
      {options_.direct_read_min_bytes, payload_.pool()->block_size() / 4, kSmallPayloadBytes + 1});
  absl::Status valid = options_.limits.Validate();
  if (!valid.ok()) Fail(std::move(valid));
}

bool FrameDecoder::NextFrameIsLarge(absl::string_view bytes) const {
  return options_.dialect == Dialect::kNative && bytes.size() >= kHeaderSize &&
         LoadBigEndian64(bytes.data() + 12) >= kSmallPayloadBytes;
}

void FrameDecoder::Feed(absl::string_view bytes) {
  EndLend();
  if (finished_ || !error_.ok()) return;
  received_ += bytes.size();
  if (state_ == State::kPayload && payload_started_ && !ready_ && pending_.empty() &&
      bytes.size() < payload_remaining_) {
    payload_.Append(bytes);
    if (checksum_) digest_.Update(bytes);
    payload_remaining_ -= bytes.size();
    offset_ += bytes.size();
    return;
  }
  if (pending_.empty()) {
    consuming_lent_ = lend_input_;
    while (!bytes.empty() && error_.ok()) {
      if (ready_) {
        // Decode ahead only when the next frame is large: buffering it would
        // copy every payload byte twice. Small frames are cheaper to buffer.
        if (!NextFrameIsLarge(bytes)) break;
        EndLend();
        MaterializeEnvelope();
        queue_.push_back(Message{std::move(current_envelope_), std::move(current_payload_)});
        ++queued_;
        current_payload_.Clear();
        ready_ = false;
      }
      bytes.remove_prefix(Consume(bytes));
      if (!ready_) break;
    }
    consuming_lent_ = false;
    // A view outlives this call only as a complete message's payload (a
    // checksum trailer may still be due).
    if (payload_is_view_ && !ready_) CopyPayloadView();
  }
  if (!bytes.empty() && error_.ok()) pending_.Append(bytes);
}

bool FrameDecoder::FeedBlock(char* block, absl::string_view bytes) {
  takeover_block_ = block;
  block_taken_ = false;
  Feed(bytes);
  takeover_block_ = nullptr;
  return block_taken_;
}

DecodeStep FrameDecoder::PollSlow() {
  if (queued_ != 0) return DecodeStep::Message();
  if (!error_.ok()) return DecodeStep::Error(error_);
  if (!ready_) PumpPending();
  if (ready_) return DecodeStep::Message();
  if (!error_.ok()) return DecodeStep::Error(error_);
  return DecodeStep::NeedMore(BytesNeeded());
}

void FrameDecoder::TakeInto(Message* out, bool fresh) {
  if (queued_ != 0) {
    Message& m = queue_.front();
    out->envelope.Swap(&m.envelope);
    out->payload = std::move(m.payload);
    queue_.pop_front();
    --queued_;
    return;
  }
  assert(ready_);
  EndLend();
  TakeEnvelope(&out->envelope, fresh);
  if (!fresh) RecyclePayload(&out->payload);
  out->payload = std::move(current_payload_);
  current_payload_.Clear();
  ready_ = false;
}

void FrameDecoder::RecyclePayload(absl::Cord* old) {
  if (old->size() <= kMaxInlineCordBytes || old->size() > absl::CordBuffer::kDefaultLimit ||
      spare_payload_.capacity() > kMaxInlineCordBytes) {  // inline, large, or one is kept
    return;
  }
  // The old payload's last buffer when it is its own (a single flat here),
  // else an empty inline one: no allocation either way.
  spare_payload_ = old->GetAppendBuffer(0, /*min_capacity=*/0);
}

absl::string_view FrameDecoder::TakeView(Envelope* envelope, bool fresh) {
  assert(payload_is_view());
  TakeEnvelope(envelope, fresh);
  payload_is_view_ = false;
  ready_ = false;
  return payload_view_;
}

void FrameDecoder::TakeEnvelope(Envelope* out, bool fresh) {
  if (compact_) {
    if (fresh) {
      out->set_id(compact_id_);
      out->set_kind(static_cast<Kind>(compact_kind_));
    } else {
      SetCompactEnvelope(compact_id_, compact_kind_, out);
    }
    compact_ = false;
  } else {
    out->Swap(&current_envelope_);
  }
}

void FrameDecoder::KeepSmallPayload(absl::string_view bytes) {
  if (consuming_lent_) {
    payload_view_ = bytes;
    payload_is_view_ = true;
  } else if (bytes.size() > kMaxInlineCordBytes && spare_payload_.capacity() >= bytes.size()) {
    spare_payload_.SetLength(0);
    std::memcpy(spare_payload_.data(), bytes.data(), bytes.size());
    spare_payload_.SetLength(bytes.size());
    current_payload_.Clear();
    current_payload_.Append(std::exchange(spare_payload_, absl::CordBuffer()));
  } else {
    current_payload_ = absl::Cord(bytes);
  }
}

void FrameDecoder::CopyPayloadView() {
  current_payload_ = absl::Cord(payload_view_);
  payload_is_view_ = false;
}

absl::Status FrameDecoder::Finish() {
  EndLend();
  if (!error_.ok()) {
    finished_ = true;
    return error_;
  }
  PumpPending();
  if (!error_.ok()) {
    finished_ = true;
    return error_;
  }
  if (ready_ || queued_ != 0) {
    return absl::FailedPreconditionError(
        "FrameDecoder::Finish() called with a decoded message not yet taken: call "
        "Next() until it returns need-more first");
  }
  finished_ = true;
  const uint64_t at = frame_offset_;
  switch (state_) {
    case State::kHeader:
      if (header_have_ == 0) return absl::OkStatus();  // clean EOF
      if (options_.dialect == Dialect::kNative) {
        absl::Status prefix = CheckHeaderPrefix(absl::string_view(header_, header_have_),
                                                at, /*at_eof=*/true);
        if (!prefix.ok()) {
          Fail(prefix);
          return error_;
        }
        Fail(MakeFrameError(
            FrameErrorCode::kTruncatedHeader,
            absl::StrCat("stream ended inside the frame header of the frame at stream "
                         "offset ", at, ": had ", header_have_, " of ", kHeaderSize,
                         " header bytes")));
      } else {
        Fail(MakeFrameError(
            FrameErrorCode::kTruncatedHeader,
            absl::StrCat("stream ended inside the ", DialectName(options_.dialect),
                         " length prefix of the frame at stream offset ", at, ": had ",
                         header_have_, " prefix byte(s)",
                         options_.dialect == Dialect::kU32BE ? " of 4" : "")));
      }
      return error_;
    case State::kEnvelope:
      Fail(MakeFrameError(
          FrameErrorCode::kTruncatedEnvelope,
          absl::StrCat("stream ended inside the envelope of the frame at stream offset ",
                       at, ": had ", envelope_buf_.size(), " of ", envelope_length_,
                       " envelope bytes (a ", payload_length_,
                       "-byte payload was still to come)")));
      return error_;
    case State::kPayload:
      Fail(MakeFrameError(
          FrameErrorCode::kTruncatedPayload,
          absl::StrCat("stream ended inside the payload of the frame at stream offset ",
                       at, ": had ", payload_length_ - payload_remaining_, " of ",
                       payload_length_, " payload bytes")));
      return error_;
    case State::kTrailer:
      Fail(MakeFrameError(
          FrameErrorCode::kTruncatedTrailer,
          absl::StrCat("stream ended inside the checksum trailer of the frame at stream "
                       "offset ", at, ": had ", trailer_have_, " of ",
                       kChecksumTrailerSize, " trailer bytes")));
      return error_;
  }
  return error_;
}

absl::Span<char> FrameDecoder::PrepareRead(size_t min_size) {
  return PrepareReadSpans(min_size, 1)[0];
}

absl::Span<const absl::Span<char>> FrameDecoder::PrepareReadSpans(size_t min_size,
                                                                  size_t max_spans) {
  EndLend();
  lent_direct_ = false;
  if (WantsDirectRead()) {
    StartPayload();
    lent_count_ = payload_.WritableSpans(
        lent_, std::max<size_t>(1, std::min(max_spans, kMaxReadSpans)));
    lent_direct_ = true;
    return absl::MakeConstSpan(lent_, lent_count_);
  }
  lent_[0] = pending_.PrepareWrite(std::max<size_t>(min_size, 1));
  return absl::MakeConstSpan(lent_, 1);
}

void FrameDecoder::CommitRead(size_t n) {
  EndLend();
  received_ += n;
  if (lent_direct_) {
    lent_direct_ = false;
    if (n == 0) {
      payload_.Commit(0);  // forgets what was lent
      return;
    }
    if (checksum_) {
      size_t left = n;
      for (size_t i = 0; i < lent_count_ && left > 0; ++i) {
        const size_t part = std::min(left, lent_[i].size());
        digest_.Update(absl::string_view(lent_[i].data(), part));
        left -= part;
      }
    }
    payload_.Commit(n);
    AdvancePayload(n);
    return;
  }
  if (finished_ || !error_.ok()) return;
  pending_.Commit(n);
  PumpPending();
}

size_t FrameDecoder::InputReadSize(size_t read_size) const {
  if (payload_length_ < 2 * static_cast<uint64_t>(read_size)) return read_size;
  const uint64_t rest = at_frame_boundary() ? 0 : BytesNeeded();
  // At least one byte: a 0-byte read would look like the end of the stream.
  return static_cast<size_t>(
      std::min<uint64_t>(read_size, rest + std::max<uint64_t>(prefix_bytes_, 1)));
}

bool FrameDecoder::at_frame_boundary() const {
  return input_at_frame_end() && !ready_ && queued_ == 0;
}

bool FrameDecoder::input_at_frame_end() const {
  return error_.ok() && pending_.empty() && state_ == State::kHeader && header_have_ == 0;
}

std::string FrameDecoder::DescribeState() const {
  if (!error_.ok()) return "failed";
  if (ready_) return "message ready";
  switch (state_) {
    case State::kHeader:
      return absl::StrCat("header (", header_have_, " bytes buffered)");
    case State::kEnvelope:
      return absl::StrCat("envelope (", envelope_buf_.size(), " of ", envelope_length_,
                          " bytes)");
    case State::kPayload:
      return absl::StrCat("payload (", payload_length_ - payload_remaining_, " of ",
                          payload_length_, " bytes)");
    case State::kTrailer:
      return absl::StrCat("checksum trailer (", trailer_have_, " of ",
                          kChecksumTrailerSize, " bytes)");
  }
  return "unknown";
}

void FrameDecoder::PumpPending() {
  if (pending_.empty() || ready_ || !error_.ok()) return;
  const size_t used = Consume(pending_.view());
  // On error, Fail() has already dropped (and freed) the buffered bytes.
  if (error_.ok()) pending_.Consume(used);
}

size_t FrameDecoder::Consume(absl::string_view src) {
  size_t used = 0;
  while (used < src.size() && !ready_ && error_.ok()) {
    const absl::string_view rest = src.substr(used);
    size_t n = 0;
    switch (state_) {
      case State::kHeader:
        n = ConsumeHeader(rest);
        break;
      case State::kEnvelope:
        n = ConsumeEnvelope(rest);
        break;
      case State::kPayload:
        n = ConsumePayload(rest);
        break;
      case State::kTrailer:
        n = ConsumeTrailer(rest);
        break;
    }
    used += n;
    offset_ += n;
    if (n == 0) break;
  }
  return used;
}

size_t FrameDecoder::ConsumeHeader(absl::string_view src) {
  if (header_have_ == 0) frame_offset_ = offset_;
  const size_t old = header_have_;
  switch (options_.dialect) {
    case Dialect::kNative: {
      absl::string_view header;
      size_t take;
      const bool in_place = old == 0 && src.size() >= kHeaderSize;
      if (in_place) {
        header = src.substr(0, kHeaderSize);
        take = kHeaderSize;
      } else {
        take = std::min(kHeaderSize - old, src.size());
        std::memcpy(header_ + old, src.data(), take);
        header_have_ = old + take;
        if (header_have_ < kHeaderSize) {
          absl::Status prefix = CheckHeaderPrefix(
              absl::string_view(header_, header_have_), frame_offset_, /*at_eof=*/false);
          if (!prefix.ok()) Fail(std::move(prefix));
          return take;
        }
        header = absl::string_view(header_, kHeaderSize);
      }
      absl::StatusOr<FrameHeader> parsed =
          ParseFrameHeader(header, options_.limits, frame_offset_);
      header_have_ = 0;
      if (!parsed.ok()) {
        Fail(parsed.status());
        return take;
      }
      StartBody(kHeaderSize, parsed->envelope_length, parsed->payload_length,
                parsed->has_checksum());
      if (in_place) take += ConsumeWholeSmallBody(src.substr(kHeaderSize));
      return take;
    }
    case Dialect::kVarint32: {
      const size_t take = std::min(kMaxVarint32Bytes - old, src.size());
      std::memcpy(header_ + old, src.data(), take);
      absl::StatusOr<Varint32Prefix> prefix =
          DecodeVarint32Prefix(absl::string_view(header_, old + take), frame_offset_);
      if (!prefix.ok()) {
        Fail(prefix.status());
        return take;
      }
      if (!prefix->complete) {
        header_have_ = old + take;
        return take;
      }
      header_have_ = 0;
      if (prefix->value > options_.limits.max_payload_bytes) {
        Fail(LengthTooLarge(prefix->value, absl::string_view(header_, prefix->size)));
      } else {
        StartBody(prefix->size, 0, prefix->value, false);
      }
      return prefix->size - old;
    }
    case Dialect::kU32BE: {
      const size_t take = std::min(kU32PrefixSize - old, src.size());
      std::memcpy(header_ + old, src.data(), take);
      header_have_ = old + take;
      if (header_have_ < kU32PrefixSize) return take;
      header_have_ = 0;
      const uint32_t length = LoadBigEndian32(header_);
      if (length > options_.limits.max_payload_bytes) {
        Fail(LengthTooLarge(length, absl::string_view(header_, kU32PrefixSize)));
      } else {
        StartBody(kU32PrefixSize, 0, length, false);
      }
      return take;
    }
  }
  return 0;
}

absl::Status FrameDecoder::LengthTooLarge(uint64_t declared, absl::string_view prefix) {
  absl::string_view foreign = DescribeForeignProtocol(prefix);
  if (!foreign.empty()) {
    return MakeFrameError(
        FrameErrorCode::kForeignProtocol,
        absl::StrCat("the peer is not speaking ", DialectName(options_.dialect),
                     " frames: the length prefix at stream offset ", frame_offset_, " (\"",
                     EscapeBytesForMessage(prefix, 8), "\") looks like ", foreign,
                     " and would declare ", declared, " bytes; the limit is ",
                     options_.limits.max_payload_bytes, " bytes"));
  }
  std::string sign_note;
  if (options_.dialect == Dialect::kU32BE && declared >= (uint64_t{1} << 31)) {
    sign_note = absl::StrCat(" (a signed 32-bit reader such as Java or Thrift sees ",
                             static_cast<int64_t>(declared) - (int64_t{1} << 32), ")");
  }
  return MakeFrameError(
      FrameErrorCode::kPayloadTooLarge,
      absl::StrCat("frame at stream offset ", frame_offset_, " declares a ", declared,
                   "-byte body", sign_note, "; the limit is ",
                   options_.limits.max_payload_bytes,
                   " bytes (FrameLimits::max_payload_bytes); rejected on the ",
                   DialectName(options_.dialect),
                   " length prefix, before reading the body"));
}

void FrameDecoder::StartBody(size_t header_bytes, uint64_t envelope_length,
                             uint64_t payload_length, bool checksum) {
  prefix_bytes_ = header_bytes + envelope_length;
  envelope_length_ = envelope_length;
  payload_length_ = payload_length;
  payload_remaining_ = payload_length;
  payload_started_ = false;
  checksum_ = checksum;
  if (checksum_) digest_.Reset();
  envelope_buf_.clear();
  state_ = State::kEnvelope;
  if (envelope_length_ == 0) {
    compact_ = true;  // the empty envelope
    compact_id_ = 0;
    compact_kind_ = 0;
    AfterEnvelope();
  }
}

size_t FrameDecoder::ConsumeWholeSmallBody(absl::string_view body) {
  // The common request in one step: what ConsumeEnvelope(), ConsumePayload()
  // and AfterPayload() would do for it, without the state machine's rounds.
  if (checksum_ || payload_length_ > kSmallPayloadBytes ||
      envelope_length_ + payload_length_ > body.size()) {
    return 0;
  }
  const size_t envelope_length = static_cast<size_t>(envelope_length_);
  if (state_ == State::kEnvelope) {
    // A full Envelope is left to ConsumeEnvelope(), which parses it (or
    // reports it invalid).
    if (!ScanCompactEnvelope(body.substr(0, envelope_length), &compact_id_, &compact_kind_)) {
      return 0;
    }
    compact_ = true;
  } else if (state_ != State::kPayload) {
    return 0;  // an empty frame, complete already
  }
  const absl::string_view payload =
      body.substr(envelope_length, static_cast<size_t>(payload_length_));
  if (payload.empty()) {
    current_payload_.Clear();
  } else {
    KeepSmallPayload(payload);
  }
  payload_remaining_ = 0;
  CompleteMessage();
  return envelope_length + payload.size();
}

size_t FrameDecoder::ConsumeEnvelope(absl::string_view src) {
  const size_t want = static_cast<size_t>(envelope_length_) - envelope_buf_.size();
  const size_t take = std::min(want, src.size());
  absl::string_view envelope;
  if (envelope_buf_.empty() && take == envelope_length_) {
    envelope = src.substr(0, take);  // parse in place
  } else {
    envelope_buf_.append(src.data(), take);
    if (envelope_buf_.size() < envelope_length_) return take;
    envelope = envelope_buf_;
  }
  compact_ = ScanCompactEnvelope(envelope, &compact_id_, &compact_kind_);
  if (!compact_ &&
      !current_envelope_.ParseFromArray(envelope.data(), static_cast<int>(envelope.size()))) {
    Fail(MakeFrameError(
        FrameErrorCode::kInvalidEnvelope,
        absl::StrCat("the ", envelope.size(), "-byte envelope of the frame at stream offset ",
                     frame_offset_, " is not a valid lpframe.Envelope protobuf (starts \"",
                     EscapeBytesForMessage(envelope, 16), "\")")));
    return take;
  }
  if (checksum_) digest_.Update(envelope);
  envelope_buf_.clear();
  if (envelope_buf_.capacity() > 4096) envelope_buf_.shrink_to_fit();
  AfterEnvelope();
  return take;
}

void FrameDecoder::MaterializeEnvelope() {
  if (!compact_) return;
  SetCompactEnvelope(compact_id_, compact_kind_, &current_envelope_);
  compact_ = false;
}

void FrameDecoder::AfterEnvelope() {
  state_ = State::kPayload;
  if (payload_remaining_ == 0) AfterPayload();
}

size_t FrameDecoder::ConsumePayload(absl::string_view src) {
  const size_t take = static_cast<size_t>(std::min<uint64_t>(payload_remaining_, src.size()));
  const absl::string_view bytes = src.substr(0, take);
  if (!payload_started_ && take == payload_remaining_ && take <= kSmallPayloadBytes) {
    KeepSmallPayload(bytes);
  } else if (!payload_started_ && takeover_block_ != nullptr &&
             payload_remaining_ >= takeover_min_bytes_ && InTakeoverBlock(bytes)) {
    payload_.BeginInBlock(payload_remaining_, takeover_block_,
                          static_cast<size_t>(bytes.data() - takeover_block_), take);
    payload_started_ = true;
    takeover_block_ = nullptr;
    block_taken_ = true;
    // The rest of the block is the payload's now, no longer the caller's
    // lent bytes: a later frame in it gets no view (that payload may be
    // freed, with the block, before the later frame is taken).
    consuming_lent_ = false;
  } else {
    StartPayload();
    payload_.Append(bytes);
  }
  if (checksum_) digest_.Update(bytes);
  payload_remaining_ -= take;
  if (payload_remaining_ == 0) AfterPayload();
  return take;
}

bool FrameDecoder::InTakeoverBlock(absl::string_view bytes) const {
  const auto begin = reinterpret_cast<uintptr_t>(takeover_block_);
  const auto at = reinterpret_cast<uintptr_t>(bytes.data());
  const size_t block_size = payload_.pool()->block_size();
  // The payload must get at least takeover_min_bytes_ of the block's room:
  // a block holds at most 4x the payload that keeps it.
  return at >= begin && at + bytes.size() <= begin + block_size &&
         begin + block_size - at >= takeover_min_bytes_;
}

void FrameDecoder::AfterPayload() {
  if (payload_started_) {
    current_payload_ = payload_.Finish();
    payload_started_ = false;
  } else if (payload_length_ == 0) {
    current_payload_.Clear();
  }
  if (checksum_) {
    state_ = State::kTrailer;
    trailer_have_ = 0;
  } else {
    CompleteMessage();
  }
}

size_t FrameDecoder::ConsumeTrailer(absl::string_view src) {
  const size_t take = std::min(kChecksumTrailerSize - trailer_have_, src.size());
  std::memcpy(trailer_ + trailer_have_, src.data(), take);
  trailer_have_ += take;
  if (trailer_have_ < kChecksumTrailerSize) return take;
  const uint64_t declared = LoadBigEndian64(trailer_);
  const uint64_t actual = digest_.Digest();
  if (declared != actual) {
    Fail(MakeFrameError(
        FrameErrorCode::kChecksumMismatch,
        absl::StrFormat("checksum mismatch in the frame at stream offset %d: the trailer "
                        "says XXH3-64 0x%016x, the %d envelope and %d payload bytes hash to "
                        "0x%016x",
                        frame_offset_, declared, envelope_length_, payload_length_, actual)));
    return take;
  }
  CompleteMessage();
  return take;
}

void FrameDecoder::CompleteMessage() {
  state_ = State::kHeader;
  header_have_ = 0;
  ready_ = true;
  ++messages_;
}

void FrameDecoder::Fail(absl::Status status) {
  error_ = std::move(status);
  ready_ = false;
  payload_.Abandon();
  payload_started_ = false;
  pending_.Consume(pending_.readable());
  pending_.ShrinkIfEmpty();
  std::string().swap(envelope_buf_);
  current_payload_.Clear();
  payload_is_view_ = false;
}

uint64_t FrameDecoder::BytesNeeded() const {
  const uint64_t trailer = checksum_ ? kChecksumTrailerSize : 0;
  switch (state_) {
    case State::kHeader:
      switch (options_.dialect) {
        case Dialect::kNative:
          return kHeaderSize - header_have_;
        case Dialect::kVarint32:
          return 1;
        case Dialect::kU32BE:
          return kU32PrefixSize - header_have_;
      }
      return 1;
    case State::kEnvelope:
      return (envelope_length_ - envelope_buf_.size()) + payload_length_ + trailer;
    case State::kPayload:
      return payload_remaining_ + trailer;
    case State::kTrailer:
      return kChecksumTrailerSize - trailer_have_;
  }
  return 1;
}

}  // namespace lpframe
