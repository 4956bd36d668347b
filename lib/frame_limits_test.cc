// Tests for FrameLimits (PROTOCOL.md §6.1).
#include "lib/frame_limits.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;

TEST(FrameLimitsTest, Defaults) {
  const FrameLimits limits;
  EXPECT_EQ(limits.max_payload_bytes, 67108864u);
  EXPECT_EQ(limits.max_envelope_bytes, 65536u);
  EXPECT_EQ(FrameLimits::kMaxPayloadLimit, uint64_t{1} << 62);
  EXPECT_EQ(FrameLimits::kMaxEnvelopeLimit, uint32_t{64} << 20);
  EXPECT_TRUE(limits.Validate().ok());
}

TEST(FrameLimitsTest, Validate) {
  struct Case {
    uint64_t payload;
    uint32_t envelope;
    bool ok;
    std::string in_message;
  };
  const Case cases[] = {
      {0, 0, true, ""},
      {FrameLimits::kMaxPayloadLimit, FrameLimits::kMaxEnvelopeLimit, true, ""},
      {FrameLimits::kMaxPayloadLimit + 1, 0, false, "max_payload_bytes"},
      {~uint64_t{0}, 0, false, "18446744073709551615"},
      {0, FrameLimits::kMaxEnvelopeLimit + 1, false, "max_envelope_bytes"},
      {0, 0xffffffffu, false, "4294967295"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.payload, "/", c.envelope));
    FrameLimits limits;
    limits.max_payload_bytes = c.payload;
    limits.max_envelope_bytes = c.envelope;
    const absl::Status s = limits.Validate();
    EXPECT_EQ(s.ok(), c.ok) << s;
    if (!c.ok) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), HasSubstr(c.in_message));
    }
  }
}

}  // namespace
}  // namespace lpframe
