#include "lib/error_envelope.h"

#include <vector>

#include "gtest/gtest.h"

namespace lpframe {
namespace {

TEST(ErrorEnvelopeTest, CarriesTheCodeAndMessageAndNothingElse) {
  const std::vector<absl::Status> statuses = {
      absl::InvalidArgumentError("bad length"), absl::ResourceExhaustedError(""),
      absl::Status(absl::StatusCode::kUnavailable, std::string("nul\0byte", 8)),
      absl::OkStatus()};
  for (const absl::Status& status : statuses) {
    SCOPED_TRACE(status.ToString());
    const Envelope e = ErrorEnvelope(status);
    EXPECT_EQ(e.kind(), KIND_ERROR);
    EXPECT_EQ(e.id(), 0u);
    ASSERT_TRUE(e.has_status());
    EXPECT_EQ(e.status().code(), static_cast<int32_t>(status.code()));
    EXPECT_EQ(e.status().message(), status.message());
    EXPECT_TRUE(e.content_type().empty());
    EXPECT_EQ(e.metadata_size(), 0);
    EXPECT_FALSE(e.has_chunk());
  }
}

}  // namespace
}  // namespace lpframe
