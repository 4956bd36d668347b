// File: lib/server/server_stats.h
//
// ServerStats is a snapshot of a server's counters; ServerCounters is the
// live, thread-safe set the server updates.
#ifndef LPFRAME_LIB_SERVER_SERVER_STATS_H_
#define LPFRAME_LIB_SERVER_SERVER_STATS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace lpframe {

struct ServerStats {
  uint64_t accepted = 0;           // connections accepted and served
  uint64_t active = 0;             // connections open now
  uint64_t closed = 0;             // connections closed
  uint64_t refused = 0;            // refused: limit, VerifyPeer, shutdown
  uint64_t messages_received = 0;
  uint64_t messages_sent = 0;
  uint64_t handler_errors = 0;
  uint64_t input_bytes_buffered = 0;  // now, across connections
  // Reads a reactor made ahead, in large batches of ready connections, of
  // decoding them (see Reactor::ReadAhead): how often the batched path ran.
  uint64_t reads_ahead = 0;
  // Errors that closed or refused a connection, by FrameErrorCode name
  // ("STALL_TIMEOUT", "CONNECTION_LIMIT", ...). END_OF_STREAM is a clean
  // close and counted there too.
  std::map<std::string, uint64_t> errors;
};

class ServerCounters {
 public:
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> handler_errors{0};
  std::atomic<int64_t> input_bytes_buffered{0};
  std::atomic<uint64_t> reads_ahead{0};

  // Counts `status` under its FrameErrorCode name.
  void CountError(const absl::Status& status);
  ServerStats Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SERVER_STATS_H_
