// The checked-in vectors must be exactly what the generator produces:
// regenerate with
//   bazel run //conformance:vector_gen -- --out_dir=$PWD/conformance/vectors
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "conformance/test_vector.h"
#include "conformance/vector_generator.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

TEST(VectorsFreshTest, CheckedInFilesMatchTheGenerator) {
  for (const auto& [name, file] : GenerateVectorFiles()) {
    SCOPED_TRACE(name);
    std::ifstream in(absl::StrCat("conformance/vectors/", name), std::ios::binary);
    ASSERT_TRUE(in) << "missing conformance/vectors/" << name;
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_TRUE(text.str() == VectorFileToJson(file))
        << "conformance/vectors/" << name
        << " is stale; regenerate with bazel run //conformance:vector_gen -- "
           "--out_dir=$PWD/conformance/vectors";
  }
}

TEST(VectorsFreshTest, IdsAreUnique) {
  std::set<std::string> ids;
  for (const auto& [name, file] : GenerateVectorFiles()) {
    for (const Vector& v : file.vectors()) {
      EXPECT_TRUE(ids.insert(v.id()).second) << "duplicate id " << v.id();
    }
  }
  EXPECT_GE(ids.size(), 150u);
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
