// File: conformance/known_failures.h
//
// A known-failure list for one implementation under test, as in protobuf's
// conformance runner: cases expected to fail are listed so a run can pass
// while they are being fixed, and the list fails the run as soon as it is
// stale, so it cannot rot.
//
// Format, one entry per line:
//   class.sub.k     # an exact case id; text after '#' is the reason
//   class.sub.*     # every case whose id starts with "class.sub."
// Blank lines and lines starting with '#' are ignored.
//
// An entry is stale when it matches no case of the catalogue, or when every
// case it matched in this run passed.
//
// Value type; thread-compatible.
#ifndef LPFRAME_CONFORMANCE_KNOWN_FAILURES_H_
#define LPFRAME_CONFORMANCE_KNOWN_FAILURES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lpframe {
namespace conformance {

class KnownFailures {
 public:
  struct Entry {
    std::string pattern;  // an id, or a prefix followed by '*'
    int line = 0;
    std::string reason;
  };
  // One case as run: its id and whether it failed.
  struct Outcome {
    std::string id;
    bool failed = false;
  };

  KnownFailures() = default;

  // Errors: InvalidArgument naming `source` and the line of a malformed entry.
  static absl::StatusOr<KnownFailures> Parse(absl::string_view text, absl::string_view source);
  // Errors: NotFound when the file cannot be read; Parse's errors.
  static absl::StatusOr<KnownFailures> Load(const std::string& path);

  // The entry listing `id`, or nullptr.
  const Entry* Match(absl::string_view id) const;

  // A description of each stale entry ("<source>:<line>: ... "): entries
  // matching none of `catalogue_ids`, and entries whose matched cases in
  // `run` all passed (entries matching nothing that ran are not judged).
  std::vector<std::string> Stale(const std::vector<std::string>& catalogue_ids,
                                 const std::vector<Outcome>& run) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  static bool Matches(const Entry& entry, absl::string_view id);

  std::string source_;
  std::vector<Entry> entries_;
};

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_KNOWN_FAILURES_H_
