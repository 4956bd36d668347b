// File: lib/server/worker_pool.h
//
// A fixed pool of threads running submitted tasks in FIFO order.
//
// Thread-safety: Submit() from any thread. The destructor runs the tasks
// already submitted, then joins the threads.
#ifndef LPFRAME_LIB_SERVER_WORKER_POOL_H_
#define LPFRAME_LIB_SERVER_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace lpframe {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_WORKER_POOL_H_
