#include "lib/string_heap_bytes.h"

#include <string>

#include "gtest/gtest.h"

namespace lpframe {
namespace {

TEST(StringHeapBytesTest, InlineStringsHoldNoHeap) {
  EXPECT_EQ(StringHeapBytes(std::string()), 0u);
  EXPECT_EQ(StringHeapBytes(std::string("short")), 0u);
}

TEST(StringHeapBytesTest, HeapStringsCountTheirCapacity) {
  std::string s(1000, 'x');
  EXPECT_EQ(StringHeapBytes(s), s.capacity());
  s.clear();  // the capacity stays allocated
  EXPECT_GE(StringHeapBytes(s), 1000u);
  std::string().swap(s);
  EXPECT_EQ(StringHeapBytes(s), 0u);
}

}  // namespace
}  // namespace lpframe
