// File: conformance/echo_runner.h
//
// Runs a conformance vector against an implementation under test over a
// real socket, through the echo contract: the testee sends every message it
// receives back unchanged on the same connection, and on a framing error
// sends a KIND_ERROR frame (status.code = canonical code, status.message
// starting with the FrameErrorCode name) and closes.
//
//   SegmentPlan plan = SegmentPlan::Chop(7);
//   CaseReport r = RunVectorOverSocket("tcp://127.0.0.1:7000", vector, plan, {});
//   if (!r.passed) std::cerr << r.id << ": " << r.detail;
//
// The runner starts a SegmentRelay (segment_relay.h) in front of the
// testee that cuts the stream into the plan's segments (TCP_NODELAY is on;
// a pause between writes makes small segments arrive as separate reads),
// connects through it and writes the vector's input, while a second thread
// reads the echo stream into a FrameDecoder. After the input it half-closes
// its side (the relay passes the half-close on after the last segment); a vector
// that expects an error before the end of the stream is given `error_wait`
// to report it first. The echoed messages and the way the testee ended the
// stream are then checked with CheckOutcome (test_vector.h): a clean vector
// must come back whole and end cleanly, an error vector must come back up to
// the bad frame and end with that error, announced in a KIND_ERROR frame.
//
// In an interop dialect (RunOptions::dialect) the input and the echo are
// framed in the dialect, which has no envelope and so no error frame: an
// error vector must come back up to the bad frame, then the testee must end
// the stream (close or reset) — before our half-close when the vector says
// the error surfaces before end of stream. The echo itself must stay well
// framed: an echo cut inside a frame fails.
//
// Test-only. Thread-compatible (each call uses its own connection).
#ifndef LPFRAME_CONFORMANCE_ECHO_RUNNER_H_
#define LPFRAME_CONFORMANCE_ECHO_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/segment_plan.h"
#include "conformance/vector.pb.h"
#include "lib/dialect.h"

namespace lpframe {
namespace conformance {

struct RunOptions {
  // The framing the testee speaks (docs/PROTOCOL.md sections 3 and 8).
  Dialect dialect = Dialect::kNative;
  // Pause between writes when the input is at most `paced_input_bytes`, so
  // that each segment reaches the testee as its own read.
  absl::Duration pause = absl::Milliseconds(1);
  size_t paced_input_bytes = 4096;
  // The relay holds the stream for `stall` once `stall_at` bytes have gone
  // (a sender pausing mid-frame, shorter than any stall timeout).
  size_t stall_at = ~size_t{0};
  absl::Duration stall = absl::ZeroDuration();
  // How long an error that must surface before end of stream may take.
  absl::Duration error_wait = absl::Milliseconds(500);
  // Whole case deadline.
  absl::Duration timeout = absl::Seconds(30);
};

struct CaseReport {
  std::string id;          // "<vector id>/<plan>"
  std::string spec;        // docs/PROTOCOL.md section
  std::string plan;
  bool passed = false;
  std::string detail;      // why it failed, or what was seen
  size_t writes = 0;       // segments the relay wrote to the testee
  std::vector<size_t> segments;  // their sizes
  uint64_t bytes_sent = 0;
  size_t messages_echoed = 0;
  std::vector<size_t> reads;  // sizes of the runner's reads of the echo stream
  absl::Duration duration;
};

// The status a local decoder would have given for the error a testee
// announced in a KIND_ERROR frame (status.code, and the FrameErrorCode named
// at the start of status.message).
absl::Status StatusFromErrorFrame(const Envelope& envelope);

// Runs `vector` (in options.dialect) against the echo testee at `target_uri`.
CaseReport RunVectorOverSocket(absl::string_view target_uri, const Vector& vector,
                               const SegmentPlan& plan, const RunOptions& options);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_ECHO_RUNNER_H_
