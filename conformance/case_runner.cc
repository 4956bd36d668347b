#include "conformance/case_runner.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conformance/echo_runner.h"
#include "conformance/socket_scenarios.h"
#include "conformance/testee_memory.h"
#include "conformance/test_vector.h"

namespace lpframe {
namespace conformance {
namespace {

CaseResult FromScenario(ScenarioResult scenario) {
  CaseResult result;
  result.verdict = scenario.skipped  ? CaseResult::Verdict::kSkipped
                   : scenario.passed ? CaseResult::Verdict::kPassed
                                     : CaseResult::Verdict::kFailed;
  result.detail = std::move(scenario.detail);
  result.bytes_sent = scenario.bytes_sent;
  result.messages_echoed = scenario.messages_echoed;
  return result;
}

CaseResult RunStream(const Case& c, const RunContext& context) {
  RunOptions options;
  options.dialect = c.dialect;
  options.pause = c.pause;
  options.paced_input_bytes = c.pause > absl::ZeroDuration() ? ~size_t{0} : 0;
  options.timeout = context.case_timeout;
  options.stall_at = c.stall_at;
  options.stall = c.stall;
  std::optional<PeakWindow> memory;  // REJECT cases, when the testee's pid is known
  if (context.testee_pid > 0 && !c.vector.error().empty()) memory.emplace(context.testee_pid);
  CaseReport report = RunVectorOverSocket(context.target, c.vector, c.plan, options);
  CaseResult result;
  result.verdict = report.passed ? CaseResult::Verdict::kPassed : CaseResult::Verdict::kFailed;
  result.detail = std::move(report.detail);
  if (memory && memory->start_bytes() > 0) {
    const uint64_t growth = memory->Growth();
    const uint64_t bound = kRejectMemoryBound + 2 * report.bytes_sent;
    const std::string seen = absl::StrCat("testee peak RSS +", growth >> 10, " KiB (bound ",
                                          bound >> 10, " KiB", memory->exact() ? "" : ", sampled",
                                          ")");
    if (growth > bound) {
      result.verdict = CaseResult::Verdict::kFailed;
      result.detail = result.detail.empty() ? seen : absl::StrCat(result.detail, "; ", seen);
    } else if (result.detail.empty()) {
      result.detail = seen;
    }
  }
  result.writes = report.writes;
  result.bytes_sent = report.bytes_sent;
  result.messages_echoed = report.messages_echoed;
  result.reads = std::move(report.reads);
  result.segments = std::move(report.segments);
  return result;
}

CaseResult RunMany(const Case& c, const RunContext& context, absl::Time deadline) {
  if (c.kind == CaseKind::kTransportMix && context.second_target.empty()) {
    CaseResult skipped;
    skipped.verdict = CaseResult::Verdict::kSkipped;
    skipped.detail = "needs the testee on a second transport (--second_target)";
    return skipped;
  }
  absl::StatusOr<std::string> input = MaterializeInput(c.vector);
  absl::StatusOr<std::string> bad_input =
      c.kind == CaseKind::kOneBad ? MaterializeInput(c.bad_vector) : std::string();
  if (!input.ok() || !bad_input.ok()) {
    CaseResult broken;
    broken.detail = "the case's vector does not materialize";
    return broken;
  }
  std::vector<ConnectionPlan> plans(static_cast<size_t>(c.connections));
  for (int i = 0; i < c.connections; ++i) {
    ConnectionPlan& plan = plans[static_cast<size_t>(i)];
    const bool bad = c.kind == CaseKind::kOneBad && i == c.bad_index;
    plan.target = c.kind == CaseKind::kTransportMix && i % 2 == 1 ? context.second_target
                                                                  : context.target;
    plan.input = bad ? *bad_input : *input;
    plan.expected = bad ? &c.bad_vector : &c.vector;
  }
  return FromScenario(RunConnections(plans, 1024, deadline));
}

}  // namespace

CaseResult RunCase(const Case& c, const RunContext& context) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + context.case_timeout;
  CaseResult result;
  switch (c.kind) {
    case CaseKind::kStream:
      result = RunStream(c, context);
      break;
    case CaseKind::kReset:
      result = FromScenario(RunReset(context.target, c.vector, c.offset, deadline));
      break;
    case CaseKind::kPeerLeaves:
      result = FromScenario(RunPeerLeaves(context.target, deadline));
      break;
    case CaseKind::kSlowloris:
      result = FromScenario(
          RunTimeoutScenario(context.target, /*trickle=*/true, context.stall_timeout, deadline));
      break;
    case CaseKind::kIdle:
      result = FromScenario(
          RunTimeoutScenario(context.target, /*trickle=*/false, context.idle_timeout, deadline));
      break;
    case CaseKind::kInterleaved:
    case CaseKind::kTransportMix:
    case CaseKind::kOneBad:
      result = RunMany(c, context, deadline);
      break;
    case CaseKind::kTinyFrames: {
      std::vector<ConnectionPlan> plans(1);
      plans[0].target = context.target;
      plans[0].input = TinyFramesInput(c.frames);
      plans[0].tiny_frames = c.frames;
      result = FromScenario(RunConnections(plans, 64 << 10, deadline));
      break;
    }
    case CaseKind::kAllocationBomb:
      result = FromScenario(RunAllocationBomb(
          context.target, context.bomb_connections > 0 ? context.bomb_connections : c.connections,
          context.testee_pid, context.bomb_max_growth, deadline));
      break;
  }
  if (c.level == Level::kInfo && result.verdict == CaseResult::Verdict::kFailed) {
    result.verdict = CaseResult::Verdict::kPassed;
    result.detail = absl::StrCat("INFO: ", result.detail);
  }
  result.duration = absl::Now() - start;
  return result;
}

}  // namespace conformance
}  // namespace lpframe
