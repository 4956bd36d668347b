#include "lib/server/server_stats.h"

#include "lib/frame_error.h"

namespace lpframe {

void ServerCounters::CountError(const absl::Status& status) {
  const FrameErrorCode code = GetFrameErrorCode(status);
  std::string name = code == FrameErrorCode::kNone
                         ? std::string(absl::StatusCodeToString(status.code()))
                         : std::string(FrameErrorCodeName(code));
  absl::MutexLock lock(&mu_);
  ++errors_[name];
}

ServerStats ServerCounters::Snapshot() const {
  ServerStats s;
  s.accepted = accepted.load();
  s.active = active.load();
  s.closed = closed.load();
  s.refused = refused.load();
  s.messages_received = messages_received.load();
  s.messages_sent = messages_sent.load();
  s.handler_errors = handler_errors.load();
  const int64_t buffered = input_bytes_buffered.load();
  s.input_bytes_buffered = buffered > 0 ? static_cast<uint64_t>(buffered) : 0;
  s.reads_ahead = reads_ahead.load();
  absl::MutexLock lock(&mu_);
  s.errors = errors_;
  return s;
}

}  // namespace lpframe
