// File: conformance/socket_scenarios.h
//
// The conformance cases that are not one byte stream on one connection:
// resets, a peer that leaves while the testee sends, slowloris and idle
// peers, many connections at once (interleaved writes, a TCP and Unix mix,
// one bad connection among good ones, 10^6 tiny frames), and the allocation
// bomb. Each runs against an echo testee (conformance/README.md) and returns
// a verdict with what it saw.
//
// Test-only. Thread-compatible: each call uses its own connections.
#ifndef LPFRAME_CONFORMANCE_SOCKET_SCENARIOS_H_
#define LPFRAME_CONFORMANCE_SOCKET_SCENARIOS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/vector.pb.h"

namespace lpframe {
namespace conformance {

struct ScenarioResult {
  bool passed = false;
  bool skipped = false;  // a precondition is missing (detail says which)
  std::string detail;    // why it failed, or what was seen
  uint64_t bytes_sent = 0;
  uint64_t messages_echoed = 0;
};

// A fresh connection round-trips one frame and ends cleanly: empty when the
// testee is alive and well, else what went wrong.
std::string ProbeTestee(absl::string_view target, absl::Time deadline);

// Sends the first `offset` bytes of `vector`'s input, then resets the
// connection (SO_LINGER 0); passes when the testee then serves a probe.
ScenarioResult RunReset(absl::string_view target, const Vector& vector, size_t offset,
                        absl::Time deadline);

// Sends up to 8 MiB of 64 KiB frames without reading the echo, then resets;
// passes when the testee then serves a probe.
ScenarioResult RunPeerLeaves(absl::string_view target, absl::Time deadline);

// With `trickle`, sends a frame a byte every 100 ms (slowloris); otherwise
// sends nothing. Passes when the testee closes the connection within
// `declared_timeout` plus one second; skipped when the timeout is infinite
// (the testee declared none).
ScenarioResult RunTimeoutScenario(absl::string_view target, bool trickle,
                                  absl::Duration declared_timeout, absl::Time deadline);

// One connection of RunConnections.
struct ConnectionPlan {
  std::string target;
  std::string input;               // written in `piece`-byte writes, then half-close
  const Vector* expected = nullptr;  // what the echo must be (messages, error)
  uint64_t tiny_frames = 0;        // instead of `expected`: message i has id i and
                                   // the 1-byte payload i & 0xff
};

// All connections at once from one thread: writes of `piece` bytes taken in
// turn, echoes read as they come, each checked incrementally.
ScenarioResult RunConnections(const std::vector<ConnectionPlan>& plans, size_t piece,
                              absl::Time deadline);

// The input of a kTinyFrames case: `count` frames, ids 0..count-1, 1-byte
// payloads.
std::string TinyFramesInput(uint64_t count);

// `connections` peers each send a header announcing the maximum payload
// (64 MiB) and 64 KiB of it, then stall. Passes when the resident memory of
// process `testee_pid` grew by at most `max_growth_bytes` over 1.5 s (its
// peak: VmHWM after resetting it through /proc/PID/clear_refs where allowed,
// and VmRSS sampled every 50 ms) and the testee then serves a probe;
// skipped when testee_pid is 0.
ScenarioResult RunAllocationBomb(absl::string_view target, int connections, int testee_pid,
                                 uint64_t max_growth_bytes, absl::Time deadline);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_SOCKET_SCENARIOS_H_
