// File: conformance/report_writer.h
//
// The conformance run's reports, written to one folder:
//   cases/<id>.json  one record per case: id, class, spec section, level,
//                    plan and seed, expected, result, detail, duration,
//                    bytes, segments written, the reads of the echo seen;
//   index.json       every record, the counts, stale known-failure entries;
//   report.md        counts by class, then every failure with links;
//   report.html      the same as a page, failing cases linked to their JSON;
//   junit.xml        a testsuite per class, a testcase per case.
//
// Test-only; thread-compatible.
#ifndef LPFRAME_CONFORMANCE_REPORT_WRITER_H_
#define LPFRAME_CONFORMANCE_REPORT_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "conformance/case_catalogue.h"
#include "conformance/case_runner.h"

namespace lpframe {
namespace conformance {

struct ReportRow {
  const Case* c = nullptr;
  CaseResult result;
  std::string known_failure;  // the known-failure entry this failure matched, or ""
};

struct RunSummary {
  std::string target;
  int passed = 0;
  int failed = 0;   // includes one per stale known-failure entry
  int skipped = 0;  // includes the known failures
  int known_failures = 0;
  std::vector<std::string> stale;  // stale known-failure entries
};

// "passed", "failed", "skipped" or "known_failure".
std::string ResultName(const ReportRow& row);

// Errors: the first file that could not be written.
absl::Status WriteReports(const std::string& dir, const std::vector<ReportRow>& rows,
                          const RunSummary& summary);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_REPORT_WRITER_H_
