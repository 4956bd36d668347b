#include "proto/envelope.pb.h"
#include "absl/strings/cord.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include <xxhash.h>
TEST(Smoke, Works) { lpframe::Envelope e; e.set_id(3); absl::Cord c("abc"); EXPECT_EQ(c.size(), 3u); EXPECT_NE(XXH3_64bits("a",1), 0u);}
