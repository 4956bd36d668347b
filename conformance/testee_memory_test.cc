#include "conformance/testee_memory.h"

#include <unistd.h>

#include <cstring>
#include <memory>

#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

TEST(TesteeMemoryTest, ReadsThisProcess) {
  EXPECT_GT(ResidentBytes(::getpid()), 0u);
  EXPECT_GE(ProcStatusBytes(::getpid(), "VmHWM"), ResidentBytes(::getpid()) / 2);
  EXPECT_EQ(ProcStatusBytes(::getpid(), "NoSuchField"), 0u);
}

TEST(TesteeMemoryTest, AbsentProcessReadsZero) {
  EXPECT_EQ(ResidentBytes(0x3fffffff), 0u);
  PeakWindow window(0x3fffffff);
  EXPECT_EQ(window.start_bytes(), 0u);
  EXPECT_EQ(window.Growth(), 0u);
}

// A peak freed before Growth() is asked is still seen when VmHWM could be
// reset; a sample in between catches it otherwise.
TEST(TesteeMemoryTest, PeakWindowSeesAFreedPeak) {
  constexpr size_t kSize = size_t{64} << 20;
  PeakWindow window(::getpid());
  {
    std::unique_ptr<char[]> block(new char[kSize]);
    std::memset(block.get(), 1, kSize);  // touch every page
    volatile char sink = block[kSize - 1];
    (void)sink;
    if (!window.exact()) window.Sample();
  }
  EXPECT_GE(window.Growth(), uint64_t{60} << 20);
  EXPECT_GE(window.peak_bytes(), window.start_bytes() + (uint64_t{60} << 20));
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
