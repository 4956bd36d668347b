// conformance runner: plays the case catalogue (case_catalogue.h) against
// any implementation that follows the echo contract (conformance/README.md)
// and writes reports (report_writer.h).
//
//   bazel run //conformance:runner -- --target=tcp://127.0.0.1:7000
//   bazel run //conformance:runner -- --target=unix:/tmp/echo.sock --filter=magic.
//   bazel run //conformance:runner -- --list
//
// Reports go to --report_dir (default: $TEST_UNDECLARED_OUTPUTS_DIR under
// `bazel test`, else ./conformance_report). Under `bazel run`, relative
// --report_dir and --known_failures paths are taken from the directory the
// command was run in ($BUILD_WORKING_DIRECTORY), not the runfiles tree;
// --vectors (default: the runfiles' copy) is read as given. The last line
// printed is "N passed, N failed, N skipped"; the exit status is 1 when a
// case failed or a known-failure entry is stale, 2 for bad arguments.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "conformance/case_catalogue.h"
#include "conformance/case_runner.h"
#include "conformance/known_failures.h"
#include "conformance/report_writer.h"
#include "conformance/test_vector.h"

ABSL_FLAG(std::string, target, "", "echo testee: tcp://HOST:PORT, unix:/PATH, unix-abstract:NAME");
ABSL_FLAG(std::string, second_target, "",
          "the same testee on the other transport (enables transport_mix)");
ABSL_FLAG(std::string, dialect, "native",
          "the framing the testee speaks: native, or an interop dialect (varint32, u32be), "
          "which runs that dialect's cases");
ABSL_FLAG(std::string, vectors, "",
          "the dialect's vector file (default conformance/vectors/<dialect>.json)");
ABSL_FLAG(std::string, report_dir, "", "where reports go (see the file comment)");
ABSL_FLAG(std::string, filter, "",
          "run only cases whose id contains one of these comma-separated substrings");
ABSL_FLAG(std::string, known_failures, "",
          "known-failure list of the testee (conformance/known_failures.h)");
ABSL_FLAG(int, testee_pid, 0, "the testee's process id, for the allocation bomb's memory figure");
ABSL_FLAG(int, bomb_connections, 0, "connections of the allocation bomb (0: the case's 256)");
ABSL_FLAG(absl::Duration, stall_timeout, absl::InfiniteDuration(),
          "the testee's stall timeout, when it has one (slowloris case)");
ABSL_FLAG(absl::Duration, idle_timeout, absl::InfiniteDuration(),
          "the testee's idle timeout, when it has one (idle case)");
ABSL_FLAG(bool, list, false, "print the catalogue (id, level, section, expected) and exit");

namespace {

using namespace lpframe::conformance;  // NOLINT: a binary's main file

// `path` as the user meant it: under `bazel run`, relative to the
// directory the command was run in.
std::string UserPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr || *cwd == '\0') return path;
  return absl::StrCat(cwd, "/", path);
}

bool Selected(const Case& c, const std::string& filter) {
  if (filter.empty()) return true;
  for (absl::string_view part : absl::StrSplit(filter, ',')) {
    if (!part.empty() && absl::StrContains(c.id, part)) return true;
  }
  return false;
}

RunContext ContextFromFlags() {
  RunContext context;
  context.target = absl::GetFlag(FLAGS_target);
  context.second_target = absl::GetFlag(FLAGS_second_target);
  context.testee_pid = absl::GetFlag(FLAGS_testee_pid);
  context.bomb_connections = absl::GetFlag(FLAGS_bomb_connections);
  context.stall_timeout = absl::GetFlag(FLAGS_stall_timeout);
  context.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  return context;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("lpframe conformance runner: --target=URI of an echo testee");
  absl::ParseCommandLine(argc, argv);
  const std::string dialect = absl::GetFlag(FLAGS_dialect);
  std::string vectors = absl::GetFlag(FLAGS_vectors);
  if (vectors.empty()) vectors = absl::StrCat("conformance/vectors/", dialect, ".json");
  absl::StatusOr<VectorFile> file = LoadVectorFile(vectors);
  if (!file.ok()) {
    std::fprintf(stderr, "conformance runner: %s\n", file.status().ToString().c_str());
    return 2;
  }
  if (file->dialect() != dialect) {
    std::fprintf(stderr, "conformance runner: %s holds %s vectors, not --dialect=%s\n",
                 vectors.c_str(), file->dialect().c_str(), dialect.c_str());
    return 2;
  }
  absl::StatusOr<std::vector<Case>> built =
      dialect == "native" ? BuildCatalogue(*file, {}) : BuildDialectCatalogue(*file, {});
  if (!built.ok()) {
    std::fprintf(stderr, "conformance runner: %s\n", built.status().ToString().c_str());
    return 2;
  }
  const std::vector<Case> catalogue = *std::move(built);
  if (absl::GetFlag(FLAGS_list)) {
    for (const Case& c : catalogue) {
      std::printf("%s\t%s\t§%s\t%s\t%s\n", c.id.c_str(), std::string(LevelName(c.level)).c_str(),
                  c.spec.c_str(), c.Expected().c_str(), c.description.c_str());
    }
    return 0;
  }
  const RunContext context = ContextFromFlags();
  if (context.target.empty()) {
    std::fprintf(stderr, "conformance runner: --target is required (e.g. tcp://127.0.0.1:7000)\n");
    return 2;
  }
  KnownFailures known;
  if (!absl::GetFlag(FLAGS_known_failures).empty()) {
    absl::StatusOr<KnownFailures> loaded =
        KnownFailures::Load(UserPath(absl::GetFlag(FLAGS_known_failures)));
    if (!loaded.ok()) {
      std::fprintf(stderr, "conformance runner: %s\n", loaded.status().ToString().c_str());
      return 2;
    }
    known = *std::move(loaded);
  }
  std::string report_dir = UserPath(absl::GetFlag(FLAGS_report_dir));
  if (report_dir.empty()) {
    const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    report_dir = outputs != nullptr ? std::string(outputs) : UserPath("conformance_report");
  }

  RunSummary summary;
  summary.target = context.target;
  std::vector<ReportRow> rows;
  std::vector<KnownFailures::Outcome> outcomes;
  std::vector<std::string> ids;
  for (const Case& c : catalogue) {
    ids.push_back(c.id);
    if (!Selected(c, absl::GetFlag(FLAGS_filter))) continue;
    ReportRow row;
    row.c = &c;
    row.result = RunCase(c, context);
    const bool failed = row.result.verdict == CaseResult::Verdict::kFailed;
    if (failed) {
      if (const KnownFailures::Entry* entry = known.Match(c.id)) row.known_failure = entry->pattern;
    }
    if (row.result.verdict != CaseResult::Verdict::kSkipped) outcomes.push_back({c.id, failed});
    const std::string result = ResultName(row);
    if (result == "passed") {
      ++summary.passed;
    } else if (result == "failed") {
      ++summary.failed;
      std::fprintf(stderr, "FAILED %s (%s, PROTOCOL.md §%s): expected %s; %s\n", c.id.c_str(),
                   std::string(LevelName(c.level)).c_str(), c.spec.c_str(),
                   c.Expected().c_str(), row.result.detail.c_str());
    } else {
      ++summary.skipped;
      if (result == "known_failure") ++summary.known_failures;
    }
    rows.push_back(std::move(row));
  }
  summary.stale = known.Stale(ids, outcomes);
  for (const std::string& stale : summary.stale) {
    std::fprintf(stderr, "STALE known failure %s\n", stale.c_str());
  }
  summary.failed += static_cast<int>(summary.stale.size());
  absl::Status written = WriteReports(report_dir, rows, summary);
  if (!written.ok()) std::fprintf(stderr, "conformance runner: %s\n", written.ToString().c_str());
  std::printf("reports in %s\n%d passed, %d failed, %d skipped\n", report_dir.c_str(),
              summary.passed, summary.failed, summary.skipped);
  return summary.failed > 0 || !written.ok() ? 1 : 0;
}
