// Replays every vector of conformance/vectors/ through FrameDecoder under
// many segmentations; every one must give the vector's outcome.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "conformance/test_vector.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

constexpr size_t kBlockSizes[] = {1, 2, 3, 5, 7, 13, 32, 1024, 8192};

struct Case {
  VectorFile file;  // dialect and description only
  Vector vector;
};

std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  for (const char* name : kVectorFileNames) {
    absl::StatusOr<VectorFile> file =
        LoadVectorFile(absl::StrCat("conformance/vectors/", name));
    if (!file.ok()) {
      ADD_FAILURE() << file.status();
      continue;
    }
    for (const Vector& v : file->vectors()) {
      Case c;
      c.file.set_dialect(file->dialect());
      c.vector = v;
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

const std::vector<Case>& AllCases() {
  static const auto* const cases = new std::vector<Case>(LoadCases());
  return *cases;
}

class VectorTest : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> input = MaterializeInput(GetParam().vector);
    ASSERT_TRUE(input.ok()) << input.status();
    input_ = *std::move(input);
    absl::StatusOr<DecoderOptions> options =
        DecoderOptionsFor(GetParam().file, GetParam().vector);
    ASSERT_TRUE(options.ok()) << options.status();
    options_ = *options;
  }

  void Expect(const std::vector<size_t>& cuts, bool direct, const std::string& plan) {
    SCOPED_TRACE(absl::StrCat(GetParam().vector.id(), " fed as ", plan));
    DecodeOutcome outcome = DecodeSegments(options_, input_, cuts, direct);
    const std::string diff = CheckOutcome(GetParam().vector, outcome);
    EXPECT_EQ(diff, "") << GetParam().vector.description();
  }

  bool small() const { return input_.size() <= 4096; }
  bool large() const { return input_.size() > (1u << 20) + 4096; }

  std::string input_;
  DecoderOptions options_;
};

TEST_P(VectorTest, Whole) { Expect({}, false, "one segment"); }

TEST_P(VectorTest, DirectReads) {
  Expect(FixedCuts(input_.size(), 8192), true, "8 KiB reads into lent buffers");
  Expect({}, true, "one read into lent buffers");
}

TEST_P(VectorTest, SplitAtEveryOffset) {
  // Every offset of small inputs; for larger ones the header region, the
  // read-size edges and the tail.
  std::vector<size_t> offsets;
  if (small()) {
    for (size_t cut = 1; cut < input_.size(); ++cut) offsets.push_back(cut);
  } else {
    for (size_t cut = 1; cut <= 40; ++cut) offsets.push_back(cut);
    for (size_t edge : {4095, 4096, 4097, 8191, 8192, 8193, 65536}) {
      if (edge < input_.size()) offsets.push_back(edge);
    }
    for (size_t back = 1; back <= 9; ++back) offsets.push_back(input_.size() - back);
    if (large()) offsets.resize(12);  // multi-MB: keep CI fast
  }
  for (size_t cut : offsets) {
    Expect({cut}, false, absl::StrCat("two segments split at ", cut));
  }
}

TEST_P(VectorTest, EveryHeaderCutSet) {
  // Every subset of cut points inside the first 8 bytes (header edges).
  const size_t n = std::min<size_t>(input_.size(), large() ? 4 : 8);
  if (n < 2) return;
  for (unsigned mask = 0; mask < (1u << (n - 1)); ++mask) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < n; ++i) {
      if (mask & (1u << (i - 1))) cuts.push_back(i);
    }
    Expect(cuts, false, absl::StrCat("header cut mask ", mask));
  }
}

TEST_P(VectorTest, BlockSizes) {
  for (size_t block : kBlockSizes) {
    if (large() && block < 1024) continue;  // kept fast: 64 MiB in 1-byte reads
    Expect(FixedCuts(input_.size(), block), false, absl::StrCat(block, "-byte pieces"));
  }
}

TEST_P(VectorTest, SeededRandomSlices) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::vector<size_t> cuts;
    const size_t max_piece = large() ? 65536 : (small() ? 97 : 4099);
    for (size_t at = 0;;) {
      at += 1 + rng() % max_piece;
      if (at >= input_.size()) break;
      cuts.push_back(at);
    }
    Expect(cuts, false, absl::StrCat("random pieces, seed ", seed));
  }
}

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.vector.id();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Vectors, VectorTest, testing::ValuesIn(AllCases()), CaseName);

// All clean single-file vectors with default limits, concatenated into one
// stream, must deliver all their messages in order.
TEST(VectorCoalescingTest, CleanVectorsBackToBack) {
  for (const char* name : kVectorFileNames) {
    absl::StatusOr<VectorFile> file =
        LoadVectorFile(absl::StrCat("conformance/vectors/", name));
    ASSERT_TRUE(file.ok()) << file.status();
    Vector combined;
    combined.set_id(absl::StrCat(file->dialect(), ".coalesced.all"));
    for (const Vector& v : file->vectors()) {
      if (!v.error().empty() || v.has_limits()) continue;
      for (const Bytes& b : v.input()) {
        if (b.has_pattern() && b.pattern().length() > (1u << 20) + 7) continue;
      }
      bool big = false;
      for (const Bytes& b : v.input()) big |= b.has_pattern() && b.pattern().length() > (2u << 20);
      if (big) continue;
      for (const Bytes& b : v.input()) *combined.add_input() = b;
      for (const ExpectedMessage& m : v.messages()) *combined.add_messages() = m;
    }
    SCOPED_TRACE(combined.id());
    ASSERT_GT(combined.messages_size(), 10);
    absl::StatusOr<std::string> input = MaterializeInput(combined);
    ASSERT_TRUE(input.ok());
    absl::StatusOr<DecoderOptions> options = DecoderOptionsFor(*file, combined);
    ASSERT_TRUE(options.ok());
    for (size_t block : {size_t{7}, size_t{8192}, input->size()}) {
      EXPECT_EQ(CheckOutcome(combined, DecodeSegments(*options, *input,
                                                      FixedCuts(input->size(), block),
                                                      false)),
                "")
          << block << "-byte pieces";
    }
  }
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
