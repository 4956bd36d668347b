// Tests for CordInputStream against the ZeroCopyInputStream contract, over
// multi-chunk Cords built from external pieces.
#include "lib/cord_input_stream.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "lib/testing/pattern_bytes.h"

namespace lpframe {
namespace {

using testing_util::PatternBytes;

// Appends each piece as its own external chunk. Pieces must be over 511
// bytes: absl copies smaller appended Cords into the existing tree.
absl::Cord AppendExternalPieces(const std::vector<std::string>& pieces, int* released) {
  absl::Cord cord;
  for (const std::string& piece : pieces) {
    auto* owned = new std::string(piece);
    cord.Append(absl::MakeCordFromExternal(*owned, [owned, released] {
      if (released != nullptr) ++*released;
      delete owned;
    }));
  }
  return cord;
}

std::vector<absl::string_view> ChunksOf(const absl::Cord& cord) {
  std::vector<absl::string_view> out;
  for (absl::string_view c : cord.Chunks()) out.push_back(c);
  return out;
}

const std::vector<std::string>& Pieces() {
  static const auto* const pieces = new std::vector<std::string>{
      PatternBytes(600, 1), PatternBytes(1024, 2), PatternBytes(777, 3), PatternBytes(4096, 4),
      PatternBytes(513, 5)};
  return *pieces;
}

TEST(CordInputStreamTest, NextHandsOutTheChunksInOrder) {
  int released = 0;
  {
    const absl::Cord cord = AppendExternalPieces(Pieces(), &released);
    const std::vector<absl::string_view> chunks = ChunksOf(cord);
    ASSERT_EQ(chunks.size(), Pieces().size()) << "precondition: one chunk per piece";
    CordInputStream in(&cord);
    EXPECT_EQ(in.ByteCount(), 0);
    int64_t total = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("chunk ", i));
      const void* data;
      int size;
      ASSERT_TRUE(in.Next(&data, &size));
      EXPECT_EQ(data, chunks[i].data()) << "not zero-copy";
      EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size), Pieces()[i]);
      total += size;
      EXPECT_EQ(in.ByteCount(), total);
    }
    const void* data;
    int size;
    EXPECT_FALSE(in.Next(&data, &size));
    EXPECT_FALSE(in.Next(&data, &size));
    EXPECT_EQ(in.ByteCount(), static_cast<int64_t>(cord.size()));
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, static_cast<int>(Pieces().size()));  // the stream did not copy or own
}

TEST(CordInputStreamTest, BackUpReturnsTheTailOfTheLastNext) {
  const absl::Cord cord = AppendExternalPieces(Pieces(), nullptr);
  ASSERT_EQ(ChunksOf(cord).size(), Pieces().size());
  const std::string flat(cord);
  for (int back : {1, 2, 100, 599, 600}) {
    SCOPED_TRACE(absl::StrCat("BackUp(", back, ")"));
    CordInputStream in(&cord);
    const void* data;
    int size;
    ASSERT_TRUE(in.Next(&data, &size));
    ASSERT_EQ(size, 600);
    const char* first = static_cast<const char*>(data);
    in.BackUp(back);
    EXPECT_EQ(in.ByteCount(), 600 - back);
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(size, back);
    EXPECT_EQ(data, first + 600 - back);
    EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size),
              absl::string_view(flat).substr(600 - back, back));
    EXPECT_EQ(in.ByteCount(), 600);
    // Then the next chunk, unchanged.
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size), Pieces()[1]);
    EXPECT_EQ(in.ByteCount(), 600 + 1024);
  }
  // BackUp(0) is a no-op.
  CordInputStream in(&cord);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  in.BackUp(0);
  EXPECT_EQ(in.ByteCount(), 600);
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size), Pieces()[1]);
}

TEST(CordInputStreamTest, Skip) {
  const absl::Cord cord = AppendExternalPieces(Pieces(), nullptr);
  ASSERT_EQ(ChunksOf(cord).size(), Pieces().size());
  const std::string flat(cord);
  struct Case {
    const char* name;
    std::vector<int> skips;  // successive Skip() calls
    bool last_ok;
    int64_t position;
  };
  const Case cases[] = {
      {"zero", {0}, true, 0},
      {"inside the first chunk", {10}, true, 10},
      {"to the first chunk's end", {600}, true, 600},
      {"across one boundary", {601}, true, 601},
      {"across several boundaries", {3000}, true, 3000},
      {"in steps", {300, 300, 1, 1023, 777}, true, 2401},
      {"to exactly the end", {static_cast<int>(flat.size())}, true,
       static_cast<int64_t>(flat.size())},
      {"past the end", {static_cast<int>(flat.size()) + 1}, false,
       static_cast<int64_t>(flat.size())},
      {"far past the end", {1 << 30}, false, static_cast<int64_t>(flat.size())},
      {"negative", {-1}, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CordInputStream in(&cord);
    bool ok = true;
    for (int n : c.skips) ok = in.Skip(n);
    EXPECT_EQ(ok, c.last_ok);
    EXPECT_EQ(in.ByteCount(), c.position);
    // The next bytes are the ones after the position.
    const void* data;
    int size;
    if (c.position < static_cast<int64_t>(flat.size())) {
      ASSERT_TRUE(in.Next(&data, &size));
      ASSERT_GT(size, 0);
      EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size),
                absl::string_view(flat).substr(c.position, size));
    } else {
      EXPECT_FALSE(in.Next(&data, &size));
    }
  }
}

TEST(CordInputStreamTest, SkipAfterBackUp) {
  const absl::Cord cord = AppendExternalPieces(Pieces(), nullptr);
  const std::string flat(cord);
  CordInputStream in(&cord);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  in.BackUp(100);
  ASSERT_TRUE(in.Skip(150));  // 100 backed-up bytes, then 50 of chunk 2
  EXPECT_EQ(in.ByteCount(), 650);
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size),
            absl::string_view(flat).substr(650, 1024 - 50));
}

TEST(CordInputStreamTest, EmptyAndFlatCords) {
  const absl::Cord empty;
  CordInputStream in(&empty);
  const void* data;
  int size;
  EXPECT_FALSE(in.Next(&data, &size));
  EXPECT_TRUE(in.Skip(0));
  EXPECT_FALSE(in.Skip(1));
  EXPECT_EQ(in.ByteCount(), 0);

  const absl::Cord small("abc");  // inline
  CordInputStream s(&small);
  ASSERT_TRUE(s.Next(&data, &size));
  EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size), "abc");
  s.BackUp(2);
  ASSERT_TRUE(s.Next(&data, &size));
  EXPECT_EQ(absl::string_view(static_cast<const char*>(data), size), "bc");
  EXPECT_FALSE(s.Next(&data, &size));
  EXPECT_EQ(s.ByteCount(), 3);
}

// Random Next/BackUp/Skip sequences against a model (the flat bytes and a
// position), seeded per instance.
class CordInputStreamModelTest : public ::testing::TestWithParam<int> {};

INSTANTIATE_TEST_SUITE_P(Seeds, CordInputStreamModelTest, ::testing::Range(0, 20));

TEST_P(CordInputStreamModelTest, MatchesTheModel) {
  const uint32_t seed = 777 + static_cast<uint32_t>(GetParam());
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  std::vector<std::string> pieces;
  const int n = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < n; ++i) pieces.push_back(PatternBytes(512 + rng() % 3000, rng()));
  const absl::Cord cord = AppendExternalPieces(pieces, nullptr);
  const std::string flat(cord);
  CordInputStream in(&cord);
  int64_t pos = 0;
  int last_size = 0;  // size of the last Next() still eligible for BackUp
  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step, ", position ", pos));
    switch (rng() % 3) {
      case 0: {
        const void* data;
        int size;
        const bool ok = in.Next(&data, &size);
        ASSERT_EQ(ok, pos < static_cast<int64_t>(flat.size()));
        if (ok) {
          ASSERT_GT(size, 0);
          ASSERT_LE(pos + size, static_cast<int64_t>(flat.size()));
          ASSERT_EQ(absl::string_view(static_cast<const char*>(data), size),
                    absl::string_view(flat).substr(pos, size));
          pos += size;
          last_size = size;
        } else {
          last_size = 0;
        }
        break;
      }
      case 1:
        if (last_size > 0) {
          const int back = 1 + static_cast<int>(rng() % last_size);
          in.BackUp(back);
          pos -= back;
        }
        last_size = 0;  // BackUp is allowed once after a Next
        break;
      case 2: {
        const int skip = static_cast<int>(rng() % 2500);
        const bool ok = in.Skip(skip);
        const int64_t left = static_cast<int64_t>(flat.size()) - pos;
        ASSERT_EQ(ok, skip <= left);
        pos = std::min<int64_t>(pos + skip, flat.size());
        last_size = 0;
        break;
      }
    }
    ASSERT_EQ(in.ByteCount(), pos);
  }
}

// A protobuf parser drives Next/BackUp the way UnpackTypedMessage does; the
// reference is protobuf's own ArrayInputStream.
TEST(CordInputStreamTest, ProtobufCodedStreamReadsAcrossChunks) {
  std::vector<std::string> pieces = Pieces();
  const absl::Cord cord = AppendExternalPieces(pieces, nullptr);
  const std::string flat(cord);
  for (int chunk : {1, 7, 600, 4096}) {
    SCOPED_TRACE(absl::StrCat("read size ", chunk));
    CordInputStream in(&cord);
    google::protobuf::io::ArrayInputStream ref(flat.data(), static_cast<int>(flat.size()),
                                               chunk);
    // Read the whole stream through CodedInputStream::ReadRaw in `chunk`
    // pieces and compare.
    google::protobuf::io::CodedInputStream a(&in);
    google::protobuf::io::CodedInputStream b(&ref);
    std::string x, y;
    while (true) {
      const bool ra = a.ReadString(&x, chunk);
      const bool rb = b.ReadString(&y, chunk);
      ASSERT_EQ(ra, rb);
      if (!ra) break;
      ASSERT_EQ(x, y);
    }
    EXPECT_EQ(a.CurrentPosition(), b.CurrentPosition());
  }
}

}  // namespace
}  // namespace lpframe
