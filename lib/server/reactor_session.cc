#include "lib/server/reactor_session.h"

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cassert>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/error_envelope.h"
#include "lib/frame_error.h"
#include "lib/server/reactor.h"
#include "lib/server/worker_pool.h"

namespace lpframe {
namespace {

// Reads per readable event before other connections get their turn.
constexpr int kReadsPerEvent = 16;
// Decoded messages waiting for a worker before reading pauses.
constexpr size_t kMaxInboxMessages = 1024;

absl::Status ClosedError() {
  return MakeFrameError(FrameErrorCode::kConnectionClosed, "the connection is closed");
}

bool WantsErrorFrame(const absl::Status& status) {
  switch (GetFrameErrorCode(status)) {
    case FrameErrorCode::kEndOfStream:
    case FrameErrorCode::kIoError:
    case FrameErrorCode::kConnectionClosed:
    case FrameErrorCode::kOutputBudgetExceeded:  // the peer does not read anyway
      return false;
    default:
      return !status.ok();
  }
}

}  // namespace

ReactorSession::ReactorSession(Reactor* reactor, ServerContext* context, WorkerPool* workers,
                               Socket socket, PeerInfo peer,
                               std::unique_ptr<StreamHandler> handler, absl::Time now)
    : reactor_(reactor),
      context_(context),
      workers_(workers),
      socket_(std::move(socket)),
      handler_(std::move(handler)),
      reader_(std::make_unique<ConnectionReader>(context, now)),
      out_(context->options().connection.copy_payload_bytes,
           context->options().connection.batch_bytes),
      peer_(std::move(peer)) {
  // Inline handlers take each message before the next read: a payload may
  // keep the read block it arrived in. Messages waiting for a worker count
  // in the budgets by their size, so they keep storage of their own size.
  if (workers_ == nullptr && context->options().keep_payloads_in_read_blocks) {
    reader_->EnableScratchTakeover();
  }
  // Inline handlers that take views get small payloads straight from the
  // read scratch (Dispatch); OnReadable() takes every message of a read
  // before the next read into the scratch.
  if (workers_ == nullptr && handler_->TakesMessageViews()) reader_->EnableViews();
}

ReactorSession::~ReactorSession() = default;

// --- Session, any thread ------------------------------------------------------

absl::Status ReactorSession::Send(const Envelope& envelope, absl::Cord payload) {
  return SendFrame(envelope, std::move(payload));
}

absl::Status ReactorSession::Send(const Envelope& envelope, absl::string_view payload) {
  return SendFrame(envelope, payload);
}

template <typename Payload>
absl::Status ReactorSession::SendFrame(const Envelope& envelope, Payload payload) {
  std::lock_guard<std::mutex> lock(mu_);
  if (send_closed_) return ClosedError();
  if (TakesReplyLocked(payload.size())) return SendIntoReplyLocked(envelope, payload);
  return QueueFrameLocked(envelope, absl::Cord(std::move(payload)));
}

bool ReactorSession::TakesReplyLocked(uint64_t payload_size) const {
  // An inline handler answering inside OnReadable() (on the loop thread)
  // uses the reactor's scratch and arena: sent when the batch was read.
  // Small frames are copied whatever the queue (see SendQueue): into this
  // session's arena region, encoded in place, while nothing waits behind it
  // in out_, the region ends the arena (sessions are read one at a time, so
  // it does), and it has not reached a batch (it may pass one by a frame).
  const ConnectionOptions& connection = context_->options().connection;
  return reactor_->OnLoopThread() && in_read_ && out_.empty() &&
         payload_size <= connection.copy_payload_bytes &&
         reply_size_ < connection.batch_bytes &&
         (reply_size_ == 0 || reply_offset_ + reply_size_ == reactor_->reply_arena().size());
}

absl::Status ReactorSession::QueueFrameLocked(const Envelope& envelope, absl::Cord payload) {
  // Encoded under the lock into a reused frame: no allocation per message.
  const bool answering = reactor_->OnLoopThread() && in_read_;
  EncodedFrame& frame = answering ? reactor_->encode_scratch() : scratch_;
  absl::Status encoded = context_->encoder().EncodeTo(envelope, std::move(payload), &frame);
  if (!encoded.ok()) {
    frame.Clear();
    return encoded;
  }
  const uint64_t queued = QueuedLocked();
  if (queued + frame.size() > context_->options().max_output_bytes) {
    const uint64_t frame_size = frame.size();
    frame.Clear();
    return OutputBudgetErrorLocked(queued, frame_size);
  }
  if (answering && queued == 0) {
    // Nothing waits before this answer: it goes out now, and only what the
    // socket does not take is queued.
    const uint64_t sent = WriteNowLocked(frame);
    if (sent < frame.size()) {
      out_.Append(frame);
      out_.Consume(sent);
    }
  } else {
    out_.Append(frame);  // after the arena region, which FlushLocked() sends first
  }
  frame.Clear();  // the queue holds the payload now, if it needs it
  return FrameQueuedLocked();
}

uint64_t ReactorSession::WriteNowLocked(const EncodedFrame& frame) {
  assert(reactor_->OnLoopThread());
  // At most IOV_MAX slices: what is sent is always a prefix of the frame,
  // as the caller's out_.Consume() expects.
  iov_.clear();
  frame.AppendIovecs(&iov_, IOV_MAX);
  msghdr msg = {};
  msg.msg_iov = iov_.data();
  msg.msg_iovlen = iov_.size();
  ssize_t n;
  do {
    n = ::sendmsg(socket_.fd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<uint64_t>(n);
  // An error is only recorded here: sending stays open until Service()
  // takes the error and closes the connection, as when FlushLocked() meets
  // it, so the handler's later Send()s in this read still succeed (and are
  // dropped with the connection) instead of failing the handler.
  if (errno != EAGAIN && errno != EWOULDBLOCK) RecordWriteErrorLocked(errno, frame.size());
  return 0;
}

void ReactorSession::RecordWriteErrorLocked(int error_number, uint64_t unsent) {
  if (!pending_error_.ok()) return;  // the first error is the one reported
  pending_error_ = WithFrameErrorCode(
      ErrnoStatus(error_number,
                  absl::StrCat("send to ", peer_.address, " with ", unsent, " bytes queued")),
      FrameErrorCode::kIoError);
  pending_error_stage_ = "write";
}

template <typename Payload>
absl::Status ReactorSession::SendIntoReplyLocked(const Envelope& envelope,
                                                 const Payload& payload) {
  // A region sent ahead is released by the same service list, before any
  // later read.
  assert(!replies_sent_ahead_);
  std::string& arena = reactor_->reply_arena();
  if (reactor_->arena_regions() == 0) arena.clear();  // start where it is warm
  const uint64_t queued = QueuedLocked();
  const size_t before = arena.size();
  absl::Status encoded = context_->encoder().EncodeAppend(envelope, payload, &arena);
  if (!encoded.ok()) return encoded;  // the arena is unchanged
  const uint64_t frame_size = arena.size() - before;
  if (queued + frame_size > context_->options().max_output_bytes) {
    arena.resize(before);
    return OutputBudgetErrorLocked(queued, frame_size);
  }
  if (reply_size_ == 0) {
    reply_offset_ = before;
    ++reactor_->arena_regions();
  }
  reply_size_ += frame_size;
  answered_in_read_ = true;
  return FrameQueuedLocked();
}

absl::Status ReactorSession::OutputBudgetErrorLocked(uint64_t queued, uint64_t frame_size) {
  const uint64_t max_output = context_->options().max_output_bytes;
  absl::Status status = MakeFrameError(
      FrameErrorCode::kOutputBudgetExceeded,
      absl::StrCat("the peer does not read: ", queued, " bytes are queued and a frame of ",
                   frame_size, " bytes would pass the output budget of ", max_output,
                   " bytes"));
  send_closed_ = true;
  if (pending_error_.ok()) {
    pending_error_ = status;
    pending_error_stage_ = "write";
  }
  ScheduleService();
  return status;
}

absl::Status ReactorSession::FrameQueuedLocked() {
  queued_output_.store(QueuedLocked(), std::memory_order_relaxed);
  context_->counters().messages_sent.fetch_add(1, std::memory_order_relaxed);
  ScheduleService();
  return absl::OkStatus();
}

void ReactorSession::ReleaseReplyLocked() {
  reply_size_ = 0;
  replies_sent_ahead_ = false;
  --reactor_->arena_regions();
}

ssize_t ReactorSession::SendRegion(const char* region) const {
  ssize_t n;
  do {
    n = ::send(socket_.fd(), region, reply_size_, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n;
}

void ReactorSession::SendRepliesAhead() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // The region (reply_offset_, reply_size_) is written only on this, the
  // loop thread (SendIntoReplyLocked inside OnReadable, ReleaseReplyLocked),
  // so reading it here without the lock races with nothing: other threads
  // only read it, under the lock. Only a read appends to the arena, and the
  // service list that sends a region ahead releases it (FlushLocked or
  // Destroy) before any later read, so the region stays as sent.
  if (state_ == State::kDone || reply_size_ == 0 || replies_sent_ahead_) return;
  replies_ahead_result_ = SendRegion(reactor_->reply_arena().data() + reply_offset_);
  replies_ahead_errno_ = replies_ahead_result_ < 0 ? errno : 0;
  replies_sent_ahead_ = true;
}

bool ReactorSession::OutputBelowWatermark() const {
  return QueuedLocked() < context_->options().output_high_watermark;
}

absl::Status ReactorSession::WaitForOutputSpace(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (destroyed_) return ClosedError();
  if (reactor_->OnLoopThread()) return absl::OkStatus();
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return send_closed_ || OutputBelowWatermark();
  };
  ++space_waiters_;
  bool met = true;
  if (deadline == absl::InfiniteFuture()) {
    space_cv_.wait(lock, ready);
  } else {
    met = space_cv_.wait_until(lock, absl::ToChronoTime(deadline), ready);
  }
  --space_waiters_;
  if (!met) {
    return absl::DeadlineExceededError(
        absl::StrCat(QueuedLocked(), " bytes still queued for ", peer_.address,
                     " at the deadline (the peer reads slowly)"));
  }
  return send_closed_ ? ClosedError() : absl::OkStatus();
}

void ReactorSession::NotifySpaceLocked() {
  if (space_waiters_ > 0 && (send_closed_ || OutputBelowWatermark())) space_cv_.notify_all();
}

void ReactorSession::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  close_requested_ = true;
  ScheduleService();
}

std::shared_ptr<void> ReactorSession::HoldOpen() {
  std::shared_ptr<ReactorSession> self =
      std::static_pointer_cast<ReactorSession>(shared_from_this());
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++holds_;
  }
  return std::shared_ptr<void>(nullptr, [self](void*) {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (--self->holds_ == 0) {
      self->holds_released_ = true;  // the idle clock restarts
      self->ScheduleService();       // may close now
    }
  });
}

uint64_t ReactorSession::queued_output_bytes() const {
  return queued_output_.load(std::memory_order_relaxed);
}

void ReactorSession::ScheduleService() {
  if (destroyed_) return;  // nothing left to service; the reactor may be gone
  if (reactor_->OnLoopThread()) {
    // Inside OnReadable(): Service() runs when it ends.
    if (!in_read_) ScheduleServiceOnLoop();
    return;
  }
  if (!service_scheduled.exchange(true)) {
    reactor_->ScheduleService(std::static_pointer_cast<ReactorSession>(shared_from_this()));
  }
}

void ReactorSession::ScheduleServiceOnLoop() {
  if (state_ == State::kDone) return;
  if (!service_scheduled.exchange(true)) reactor_->ScheduleServiceOnLoop(this);
}

// --- Reactor thread -----------------------------------------------------------

void ReactorSession::Start(absl::Time now) {
  handler_->OnOpen(*this);
  Service(now);
}

void ReactorSession::Dispatch(absl::Time now) {
  context_->counters().messages_received.fetch_add(1, std::memory_order_relaxed);
  if (workers_ == nullptr) {
    absl::Status status;
    if (reader_->payload_is_view()) {
      Envelope envelope;
      const absl::string_view payload = reader_->TakeView(&envelope, now);
      status = handler_->OnMessageView(*this, envelope, payload);
    } else {
      // The handler's by-value parameter is built in place by Take().
      status = handler_->OnMessage(*this, reader_->Take(now));
    }
    if (!status.ok()) {
      context_->counters().handler_errors.fetch_add(1);
      CloseWithError(HandlerFailure(status), "handler", now);
    }
    return;
  }
  Message message = reader_->Take(now);
  bool submit = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (handler_failed_) return;  // the connection is closing: dropped
    inbox_bytes_ += message.payload.size();
    inbox_.push_back(std::move(message));
    if (!worker_active_) {
      worker_active_ = true;
      submit = true;
    }
    if (inbox_.size() >= kMaxInboxMessages ||
        inbox_bytes_ >= context_->options().output_high_watermark) {
      paused_for_input_ = true;
    }
  }
  if (submit) {
    std::shared_ptr<ReactorSession> self =
        std::static_pointer_cast<ReactorSession>(shared_from_this());
    workers_->Submit([self] { self->DrainInbox(); });
  }
}

void ReactorSession::DrainInbox() {
  while (true) {
    Message message;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (inbox_.empty() || handler_closed_ || handler_failed_) {
        worker_active_ = false;
        ScheduleService();  // the reactor may resume reading or finish closing
        if (!on_close_pending_) return;
        on_close_pending_ = false;
        handler_closed_ = true;
        break;  // run OnClose outside the lock
      }
      message = std::move(inbox_.front());
      inbox_.pop_front();
      inbox_bytes_ -= message.payload.size();
      if (paused_for_input_ && inbox_.size() < kMaxInboxMessages / 2 &&
          inbox_bytes_ < context_->options().output_high_watermark / 2) {
        ScheduleService();
      }
    }
    absl::Status status = handler_->OnMessage(*this, std::move(message));
    if (!status.ok()) {
      context_->counters().handler_errors.fetch_add(1);
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_error_.ok()) {
        pending_error_ = HandlerFailure(status);
        pending_error_stage_ = "handler";
      }
      handler_failed_ = true;  // later messages of this connection are dropped
      inbox_.clear();
      inbox_bytes_ = 0;
      ScheduleService();
    }
  }
  handler_->OnClose(*this, close_reason_);  // after Destroy(): see on_close_pending_
}

ReactorSession::Preread ReactorSession::ReadAhead(char* room, size_t room_size) {
  if (state_ != State::kOpen || paused_for_output_ || paused_for_input_) return Preread();
  return reader_->ReadAhead(socket_.fd(), room, room_size);
}

void ReactorSession::OnReadable(absl::Time now, bool hangup, const Preread* preread) {
  // Paused connections are read only once the peer is gone (hang-up or
  // error are reported even without EPOLLIN), so the loop does not spin.
  // (A read made ahead was made while the session was open and unpaused,
  // which it still is: nothing but its own events changes that.)
  assert(preread == nullptr || (state_ == State::kOpen && !hangup));
  if ((paused_for_output_ || paused_for_input_) && !hangup && preread == nullptr) return;
  if (state_ == State::kLingering) {
    if (DiscardInput(socket_.fd(), SIZE_MAX) == DiscardEnd::kWouldBlock) return;
    Destroy(close_reason_);  // the peer closed (or reset): done
    return;
  }
  if (state_ == State::kClosing && hangup) {
    // The peer is gone for good: nothing queued can reach it, and epoll
    // would report the hang-up again on every wait.
    Destroy(close_reason_);
    return;
  }
  if (state_ != State::kOpen) return;
  in_read_ = true;
  for (int i = 0; i < kReadsPerEvent && state_ == State::kOpen; ++i) {
    absl::StatusOr<ConnectionReader::ReadOutcome> outcome =
        i == 0 && preread != nullptr
            ? reader_->AbsorbRead(preread->data, preread->n, preread->error_number,
                                  preread->want, now)
            : reader_->ReadOnce(socket_.fd(), now, reactor_->read_scratch());
    if (!outcome.ok()) {
      const FrameErrorCode code = GetFrameErrorCode(outcome.status());
      if (code == FrameErrorCode::kIoError) {
        in_read_ = false;
        answered_in_read_ = false;
        context_->Report(peer_, outcome.status(), "read");
        Destroy(outcome.status());
        return;
      }
      // TRUNCATED_*: the peer closed inside a frame.
      peer_eof_ = code != FrameErrorCode::kMemoryBudgetExceeded;
    } else if (*outcome == ConnectionReader::ReadOutcome::kEndOfStream) {
      peer_eof_ = true;
    }
    // Messages decoded before an error were received whole: deliver them.
    while (state_ == State::kOpen) {
      DecodeStep step = reader_->Poll();
      if (step.is_message()) {
        Dispatch(now);
        continue;
      }
      if (step.is_error()) CloseWithError(step.error(), "read", now);
      break;
    }
    // No view of the scratch, which the next read of any connection
    // overwrites, outlives this read: the loop above takes every ready
    // message, and a closing connection has no reader.
    assert(reader_ == nullptr || !reader_->payload_is_view());
    if (state_ != State::kOpen) break;
    if (!outcome.ok()) {
      const bool budget =
          GetFrameErrorCode(outcome.status()) == FrameErrorCode::kMemoryBudgetExceeded;
      CloseWithError(outcome.status(), budget ? "budget" : "read", now);
      break;
    }
    if (*outcome == ConnectionReader::ReadOutcome::kEndOfStream) {
      BeginClose(MakeFrameError(FrameErrorCode::kEndOfStream,
                                absl::StrCat("the peer closed the connection after ",
                                             reader_->messages_received(), " message(s)")),
                 now);
      break;
    }
    if (*outcome != ConnectionReader::ReadOutcome::kData) break;
    // Backpressure: a peer that does not read its answers is not read
    // either (Service() pauses the connection until the output drains).
    if (queued_output_.load(std::memory_order_relaxed) >
        context_->options().output_high_watermark) {
      break;
    }
  }
  if (state_ == State::kOpen && workers_ != nullptr) {
    uint64_t inbox_bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      inbox_bytes = inbox_bytes_;
    }
    absl::Status budget = reader_->SetExtraBuffered(inbox_bytes);
    if (!budget.ok()) CloseWithError(budget, "budget", now);
  }
  in_read_ = false;
  if (std::exchange(answered_in_read_, false) && reactor_->batch_answers()) {
    // Answers in the arena go out with those of the other connections of
    // this batch, in a burst of writes once all are read.
    ScheduleServiceOnLoop();
    return;
  }
  Service(now);
}

void ReactorSession::CloseWithError(const absl::Status& status, absl::string_view stage,
                                    absl::Time now) {
  if (state_ == State::kDone) return;
  context_->Report(peer_, status, stage);
  QueueErrorFrame(status);
  if (state_ == State::kOpen) {
    BeginClose(status, now);
  }
}

void ReactorSession::QueueErrorFrame(const absl::Status& status) {
  if (!context_->options().send_error_frames || !WantsErrorFrame(status)) return;
  absl::StatusOr<EncodedFrame> frame = context_->encoder().Encode(ErrorEnvelope(status), {});
  if (!frame.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  out_.Append(*frame);  // past the output budget if need be: it is small
  queued_output_.store(QueuedLocked(), std::memory_order_relaxed);
}

void ReactorSession::BeginClose(const absl::Status& reason, absl::Time now) {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  close_reason_ = reason;
  (void)now;
  // Nothing more is read: the input held for a frame in progress goes back
  // to the budgets now, not when the peer finally closes.
  reader_.reset();
}

bool ReactorSession::WorkPending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_active_ || !inbox_.empty() || holds_ > 0;
}

void ReactorSession::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  FlushLocked();
}

void ReactorSession::FlushLocked() {
  bool progressed = false;
  bool socket_full = false;
  if (reply_size_ > 0) {
    // Sent from the reactor's arena (or already, by SendRepliesAhead());
    // what the socket does not take (or all of it, on an error, which the
    // loop below then meets) goes before out_, where it waits.
    const char* region = reactor_->reply_arena().data() + reply_offset_;
    ssize_t n;
    int send_errno;
    if (replies_sent_ahead_) {
      n = replies_ahead_result_;
      send_errno = replies_ahead_errno_;
    } else {
      n = SendRegion(region);
      send_errno = n < 0 ? errno : 0;
    }
    const size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    progressed = sent > 0;
    if (sent < reply_size_) out_.PrependBytes(absl::string_view(region + sent, reply_size_ - sent));
    // A full socket takes nothing more now; an error is met (and recorded)
    // by the loop below.
    socket_full = (n >= 0 && sent < reply_size_) ||
                  send_errno == EAGAIN || send_errno == EWOULDBLOCK;
    ReleaseReplyLocked();
  }
  while (!out_.empty() && !socket_full) {
    out_.FillIovecs(&iov_);
    ssize_t n;
    if (iov_.size() == 1) {  // small answers share one buffer: plain send()
      n = ::send(socket_.fd(), iov_[0].iov_base, iov_[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
      msghdr msg = {};
      msg.msg_iov = iov_.data();
      msg.msg_iovlen = iov_.size();
      n = ::sendmsg(socket_.fd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      RecordWriteErrorLocked(errno, out_.size());
      out_.Clear();
      send_closed_ = true;
      break;
    }
    out_.Consume(static_cast<uint64_t>(n));
    progressed = true;
  }
  queued_output_.store(QueuedLocked(), std::memory_order_relaxed);
  if (out_.empty()) {
    write_blocked_since_ = absl::InfiniteFuture();
  } else if (progressed || write_blocked_since_ == absl::InfiniteFuture()) {
    write_blocked_since_ = absl::Now();
  }
  const uint64_t high = context_->options().output_high_watermark;
  if (out_.size() > high) {
    paused_for_output_ = true;
  } else if (paused_for_output_ && out_.size() <= high / 2) {
    paused_for_output_ = false;
  }
  NotifySpaceLocked();
}

void ReactorSession::Service(absl::Time now) {
  if (state_ == State::kDone) return;
  absl::Status pending;
  absl::string_view pending_stage;
  bool close_requested;
  absl::Status write_error;
  bool output_queued = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    pending = std::exchange(pending_error_, absl::OkStatus());
    pending_stage = pending_error_stage_;
    close_requested = std::exchange(close_requested_, false);
    if (std::exchange(holds_released_, false) && state_ == State::kOpen) {
      reader_->RestartIdleClock(now);  // an answer just went out: not idle
    }
    if (workers_ != nullptr && state_ == State::kOpen) {
      // Messages the workers took since the last read leave the budgets
      // now, not at the next read (the inbox only shrinks off the loop
      // thread, so this cannot fail).
      (void)reader_->SetExtraBuffered(inbox_bytes_);
    }
    if (paused_for_input_ && inbox_.size() < kMaxInboxMessages / 2 &&
        inbox_bytes_ < context_->options().output_high_watermark / 2) {
      paused_for_input_ = false;
    }
    // The common case (nothing pending) flushes under this same lock.
    if (!pending.ok() || close_requested) {
      lock.unlock();
      if (!pending.ok()) {
        if (GetFrameErrorCode(pending) == FrameErrorCode::kIoError) {
          context_->Report(peer_, pending, pending_stage);
          Destroy(pending);
          return;
        }
        CloseWithError(pending, pending_stage, now);
      }
      if (close_requested) {
        BeginClose(MakeFrameError(FrameErrorCode::kConnectionClosed, "closed by the handler"),
                   now);
      }
      lock.lock();
    }
    FlushLocked();
    if (!pending_error_.ok() && GetFrameErrorCode(pending_error_) == FrameErrorCode::kIoError) {
      write_error = std::exchange(pending_error_, absl::OkStatus());
    }
    output_queued = QueuedLocked() != 0;
  }
  if (!write_error.ok()) {
    context_->Report(peer_, write_error, "write");
    Destroy(write_error);
    return;
  }
  if (draining_ && state_ == State::kOpen && reader_->at_frame_boundary() && !WorkPending()) {
    // Not an error of this connection: the peer is told, the hook is not.
    absl::Status reason =
        MakeFrameError(FrameErrorCode::kShuttingDown, "the server is shutting down");
    context_->counters().CountError(reason);
    QueueErrorFrame(reason);
    BeginClose(reason, now);
    std::lock_guard<std::mutex> lock(mu_);
    FlushLocked();
    output_queued = QueuedLocked() != 0;
  }
  if (state_ == State::kClosing && !WorkPending()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      output_queued = QueuedLocked() != 0;
      send_closed_ = true;
      NotifySpaceLocked();
    }
    if (!output_queued) {
      if (peer_eof_) {
        Destroy(close_reason_);
        return;
      }
      ::shutdown(socket_.fd(), SHUT_WR);
      state_ = State::kLingering;
      linger_deadline_ = now + context_->options().linger;
    }
  }
  UpdateInterest(output_queued);
}

void ReactorSession::UpdateInterest(bool output_queued) {
  if (state_ == State::kDone) return;
  uint32_t want = 0;
  if ((state_ == State::kOpen && !paused_for_output_ && !paused_for_input_) ||
      state_ == State::kLingering) {
    want |= EPOLLIN;
  }
  if (output_queued) want |= EPOLLOUT;
  if (registered_ && want == interest_) return;
  reactor_->SetInterest(this, registered_, want);
  registered_ = true;
  interest_ = want;
}

void ReactorSession::CheckTimeouts(absl::Time now) {
  if (state_ == State::kLingering) {
    if (now >= linger_deadline_) Destroy(close_reason_);
    return;
  }
  if (state_ == State::kDone) return;
  // A peer that takes none of its output for write_timeout is dropped, open
  // or closing: otherwise it would hold its slot and its output for ever.
  absl::Time blocked_since;
  uint64_t queued;
  bool hold_released;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_since = write_blocked_since_;
    queued = QueuedLocked();
    // The last hold may have gone since the service list ran: its answer
    // just went out, so the idle clock restarts here as in Service().
    hold_released = std::exchange(holds_released_, false);
  }
  if (hold_released && state_ == State::kOpen) reader_->RestartIdleClock(now);
  const absl::Duration write_timeout = context_->options().write_timeout;
  if (blocked_since != absl::InfiniteFuture() && now - blocked_since >= write_timeout) {
    absl::Status stalled = MakeFrameError(
        FrameErrorCode::kOutputBudgetExceeded,
        absl::StrCat("the peer took no output for the write timeout of ",
                     absl::FormatDuration(write_timeout), " (", queued, " bytes queued)"));
    context_->Report(peer_, stalled, "write");
    Destroy(stalled);
    return;
  }
  // Idle and stall clocks stop while the server itself holds the
  // connection: reading paused for output, or work in progress.
  if (state_ != State::kOpen || paused_for_output_ || paused_for_input_ || WorkPending()) return;
  if (now >= reader_->TimeoutAt()) {
    CloseWithError(reader_->TimeoutError(), "timeout", now);
    Service(now);
  }
}

void ReactorSession::BeginShutdown(absl::Time now) {
  draining_ = true;
  Service(now);
}

void ReactorSession::ForceClose(const absl::Status& reason) {
  if (state_ == State::kDone) return;
  if (state_ == State::kOpen) {
    CloseWithError(reason, "shutdown", absl::Now());
    Flush();
  }
  Destroy(reason);
}

void ReactorSession::Destroy(const absl::Status& reason) {
  if (state_ == State::kDone) return;
  if (state_ == State::kOpen || state_ == State::kClosing) close_reason_ = reason;
  state_ = State::kDone;
  if (registered_) reactor_->RemoveInterest(this);
  registered_ = false;
  socket_.Close();
  reader_.reset();  // gives back the input budget
  bool run_on_close = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    send_closed_ = true;
    destroyed_ = true;
    space_cv_.notify_all();
    if (reply_size_ > 0) ReleaseReplyLocked();  // unsent
    out_.Clear();
    queued_output_.store(0, std::memory_order_relaxed);
    inbox_.clear();
    inbox_bytes_ = 0;
    if (worker_active_) {
      on_close_pending_ = true;  // the worker runs OnClose when it stops
    } else if (!handler_closed_) {
      handler_closed_ = true;
      run_on_close = true;
    }
  }
  context_->Release();
  reactor_->Retire(this);
  if (GetFrameErrorCode(close_reason_) == FrameErrorCode::kEndOfStream) {
    context_->counters().CountError(close_reason_);
  }
  if (run_on_close) handler_->OnClose(*this, close_reason_);
}

}  // namespace lpframe
