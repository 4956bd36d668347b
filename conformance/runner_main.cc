// conformance runner: runs the native vectors over a real socket against any
// implementation that follows the echo contract (conformance/echo_runner.h),
// in several segmentations, and writes reports.
//
//   bazel run //conformance:runner -- --target=tcp://127.0.0.1:7000
//   bazel run //conformance:runner -- --target=unix:/tmp/echo.sock --filter=limit.
//
// Reports go to --report_dir (default: $TEST_UNDECLARED_OUTPUTS_DIR under
// `bazel test`, else ./conformance_report): cases/<id>.json per case,
// index.json, report.md (by class, failures first), junit.xml. The last line printed
// is "N passed, N failed, N skipped"; the exit status is 1 when a case
// failed, 2 for bad arguments.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "conformance/echo_runner.h"
#include "conformance/test_vector.h"

ABSL_FLAG(std::string, target, "", "echo testee: tcp://HOST:PORT, unix:/PATH, unix-abstract:NAME");
ABSL_FLAG(std::string, vectors, "conformance/vectors/native.json", "native vector file");
ABSL_FLAG(std::string, report_dir, "", "where reports go (see the file comment)");
ABSL_FLAG(std::string, filter, "", "run only cases whose id contains this");
ABSL_FLAG(uint64_t, max_input_bytes, 8 << 20, "skip vectors with a larger input");

namespace {

using lpframe::conformance::CaseReport;
using lpframe::conformance::SegmentPlan;
using lpframe::conformance::Vector;

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// "frame.split" for "frame.split.3": the class a case belongs to.
std::string ClassOf(const std::string& vector_id) {
  const size_t last = vector_id.rfind('.');
  return last == std::string::npos ? vector_id : vector_id.substr(0, last);
}

struct Row {
  CaseReport report;
  std::string expected;
  bool skipped = false;
  std::string skip_reason;
};

std::string CaseJson(const Row& row) {
  const CaseReport& r = row.report;
  return absl::StrCat(
      "{\"id\": ", JsonString(r.id), ", \"spec\": ", JsonString(r.spec),
      ", \"plan\": ", JsonString(r.plan), ", \"expected\": ", JsonString(row.expected),
      ", \"result\": ", JsonString(row.skipped ? "skipped" : (r.passed ? "passed" : "failed")),
      ", \"detail\": ", JsonString(row.skipped ? row.skip_reason : r.detail),
      ", \"writes\": ", r.writes, ", \"bytes_sent\": ", r.bytes_sent,
      ", \"messages_echoed\": ", r.messages_echoed,
      ", \"duration_ms\": ", absl::ToDoubleMilliseconds(r.duration), "}");
}

std::string XmlEscape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t') {
          out += '?';  // not allowed in XML 1.0
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("lpframe conformance runner: --target=URI of an echo testee");
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    std::fprintf(stderr, "conformance runner: --target is required (e.g. tcp://127.0.0.1:7000)\n");
    return 2;
  }
  std::string report_dir = absl::GetFlag(FLAGS_report_dir);
  if (report_dir.empty()) {
    const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    report_dir = outputs != nullptr ? std::string(outputs) : "conformance_report";
  }
  ::mkdir(report_dir.c_str(), 0755);
  ::mkdir((report_dir + "/cases").c_str(), 0755);

  absl::StatusOr<lpframe::conformance::VectorFile> file =
      lpframe::conformance::LoadVectorFile(absl::GetFlag(FLAGS_vectors));
  if (!file.ok()) {
    std::fprintf(stderr, "conformance runner: %s\n", file.status().ToString().c_str());
    return 2;
  }
  const std::string filter = absl::GetFlag(FLAGS_filter);
  std::vector<Row> rows;
  for (const Vector& vector : file->vectors()) {
    absl::StatusOr<std::string> input = lpframe::conformance::MaterializeInput(vector);
    const std::string expected =
        vector.error().empty()
            ? absl::StrCat("DELIVER ", vector.messages_size(), " message(s), clean end")
            : absl::StrCat("REJECT ", vector.error(), " after ", vector.messages_size(),
                           " message(s)");
    std::string skip;
    if (!input.ok()) {
      skip = input.status().ToString();
    } else if (vector.limits().max_payload_bytes() != 0 ||
               vector.limits().max_envelope_bytes() != 0) {
      skip = "needs receiver limits other than the defaults";
    } else if (input->size() > absl::GetFlag(FLAGS_max_input_bytes)) {
      skip = absl::StrCat("input of ", input->size(), " bytes is over --max_input_bytes");
    }
    for (const SegmentPlan& plan :
         lpframe::conformance::StandardPlans(input.ok() ? input->size() : 0)) {
      Row row;
      row.expected = expected;
      row.report.id = absl::StrCat(vector.id(), "/", plan.Name());
      row.report.spec = vector.spec();
      row.report.plan = plan.Name();
      if (!filter.empty() && !absl::StrContains(row.report.id, filter)) continue;
      if (!skip.empty()) {
        row.skipped = true;
        row.skip_reason = skip;
      } else {
        row.report = lpframe::conformance::RunVectorOverSocket(target, vector, plan, {});
      }
      rows.push_back(std::move(row));
    }
  }

  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, std::vector<const Row*>> by_class;
  std::string index = "{\"target\": " + JsonString(target) + ", \"cases\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    if (row.skipped) {
      ++skipped;
    } else if (row.report.passed) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAILED %s (PROTOCOL.md §%s): %s\n", row.report.id.c_str(),
                   row.report.spec.c_str(), row.report.detail.c_str());
    }
    const std::string json = CaseJson(row);
    const std::string name = absl::StrReplaceAll(row.report.id, {{"/", "__"}, {"(", "_"},
                                                                  {")", "_"}, {",", "_"},
                                                                  {"=", "-"}});
    WriteFile(absl::StrCat(report_dir, "/cases/", name, ".json"), json + "\n");
    index += "  " + json + (i + 1 < rows.size() ? ",\n" : "\n");
    by_class[ClassOf(row.report.id.substr(0, row.report.id.find('/')))].push_back(&row);
  }
  index += absl::StrCat("], \"passed\": ", passed, ", \"failed\": ", failed,
                        ", \"skipped\": ", skipped, "}\n");
  WriteFile(report_dir + "/index.json", index);

  std::string md = absl::StrCat("# lpframe conformance report\n\nTarget: `", target, "`  \n",
                                passed, " passed, ", failed, " failed, ", skipped,
                                " skipped\n\n| class | passed | failed | skipped |\n|---|---:|---:|---:|\n");
  std::string failures;
  for (const auto& [klass, class_rows] : by_class) {
    int p = 0, f = 0, s = 0;
    for (const Row* row : class_rows) {
      if (row->skipped) {
        ++s;
      } else if (row->report.passed) {
        ++p;
      } else {
        ++f;
        absl::StrAppend(&failures, "- `", row->report.id, "` (§", row->report.spec, "): expected ",
                        row->expected, "; ", row->report.detail, "\n");
      }
    }
    absl::StrAppend(&md, "| ", klass, " | ", p, " | ", f, " | ", s, " |\n");
  }
  if (!failures.empty()) absl::StrAppend(&md, "\n## Failures\n\n", failures);
  WriteFile(report_dir + "/report.md", md);

  // JUnit XML: one testsuite per class, one testcase per case.
  std::string junit = absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                                   "<testsuites name=\"lpframe conformance\" tests=\"",
                                   rows.size(), "\" failures=\"", failed, "\" skipped=\"",
                                   skipped, "\">\n");
  for (const auto& [klass, class_rows] : by_class) {
    absl::StrAppend(&junit, "  <testsuite name=\"", XmlEscape(klass), "\" tests=\"",
                    class_rows.size(), "\">\n");
    for (const Row* row : class_rows) {
      absl::StrAppend(&junit, "    <testcase classname=\"", XmlEscape(klass), "\" name=\"",
                      XmlEscape(row->report.id), "\" time=\"",
                      absl::ToDoubleSeconds(row->report.duration), "\">");
      if (row->skipped) {
        absl::StrAppend(&junit, "<skipped message=\"", XmlEscape(row->skip_reason), "\"/>");
      } else if (!row->report.passed) {
        absl::StrAppend(&junit, "<failure message=\"", XmlEscape(row->report.detail),
                        "\">PROTOCOL.md section ", XmlEscape(row->report.spec), "; expected ",
                        XmlEscape(row->expected), "</failure>");
      }
      absl::StrAppend(&junit, "</testcase>\n");
    }
    absl::StrAppend(&junit, "  </testsuite>\n");
  }
  absl::StrAppend(&junit, "</testsuites>\n");
  WriteFile(report_dir + "/junit.xml", junit);

  std::printf("reports in %s\n%d passed, %d failed, %d skipped\n", report_dir.c_str(), passed,
              failed, skipped);
  return failed > 0 ? 1 : 0;
}
