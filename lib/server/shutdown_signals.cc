#include "lib/server/shutdown_signals.h"

#include <atomic>

namespace lpframe {
namespace {

constexpr int kMaxServers = 16;

struct Entry {
  std::atomic<ShutdownOnSignals::ShutdownFn> fn{nullptr};
  std::atomic<void*> server{nullptr};
};

Entry g_entries[kMaxServers];
std::atomic<int> g_count{0};
std::atomic<bool> g_installed{false};
std::atomic<int> g_last_signal{0};

void OnSignal(int signal_number) {
  g_last_signal.store(signal_number);
  const int n = g_count.load();
  for (int i = 0; i < n && i < kMaxServers; ++i) {
    ShutdownOnSignals::ShutdownFn fn = g_entries[i].fn.load();
    void* server = g_entries[i].server.load();
    if (fn != nullptr && server != nullptr) fn(server);
  }
}

}  // namespace

ShutdownOnSignals::ShutdownOnSignals() {
  if (g_installed.exchange(true)) {
    status_ = absl::FailedPreconditionError("another ShutdownOnSignals is installed");
    return;
  }
  g_count.store(0);
  g_last_signal.store(0);
  struct sigaction action = {};
  action.sa_handler = &OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &action, &old_term_) != 0 ||
      sigaction(SIGINT, &action, &old_int_) != 0) {
    status_ = absl::InternalError("sigaction(SIGTERM/SIGINT) failed");
  }
}

ShutdownOnSignals::~ShutdownOnSignals() {
  if (absl::IsFailedPrecondition(status_)) return;  // not ours
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
  const int n = g_count.exchange(0);
  for (int i = 0; i < n && i < kMaxServers; ++i) {
    g_entries[i].fn.store(nullptr);
    g_entries[i].server.store(nullptr);
  }
  g_installed.store(false);
}

absl::Status ShutdownOnSignals::AddFn(ShutdownFn fn, void* server) {
  if (!status_.ok()) return status_;
  const int i = g_count.load();
  if (i >= kMaxServers) {
    return absl::ResourceExhaustedError("ShutdownOnSignals holds at most 16 servers");
  }
  g_entries[i].fn.store(fn);
  g_entries[i].server.store(server);
  g_count.store(i + 1);
  return absl::OkStatus();
}

int ShutdownOnSignals::last_signal() { return g_last_signal.load(); }

}  // namespace lpframe
