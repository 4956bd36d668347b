// File: conformance/case_catalogue.h
//
// The conformance catalogue: every case the socket runner can play against
// an echo testee, each with an id "class.sub.k", the docs/PROTOCOL.md
// section it checks, a level, and a machine-checkable expectation.
//
//   std::vector<Case> cases = BuildCatalogue(native_vectors, {});
//   for (const Case& c : cases) ... RunCase(c, context) (case_runner.h)
//
// Where the cases come from:
//   - the checked-in native vectors (conformance/vectors/native.json), each
//     under the suite's standard segmentations (segment_plan.h);
//   - streams synthesized here (a frame split at every offset, cut sets of
//     the header, chop sweeps and seeded slicing of a mixed stream, read-edge
//     alignments, a frame and a half, bit flips in a header, a round-trip
//     size sweep). Their expectations come from lpframe's FrameDecoder
//     decoding the whole stream in one piece, which itself passes every
//     checked-in vector under every segmentation (vector_test);
//   - socket scenarios that are not a byte stream: resets, the peer leaving,
//     slowloris and idle peers, interleaved connections, a TCP and Unix mix,
//     one bad connection among good ones, 10^6 tiny frames, the allocation
//     bomb.
//
// Levels: a REQUIRED or RECOMMENDED case that fails fails the run; an INFO
// case records what the testee did and never fails.
//
// Test-only. BuildCatalogue is deterministic: the same options give the same
// cases in the same order.
#ifndef LPFRAME_CONFORMANCE_CASE_CATALOGUE_H_
#define LPFRAME_CONFORMANCE_CASE_CATALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "conformance/segment_plan.h"
#include "conformance/vector.pb.h"
#include "lib/dialect.h"

namespace lpframe {
namespace conformance {

enum class Level { kRequired, kRecommended, kInfo };
absl::string_view LevelName(Level level);  // "REQUIRED", ...

enum class CaseKind {
  kStream,          // `vector`'s input cut by `plan`, echo checked
  kReset,           // `offset` bytes of `vector`'s input, then a reset; testee lives
  kPeerLeaves,      // send without reading the echo, then reset; testee lives
  kSlowloris,       // a header trickled a byte at a time: stall timeout
  kIdle,            // connect and send nothing: idle timeout
  kInterleaved,     // `connections` streams at once, writes interleaved
  kTransportMix,    // as kInterleaved, half over the second target
  kOneBad,          // kInterleaved with connection `bad_index` sending `bad_vector`
  kTinyFrames,      // `frames` frames of 1-byte payloads on one connection
  kAllocationBomb,  // `connections` peers announce the maximum, then stall
};

struct Case {
  std::string id;     // "class.sub.k"
  std::string klass;  // "class"
  std::string spec;   // docs/PROTOCOL.md section, e.g. "3.8"
  Level level = Level::kRequired;
  std::string description;
  CaseKind kind = CaseKind::kStream;
  Dialect dialect = Dialect::kNative;  // the framing of the input and the echo

  Vector vector;             // kStream, kReset, kInterleaved (per connection)
  SegmentPlan plan;          // kStream
  absl::Duration pause = absl::ZeroDuration();  // between planned segments
  size_t offset = 0;         // kReset: bytes sent before the reset
  size_t stall_at = ~size_t{0};  // kStream: the relay stalls here for `stall`
  absl::Duration stall = absl::ZeroDuration();
  int connections = 1;       // kInterleaved, kTransportMix, kOneBad, kAllocationBomb
  int bad_index = -1;        // kOneBad
  Vector bad_vector;         // kOneBad
  uint64_t frames = 0;       // kTinyFrames

  // "DELIVER 3" or "REJECT PAYLOAD_TOO_LARGE after 1", or what a scenario
  // case checks.
  std::string Expected() const;
};

struct CatalogueOptions {
  // Vectors whose input is larger are played whole and with one coarse
  // slicing only (each chop plan of a 64 MiB input costs seconds).
  size_t fine_plans_max_input = 1 << 20;
};

// Every case, from the native vectors in `native` and the synthesized ones.
std::vector<Case> BuildCatalogue(const VectorFile& native, const CatalogueOptions& options);

// The cases of an interop dialect (docs/PROTOCOL.md section 8), named by
// `file.dialect()`: its vectors under the standard segmentations, and
// streams synthesized in the dialect (a pair split at every offset, 1-byte
// dribble, a chop sweep and seeded slicing of a mixed stream, a length
// prefix across a read edge, a frame and a half, many frames in one
// segment, a length over the limit, half-close inside a frame). Classes are
// "<dialect>_<class>" (case "varint32_split_offset.at.3" is in class
// "varint32_split_offset"). All are stream cases: a dialect carries no
// envelope, so its testee announces an error by closing, and the runner
// checks what was echoed before the close.
// Errors: InvalidArgument when the file's dialect is native or unknown.
absl::StatusOr<std::vector<Case>> BuildDialectCatalogue(const VectorFile& file,
                                                        const CatalogueOptions& options);

// "size" for "size.4096.3".
std::string ClassOfCaseId(absl::string_view id);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_CASE_CATALOGUE_H_
