// File: conformance/segment_plan.h
//
// Where a byte stream is cut into writes: whole, fixed chops, explicit
// offsets, or seeded random slices (toxiproxy's "slicer", with the seed
// recorded so a failing case can be replayed exactly).
//
//   SegmentPlan plan = SegmentPlan::SeededRandom(/*seed=*/3, /*max_piece=*/997);
//   std::vector<size_t> cuts = plan.Cuts(input.size());   // known length
//   SegmentCutter cutter(plan);                           // open-ended stream
//   for (size_t cut = cutter.Next(); cut != SegmentCutter::kNoMoreCuts; ...)
//
// Value type; thread-compatible.
#ifndef LPFRAME_CONFORMANCE_SEGMENT_PLAN_H_
#define LPFRAME_CONFORMANCE_SEGMENT_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace lpframe {
namespace conformance {

struct SegmentPlan {
  enum class Kind { kWhole, kChop, kSeededRandom, kOffsets };
  Kind kind = Kind::kWhole;
  size_t chop = 0;              // kChop: bytes per write (0 is treated as 1)
  uint32_t seed = 0;            // kSeededRandom: pieces of 1..max_piece bytes
  size_t max_piece = 0;
  std::vector<size_t> offsets;  // kOffsets: strictly increasing cut offsets

  static SegmentPlan Whole() { return {}; }
  static SegmentPlan Chop(size_t bytes) { return {Kind::kChop, bytes, 0, 0, {}}; }
  static SegmentPlan SeededRandom(uint32_t seed, size_t max_piece) {
    return {Kind::kSeededRandom, 0, seed, max_piece, {}};
  }
  static SegmentPlan Offsets(std::vector<size_t> offsets) {
    return {Kind::kOffsets, 0, 0, 0, std::move(offsets)};
  }

  // "whole", "chop7", "random(seed=3,max=997)", "cut(3,17)".
  std::string Name() const;
  // Cut offsets strictly inside an input of `size` bytes, increasing.
  std::vector<size_t> Cuts(size_t size) const;
};

// The cuts of a plan one at a time, for a stream whose length is unknown.
class SegmentCutter {
 public:
  static constexpr size_t kNoMoreCuts = std::numeric_limits<size_t>::max();

  explicit SegmentCutter(const SegmentPlan& plan);

  // The next cut offset (strictly greater than the previous one), or
  // kNoMoreCuts: the rest of the stream goes as it comes.
  size_t Next();

 private:
  SegmentPlan plan_;
  std::mt19937 random_;
  size_t at_ = 0;
  size_t index_ = 0;
};

// The suite's segmentations for an input of `input_size` bytes: whole,
// chops of 7, 997, 4097 and 8193 bytes, two seeded random slicings, and a
// 1-byte dribble for inputs up to 256 bytes.
std::vector<SegmentPlan> StandardPlans(size_t input_size);

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_SEGMENT_PLAN_H_
