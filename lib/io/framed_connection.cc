#include "lib/io/framed_connection.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/frame_error.h"

namespace lpframe {
EncoderOptions EncoderOptionsFor(const ConnectionOptions& options) {
  EncoderOptions e;
  e.dialect = options.dialect;
  e.limits = options.limits;
  e.checksum = options.checksum;
  return e;
}

DecoderOptions DecoderOptionsFor(const ConnectionOptions& options) {
  DecoderOptions d;
  d.dialect = options.dialect;
  d.limits = options.limits;
  d.pool = options.pool;
  d.direct_read_min_bytes = std::max<size_t>(options.read_size, 1);
  return d;
}

namespace {

// How many payload blocks one kDirect read may fill: see
// ConnectionOptions::direct_read_max_bytes.
size_t DirectReadSpans(const ConnectionOptions& options, const Socket& socket) {
  if (options.direct_read_max_bytes == 0) {
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    const bool tcp = socket.valid() &&
                     ::getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&address),
                                   &length) == 0 &&
                     (address.ss_family == AF_INET || address.ss_family == AF_INET6);
    return tcp ? 1 : FrameDecoder::kMaxReadSpans;
  }
  const size_t block =
      (options.pool != nullptr ? options.pool : BlockPool::Default())->block_size();
  return std::clamp<size_t>(options.direct_read_max_bytes / block, 1,
                            FrameDecoder::kMaxReadSpans);
}

}  // namespace

FramedConnection::FramedConnection(Socket socket, ConnectionOptions options)
    : socket_(std::move(socket)),
      options_(std::move(options)),
      encoder_(EncoderOptionsFor(options_)),
      decoder_(std::make_unique<FrameDecoder>(DecoderOptionsFor(options_))),
      last_message_end_(absl::Now()) {
  if (options_.read_size == 0) options_.read_size = 8192;
  // Best effort: Socket honours deadlines whether or not this succeeds.
  if (socket_.valid()) {
    (void)socket_.SetNonBlocking(options_.wait_mode == WaitMode::kAlwaysPoll);
  }
  direct_read_spans_ = DirectReadSpans(options_, socket_);
  // A body read lends one span: kFixed, or kDirect where a read fills one
  // block (TCP by default); kDirect's scatter reads stay in Receive().
  body_loop_ = options_.read_mode == ReadMode::kFixed || direct_read_spans_ == 1;
}

absl::StatusOr<FramedConnection> FramedConnection::Dial(absl::string_view uri,
                                                        ConnectionOptions options,
                                                        absl::Time deadline) {
  absl::StatusOr<Socket> socket = Socket::Connect(uri, deadline);
  if (!socket.ok()) return socket.status();
  return FramedConnection(*std::move(socket), std::move(options));
}

absl::Status FramedConnection::CheckOpen() const {
  if (!failure_.ok() && !socket_.valid()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed,
                          absl::StrCat("the connection was closed after: ", failure_.message()));
  }
  if (!socket_.valid()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed, "the connection was closed");
  }
  return absl::OkStatus();
}

absl::Status FramedConnection::Fail(absl::Status status) {
  ++stats_.errors[std::string(FrameErrorCodeName(GetFrameErrorCode(status)))];
  failure_ = status;
  out_.clear();
  out_front_sent_ = 0;
  queued_bytes_ = 0;
  socket_.Close();
  return status;
}

void FramedConnection::Close() {
  out_.clear();
  out_front_sent_ = 0;
  queued_bytes_ = 0;
  socket_.Close();
}

void FramedConnection::RecycleFront() {
  std::string& bytes = out_.front().bytes;
  if (!out_.front().is_cord && bytes.capacity() > spare_.capacity() &&
      bytes.capacity() <= 2 * options_.batch_bytes + 8192) {
    spare_.swap(bytes);
  }
}

void FramedConnection::AppendOwned(absl::string_view bytes) {
  if (bytes.empty()) return;
  if (out_.empty() || out_.back().is_cord ||
      out_.back().bytes.size() + bytes.size() > 2 * options_.batch_bytes + 4096) {
    out_.emplace_back();
    // Reuse the capacity of the last written run: a Send() of a small
    // message then does no malloc/free.
    std::string& run = out_.back().bytes;
    run.swap(spare_);
    run.clear();
    run.reserve(std::min<size_t>(options_.batch_bytes + 4096,
                                 std::max<size_t>(bytes.size(), 256)));
  }
  out_.back().bytes.append(bytes.data(), bytes.size());
  queued_bytes_ += bytes.size();
}

absl::Status FramedConnection::Enqueue(const Envelope& envelope, absl::Cord payload) {
  absl::Status open = CheckOpen();
  if (!open.ok()) return open;
  absl::Status encoded = encoder_.EncodeTo(envelope, std::move(payload), &scratch_);
  if (!encoded.ok()) return encoded;  // refused before any byte was queued
  AppendOwned(scratch_.prefix());
  const absl::Cord& body = scratch_.payload();
  if (body.size() <= options_.copy_payload_bytes) {
    for (absl::string_view chunk : body.Chunks()) AppendOwned(chunk);
  } else {
    Piece piece;
    piece.cord = body;
    piece.is_cord = true;
    queued_bytes_ += body.size();
    out_.push_back(std::move(piece));
  }
  AppendOwned(scratch_.trailer());
  scratch_.Clear();  // the caller's payload is copied or queued by reference
  ++stats_.messages_sent;
  return absl::OkStatus();
}

absl::Status FramedConnection::WriteQueued(absl::Time deadline) {
  while (!out_.empty()) {
    iov_.clear();
    uint64_t skip = out_front_sent_;
    for (const Piece& piece : out_) {
      if (iov_.size() >= IOV_MAX) break;
      if (!piece.is_cord) {
        iov_.push_back({const_cast<char*>(piece.bytes.data()) + skip,
                        static_cast<size_t>(piece.bytes.size() - skip)});
      } else {
        for (absl::string_view chunk : piece.cord.Chunks()) {
          if (skip >= chunk.size()) {
            skip -= chunk.size();
            continue;
          }
          iov_.push_back({const_cast<char*>(chunk.data()) + skip,
                          static_cast<size_t>(chunk.size() - skip)});
          skip = 0;
          if (iov_.size() >= IOV_MAX) break;
        }
      }
      skip = 0;
    }
    absl::StatusOr<size_t> n =
        socket_.Writev(iov_.data(), static_cast<int>(iov_.size()), deadline);
    if (!n.ok()) {
      if (absl::IsDeadlineExceeded(n.status())) {
        return absl::DeadlineExceededError(
            absl::StrCat("send deadline passed with ", queued_bytes_,
                         " bytes still queued (the peer is not reading)"));
      }
      return Fail(WithFrameErrorCode(n.status(), FrameErrorCode::kIoError));
    }
    ++stats_.write_calls;
    stats_.bytes_sent += *n;
    queued_bytes_ -= *n;
    uint64_t left = *n;
    while (left > 0) {
      const uint64_t rest = out_.front().size() - out_front_sent_;
      if (left >= rest) {
        left -= rest;
        RecycleFront();
        out_.pop_front();
        out_front_sent_ = 0;
      } else {
        out_front_sent_ += left;
        left = 0;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FramedConnection::Send(const Message& message, absl::Time deadline) {
  return Send(message.envelope, message.payload, deadline);
}

absl::Status FramedConnection::Send(const Envelope& envelope, absl::Cord payload,
                                    absl::Time deadline) {
  if (queued_bytes_ > 0) {
    absl::Status queued = Enqueue(envelope, std::move(payload));
    if (!queued.ok()) return queued;
    return WriteQueued(deadline);
  }
  // Nothing queued: one sendmsg straight from the encoded frame's pieces
  // (prefix, payload chunks, trailer); only an unwritten rest is queued.
  absl::Status open = CheckOpen();
  if (!open.ok()) return open;
  absl::Status encoded = encoder_.EncodeTo(envelope, std::move(payload), &scratch_);
  if (!encoded.ok()) return encoded;  // refused before any byte was written
  ++stats_.messages_sent;
  iov_.clear();
  scratch_.AppendIovecs(&iov_, IOV_MAX);  // a prefix of the frame; the rest is queued below
  const uint64_t frame_size = scratch_.size();
  absl::StatusOr<size_t> n =
      socket_.Writev(iov_.data(), static_cast<int>(iov_.size()), deadline);
  if (!n.ok()) {
    if (absl::IsDeadlineExceeded(n.status())) {
      QueueScratch(0);
      scratch_.Clear();
      return absl::DeadlineExceededError(
          absl::StrCat("send deadline passed with ", queued_bytes_,
                       " bytes still queued (the peer is not reading)"));
    }
    return Fail(WithFrameErrorCode(n.status(), FrameErrorCode::kIoError));
  }
  ++stats_.write_calls;
  stats_.bytes_sent += *n;
  if (*n != frame_size) QueueScratch(*n);
  // Written or queued: the caller's payload is not referenced any more, so
  // a Message received into next reuses its buffer (FrameDecoder::Next).
  scratch_.Clear();
  if (*n == frame_size) return absl::OkStatus();
  return WriteQueued(deadline);
}

void FramedConnection::QueueScratch(uint64_t skip) {
  // out_ is empty here, so a payload Cord queued by reference is out_.front()
  // whenever `skip` reaches into it.
  const absl::string_view prefix = scratch_.prefix();
  if (skip < prefix.size()) {
    AppendOwned(prefix.substr(skip));
    skip = 0;
  } else {
    skip -= prefix.size();
  }
  const absl::Cord& body = scratch_.payload();
  if (skip < body.size()) {
    if (body.size() <= options_.copy_payload_bytes) {
      for (absl::string_view chunk : body.Chunks()) {
        if (skip >= chunk.size()) {
          skip -= chunk.size();
          continue;
        }
        AppendOwned(chunk.substr(skip));
        skip = 0;
      }
    } else {
      Piece piece;
      piece.cord = body;
      piece.is_cord = true;
      if (out_.empty()) out_front_sent_ = skip;
      queued_bytes_ += body.size() - skip;
      out_.push_back(std::move(piece));
      skip = 0;
    }
  } else {
    skip -= body.size();
  }
  const absl::string_view trailer = scratch_.trailer();
  if (skip < trailer.size()) AppendOwned(trailer.substr(skip));
}

absl::Status FramedConnection::Queue(const Message& message, absl::Time deadline) {
  return Queue(message.envelope, message.payload, deadline);
}

absl::Status FramedConnection::Queue(const Envelope& envelope, absl::Cord payload,
                                     absl::Time deadline) {
  absl::Status queued = Enqueue(envelope, std::move(payload));
  if (!queued.ok()) return queued;
  if (queued_bytes_ >= options_.batch_bytes) return WriteQueued(deadline);
  return absl::OkStatus();
}

absl::Status FramedConnection::Flush(absl::Time deadline) {
  absl::Status open = CheckOpen();
  if (!open.ok()) return open;
  return WriteQueued(deadline);
}

absl::Status FramedConnection::ShutdownWrite(absl::Time deadline) {
  absl::Status flushed = Flush(deadline);
  if (!flushed.ok()) return flushed;
  return socket_.ShutdownWrite();
}

absl::Status FramedConnection::EndOfStream() {
  absl::Status end = decoder_->Finish();
  if (!end.ok()) return Fail(end);
  end_of_stream_ = MakeFrameError(
      FrameErrorCode::kEndOfStream,
      absl::StrCat("the peer closed the connection at a frame boundary after ",
                   stats_.messages_received, " message(s), ", stats_.bytes_received,
                   " bytes (a clean end of stream)"));
  ++stats_.errors["END_OF_STREAM"];
  return end_of_stream_;
}

absl::Status FramedConnection::ReadPayloadBody(absl::Time wait, uint64_t* read,
                                               BodyReadEnd* end) {
  const size_t max = options_.read_mode == ReadMode::kFixed ? options_.read_size : SIZE_MAX;
  // An unbounded wait may block in recv, as Read() would; a bounded one is
  // left to Read(), which waits in poll (busy polling first, if asked to).
  const int flags =
      wait == absl::InfiniteFuture() && options_.busy_poll == absl::ZeroDuration() ? 0
                                                                                     : MSG_DONTWAIT;
  while (true) {
    const absl::Span<char> room = decoder_->DirectReadRoom(max);
    if (room.empty()) {
      *end = BodyReadEnd::kNoRoom;
      return absl::OkStatus();
    }
    const ssize_t n = socket_.RecvOnce(room, flags);
    if (n >= 0) {
      ++stats_.read_calls;
      ++stats_.body_reads;
    }
    if (n > 0) {
      stats_.bytes_received += static_cast<uint64_t>(n);
      stats_.direct_bytes += static_cast<uint64_t>(n);
      *read += static_cast<uint64_t>(n);
      decoder_->CommitDirectRead(room, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      *end = BodyReadEnd::kEndOfStream;
      return absl::OkStatus();
    }
    const int error_number = errno;
    if (error_number == EINTR) continue;
    if (error_number == EAGAIN || error_number == EWOULDBLOCK) {
      *end = BodyReadEnd::kDrained;
      return absl::OkStatus();
    }
    return WithFrameErrorCode(socket_.RecvError(error_number), FrameErrorCode::kIoError);
  }
}

bool FramedConnection::BusyPollRead(const struct iovec* iov, int count, absl::Time wait,
                                    absl::StatusOr<size_t>* n) {
  absl::Time end = absl::InfinitePast();  // set once a recv found nothing
  while (true) {
    const ssize_t got = socket_.RecvvOnce(iov, count, MSG_DONTWAIT);
    if (got >= 0) {
      *n = static_cast<size_t>(got);
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *n = socket_.RecvError(errno);
    } else {
      const absl::Time now = absl::Now();
      if (end == absl::InfinitePast()) {
        end = std::min(now + options_.busy_poll, wait);
        if (now >= end) return false;  // no time to poll at all
        continue;
      }
      if (now < end) continue;
      ++stats_.busy_poll_timeouts;
      return false;
    }
    if (end != absl::InfinitePast()) ++stats_.busy_poll_reads;
    return true;
  }
}

absl::StatusOr<Message> FramedConnection::Receive(absl::Time deadline) {
  Message message;
  absl::Status status = Receive(&message, deadline);
  if (!status.ok()) return status;
  return message;
}

absl::Status FramedConnection::Receive(Message* out, absl::Time deadline) {
  if (!end_of_stream_.ok()) return end_of_stream_;
  absl::Status open = CheckOpen();
  if (!open.ok()) return open;
  if (queued_bytes_ > 0) {
    absl::Status flushed = WriteQueued(deadline);
    if (!flushed.ok()) return flushed;
  }
  const bool idle_limited = options_.idle_timeout != absl::InfiniteDuration();
  const bool stall_limited = options_.stall_timeout != absl::InfiniteDuration();
  absl::Time last_read = absl::InfinitePast();  // of this call, when stall_limited
  while (true) {
    DecodeStep step = decoder_->Next(out);
    if (step.is_message()) {
      ++stats_.messages_received;
      if (idle_limited) last_message_end_ = absl::Now();
      // The read that completed this message may also have brought the first
      // bytes of the next one: the next message's stall clock starts there,
      // not at this message's first byte.
      if (stall_limited && last_read != absl::InfinitePast() &&
          !decoder_->at_frame_boundary()) {
        message_start_ = last_read;
      }
      return absl::OkStatus();
    }
    if (step.is_error()) return Fail(step.error());
    const bool at_boundary = decoder_->at_frame_boundary();
    absl::Time wait = deadline;
    FrameErrorCode timeout = FrameErrorCode::kNone;
    if (at_boundary && idle_limited && last_message_end_ + options_.idle_timeout <= wait) {
      wait = last_message_end_ + options_.idle_timeout;
      timeout = FrameErrorCode::kIdleTimeout;
    } else if (!at_boundary && stall_limited &&
               message_start_ + options_.stall_timeout <= wait) {
      wait = message_start_ + options_.stall_timeout;
      timeout = FrameErrorCode::kStallTimeout;
    }
    // A large payload's body is read in a loop of its own while the socket
    // has bytes: this loop's bookkeeping per read is what a raw recv loop
    // pays, and a read is 8 KiB in kFixed.
    BodyReadEnd body_end = BodyReadEnd::kNoRoom;
    if (!at_boundary && body_loop_) {
      uint64_t read = 0;
      absl::Status body = ReadPayloadBody(wait, &read, &body_end);
      if (!body.ok()) return Fail(body);
      if (body_end == BodyReadEnd::kEndOfStream) return EndOfStream();
      if (read > 0 && body_end == BodyReadEnd::kNoRoom) continue;  // a message may be done
    }
    const bool drained = body_end == BodyReadEnd::kDrained;  // so wait before reading
    // kDirect reads a large payload into several of its blocks at once
    // (one recvmsg); kFixed keeps every read within read_size.
    const bool fixed = options_.read_mode == ReadMode::kFixed;
    absl::Span<const absl::Span<char>> spans =
        decoder_->PrepareReadSpans(options_.read_size, fixed ? 1 : direct_read_spans_);
    const bool direct = decoder_->read_is_direct();
    size_t want = spans[0].size();
    // kDirect's reads of input stop where a payload like the last large
    // one would start (FrameDecoder::InputReadSize). Several spans are lent
    // only for payload storage: want is theirs.
    if (fixed) {
      want = std::min(want, options_.read_size);
    } else if (!direct) {
      want = std::min(want, decoder_->InputReadSize(options_.read_size));
    }
    // Just after a write at a frame boundary, the answer is most likely
    // not there yet, and after a drained body read it is not: wait first
    // and save the recv that would fail. (In kBlockWhenUnbounded a wait
    // without a time limit blocks in recv.)
    const bool wait_first =
        drained ||
        (at_boundary && stats_.write_calls != writes_at_last_read_ &&
         !(options_.wait_mode == WaitMode::kBlockWhenUnbounded &&
           wait == absl::InfiniteFuture()));
    writes_at_last_read_ = stats_.write_calls;
    struct iovec iov[FrameDecoder::kMaxReadSpans];
    iov[0] = {spans[0].data(), want};
    for (size_t i = 1; i < spans.size(); ++i) iov[i] = {spans[i].data(), spans[i].size()};
    const int count = static_cast<int>(spans.size());
    absl::StatusOr<size_t> n = size_t{0};
    const bool busy_polled =
        options_.busy_poll > absl::ZeroDuration() && BusyPollRead(iov, count, wait, &n);
    const absl::Status ready =
        busy_polled || !wait_first ? absl::OkStatus() : socket_.WaitReadable(wait);
    if (busy_polled) {
      ++stats_.read_calls;
    } else if (ready.ok()) {
      if (count == 1) {
        n = socket_.Read(spans[0].subspan(0, want), wait);
      } else {
        n = socket_.Readv(iov, count, wait);
      }
      ++stats_.read_calls;
    } else {
      n = ready;
    }
    if (!n.ok()) {
      decoder_->CommitRead(0);
      if (!absl::IsDeadlineExceeded(n.status())) {
        return Fail(WithFrameErrorCode(n.status(), FrameErrorCode::kIoError));
      }
      if (timeout == FrameErrorCode::kIdleTimeout) {
        return Fail(MakeFrameError(
            FrameErrorCode::kIdleTimeout,
            absl::StrCat("no message started within the idle timeout of ",
                         absl::FormatDuration(options_.idle_timeout), " after ",
                         stats_.messages_received, " message(s)")));
      }
      if (timeout == FrameErrorCode::kStallTimeout) {
        return Fail(MakeFrameError(
            FrameErrorCode::kStallTimeout,
            absl::StrCat("the message that started at stream offset ",
                         decoder_->frame_start_offset(), " did not complete within the stall "
                         "timeout of ", absl::FormatDuration(options_.stall_timeout),
                         " (decoder state: ", decoder_->DescribeState(), ")")));
      }
      return absl::DeadlineExceededError(
          absl::StrCat("Receive deadline passed (decoder state: ", decoder_->DescribeState(),
                       ")"));
    }
    if (*n == 0) {
      decoder_->CommitRead(0);
      return EndOfStream();
    }
    if (stall_limited) {
      last_read = absl::Now();
      if (at_boundary) message_start_ = last_read;
    }
    decoder_->CommitRead(*n);
    stats_.bytes_received += *n;
    if (direct) stats_.direct_bytes += *n;
  }
}

}  // namespace lpframe
