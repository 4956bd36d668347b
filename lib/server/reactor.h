// File: lib/server/reactor.h
//
// Reactor is one event loop of a stream server: epoll over its listening
// sockets and its connections, level-triggered, non-blocking. Handlers run
// inline on the loop thread or on a WorkerPool. Several reactors may serve
// one server (one per thread). Internal to lib/server.
//
// Thread-safety: Run() on one thread; ScheduleService() and Wake() from any
// thread. Listeners are not owned and must outlive Run().
#ifndef LPFRAME_LIB_SERVER_REACTOR_H_
#define LPFRAME_LIB_SERVER_REACTOR_H_

#include <sys/epoll.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "lib/frame_encoder.h"
#include "lib/io/listener.h"
#include "lib/server/reactor_session.h"
#include "lib/server/read_scratch.h"
#include "lib/server/server_context.h"
#include "lib/server/worker_pool.h"

namespace lpframe {

class Reactor {
 public:
  // Events taken by one epoll_wait.
  static constexpr int kMaxEventsPerWait = 256;

  Reactor(ServerContext* context, WorkerPool* workers);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  absl::Status Init();
  // `exclusive`: the listener is shared with other reactors (EPOLLEXCLUSIVE).
  absl::Status AddListener(Listener* listener, bool exclusive);

  // Serves until the server shuts down and every connection is closed.
  void Run();

  // Puts `session`, whose service_scheduled the caller has just claimed,
  // on the service list (its Service() runs on the loop thread soon),
  // holding it until then. Any thread.
  void ScheduleService(std::shared_ptr<ReactorSession> session);
  // The same on the loop thread, for a session in sessions_: it is erased
  // from there only after the service list of its last batch has run, so
  // the list holds a plain pointer.
  void ScheduleServiceOnLoop(ReactorSession* session);
  void Wake();
  // epoll registration of a session's socket (loop thread).
  void SetInterest(ReactorSession* session, bool registered, uint32_t events);
  void RemoveInterest(ReactorSession* session);
  // A session that reached done; erased after the current event batch.
  void Retire(ReactorSession* session);
  bool OnLoopThread() const { return std::this_thread::get_id() == loop_thread_; }
  // Memory sessions read into on the loop thread (ConnectionReader::
  // ReadOnce's scratch): one pool block, shared by every connection.
  ReadScratch* read_scratch() { return &read_scratch_; }
  // Answers of inline handlers inside a read event: encoded into
  // encode_scratch(), or, small ones, appended to reply_arena(), where the
  // session keeps them in a region of its own until it sends them. In a
  // batch of many events (batch_answers()), every session read keeps its
  // region until the whole batch (or its chunk of kBatchChunkEvents) has
  // been read (its Service() runs from the service list), so the answers
  // go out in a burst of writes: a peer
  // that multiplexes many connections is woken once per burst, not once
  // per answer. In a small batch each session sends at the end of its read
  // event (waiting for the rest of the batch would only delay a peer with
  // few requests in flight). Loop thread only. A session holding a region
  // counts in arena_regions(); the first region taken while none is held
  // starts the arena over.
  EncodedFrame& encode_scratch() { return encode_scratch_; }
  std::string& reply_arena() { return reply_arena_; }
  int& arena_regions() { return arena_regions_; }
  bool batch_answers() const { return batch_answers_; }

 private:
  // Serves new connections; never once shutting down (StartShutdown()
  // refuses the backlog instead).
  void Accept(Listener* listener, absl::Time now);
  void StartShutdown(absl::Time now);
  void RunServiceList(absl::Time now);
  // One event of a batch: a wake-up, the shutdown, a listener's or a
  // session's (`preread`: its read made ahead, or null).
  void HandleEvent(const epoll_event& event, const ReactorSession::Preread* preread,
                   absl::Time now);
  // The session an epoll event is for; null for the wake, shutdown and
  // listener events.
  ReactorSession* SessionOf(const epoll_event& event) const;
  // In a large batch of events (batch_answers()): the reads of the ready
  // sessions of events[begin, end), made one after another into
  // read_ahead_buffer_ before any is decoded (prereads_[i] for events[i]),
  // so that the kernel's code and then lpframe's each stay hot in the
  // CPU's caches instead of taking turns. False (none made) while
  // shutting down or when the shutdown event is among them (it may close
  // sessions before their turn); other events are skipped.
  bool ReadAhead(const epoll_event* events, int begin, int end);
  int EpollTimeoutMs(absl::Time now) const;
  void PauseAccepting(absl::Time until);
  void ResumeAccepting();

  ServerContext* const context_;
  WorkerPool* const workers_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread::id loop_thread_;
  std::vector<Listener*> listeners_;
  std::unordered_map<ReactorSession*, std::shared_ptr<ReactorSession>> sessions_;
  std::vector<ReactorSession*> service_list_;  // loop thread
  // Sessions scheduled from other threads, kept alive while the list runs.
  std::vector<std::shared_ptr<ReactorSession>> cross_held_;  // loop thread
  bool shutting_down_ = false;
  absl::Time grace_deadline_ = absl::InfiniteFuture();
  absl::Time next_sweep_ = absl::InfiniteFuture();
  absl::Time accept_paused_until_ = absl::InfinitePast();
  bool listeners_paused_ = false;
  bool listener_exclusive_ = false;
  std::vector<ReactorSession*> retired_;

  ReadScratch read_scratch_;
  EncodedFrame encode_scratch_;
  std::string reply_arena_;
  int arena_regions_ = 0;
  bool batch_answers_ = false;
  std::unique_ptr<char[]> read_ahead_buffer_;  // allocated by the first large batch
  ReactorSession::Preread prereads_[kMaxEventsPerWait];

  absl::Mutex cross_mu_;
  std::vector<std::shared_ptr<ReactorSession>> cross_list_ ABSL_GUARDED_BY(cross_mu_);
  // cross_list_ may be non-empty: set under cross_mu_, read by the loop
  // before it takes the lock, so an idle loop iteration does not lock.
  std::atomic<bool> cross_pending_{false};
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_REACTOR_H_
