#include "bench/summary_reporter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/bench_main.h"

namespace lpframe_bench {

double SummaryReporterBase::Result::Get(const std::string& key) const {
  auto it = counters.find(key);
  return it == counters.end() ? 0.0 : it->second;
}

SummaryReporterBase::SummaryReporterBase(OutputOptions options, std::string cv_counter)
    : benchmark::ConsoleReporter(options), cv_counter_(std::move(cv_counter)) {}

bool SummaryReporterBase::ReportContext(const Context& context) {
  load_start_ = LoadAverage();
  return benchmark::ConsoleReporter::ReportContext(context);
}

void SummaryReporterBase::ReportRuns(const std::vector<Run>& runs) {
  benchmark::ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    if (run.error_occurred) {
      errors_.push_back(absl::StrCat(run.benchmark_name(), ": ", run.error_message));
      continue;
    }
    Result& r = results_[run.run_name.function_name];
    const bool aggregate = run.run_type == Run::RT_Aggregate;
    if (aggregate && run.aggregate_name == "cv") {
      if (cv_counter_.empty()) {
        r.cv_percent = 100.0 * run.real_accumulated_time;
      } else if (auto it = run.counters.find(cv_counter_); it != run.counters.end()) {
        r.cv_percent = 100.0 * it->second.value;
      }
      continue;
    }
    if (aggregate && run.aggregate_name != "median") continue;
    if (r.from_median && !aggregate) continue;
    r.from_median = aggregate;
    r.cpu_percent = run.real_accumulated_time > 0
                        ? 100.0 * run.cpu_accumulated_time / run.real_accumulated_time
                        : 0.0;
    r.counters.clear();
    for (const auto& [key, counter] : run.counters) r.counters[key] = counter.value;
  }
}

const SummaryReporterBase::Result* SummaryReporterBase::Find(const std::string& name) const {
  auto it = results_.find(name);
  return it == results_.end() ? nullptr : &it->second;
}

std::ostream& SummaryReporterBase::BeginSummary(absl::string_view description) {
  benchmark::ConsoleReporter::Finalize();
  std::ostream& out = GetOutputStream();
  out << "\n## Summary (" << description << "load average at start: " << load_start_
      << ", at end: " << LoadAverage() << ")\n\n";
  return out;
}

void SummaryReporterBase::PrintErrors(std::ostream& out) const {
  if (errors_.empty()) return;
  out << "### Errors\n\n";
  for (const std::string& e : errors_) out << "- " << e << "\n";
  out << "\n";
}

}  // namespace lpframe_bench
