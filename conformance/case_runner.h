// File: conformance/case_runner.h
//
// Plays one catalogue case (case_catalogue.h) against an echo testee and
// gives its verdict: stream cases through RunVectorOverSocket
// (echo_runner.h), the others through socket_scenarios.h.
//
//   RunContext context;
//   context.target = "tcp://127.0.0.1:7000";
//   CaseResult result = RunCase(c, context);
//
// Test-only. Thread-compatible.
#ifndef LPFRAME_CONFORMANCE_CASE_RUNNER_H_
#define LPFRAME_CONFORMANCE_CASE_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/case_catalogue.h"

namespace lpframe {
namespace conformance {

struct RunContext {
  std::string target;         // the echo testee
  std::string second_target;  // the same testee on the other transport, or ""
  // The testee's process id: the allocation bomb measures its memory, and
  // each REJECT stream case holds its peak growth to
  // kRejectMemoryBound + 2 x the case's input. 0: unknown, not measured.
  int testee_pid = 0;
  int bomb_connections = 0;   // overrides the bomb's 256 connections when > 0
  uint64_t bomb_max_growth = uint64_t{128} << 20;
  // The testee's own timeouts, when it has them (slowloris and idle cases).
  absl::Duration stall_timeout = absl::InfiniteDuration();
  absl::Duration idle_timeout = absl::InfiniteDuration();
  absl::Duration case_timeout = absl::Seconds(60);
};

// What a testee may add to its resident memory while it takes in and
// rejects one bad stream, beyond twice the stream's size: enough for
// buffers and pool growth, far below the 64 MiB a trusted length would
// cost.
inline constexpr uint64_t kRejectMemoryBound = uint64_t{32} << 20;

struct CaseResult {
  enum class Verdict { kPassed, kFailed, kSkipped };
  Verdict verdict = Verdict::kFailed;
  std::string detail;        // why it failed or was skipped, or what was seen
  size_t writes = 0;         // segments written toward the testee
  std::vector<size_t> segments;  // their sizes (stream cases, via the relay)
  uint64_t bytes_sent = 0;
  uint64_t messages_echoed = 0;
  std::vector<size_t> reads;  // sizes of the runner's reads of the echo
  absl::Duration duration;
};

// An INFO case never fails: its failure is reported as passed, with the
// detail kept.
CaseResult RunCase(const Case& c, const RunContext& context);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_CASE_RUNNER_H_
