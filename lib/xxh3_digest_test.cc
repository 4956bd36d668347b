// Tests for the streaming XXH3-64 digest (PROTOCOL.md §3.6, §3.7, §4.6).
#include "lib/xxh3_digest.h"

#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace {

std::string PatternBytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) >> 3);
  return s;
}

TEST(Xxh3DigestTest, KnownValues) {
  struct Case {
    std::string input;
    uint64_t digest;
  };
  const Case cases[] = {
      {"", 0x2d06800538d394c2ull},                                   // §3.6
      {"hello", 0x9555e8555c62dcfdull},                              // §4.6
      {absl::HexStringToBytes("0801100168656c6c6f"), 0x035cd175f1291530ull},  // §3.1 ex. 2
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    EXPECT_EQ(Xxh3Digest::Of(c.input), c.digest);
    Xxh3Digest d;
    d.Update(c.input);
    EXPECT_EQ(d.Digest(), c.digest);
    EXPECT_EQ(d.Digest(), c.digest) << "Digest() must not reset";
  }
}

TEST(Xxh3DigestTest, StreamingEqualsOneShotForAnySplit) {
  const std::string data = PatternBytes(5000);  // > XXH3's internal 256-byte stripes
  const uint64_t want = Xxh3Digest::Of(data);
  for (size_t piece : {1, 3, 64, 240, 241, 1024, 4999, 5000}) {
    SCOPED_TRACE(absl::StrCat("pieces of ", piece));
    Xxh3Digest d;
    for (size_t i = 0; i < data.size(); i += piece) d.Update(data.substr(i, piece));
    EXPECT_EQ(d.Digest(), want);
  }
}

TEST(Xxh3DigestTest, CordUpdateAndReset) {
  const std::string data = PatternBytes(3000);
  absl::Cord cord;
  for (size_t i = 0; i < data.size(); i += 600) {
    auto* owned = new std::string(data.substr(i, 600));
    cord.Append(absl::MakeCordFromExternal(*owned, [owned] { delete owned; }));
  }
  Xxh3Digest d;
  d.Update("garbage before the reset");
  d.Reset();
  d.Update(cord);
  EXPECT_EQ(d.Digest(), Xxh3Digest::Of(data));
  d.Reset();
  EXPECT_EQ(d.Digest(), 0x2d06800538d394c2ull);
  EXPECT_NE(Xxh3Digest::Of("a"), Xxh3Digest::Of("b"));
}

}  // namespace
}  // namespace lpframe
