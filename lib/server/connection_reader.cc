#include "lib/server/connection_reader.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

// recv(2) of at most `n` bytes without blocking, retried on EINTR.
ssize_t RecvNow(int fd, char* buf, size_t n) {
  ssize_t got;
  do {
    got = ::recv(fd, buf, n, MSG_DONTWAIT);
  } while (got < 0 && errno == EINTR);
  return got;
}

}  // namespace

ConnectionReader::ConnectionReader(ServerContext* context, absl::Time now)
    : context_(context),
      read_size_(context->options().connection.read_size),
      fixed_reads_(context->options().connection.read_mode == ReadMode::kFixed),
      idle_limited_(context->options().connection.idle_timeout != absl::InfiniteDuration()),
      stall_limited_(context->options().connection.stall_timeout != absl::InfiniteDuration()),
      last_message_end_(now),
      frame_start_(now),
      decoder_(DecoderOptionsFor(context->options().connection)) {}

ConnectionReader::~ConnectionReader() {
  context_->counters().input_bytes_buffered.fetch_sub(static_cast<int64_t>(reserved_));
}

absl::Status ConnectionReader::ChangeReservation(uint64_t now_reserved) {
  const int64_t delta = static_cast<int64_t>(now_reserved) - static_cast<int64_t>(reserved_);
  reserved_ = now_reserved;
  const int64_t total =
      context_->counters().input_bytes_buffered.fetch_add(delta) + delta;
  if (delta < 0) return absl::OkStatus();
  const StreamServerOptions& options = context_->options();
  if (options.connection_input_budget > 0 && now_reserved > options.connection_input_budget) {
    return MakeFrameError(
        FrameErrorCode::kMemoryBudgetExceeded,
        absl::StrCat("the connection buffers ", now_reserved,
                     " bytes of input, over its budget of ", options.connection_input_budget,
                     " bytes (decoder state: ", decoder_.DescribeState(), ")"));
  }
  if (total > 0 && static_cast<uint64_t>(total) > options.global_input_budget) {
    return MakeFrameError(
        FrameErrorCode::kMemoryBudgetExceeded,
        absl::StrCat("the server buffers ", total, " bytes of input across connections, over ",
                     "its global budget of ", options.global_input_budget,
                     " bytes; this connection holds ", now_reserved,
                     " (decoder state: ", decoder_.DescribeState(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ConnectionReader::SetExtraBuffered(uint64_t bytes) {
  extra_ = bytes;
  return UpdateReservation();
}

void ConnectionReader::EnableScratchTakeover() {
  const uint64_t budget = context_->options().connection_input_budget;
  scratch_takeover_ =
      !fixed_reads_ && (budget == 0 || budget / 4 >= decoder_.pool()->block_size());
}

absl::StatusOr<ConnectionReader::ReadOutcome> ConnectionReader::ReadOnce(
    int fd, absl::Time now, ReadScratch* scratch) {
  decoder_.EndLend();  // the scratch is about to be read into
  const bool was_at_boundary = decoder_.at_frame_boundary();
  scratch_reads_ = scratch != nullptr;
  const bool use_scratch = scratch_reads_ && !decoder_.WantsDirectRead();
  const bool takeover =
      use_scratch && scratch_takeover_ && scratch->pool() == decoder_.pool();
  absl::Span<char> span = use_scratch ? scratch->span() : decoder_.PrepareRead(read_size_);
  const bool direct = !use_scratch && decoder_.read_is_direct();
  size_t want = span.size();
  if (fixed_reads_ || !direct) want = std::min(want, read_size_);
  if (takeover && was_at_boundary && last_payload_large_) {
    want = span.size();
  } else if (!scratch_takeover_ && !fixed_reads_ && !direct) {
    want = std::min(want, decoder_.InputReadSize(read_size_));
  }
  const ssize_t n = RecvNow(fd, span.data(), want);
  const int error_number = n < 0 ? errno : 0;
  if (n > 0 && use_scratch) {
    const absl::string_view bytes(span.data(), static_cast<size_t>(n));
    if (!takeover) {
      decoder_.Feed(bytes);
    } else if (decoder_.FeedBlock(scratch->block(), bytes)) {
      scratch->Renew();  // the block now holds a payload
    }
  } else if (!use_scratch) {
    decoder_.CommitRead(n > 0 ? static_cast<size_t>(n) : 0);
    if (direct && n > 0) direct_bytes_ += static_cast<uint64_t>(n);
  }
  return AfterRead(n, error_number, want, direct, was_at_boundary, now);
}

size_t ConnectionReader::PrereadSize(size_t room) const {
  // The reads ReadOnce() makes into the scratch without a takeover in view.
  if (decoder_.WantsDirectRead() || decoder_.failed()) return 0;
  if (scratch_takeover_ && last_payload_large_ && decoder_.at_frame_boundary()) return 0;
  size_t want = std::min(room, read_size_);
  if (!scratch_takeover_ && !fixed_reads_) want = std::min(want, decoder_.InputReadSize(read_size_));
  return want;
}

ConnectionReader::Preread ConnectionReader::ReadAhead(int fd, char* room, size_t room_size) {
  Preread read;
  read.want = PrereadSize(room_size);
  if (read.want == 0) return read;
  read.data = room;
  read.n = RecvNow(fd, room, read.want);
  read.error_number = read.n < 0 ? errno : 0;
  return read;
}

absl::StatusOr<ConnectionReader::ReadOutcome> ConnectionReader::AbsorbRead(
    const char* data, ssize_t n, int error_number, size_t want, absl::Time now) {
  decoder_.EndLend();
  const bool was_at_boundary = decoder_.at_frame_boundary();
  scratch_reads_ = true;
  if (n > 0) decoder_.Feed(absl::string_view(data, static_cast<size_t>(n)));
  return AfterRead(n, error_number, want, /*direct=*/false, was_at_boundary, now);
}

absl::StatusOr<ConnectionReader::ReadOutcome> ConnectionReader::AfterRead(
    ssize_t n, int error_number, size_t want, bool direct, bool was_at_boundary,
    absl::Time now) {
  if (n < 0) {
    if (error_number == EAGAIN || error_number == EWOULDBLOCK) return ReadOutcome::kWouldBlock;
    return WithFrameErrorCode(
        ErrnoStatus(error_number, absl::StrCat("recv after ", decoder_.bytes_received(),
                                               " bytes (decoder state: ",
                                               decoder_.DescribeState(), ")")),
        FrameErrorCode::kIoError);
  }
  if (n == 0) {
    absl::Status end = decoder_.Finish();
    if (!end.ok()) return end;
    return ReadOutcome::kEndOfStream;
  }
  if (stall_limited_) {
    last_read_ = now;
    if (was_at_boundary) frame_start_ = now;
  }
  absl::Status budget = UpdateReservation();
  if (!budget.ok()) return budget;
  if (static_cast<size_t>(n) < want) return ReadOutcome::kShortData;
  // A direct read asks for exactly the rest of a payload: filling it ends
  // the frame, not the socket's data. A request/response peer has sent
  // nothing more, so reading on would cost a recv that fails with EAGAIN;
  // a peer that has sent more is read when epoll reports it again.
  if (direct && decoder_.input_at_frame_end()) return ReadOutcome::kShortData;
  return ReadOutcome::kData;
}

DecodeStep ConnectionReader::Next(Message* out, absl::Time now) {
  DecodeStep step = decoder_.Next(out);
  if (step.is_message()) CountMessage(out->payload.size(), now);
  if (step.need_more()) OnNeedMore();
  return step;
}

DecodeStep ConnectionReader::Poll() {
  DecodeStep step = decoder_.Poll();
  if (step.need_more()) OnNeedMore();
  return step;
}

void ConnectionReader::OnNeedMore() {
  // Frames that arrived behind the first one of a read were buffered;
  // once they are taken, the buffer goes.
  if (scratch_reads_) decoder_.ReleaseEmptyInputBuffer();
  (void)UpdateReservation();  // storage of a delivered message went away
}

void ConnectionReader::CountMessage(uint64_t payload_size, absl::Time now) {
  ++messages_;
  if (scratch_takeover_) last_payload_large_ = payload_size >= decoder_.takeover_min_bytes();
  if (idle_limited_) last_message_end_ = now;
  // The read that completed this message may have brought the first
  // bytes of the next: its stall clock starts at that read.
  if (stall_limited_ && !decoder_.at_frame_boundary()) frame_start_ = last_read_;
}

absl::Time ConnectionReader::TimeoutAt() const {
  const ConnectionOptions& c = context_->options().connection;
  if (decoder_.at_frame_boundary()) {
    return idle_limited_ ? last_message_end_ + c.idle_timeout : absl::InfiniteFuture();
  }
  return stall_limited_ ? frame_start_ + c.stall_timeout : absl::InfiniteFuture();
}

absl::Status ConnectionReader::TimeoutError() const {
  const ConnectionOptions& c = context_->options().connection;
  if (decoder_.at_frame_boundary()) {
    return MakeFrameError(
        FrameErrorCode::kIdleTimeout,
        absl::StrCat("no message started within the idle timeout of ",
                     absl::FormatDuration(c.idle_timeout), " after ", messages_,
                     " message(s)"));
  }
  return MakeFrameError(
      FrameErrorCode::kStallTimeout,
      absl::StrCat("the message that started at stream offset ", decoder_.frame_start_offset(),
                   " did not complete within the stall timeout of ",
                   absl::FormatDuration(c.stall_timeout),
                   " (decoder state: ", decoder_.DescribeState(), ")"));
}

}  // namespace lpframe
