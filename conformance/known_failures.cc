#include "conformance/known_failures.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lpframe {
namespace conformance {

absl::StatusOr<KnownFailures> KnownFailures::Parse(absl::string_view text,
                                                   absl::string_view source) {
  KnownFailures list;
  list.source_ = std::string(source);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t hash = line.find('#');
    Entry entry;
    entry.line = line_number;
    if (hash != absl::string_view::npos) {
      entry.reason = std::string(absl::StripAsciiWhitespace(line.substr(hash + 1)));
      line = line.substr(0, hash);
    }
    entry.pattern = std::string(absl::StripAsciiWhitespace(line));
    if (entry.pattern.empty()) continue;
    const size_t star = entry.pattern.find('*');
    const bool bad_star = star != std::string::npos && star + 1 != entry.pattern.size();
    if (bad_star || entry.pattern.find_first_of(" \t") != std::string::npos ||
        entry.pattern == "*") {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": \"", entry.pattern,
          "\" is not a case id or an id prefix followed by a single trailing '*'"));
    }
    list.entries_.push_back(std::move(entry));
  }
  return list;
}

absl::StatusOr<KnownFailures> KnownFailures::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read known-failure list ", path));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

bool KnownFailures::Matches(const Entry& entry, absl::string_view id) {
  if (!entry.pattern.empty() && entry.pattern.back() == '*') {
    return absl::StartsWith(id, absl::string_view(entry.pattern).substr(0, entry.pattern.size() - 1));
  }
  return id == entry.pattern;
}

const KnownFailures::Entry* KnownFailures::Match(absl::string_view id) const {
  for (const Entry& entry : entries_) {
    if (Matches(entry, id)) return &entry;
  }
  return nullptr;
}

std::vector<std::string> KnownFailures::Stale(const std::vector<std::string>& catalogue_ids,
                                              const std::vector<Outcome>& run) const {
  std::vector<std::string> stale;
  for (const Entry& entry : entries_) {
    const std::string where = absl::StrCat(source_, ":", entry.line, ": ", entry.pattern);
    bool in_catalogue = false;
    for (const std::string& id : catalogue_ids) {
      if (Matches(entry, id)) {
        in_catalogue = true;
        break;
      }
    }
    if (!in_catalogue) {
      stale.push_back(absl::StrCat(where, " matches no case of the catalogue"));
      continue;
    }
    int matched = 0, failed = 0;
    for (const Outcome& outcome : run) {
      if (!Matches(entry, outcome.id)) continue;
      ++matched;
      if (outcome.failed) ++failed;
    }
    if (matched > 0 && failed == 0) {
      stale.push_back(absl::StrCat(where, " is listed as failing but its ", matched,
                                   " case(s) passed: remove the entry"));
    }
  }
  return stale;
}

}  // namespace conformance
}  // namespace lpframe
