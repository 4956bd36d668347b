// Tests for dialect names (PROTOCOL.md §1, §8).
#include "lib/dialect.h"

#include "gtest/gtest.h"

namespace lpframe {
namespace {

TEST(DialectTest, NamesRoundTrip) {
  struct Case {
    Dialect dialect;
    const char* name;
  };
  const Case cases[] = {{Dialect::kNative, "native"},
                        {Dialect::kVarint32, "varint32"},
                        {Dialect::kU32BE, "u32be"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(DialectName(c.dialect), c.name);
    Dialect parsed = c.dialect == Dialect::kNative ? Dialect::kU32BE : Dialect::kNative;
    EXPECT_TRUE(ParseDialect(c.name, &parsed));
    EXPECT_EQ(parsed, c.dialect);
  }
}

TEST(DialectTest, UnknownNames) {
  for (const char* bad : {"", "Native", "NATIVE", "varint", "u32", "u32le", "native "}) {
    SCOPED_TRACE(bad);
    Dialect d = Dialect::kVarint32;
    EXPECT_FALSE(ParseDialect(bad, &d));
    EXPECT_EQ(d, Dialect::kVarint32) << "left unchanged";
  }
  EXPECT_EQ(DialectName(static_cast<Dialect>(42)), "unknown");
}

}  // namespace
}  // namespace lpframe
