// Seeded mutation sweep: every vector's input with bits flipped, bytes
// inserted, deleted or cut short. Whatever the bytes, the decoder must
//   - never crash or loop (the test finishes),
//   - end with a clean EOF or a typed error (a FrameErrorCode),
//   - give the same outcome (messages and error code) for every
//     segmentation of the same bytes,
//   - hold storage bounded by what arrived plus one payload block.
// Bounded for CI: kRounds mutants per vector of at most 64 KiB.
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/test_vector.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace conformance {
namespace {

constexpr int kRounds = 64;
constexpr size_t kMaxInput = 64 << 10;

std::string Mutate(std::string bytes, std::mt19937* rng) {
  if (bytes.empty()) bytes.push_back(static_cast<char>((*rng)() & 0xff));
  const int edits = 1 + static_cast<int>((*rng)() % 4);
  for (int i = 0; i < edits && !bytes.empty(); ++i) {
    const size_t at = (*rng)() % bytes.size();
    switch ((*rng)() % 5) {
      case 0:  // flip one bit
        bytes[at] = static_cast<char>(bytes[at] ^ (1u << ((*rng)() % 8)));
        break;
      case 1:  // overwrite a byte
        bytes[at] = static_cast<char>((*rng)() & 0xff);
        break;
      case 2:  // insert bytes
        bytes.insert(at, std::string(1 + (*rng)() % 8, static_cast<char>((*rng)() & 0xff)));
        break;
      case 3:  // delete bytes
        bytes.erase(at, 1 + (*rng)() % 8);
        break;
      case 4:  // cut short
        bytes.resize(at);
        break;
    }
  }
  return bytes;
}

struct Summary {
  std::vector<std::string> payloads;
  std::string error;  // FrameErrorCode name, "" for clean EOF
};

Summary Summarize(const DecodeOutcome& outcome) {
  Summary s;
  for (const Message& m : outcome.messages) {
    s.payloads.push_back(absl::StrCat(m.envelope.ShortDebugString(), "|", std::string(m.payload)));
  }
  s.error = outcome.end.ok() ? "" : std::string(FrameErrorCodeName(GetFrameErrorCode(outcome.end)));
  return s;
}

TEST(MutationTest, AnyBytesGiveATypedSegmentationIndependentOutcome) {
  int mutants = 0;
  for (const char* name : kVectorFileNames) {
    absl::StatusOr<VectorFile> file = LoadVectorFile(absl::StrCat("conformance/vectors/", name));
    ASSERT_TRUE(file.ok()) << file.status();
    std::mt19937 rng(20261124);
    for (const Vector& v : file->vectors()) {
      absl::StatusOr<std::string> input = MaterializeInput(v);
      ASSERT_TRUE(input.ok());
      if (input->size() > kMaxInput) continue;
      absl::StatusOr<DecoderOptions> options = DecoderOptionsFor(*file, v);
      ASSERT_TRUE(options.ok());
      for (int round = 0; round < kRounds; ++round, ++mutants) {
        const std::string bytes = Mutate(*input, &rng);
        SCOPED_TRACE(absl::StrCat(v.id(), " mutant ", round, " (", bytes.size(), " bytes)"));
        const DecodeOutcome whole = DecodeSegments(*options, bytes, {}, false);
        const Summary expected = Summarize(whole);
        if (!whole.end.ok()) {
          EXPECT_NE(GetFrameErrorCode(whole.end), FrameErrorCode::kNone)
              << "untyped error: " << whole.end;
        }
        std::vector<size_t> cuts;
        for (size_t at = 0;;) {
          at += 1 + rng() % 13;
          if (at >= bytes.size()) break;
          cuts.push_back(at);
        }
        for (bool direct : {false, true}) {
          const Summary split = Summarize(DecodeSegments(*options, bytes, cuts, direct));
          EXPECT_EQ(split.payloads, expected.payloads) << "direct=" << direct;
          EXPECT_EQ(split.error, expected.error) << "direct=" << direct;
        }
        // Storage stays bounded by the bytes that arrived.
        FrameDecoder decoder(*options);
        decoder.Feed(bytes);
        EXPECT_LE(decoder.reserved_bytes(),
                  2 * bytes.size() + BlockPool::kDefaultBlockSize + 4096);
      }
    }
  }
  EXPECT_GT(mutants, 6000);
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
