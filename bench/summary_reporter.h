// File: bench/summary_reporter.h
//
// The console reporter that the transport, echo and paired benchmark
// binaries derive their Markdown summaries from. It prints the usual console
// table and keeps, per benchmark (function name):
//   - the counters of its median aggregate (of its run, with one repetition);
//   - the CPU/wall share of that run;
//   - the cv aggregate of one counter (or of the wall time);
//   - the error message of a failed run.
// Subclasses print their summary in Finalize() and end it with PrintErrors().
//
// Thread-compatible (Google Benchmark calls reporters from one thread).
#ifndef LPFRAME_BENCH_SUMMARY_REPORTER_H_
#define LPFRAME_BENCH_SUMMARY_REPORTER_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"

namespace lpframe_bench {

class SummaryReporterBase : public benchmark::ConsoleReporter {
 public:
  struct Result {
    bool from_median = false;
    double cpu_percent = 0;  // CPU time / wall time of the kept run
    double cv_percent = -1;  // spread over repetitions; -1 without aggregates
    std::map<std::string, double> counters;
    // The counter `key`, 0 when absent.
    double Get(const std::string& key) const;
  };

  // `cv_counter`: the counter whose cv aggregate cv_percent reports; empty:
  // the wall time's.
  explicit SummaryReporterBase(OutputOptions options, std::string cv_counter = "");

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;

 protected:
  // The benchmark `name` (function name, without the iterations/min_time
  // suffixes); null when it did not run or failed.
  const Result* Find(const std::string& name) const;
  // Ends the console table (ConsoleReporter::Finalize) and prints the
  // summary's title line: "## Summary (<description>load average at start:
  // ..., at end: ...)". Returns the output stream for the rest.
  std::ostream& BeginSummary(absl::string_view description);
  // "### Errors" and one line per failed run; nothing when none failed.
  void PrintErrors(std::ostream& out) const;

 private:
  const std::string cv_counter_;
  std::string load_start_;
  std::map<std::string, Result> results_;
  std::vector<std::string> errors_;
};

}  // namespace lpframe_bench

#endif  // LPFRAME_BENCH_SUMMARY_REPORTER_H_
