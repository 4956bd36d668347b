#include "conformance/report_writer.h"

#include <sys/stat.h>

#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/dialect.h"

namespace lpframe {
namespace conformance {
namespace {

std::string Json(absl::string_view text) {
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

// For XML and HTML.
std::string Escape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += (c < 0x20 && c != '\n' && c != '\t') ? '?' : static_cast<char>(c);
    }
  }
  return out;
}

std::string CaseFile(const ReportRow& row) { return absl::StrCat("cases/", row.c->id, ".json"); }

// `sizes` as a JSON array of at most 64 numbers, and whether it was cut.
std::string SizesJson(const std::vector<size_t>& sizes) {
  const size_t shown = std::min<size_t>(sizes.size(), 64);
  return absl::StrCat("[", absl::StrJoin(sizes.begin(), sizes.begin() + static_cast<long>(shown), ", "),
                      shown < sizes.size() ? ", \"...\"]" : "]");
}

std::string CaseJson(const ReportRow& row) {
  const Case& c = *row.c;
  const CaseResult& r = row.result;
  return absl::StrCat(
      "{\"id\": ", Json(c.id), ", \"class\": ", Json(c.klass), ", \"dialect\": ",
      Json(DialectName(c.dialect)), ", \"spec\": ",
      Json(absl::StrCat("PROTOCOL.md §", c.spec)), ", \"level\": ", Json(LevelName(c.level)),
      ", \"description\": ", Json(c.description), ", \"plan\": ",
      Json(c.kind == CaseKind::kStream ? c.plan.Name() : "scenario"), ", \"seed\": ",
      c.plan.kind == SegmentPlan::Kind::kSeededRandom ? absl::StrCat(c.plan.seed) : "null",
      ", \"pause_ms\": ", absl::ToDoubleMilliseconds(c.pause), ", \"expected\": ",
      Json(c.Expected()), ", \"result\": ", Json(ResultName(row)), ", \"detail\": ",
      Json(r.detail), ", \"known_failure\": ", Json(row.known_failure),
      ", \"duration_ms\": ", absl::ToDoubleMilliseconds(r.duration),
      ", \"bytes_sent\": ", r.bytes_sent, ", \"messages_echoed\": ", r.messages_echoed,
      ", \"segments_written\": ", r.writes, ", \"segment_sizes\": ", SizesJson(r.segments),
      ", \"reads_seen\": ", r.reads.size(), ", \"read_sizes\": ", SizesJson(r.reads), "}");
}

absl::Status Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write report file ", path));
  return absl::OkStatus();
}

struct ClassCounts {
  int passed = 0, failed = 0, skipped = 0;
  std::vector<const ReportRow*> rows;
};

std::map<std::string, ClassCounts> ByClass(const std::vector<ReportRow>& rows) {
  std::map<std::string, ClassCounts> by_class;
  for (const ReportRow& row : rows) {
    ClassCounts& counts = by_class[row.c->klass];
    counts.rows.push_back(&row);
    const std::string result = ResultName(row);
    if (result == "passed") {
      ++counts.passed;
    } else if (result == "failed") {
      ++counts.failed;
    } else {
      ++counts.skipped;
    }
  }
  return by_class;
}

std::string Markdown(const std::vector<ReportRow>& rows, const RunSummary& s) {
  std::string md = absl::StrCat("# lpframe conformance report\n\nTarget: `", s.target, "`  \n",
                                s.passed, " passed, ", s.failed, " failed, ", s.skipped,
                                " skipped (", s.known_failures, " known failures)\n\n",
                                "| class | passed | failed | skipped |\n|---|---:|---:|---:|\n");
  std::string failures;
  for (const auto& [klass, counts] : ByClass(rows)) {
    absl::StrAppend(&md, "| ", klass, " | ", counts.passed, " | ", counts.failed, " | ",
                    counts.skipped, " |\n");
    for (const ReportRow* row : counts.rows) {
      if (ResultName(*row) != "failed") continue;
      absl::StrAppend(&failures, "- [`", row->c->id, "`](", CaseFile(*row), ") (",
                      LevelName(row->c->level), ", §", row->c->spec, ", ",
                      row->c->kind == CaseKind::kStream ? row->c->plan.Name() : "scenario",
                      "): expected ", row->c->Expected(), "; ", row->result.detail, "\n");
    }
  }
  if (!failures.empty()) absl::StrAppend(&md, "\n## Failures\n\n", failures);
  if (!s.stale.empty()) {
    absl::StrAppend(&md, "\n## Stale known-failure entries\n\n- ", absl::StrJoin(s.stale, "\n- "),
                    "\n");
  }
  return md;
}

std::string Html(const std::vector<ReportRow>& rows, const RunSummary& s) {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lpframe conformance</title>"
      "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
      ".failed{background:#fdd}.passed{background:#dfd}.skipped,.known_failure{background:#eee}"
      "</style></head><body>\n<h1>lpframe conformance report</h1>\n<p>Target: <code>",
      Escape(s.target), "</code><br>", s.passed, " passed, ", s.failed, " failed, ", s.skipped,
      " skipped (", s.known_failures, " known failures)</p>\n");
  for (const std::string& stale : s.stale) {
    absl::StrAppend(&html, "<p class=\"failed\">Stale known-failure entry: ", Escape(stale),
                    "</p>\n");
  }
  for (const auto& [klass, counts] : ByClass(rows)) {
    absl::StrAppend(&html, "<h2 id=\"", Escape(klass), "\">", Escape(klass), ": ",
                    counts.passed, " passed, ", counts.failed, " failed, ", counts.skipped,
                    " skipped</h2>\n<table><tr><th>case</th><th>level</th><th>§</th>"
                    "<th>plan</th><th>expected</th><th>result</th><th>detail</th></tr>\n");
    for (const ReportRow* row : counts.rows) {
      const std::string result = ResultName(*row);
      absl::StrAppend(&html, "<tr class=\"", result, "\"><td><a href=\"", CaseFile(*row), "\">",
                      Escape(row->c->id), "</a></td><td>", LevelName(row->c->level), "</td><td>",
                      Escape(row->c->spec), "</td><td>",
                      Escape(row->c->kind == CaseKind::kStream ? row->c->plan.Name() : "scenario"),
                      "</td><td>", Escape(row->c->Expected()), "</td><td>", result, "</td><td>",
                      Escape(row->result.detail), "</td></tr>\n");
    }
    absl::StrAppend(&html, "</table>\n");
  }
  return html + "</body></html>\n";
}

std::string Junit(const std::vector<ReportRow>& rows, const RunSummary& s) {
  std::string junit = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lpframe conformance\" "
      "tests=\"", rows.size() + s.stale.size(), "\" failures=\"", s.failed, "\" skipped=\"",
      s.skipped, "\">\n");
  for (const auto& [klass, counts] : ByClass(rows)) {
    absl::StrAppend(&junit, "  <testsuite name=\"", Escape(klass), "\" tests=\"",
                    counts.rows.size(), "\" failures=\"", counts.failed, "\">\n");
    for (const ReportRow* row : counts.rows) {
      absl::StrAppend(&junit, "    <testcase classname=\"", Escape(klass), "\" name=\"",
                      Escape(row->c->id), "\" time=\"",
                      absl::ToDoubleSeconds(row->result.duration), "\">");
      const std::string result = ResultName(*row);
      if (result == "skipped" || result == "known_failure") {
        absl::StrAppend(&junit, "<skipped message=\"",
                        Escape(result == "skipped" ? row->result.detail
                                                   : "known failure: " + row->known_failure),
                        "\"/>");
      } else if (result == "failed") {
        absl::StrAppend(&junit, "<failure message=\"", Escape(row->result.detail),
                        "\">PROTOCOL.md section ", Escape(row->c->spec), "; expected ",
                        Escape(row->c->Expected()), "</failure>");
      }
      absl::StrAppend(&junit, "</testcase>\n");
    }
    absl::StrAppend(&junit, "  </testsuite>\n");
  }
  if (!s.stale.empty()) {
    absl::StrAppend(&junit, "  <testsuite name=\"known_failures\" tests=\"", s.stale.size(),
                    "\" failures=\"", s.stale.size(), "\">\n");
    for (size_t i = 0; i < s.stale.size(); ++i) {
      absl::StrAppend(&junit, "    <testcase classname=\"known_failures\" name=\"stale.", i,
                      "\"><failure message=\"", Escape(s.stale[i]), "\"/></testcase>\n");
    }
    absl::StrAppend(&junit, "  </testsuite>\n");
  }
  return junit + "</testsuites>\n";
}

}  // namespace

std::string ResultName(const ReportRow& row) {
  switch (row.result.verdict) {
    case CaseResult::Verdict::kPassed:
      return "passed";
    case CaseResult::Verdict::kSkipped:
      return "skipped";
    case CaseResult::Verdict::kFailed:
      return row.known_failure.empty() ? "failed" : "known_failure";
  }
  return "?";
}

absl::Status WriteReports(const std::string& dir, const std::vector<ReportRow>& rows,
                          const RunSummary& summary) {
  ::mkdir(dir.c_str(), 0755);
  ::mkdir((dir + "/cases").c_str(), 0755);
  std::string index = absl::StrCat("{\"target\": ", Json(summary.target), ", \"passed\": ",
                                   summary.passed, ", \"failed\": ", summary.failed,
                                   ", \"skipped\": ", summary.skipped, ", \"known_failures\": ",
                                   summary.known_failures, ", \"stale_known_failures\": [");
  for (size_t i = 0; i < summary.stale.size(); ++i) {
    absl::StrAppend(&index, i ? ", " : "", Json(summary.stale[i]));
  }
  absl::StrAppend(&index, "],\n\"cases\": [\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string json = CaseJson(rows[i]);
    absl::Status written = Write(absl::StrCat(dir, "/", CaseFile(rows[i])), json + "\n");
    if (!written.ok()) return written;
    absl::StrAppend(&index, "  ", json, i + 1 < rows.size() ? ",\n" : "\n");
  }
  absl::StrAppend(&index, "]}\n");
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"index.json", index},
        {"report.md", Markdown(rows, summary)},
        {"report.html", Html(rows, summary)},
        {"junit.xml", Junit(rows, summary)}}) {
    absl::Status written = Write(absl::StrCat(dir, "/", name), text);
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace conformance
}  // namespace lpframe
