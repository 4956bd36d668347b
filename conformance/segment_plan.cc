#include "conformance/segment_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lpframe {
namespace conformance {

std::string SegmentPlan::Name() const {
  switch (kind) {
    case Kind::kWhole:
      return "whole";
    case Kind::kChop:
      return absl::StrCat("chop", chop);
    case Kind::kSeededRandom:
      return absl::StrCat("random(seed=", seed, ",max=", max_piece, ")");
    case Kind::kOffsets:
      return absl::StrCat("cut(", absl::StrJoin(offsets, ","), ")");
  }
  return "?";
}

std::vector<size_t> SegmentPlan::Cuts(size_t size) const {
  std::vector<size_t> cuts;
  SegmentCutter cutter(*this);
  for (size_t cut = cutter.Next(); cut < size; cut = cutter.Next()) {
    if (cut > 0) cuts.push_back(cut);
  }
  return cuts;
}

SegmentCutter::SegmentCutter(const SegmentPlan& plan) : plan_(plan), random_(plan.seed) {}

size_t SegmentCutter::Next() {
  switch (plan_.kind) {
    case SegmentPlan::Kind::kWhole:
      return kNoMoreCuts;
    case SegmentPlan::Kind::kChop:
      at_ += std::max<size_t>(plan_.chop, 1);
      return at_;
    case SegmentPlan::Kind::kSeededRandom: {
      std::uniform_int_distribution<size_t> piece(1, std::max<size_t>(plan_.max_piece, 1));
      at_ += piece(random_);
      return at_;
    }
    case SegmentPlan::Kind::kOffsets:
      while (index_ < plan_.offsets.size() && plan_.offsets[index_] <= at_) ++index_;
      if (index_ >= plan_.offsets.size()) return kNoMoreCuts;
      at_ = plan_.offsets[index_++];
      return at_;
  }
  return kNoMoreCuts;
}

std::vector<SegmentPlan> StandardPlans(size_t input_size) {
  std::vector<SegmentPlan> plans = {SegmentPlan::Whole(),
                                    SegmentPlan::Chop(7),
                                    SegmentPlan::Chop(997),
                                    SegmentPlan::Chop(4097),
                                    SegmentPlan::Chop(8193),
                                    SegmentPlan::SeededRandom(1, 64),
                                    SegmentPlan::SeededRandom(2, 9000)};
  if (input_size <= 256) plans.push_back(SegmentPlan::Chop(1));  // 1-byte dribble
  return plans;
}

}  // namespace conformance
}  // namespace lpframe
