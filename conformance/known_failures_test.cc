#include "conformance/known_failures.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const std::vector<std::string> kCatalogue = {"magic.garbage.0", "magic.garbage.1",
                                             "size_boundary.4096.0", "reset.mid_stream.2"};

TEST(KnownFailuresTest, ParsesIdsPrefixesAndReasons) {
  absl::StatusOr<KnownFailures> list = KnownFailures::Parse(
      "# our server\n\nmagic.garbage.*   # no error frames yet\nreset.mid_stream.2\n", "x.txt");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_THAT(list->entries(), SizeIs(2));
  EXPECT_EQ(list->entries()[0].line, 3);
  EXPECT_EQ(list->entries()[0].reason, "no error frames yet");
  ASSERT_NE(list->Match("magic.garbage.1"), nullptr);
  EXPECT_EQ(list->Match("magic.garbage.1")->pattern, "magic.garbage.*");
  EXPECT_NE(list->Match("reset.mid_stream.2"), nullptr);
  EXPECT_EQ(list->Match("reset.mid_stream.20"), nullptr);
  EXPECT_EQ(list->Match("size_boundary.4096.0"), nullptr);
}

TEST(KnownFailuresTest, RejectsMalformedEntries) {
  for (const char* text : {"magic.*.0\n", "*\n", "two ids\n"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<KnownFailures> list = KnownFailures::Parse(text, "list.txt");
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(list.status().message(), HasSubstr("list.txt:1"));
  }
  EXPECT_EQ(KnownFailures::Load("/nonexistent/list.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KnownFailuresTest, FreshListIsNotStale) {
  KnownFailures list = *KnownFailures::Parse("magic.garbage.*\nreset.mid_stream.2\n", "l");
  EXPECT_THAT(list.Stale(kCatalogue, {{"magic.garbage.0", true},
                                      {"magic.garbage.1", false},
                                      {"reset.mid_stream.2", true}}),
              IsEmpty());
}

TEST(KnownFailuresTest, StaleWhenTheCasesNowPass) {
  KnownFailures list = *KnownFailures::Parse("magic.garbage.*\nreset.mid_stream.2\n", "l");
  const std::vector<std::string> stale = list.Stale(
      kCatalogue,
      {{"magic.garbage.0", false}, {"magic.garbage.1", false}, {"reset.mid_stream.2", true}});
  ASSERT_THAT(stale, SizeIs(1));
  EXPECT_THAT(stale[0], HasSubstr("l:1: magic.garbage.*"));
  EXPECT_THAT(stale[0], HasSubstr("2 case(s) passed"));
}

TEST(KnownFailuresTest, StaleWhenMatchingNothing) {
  KnownFailures list = *KnownFailures::Parse("magic.renamed.0\nsize_boundary.*\n", "l");
  EXPECT_THAT(list.Stale(kCatalogue, {{"size_boundary.4096.0", true}}),
              ElementsAre(HasSubstr("l:1: magic.renamed.0 matches no case of the catalogue")));
}

TEST(KnownFailuresTest, EntriesOutsideAFilteredRunAreNotJudged) {
  KnownFailures list = *KnownFailures::Parse("reset.mid_stream.2\n", "l");
  EXPECT_THAT(list.Stale(kCatalogue, {{"magic.garbage.0", false}}), IsEmpty());
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
