// File: bench/bench_main.h
//
// The shared main() body of lpframe's benchmark binaries: 3 repetitions by
// default (these machines are shared and noisy; --benchmark_repetitions=N
// overrides), aggregates only, and, on console output, a reporter of the
// binary's own that prints a Markdown summary with ratios and targets after
// the usual table.
#ifndef LPFRAME_BENCH_BENCH_MAIN_H_
#define LPFRAME_BENCH_BENCH_MAIN_H_

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"

namespace lpframe_bench {

// /proc/loadavg's 1, 5 and 15 minute figures, for the summaries' headers.
inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// Runs the registered benchmarks. `SummaryReporter` derives from
// benchmark::ConsoleReporter and is constructed with its OutputOptions.
template <typename SummaryReporter>
int RunBenchmarksWithSummary(int argc, char** argv) {
  bool console = true;
  bool color = isatty(STDOUT_FILENO) != 0;
  bool repetitions_given = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (absl::StartsWith(arg, "--benchmark_repetitions")) repetitions_given = true;
    if (absl::StartsWith(arg, "--benchmark_format=") && arg != "--benchmark_format=console") {
      console = false;
    }
    if (arg == "--benchmark_color=false" || arg == "--benchmark_color=no") color = false;
  }
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=3";
  std::string aggregates = "--benchmark_display_aggregates_only=true";
  if (!repetitions_given) {
    args.insert(args.begin() + 1, &aggregates[0]);
    args.insert(args.begin() + 1, &reps[0]);
  }
  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  if (console) {
    SummaryReporter reporter(color ? benchmark::ConsoleReporter::OO_Color
                                   : benchmark::ConsoleReporter::OO_None);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace lpframe_bench

#endif  // LPFRAME_BENCH_BENCH_MAIN_H_
