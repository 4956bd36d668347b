#include "lib/server/blocking_session.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/error_envelope.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

// Reads per poll() wake-up (see Serve()).
constexpr int kReadsPerWakeup = 16;

bool WantsErrorFrame(const absl::Status& status) {
  switch (GetFrameErrorCode(status)) {
    case FrameErrorCode::kEndOfStream:
    case FrameErrorCode::kIoError:
    case FrameErrorCode::kConnectionClosed:
    case FrameErrorCode::kOutputBudgetExceeded:  // the peer is not reading
      return false;
    default:
      return !status.ok();
  }
}

}  // namespace

BlockingSession::BlockingSession(ServerContext* context, Socket socket, PeerInfo peer,
                                 std::unique_ptr<StreamHandler> handler)
    : context_(context),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      handler_(std::move(handler)) {}

absl::Status BlockingSession::Send(const Envelope& envelope, absl::Cord payload) {
  absl::MutexLock lock(&write_mu_);
  // Checked first: once closed, the server (and its encoder) may be gone.
  if (send_closed_) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed, "the connection is closed");
  }
  EncodedFrame frame;
  absl::Status encoded = context_->encoder().EncodeTo(envelope, std::move(payload), &frame);
  if (!encoded.ok()) return encoded;
  iov_.clear();
  frame.AppendIovecs(&iov_);
  absl::Time deadline = absl::Now() + context_->options().write_timeout;
  if (context_->shutting_down()) deadline = std::min(deadline, context_->GraceDeadline());
  size_t first = 0;
  uint64_t left = frame.size();
  while (left > 0) {
    absl::StatusOr<size_t> n =
        socket_.Writev(iov_.data() + first, static_cast<int>(iov_.size() - first), deadline);
    if (!n.ok()) {
      send_closed_ = true;
      write_error_ =
          absl::IsDeadlineExceeded(n.status())
              ? MakeFrameError(FrameErrorCode::kOutputBudgetExceeded,
                               absl::StrCat("the peer took no output for the write timeout of ",
                                            absl::FormatDuration(context_->options().write_timeout),
                                            " (", left, " bytes of a ", frame.size(),
                                            "-byte frame unwritten)"))
              : WithFrameErrorCode(n.status(), FrameErrorCode::kIoError);
      ::shutdown(socket_.fd(), SHUT_RD);  // wakes Run()
      return write_error_;
    }
    left -= *n;
    size_t done = *n;
    while (done > 0 && first < iov_.size()) {
      if (done >= iov_[first].iov_len) {
        done -= iov_[first].iov_len;
        ++first;
      } else {
        iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + done;
        iov_[first].iov_len -= done;
        done = 0;
      }
    }
  }
  context_->counters().messages_sent.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status BlockingSession::WaitForOutputSpace(absl::Time) { return absl::OkStatus(); }

void BlockingSession::Close() {
  close_requested_.store(true);
  absl::MutexLock lock(&write_mu_);
  // Once closed the descriptor number may belong to someone else.
  if (!send_closed_) ::shutdown(socket_.fd(), SHUT_RD);  // wakes Run()
}

bool BlockingSession::HoldsAlive() {
  absl::MutexLock lock(&hold_mu_);
  return holds_ > 0;
}

std::shared_ptr<void> BlockingSession::HoldOpen() {
  std::shared_ptr<BlockingSession> self =
      std::static_pointer_cast<BlockingSession>(shared_from_this());
  {
    absl::MutexLock lock(&hold_mu_);
    ++holds_;
  }
  return std::shared_ptr<void>(nullptr, [self](void*) {
    absl::MutexLock lock(&self->hold_mu_);
    --self->holds_;
  });
}

void BlockingSession::WaitForHolds() {
  absl::MutexLock lock(&hold_mu_);
  auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(hold_mu_) { return holds_ == 0; };
  while (!released()) {
    // Re-evaluated every 50 ms: a shutdown may start while waiting.
    const absl::Time until = context_->shutting_down()
                                 ? context_->GraceDeadline()
                                 : absl::Now() + absl::Milliseconds(50);
    if (!hold_mu_.AwaitWithDeadline(absl::Condition(&released), until) &&
        context_->shutting_down() && absl::Now() >= context_->GraceDeadline()) {
      return;
    }
  }
}

void BlockingSession::SendErrorFrame(const absl::Status& status) {
  if (!context_->options().send_error_frames || !WantsErrorFrame(status)) return;
  absl::StatusOr<EncodedFrame> frame = context_->encoder().Encode(ErrorEnvelope(status), {});
  if (!frame.ok()) return;
  absl::MutexLock lock(&write_mu_);
  if (send_closed_) return;
  (void)socket_.WriteAll(frame->ToString(), absl::Now() + context_->options().linger);
}

void BlockingSession::Linger() {
  {
    absl::MutexLock lock(&write_mu_);
    send_closed_ = true;
  }
  ::shutdown(socket_.fd(), SHUT_WR);
  const absl::Time deadline = absl::Now() + context_->options().linger;
  char discard[4096];
  while (true) {
    absl::StatusOr<size_t> n = socket_.Read(absl::MakeSpan(discard), deadline);
    if (!n.ok() || *n == 0) return;
  }
}

absl::Status BlockingSession::Run() {
  handler_->OnOpen(*this);
  absl::Status reason = Serve();
  if (GetFrameErrorCode(reason) != FrameErrorCode::kIoError) WaitForHolds();
  absl::Status write_error;
  {
    absl::MutexLock lock(&write_mu_);
    write_error = write_error_;
  }
  if (!write_error.ok()) reason = write_error;
  const FrameErrorCode code = GetFrameErrorCode(reason);
  if (code != FrameErrorCode::kEndOfStream && code != FrameErrorCode::kShuttingDown &&
      !(code == FrameErrorCode::kConnectionClosed && close_requested_.load())) {
    context_->Report(peer_, reason, GetFrameErrorCode(reason) == FrameErrorCode::kHandlerError
                                        ? "handler"
                                        : "read");
  } else {
    context_->counters().CountError(reason);
  }
  if (code != FrameErrorCode::kIoError && write_error.ok()) {
    SendErrorFrame(reason);
    if (code != FrameErrorCode::kEndOfStream) Linger();
  }
  {
    absl::MutexLock lock(&write_mu_);
    send_closed_ = true;
  }
  socket_.Close();
  handler_->OnClose(*this, reason);
  return reason;
}

absl::Status BlockingSession::Serve() {
  ConnectionReader reader(context_, absl::Now());
  bool draining = false;
  bool was_held = false;
  absl::Time grace = absl::InfiniteFuture();
  Message message;
  while (true) {
    if (close_requested_.load()) {
      return MakeFrameError(FrameErrorCode::kConnectionClosed, "closed by the handler");
    }
    if (context_->shutting_down() && !draining) {
      draining = true;
      grace = context_->GraceDeadline();
    }
    if (draining && reader.at_frame_boundary()) {
      return MakeFrameError(FrameErrorCode::kShuttingDown, "the server is shutting down");
    }
    // While HoldOpen() tokens live the connection is busy: no idle timeout
    // (re-checked every 100 ms); once they are gone the idle clock restarts.
    const bool held = HoldsAlive();
    if (was_held && !held) reader.RestartIdleClock(absl::Now());
    was_held = held;
    const absl::Time timeout_at =
        held && reader.at_frame_boundary() ? absl::InfiniteFuture() : reader.TimeoutAt();
    absl::Time wake = std::min(timeout_at, grace);
    if (held) wake = std::min(wake, absl::Now() + absl::Milliseconds(100));
    pollfd fds[2];
    fds[0] = {socket_.fd(), POLLIN, 0};
    fds[1] = {context_->shutdown_fd(), POLLIN, 0};
    const int rc = ::poll(fds, draining ? 1 : 2, PollTimeoutMs(wake));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return WithFrameErrorCode(ErrnoStatus(errno, "poll()"), FrameErrorCode::kIoError);
    }
    const absl::Time now = absl::Now();
    if (rc == 0) {
      if (draining && now >= grace) {
        return MakeFrameError(
            FrameErrorCode::kShuttingDown,
            absl::StrCat("the server shut down; the grace period of ",
                         absl::FormatDuration(context_->options().shutdown_grace),
                         " ended before this connection finished"));
      }
      if (now >= timeout_at) return reader.TimeoutError();
      continue;  // a hold's re-check
    }
    if (!draining && (fds[1].revents & POLLIN)) {
      context_->ObserveShutdown();  // in a fork child the flag is the parent's
      continue;                     // draining starts at the top
    }
    if (fds[0].revents == 0) continue;
    // A bounded number of reads, then back to poll(): a peer that keeps the
    // socket full cannot hide a shutdown or the grace period.
    for (int reads = 0; reads < kReadsPerWakeup; ++reads) {
      absl::StatusOr<ConnectionReader::ReadOutcome> outcome = reader.ReadOnce(socket_.fd(), now);
      while (true) {
        DecodeStep step = reader.Next(&message, now);
        if (step.is_error()) return step.error();
        if (!step.is_message()) break;
        context_->counters().messages_received.fetch_add(1, std::memory_order_relaxed);
        absl::Status handled = handler_->OnMessage(*this, std::move(message));
        message = Message();
        if (!handled.ok()) {
          context_->counters().handler_errors.fetch_add(1);
          return HandlerFailure(handled);
        }
        if (close_requested_.load()) {
          return MakeFrameError(FrameErrorCode::kConnectionClosed, "closed by the handler");
        }
      }
      if (!outcome.ok()) return outcome.status();
      if (*outcome == ConnectionReader::ReadOutcome::kEndOfStream) {
        return MakeFrameError(FrameErrorCode::kEndOfStream,
                              absl::StrCat("the peer closed the connection after ",
                                           reader.messages_received(), " message(s)"));
      }
      if (*outcome != ConnectionReader::ReadOutcome::kData) break;
    }
  }
}

}  // namespace lpframe
