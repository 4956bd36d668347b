// File: conformance/testee_memory.h
//
// The resident memory of a testee process, read from /proc/PID/status, so
// the runner can hold a testee to a memory bound while it rejects input.
//
//   PeakWindow window(pid);        // VmHWM reset to the current size
//   ... play a case ...
//   uint64_t grew = window.Growth();  // peak since the reset minus the start
//
// Linux only. Test-only. Thread-compatible.
#ifndef LPFRAME_CONFORMANCE_TESTEE_MEMORY_H_
#define LPFRAME_CONFORMANCE_TESTEE_MEMORY_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace lpframe {
namespace conformance {

// A field of /proc/PID/status in bytes ("VmRSS", "VmHWM"); 0 when the
// process or the field is absent.
uint64_t ProcStatusBytes(int pid, absl::string_view field);

// Current resident size; 0 when unknown.
inline uint64_t ResidentBytes(int pid) { return ProcStatusBytes(pid, "VmRSS"); }

// Resets the peak resident size (VmHWM) of `pid` to its current size
// (writes "5" to /proc/PID/clear_refs). False when not allowed.
bool ResetPeakResident(int pid);

// The growth of a process's resident memory from construction on.
class PeakWindow {
 public:
  explicit PeakWindow(int pid);

  // Peak resident size since construction minus the size at construction:
  // exact (VmHWM) when the reset was allowed, else the current size (one
  // sample). Call Sample() in between to catch peaks in the second case.
  uint64_t Growth();
  void Sample();

  bool exact() const { return exact_; }
  uint64_t start_bytes() const { return start_; }
  uint64_t peak_bytes() const { return peak_; }

 private:
  int pid_;
  uint64_t start_;
  uint64_t peak_;
  bool exact_;
};

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_TESTEE_MEMORY_H_
