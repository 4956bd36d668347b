#include "conformance/segment_plan.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SegmentPlanTest, CutsOfEachKind) {
  EXPECT_THAT(SegmentPlan::Whole().Cuts(100), IsEmpty());
  EXPECT_THAT(SegmentPlan::Chop(30).Cuts(100), ElementsAre(30, 60, 90));
  EXPECT_THAT(SegmentPlan::Chop(50).Cuts(100), ElementsAre(50));
  EXPECT_THAT(SegmentPlan::Chop(0).Cuts(3), ElementsAre(1, 2));
  // Offsets outside the input, at 0 or out of order are dropped.
  EXPECT_THAT(SegmentPlan::Offsets({0, 3, 3, 2, 17, 100, 200}).Cuts(100), ElementsAre(3, 17));
}

TEST(SegmentPlanTest, SeededRandomIsReproducibleAndBounded) {
  const SegmentPlan plan = SegmentPlan::SeededRandom(7, 13);
  const std::vector<size_t> cuts = plan.Cuts(10000);
  EXPECT_EQ(cuts, SegmentPlan::SeededRandom(7, 13).Cuts(10000));
  EXPECT_NE(cuts, SegmentPlan::SeededRandom(8, 13).Cuts(10000));
  size_t previous = 0;
  for (size_t cut : cuts) {
    EXPECT_GT(cut, previous);
    EXPECT_LE(cut - previous, 13u);
    previous = cut;
  }
  EXPECT_GE(10000 - previous, 1u);
}

TEST(SegmentPlanTest, CutterMatchesCuts) {
  for (const SegmentPlan& plan : StandardPlans(200)) {
    SCOPED_TRACE(plan.Name());
    SegmentCutter cutter(plan);
    std::vector<size_t> streamed;
    for (size_t cut = cutter.Next(); cut < 5000; cut = cutter.Next()) streamed.push_back(cut);
    EXPECT_EQ(streamed, plan.Cuts(5000));
  }
  SegmentCutter offsets(SegmentPlan::Offsets({4, 9}));
  EXPECT_EQ(offsets.Next(), 4u);
  EXPECT_EQ(offsets.Next(), 9u);
  EXPECT_EQ(offsets.Next(), SegmentCutter::kNoMoreCuts);
}

TEST(SegmentPlanTest, Names) {
  EXPECT_EQ(SegmentPlan::Whole().Name(), "whole");
  EXPECT_EQ(SegmentPlan::Chop(7).Name(), "chop7");
  EXPECT_EQ(SegmentPlan::SeededRandom(3, 997).Name(), "random(seed=3,max=997)");
  EXPECT_EQ(SegmentPlan::Offsets({3, 17}).Name(), "cut(3,17)");
  EXPECT_EQ(StandardPlans(256).size(), 8u);
  EXPECT_EQ(StandardPlans(257).size(), 7u);
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
