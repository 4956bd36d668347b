#include "lib/server/reactor.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

// epoll_event.data.u64 tags for descriptors that are not sessions. Session
// events carry the ReactorSession pointer, never this small.
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kShutdownTag = 2;
constexpr uint64_t kListenerTagBase = 16;  // + index into listeners_

constexpr int kAcceptsPerEvent = 64;
constexpr absl::Duration kSweepInterval = absl::Milliseconds(10);
// Batches of at least this many events (any events: the few wake-up and
// listener ones do not matter) read ahead and answer after their chunk was
// read (see batch_answers()); smaller ones answer each read at once.
constexpr int kBatchAnswersMinEvents = 32;
// The reads a large batch makes ahead go into one buffer of this size.
constexpr size_t kReadAheadBytes = 64 << 10;
// A large batch is served in chunks of this many events, each read ahead,
// dispatched and answered before the next: the first answers go out while
// the rest of the batch waits, and each phase still runs long enough to
// keep its code hot. At 256 connections (bench/RESULTS.md, 2026-12-05
// 15:45) chunks of 128 gave the same throughput as the whole batch and a
// p50 latency 0.83x raw's instead of 1.08x (64: 0.96x and 0.93x).
constexpr int kBatchChunkEvents = 128;
// A reply arena larger than this (a batch of many or large answers) is
// freed once it empties rather than kept for the next batch.
constexpr size_t kMaxIdleArenaBytes = 1 << 20;

}  // namespace

Reactor::Reactor(ServerContext* context, WorkerPool* workers)
    : context_(context),
      workers_(workers),
      read_scratch_(context->options().connection.pool) {}

Reactor::~Reactor() {
  // Sessions left (Run() not called or interrupted) close without ceremony.
  for (auto& [raw, session] : sessions_) {
    session->ForceClose(MakeFrameError(FrameErrorCode::kShuttingDown, "the server is closed"));
  }
  sessions_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

absl::Status Reactor::Init() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return ErrnoStatus(errno, "epoll_create1()");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return ErrnoStatus(errno, "eventfd()");
  epoll_event event = {};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) < 0) {
    return ErrnoStatus(errno, "epoll_ctl(wake)");
  }
  event.data.u64 = kShutdownTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, context_->shutdown_fd(), &event) < 0) {
    return ErrnoStatus(errno, "epoll_ctl(shutdown)");
  }
  return absl::OkStatus();
}

absl::Status Reactor::AddListener(Listener* listener, bool exclusive) {
  epoll_event event = {};
  event.events = EPOLLIN | (exclusive ? static_cast<uint32_t>(EPOLLEXCLUSIVE) : 0u);
  event.data.u64 = kListenerTagBase + listeners_.size();
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener->fd(), &event) < 0) {
    return ErrnoStatus(errno, absl::StrCat("epoll_ctl(listener ", listener->address(), ")"));
  }
  listeners_.push_back(listener);
  listener_exclusive_ = exclusive;
  return absl::OkStatus();
}

void Reactor::SetInterest(ReactorSession* session, bool registered, uint32_t events) {
  epoll_event event = {};
  event.events = events;
  event.data.ptr = session;
  ::epoll_ctl(epoll_fd_, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, session->fd(), &event);
}

void Reactor::RemoveInterest(ReactorSession* session) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, session->fd(), nullptr);
}

void Reactor::Wake() {
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void Reactor::ScheduleService(std::shared_ptr<ReactorSession> session) {
  if (OnLoopThread()) {
    service_list_.push_back(session.get());
    cross_held_.push_back(std::move(session));
    return;
  }
  bool was_empty;
  {
    absl::MutexLock lock(&cross_mu_);
    was_empty = cross_list_.empty();
    cross_list_.push_back(std::move(session));
    cross_pending_.store(true, std::memory_order_release);
  }
  if (was_empty) Wake();
}

void Reactor::Accept(Listener* listener, absl::Time now) {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    absl::StatusOr<Socket> socket = listener->Accept(absl::InfinitePast());
    if (!socket.ok()) {
      if (absl::IsDeadlineExceeded(socket.status())) return;  // backlog empty
      PeerInfo none;
      none.local_address = listener->address();
      context_->Report(none, socket.status(), "accept");
      // Out of descriptors: the listener stays readable, so back off.
      PauseAccepting(now + absl::Milliseconds(100));
      return;
    }
    const uint64_t id = context_->NextConnectionId();
    PeerInfo peer = DescribePeer(*socket, id);
    if (context_->options().verify_peer) {
      absl::Status verdict = context_->options().verify_peer(peer);
      if (!verdict.ok()) {
        absl::Status refused = WithFrameErrorCode(
            absl::PermissionDeniedError(absl::StrCat("PEER_REFUSED: the server refused ",
                                                     peer.address, ": ", verdict.message())),
            FrameErrorCode::kPeerRefused);
        context_->counters().refused.fetch_add(1);
        context_->Report(peer, refused, "verify_peer");
        RefuseConnection(*context_, *std::move(socket), refused);
        continue;
      }
    }
    absl::Status admitted = context_->Admit();
    if (!admitted.ok()) {
      context_->counters().refused.fetch_add(1);
      context_->Report(peer, admitted, "accept");
      RefuseConnection(*context_, *std::move(socket), admitted);
      continue;
    }
    auto session = std::make_shared<ReactorSession>(this, context_, workers_, *std::move(socket),
                                                    std::move(peer), context_->factory()(), now);
    sessions_.emplace(session.get(), session);
    session->Start(now);
  }
}

void Reactor::StartShutdown(absl::Time now) {
  if (shutting_down_) return;
  shutting_down_ = true;
  grace_deadline_ = context_->GraceDeadline();
  for (Listener* listener : listeners_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener->fd(), nullptr);
    RefuseBacklog(*context_, *listener);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, context_->shutdown_fd(), nullptr);
  for (auto& [raw, session] : sessions_) session->BeginShutdown(now);
}

void Reactor::ScheduleServiceOnLoop(ReactorSession* session) {
  service_list_.push_back(session);
}

ReactorSession* Reactor::SessionOf(const epoll_event& event) const {
  const uint64_t tag = event.data.u64;
  if (tag == kWakeTag || tag == kShutdownTag ||
      (tag >= kListenerTagBase && tag < kListenerTagBase + listeners_.size())) {
    return nullptr;
  }
  return static_cast<ReactorSession*>(event.data.ptr);
}

bool Reactor::ReadAhead(const epoll_event* events, int begin, int end) {
  // A shutdown closes idle sessions (BeginShutdown), which could come
  // before a session's turn and drop what was read ahead for it; a wake-up
  // or an accept changes no session of the chunk.
  if (shutting_down_) return false;
  for (int i = begin; i < end; ++i) {
    if (events[i].data.u64 == kShutdownTag) return false;
  }
  const size_t read_size = context_->options().connection.read_size;
  if (read_ahead_buffer_ == nullptr) {
    read_ahead_buffer_ = std::make_unique<char[]>(kReadAheadBytes);
  }
  size_t used = 0;
  uint64_t made = 0;
  // A read made ahead asks for no more than one into the scratch would.
  const size_t scratch_size = read_scratch_.span().size();
  for (int i = begin; i < end; ++i) {
    prereads_[i] = ReactorSession::Preread();
    ReactorSession* session = SessionOf(events[i]);
    // The rest read at their turn, as without read-ahead, once the buffer
    // cannot hold a whole read.
    if (session == nullptr || kReadAheadBytes - used < read_size) continue;
    if (session->done() || (events[i].events & (EPOLLHUP | EPOLLERR)) != 0 ||
        (events[i].events & EPOLLIN) == 0) {
      continue;
    }
    prereads_[i] = session->ReadAhead(read_ahead_buffer_.get() + used,
                                      std::min(kReadAheadBytes - used, scratch_size));
    if (prereads_[i].want != 0) ++made;
    if (prereads_[i].n > 0) used += static_cast<size_t>(prereads_[i].n);
  }
  context_->counters().reads_ahead.fetch_add(made, std::memory_order_relaxed);
  return true;
}

void Reactor::RunServiceList(absl::Time now) {
  // A session scheduled after this check wakes the loop (see Wake()).
  if (cross_pending_.load(std::memory_order_acquire)) {
    absl::MutexLock lock(&cross_mu_);
    cross_pending_.store(false, std::memory_order_relaxed);
    for (auto& session : cross_list_) {
      service_list_.push_back(session.get());
      cross_held_.push_back(std::move(session));  // may have left sessions_
    }
    cross_list_.clear();
  }
  // A large batch's answers go out in one run of writes first, so that the
  // kernel's send path and then the sessions' bookkeeping each stay hot.
  if (batch_answers_) {
    for (ReactorSession* session : service_list_) session->SendRepliesAhead();
  }
  // Service() may schedule more (a handler sending from OnClose): loop.
  for (size_t i = 0; i < service_list_.size(); ++i) {
    ReactorSession* session = service_list_[i];
    session->service_scheduled.store(false);
    session->Service(now);
  }
  service_list_.clear();
  cross_held_.clear();
}

int Reactor::EpollTimeoutMs(absl::Time now) const {
  absl::Time wake = next_sweep_;
  if (shutting_down_) wake = std::min(wake, grace_deadline_);
  if (listeners_paused_) wake = std::min(wake, accept_paused_until_);
  if (wake == absl::InfiniteFuture()) return -1;
  const absl::Duration left = wake - now;
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                        60000));
}

void Reactor::Retire(ReactorSession* session) { retired_.push_back(session); }

void Reactor::PauseAccepting(absl::Time until) {
  accept_paused_until_ = until;
  if (listeners_paused_) return;
  listeners_paused_ = true;
  for (Listener* listener : listeners_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener->fd(), nullptr);
  }
}

void Reactor::ResumeAccepting() {
  listeners_paused_ = false;
  std::vector<Listener*> listeners = std::move(listeners_);
  listeners_.clear();
  for (Listener* listener : listeners) {
    absl::Status added = AddListener(listener, listener_exclusive_);
    if (!added.ok()) context_->Report(PeerInfo(), added, "accept");
  }
}

void Reactor::HandleEvent(const epoll_event& event, const ReactorSession::Preread* preread,
                          absl::Time now) {
  // Valid: a session leaves epoll when it is destroyed and leaves sessions_
  // (is freed) only after this batch of events.
  ReactorSession* session = SessionOf(event);
  if (session == nullptr) {
    const uint64_t tag = event.data.u64;
    if (tag == kWakeTag) {
      uint64_t value;
      ssize_t ignored = ::read(wake_fd_, &value, sizeof(value));
      (void)ignored;
    } else if (tag == kShutdownTag) {
      StartShutdown(now);
    } else if (!shutting_down_ && !listeners_paused_) {
      Accept(listeners_[tag - kListenerTagBase], now);
    }
    return;
  }
  assert(sessions_.count(session) == 1);
  if (session->done()) return;
  const uint32_t e = event.events;
  if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    session->OnReadable(now, (e & (EPOLLHUP | EPOLLERR)) != 0, preread);
  }
  if ((e & EPOLLOUT) && !session->done() && !session->service_scheduled.exchange(true)) {
    ScheduleServiceOnLoop(session);
  }
}

void Reactor::Run() {
  loop_thread_ = std::this_thread::get_id();
  epoll_event events[kMaxEventsPerWait];
  absl::Time now = absl::Now();
  while (true) {
    if (context_->shutting_down()) StartShutdown(now);
    if (shutting_down_ && sessions_.empty()) break;
    if (listeners_paused_ && !shutting_down_ && now >= accept_paused_until_) ResumeAccepting();
    // Timers (idle, stall, linger, grace) are checked by a sweep every
    // kSweepInterval while connections exist, not one timer per connection.
    if (sessions_.empty()) {
      next_sweep_ = absl::InfiniteFuture();
    } else if (next_sweep_ == absl::InfiniteFuture()) {
      next_sweep_ = now + kSweepInterval;
    }
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEventsPerWait, EpollTimeoutMs(now));
    now = absl::Now();
    batch_answers_ = n >= kBatchAnswersMinEvents;
    // A large batch is served in chunks of kBatchChunkEvents: read ahead,
    // dispatched, then answered from the service list.
    const int chunk = batch_answers_ ? kBatchChunkEvents : n;
    for (int begin = 0; begin < n; begin += chunk) {
      const int end = std::min(n, begin + chunk);
      const bool read_ahead = batch_answers_ && ReadAhead(events, begin, end);
      for (int i = begin; i < end; ++i) {
        HandleEvent(events[i], read_ahead && prereads_[i].want != 0 ? &prereads_[i] : nullptr,
                    now);
      }
      if (end < n) RunServiceList(now);
    }
    RunServiceList(now);
    if (now >= next_sweep_) {
      next_sweep_ = now + kSweepInterval;
      const bool grace_over = shutting_down_ && now >= grace_deadline_;
      for (auto& [raw, session] : sessions_) {
        if (grace_over) {
          session->ForceClose(MakeFrameError(
              FrameErrorCode::kShuttingDown,
              absl::StrCat("the server shut down; the grace period of ",
                           absl::FormatDuration(context_->options().shutdown_grace),
                           " ended before this connection finished")));
        } else {
          session->CheckTimeouts(now);
        }
      }
      RunServiceList(now);
    }
    for (ReactorSession* done : retired_) sessions_.erase(done);
    retired_.clear();
    // Every answer of the batch went out (or was copied to its queue); a
    // first region clears the arena (ReactorSession::SendIntoReplyLocked),
    // here only a large one is freed.
    if (arena_regions_ == 0 && reply_arena_.capacity() > kMaxIdleArenaBytes) {
      std::string().swap(reply_arena_);
    }
  }
  RunServiceList(now);
}

}  // namespace lpframe
