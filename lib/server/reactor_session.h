// File: lib/server/reactor_session.h
//
// ReactorSession is one connection served by a Reactor: the Session its
// handler talks to, plus the reactor-side state machine
//
//   open ──(EOF, error, Close(), shutdown)──▶ closing ──(output written,
//   workers idle)──▶ lingering (write side shut, input discarded) ──(peer
//   EOF or linger timeout)──▶ done
//
// An I/O error, or the end of the shutdown grace period, goes straight to
// done. Internal to lib/server.
//
// Thread-safety: the Session methods may be called from any thread; all
// other methods only on the owning reactor's thread.
#ifndef LPFRAME_LIB_SERVER_REACTOR_SESSION_H_
#define LPFRAME_LIB_SERVER_REACTOR_SESSION_H_

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/io/send_queue.h"
#include "lib/io/socket.h"
#include "lib/message.h"
#include "lib/server/connection_reader.h"
#include "lib/server/server_context.h"
#include "lib/server/session.h"
#include "lib/server/stream_handler.h"

namespace lpframe {

class Reactor;
class WorkerPool;

class ReactorSession final : public Session {
 public:
  ReactorSession(Reactor* reactor, ServerContext* context, WorkerPool* workers, Socket socket,
                 PeerInfo peer, std::unique_ptr<StreamHandler> handler, absl::Time now);
  ~ReactorSession() override;

  // --- Session -------------------------------------------------------------
  using Session::Send;
  absl::Status Send(const Envelope& envelope, absl::Cord payload) override;
  absl::Status Send(const Envelope& envelope, absl::string_view payload) override;
  absl::Status WaitForOutputSpace(absl::Time deadline) override;
  void Close() override;
  std::shared_ptr<void> HoldOpen() override;
  const PeerInfo& peer() const override { return peer_; }
  uint64_t queued_output_bytes() const override;

  // --- Reactor thread --------------------------------------------------------
  int fd() const { return socket_.fd(); }
  uint32_t interest() const { return interest_; }
  bool done() const { return state_ == State::kDone; }

  void Start(absl::Time now);              // OnOpen; first interest

  // A read made ahead of the session's turn in a batch of events (see
  // Reactor::Run).
  using Preread = ConnectionReader::Preread;
  // Makes the session's next read now, into the `room_size` bytes at
  // `room`, when it can be made ahead (ConnectionReader::PrereadSize);
  // OnReadable() must then be given it.
  Preread ReadAhead(char* room, size_t room_size);
  // Reads, decodes, dispatches. `hangup`: EPOLLHUP or EPOLLERR was seen.
  // `preread`: the first read, made ahead by ReadAhead() (not with hangup).
  void OnReadable(absl::Time now, bool hangup = false, const Preread* preread = nullptr);
  // Flushes output, applies requests from other threads, advances the
  // close state machine, updates the epoll interest.
  void Service(absl::Time now);
  // Sends the answers the session's read put into the reply arena now,
  // ahead of its Service() on the service list, which then takes the
  // result: Reactor::RunServiceList() sends a large batch's answers in one
  // run of writes before servicing any session.
  void SendRepliesAhead();
  // Idle, stall, linger and write timeouts (the reactor's periodic sweep).
  void CheckTimeouts(absl::Time now);
  void BeginShutdown(absl::Time now);      // close once at a frame boundary
  void ForceClose(const absl::Status& reason);  // end of the grace period

  // Claimed by whoever puts the session on the reactor's service list.
  std::atomic<bool> service_scheduled{false};

 private:
  enum class State { kOpen, kClosing, kLingering, kDone };

  // Takes the message the reader's Poll() found and hands it to the
  // handler (inline) or the inbox (workers).
  void Dispatch(absl::Time now);
  void DrainInbox();  // worker thread
  void CloseWithError(const absl::Status& status, absl::string_view stage, absl::Time now);
  void BeginClose(const absl::Status& reason, absl::Time now);
  // Queues a KIND_ERROR frame for `status` when the options ask for one.
  void QueueErrorFrame(const absl::Status& status);
  void Flush();
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both Send()s: `Payload` is absl::Cord or absl::string_view.
  template <typename Payload>
  absl::Status SendFrame(const Envelope& envelope, Payload payload);
  // True when a frame with a payload of `payload_size` bytes goes into this
  // session's region of the reactor's reply arena (SendIntoReplyLocked).
  bool TakesReplyLocked(uint64_t payload_size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Send() of a small frame from the inline handler, encoded straight into
  // that region. `Payload`: absl::Cord or absl::string_view.
  template <typename Payload>
  absl::Status SendIntoReplyLocked(const Envelope& envelope, const Payload& payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Send() of any other frame: encoded into a reused frame; an answer of the
  // inline handler with nothing queued before it is written at once
  // (WriteNowLocked), anything else, and what the socket did not take, is
  // queued.
  absl::Status QueueFrameLocked(const Envelope& envelope, absl::Cord payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `frame` (an answer with nothing queued before it) with one
  // non-blocking sendmsg, on the loop thread. Returns the bytes the socket
  // took; 0 on EAGAIN or on an error, which it records for Service().
  uint64_t WriteNowLocked(const EncodedFrame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A send failed with `error_number`: makes it the pending error for
  // Service() (unless one is pending already). `unsent`: the bytes that
  // waited, for the message.
  void RecordWriteErrorLocked(int error_number, uint64_t unsent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refuses a frame that would pass the output budget: sending closes and
  // the error is pending for Service(). Returns it.
  absl::Status OutputBudgetErrorLocked(uint64_t queued, uint64_t frame_size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bookkeeping after a frame was queued; returns OK.
  absl::Status FrameQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the arena region back (its bytes were sent or copied).
  void ReleaseReplyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One send() of the arena region at `region` (reply_size_ bytes),
  // retried on EINTR: its result, errno set when negative. Loop thread.
  ssize_t SendRegion(const char* region) const ABSL_NO_THREAD_SAFETY_ANALYSIS;
  uint64_t QueuedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return out_.size() + reply_size_;
  }
  void Destroy(const absl::Status& reason);
  void UpdateInterest(bool output_queued);
  void ScheduleService() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ScheduleService() on the loop thread, which needs no lock.
  void ScheduleServiceOnLoop();
  bool WorkPending() const;
  bool OutputBelowWatermark() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes WaitForOutputSpace() callers that can go on.
  void NotifySpaceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Fields are ordered by use: the first four cache lines hold what every
  // request touches (a server has many sessions, each cold in cache).
  Reactor* const reactor_;
  ServerContext* const context_;
  WorkerPool* const workers_;  // null: handlers run inline
  Socket socket_;
  std::unique_ptr<StreamHandler> handler_;
  std::unique_ptr<ConnectionReader> reader_;

  // Reactor thread only.
  State state_ = State::kOpen;
  uint32_t interest_ = 0;
  bool registered_ = false;
  bool peer_eof_ = false;
  bool draining_ = false;  // server shutting down
  bool paused_for_output_ = false;
  bool paused_for_input_ = false;
  // Inside OnReadable(), which ends with Service() (or, in a batch that
  // answers after it is read, with the session on the service list): sends
  // on the loop thread need not schedule it.
  bool in_read_ = false;
  // An answer went into the reply arena during this OnReadable().
  bool answered_in_read_ = false;
  // SendRepliesAhead() sent the arena region: send()'s result (bytes, or
  // -1 and errno), for FlushLocked() to take. Cleared when the region goes.
  bool replies_sent_ahead_ = false;
  int replies_ahead_errno_ = 0;
  ssize_t replies_ahead_result_ = 0;

  // Shared with other threads. A std::mutex, not absl::Mutex: it is taken
  // twice per message, and Debian's Abseil runs deadlock detection on every
  // absl::Mutex operation (measured in bench/echo_bench).
  mutable std::mutex mu_;
  // This session's region of the reactor's reply arena: answers of its
  // inline handler, appended inside OnReadable() while out_ was empty, sent
  // by FlushLocked() (loop thread) before everything in out_. Empty when
  // reply_size_ is 0.
  size_t reply_offset_ ABSL_GUARDED_BY(mu_) = 0;
  size_t reply_size_ ABSL_GUARDED_BY(mu_) = 0;
  // QueuedLocked(), readable without the lock; written under it.
  std::atomic<uint64_t> queued_output_{0};
  bool send_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool close_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool holds_released_ ABSL_GUARDED_BY(mu_) = false;   // the last one was dropped
  bool handler_failed_ ABSL_GUARDED_BY(mu_) = false;   // no more OnMessage
  // Destroy() has run: the reactor (and the server) may be gone, so other
  // threads must not reach them through this session any more.
  bool destroyed_ ABSL_GUARDED_BY(mu_) = false;
  int space_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status pending_error_ ABSL_GUARDED_BY(mu_);
  absl::string_view pending_error_stage_ ABSL_GUARDED_BY(mu_);  // a literal
  // Since when queued output has waited without the peer taking any of it
  // (InfiniteFuture while nothing waits): the write timeout's clock.
  absl::Time write_blocked_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  SendQueue out_ ABSL_GUARDED_BY(mu_);

  // Rarely touched.
  const PeerInfo peer_;
  absl::Status close_reason_;
  absl::Time linger_deadline_ = absl::InfiniteFuture();
  // The iovecs of a write (FlushLocked, WriteNowLocked): loop thread only.
  std::vector<struct iovec> iov_ ABSL_GUARDED_BY(mu_);
  std::condition_variable space_cv_;       // WaitForOutputSpace()
  EncodedFrame scratch_ ABSL_GUARDED_BY(mu_);  // reused by Send() off the loop thread
  std::deque<Message> inbox_ ABSL_GUARDED_BY(mu_);
  uint64_t inbox_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool worker_active_ ABSL_GUARDED_BY(mu_) = false;
  bool on_close_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool handler_closed_ ABSL_GUARDED_BY(mu_) = false;  // OnClose has run or is running
  int holds_ ABSL_GUARDED_BY(mu_) = 0;                 // HoldOpen() tokens alive
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_REACTOR_SESSION_H_
