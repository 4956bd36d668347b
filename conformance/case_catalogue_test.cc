#include "conformance/case_catalogue.h"

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "conformance/test_vector.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace conformance {
namespace {

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::vector<Case>& Catalogue() {
  static const auto* const cases = [] {
    absl::StatusOr<VectorFile> native = LoadVectorFile("conformance/vectors/native.json");
    EXPECT_TRUE(native.ok()) << native.status();
    return new std::vector<Case>(BuildCatalogue(native.ok() ? *native : VectorFile{}, {}));
  }();
  return *cases;
}

// The dialect catalogues, by dialect name.
const std::map<std::string, std::vector<Case>>& DialectCatalogues() {
  static const auto* const catalogues = [] {
    auto* out = new std::map<std::string, std::vector<Case>>;
    for (const char* name : {"varint32", "u32be"}) {
      absl::StatusOr<VectorFile> file =
          LoadVectorFile(absl::StrCat("conformance/vectors/", name, ".json"));
      EXPECT_TRUE(file.ok()) << file.status();
      if (!file.ok()) continue;
      absl::StatusOr<std::vector<Case>> cases = BuildDialectCatalogue(*file, {});
      EXPECT_TRUE(cases.ok()) << cases.status();
      if (cases.ok()) (*out)[name] = *std::move(cases);
    }
    return out;
  }();
  return *catalogues;
}

TEST(CaseCatalogueTest, SizeAndClasses) {
  std::map<std::string, int> by_class;
  for (const Case& c : Catalogue()) ++by_class[c.klass];
  EXPECT_GE(Catalogue().size(), 300u);
  EXPECT_GE(by_class.size(), 30u);
  // The classes the issue names, at least.
  for (const char* klass :
       {"zero_length", "size_boundary", "split_offset", "header_cuts", "dribble", "chop_sweep",
        "random_slicing", "large_payload", "read_edge", "coalesced", "frame_and_half",
        "limit_exact", "limit_over", "length_overflow", "alloc_bomb", "eof_inside",
        "eof_boundary", "reset", "invalid_envelope", "foreign", "version", "reserved_flags",
        "bit_flips", "random_garbage", "half_close", "peer_leaves", "slowloris", "idle", "interleaved",
        "transport_mix", "one_bad", "tiny_frames", "roundtrip_sweep", "stall"}) {
    EXPECT_GT(by_class[klass], 0) << klass;
  }
}

TEST(CaseCatalogueTest, DialectCataloguesCoverTheirClasses) {
  ASSERT_EQ(DialectCatalogues().size(), 2u);
  for (const auto& [name, cases] : DialectCatalogues()) {
    SCOPED_TRACE(name);
    std::map<std::string, int> by_class;
    for (const Case& c : cases) {
      ++by_class[c.klass];
      EXPECT_EQ(c.kind, CaseKind::kStream) << c.id;
      EXPECT_EQ(std::string(DialectName(c.dialect)), name) << c.id;
      EXPECT_EQ(c.id.rfind(name + "_", 0), 0u) << c.id;
    }
    EXPECT_GE(cases.size(), 150u);
    for (const char* klass : {"size", "coalesced", "eof_inside", "split_offset", "dribble",
                              "chop_sweep", "random_slicing", "read_edge", "frame_and_half",
                              "limit_over", "half_close", "empty_stream"}) {
      EXPECT_GT(by_class[absl::StrCat(name, "_", klass)], 0) << klass;
    }
  }
  VectorFile native;
  native.set_dialect("native");
  EXPECT_FALSE(BuildDialectCatalogue(native, {}).ok());
}

// Every case of the native and the dialect catalogues.
std::vector<const Case*> AllCases() {
  std::vector<const Case*> all;
  for (const Case& c : Catalogue()) all.push_back(&c);
  for (const auto& [name, cases] : DialectCatalogues()) {
    for (const Case& c : cases) all.push_back(&c);
  }
  return all;
}

TEST(CaseCatalogueTest, IdsAreUniqueAndWellFormed) {
  const std::regex id_format("[a-z0-9_]+\\.[A-Za-z0-9_^-]+\\.[0-9]+");
  std::set<std::string> ids;
  for (const Case* p : AllCases()) {
    const Case& c = *p;
    SCOPED_TRACE(c.id);
    EXPECT_TRUE(std::regex_match(c.id, id_format));
    EXPECT_TRUE(ids.insert(c.id).second) << "duplicate id";
    EXPECT_EQ(ClassOfCaseId(c.id), c.klass);
    EXPECT_FALSE(c.description.empty());
  }
}

TEST(CaseCatalogueTest, SpecSectionsExist) {
  const std::string protocol = ReadFileOrDie("docs/PROTOCOL.md");
  ASSERT_FALSE(protocol.empty());
  for (const Case* p : AllCases()) {
    const Case& c = *p;
    SCOPED_TRACE(c.id);
    const std::string heading = c.spec.find('.') == std::string::npos
                                    ? absl::StrCat("\n## ", c.spec, ". ")
                                    : absl::StrCat("\n### ", c.spec, " ");
    EXPECT_NE(protocol.find(heading), std::string::npos) << "no section " << c.spec;
  }
}

// The in-process half of the injection: every stream case, cut exactly as
// its plan says, through FrameDecoder, both with copied and direct reads.
TEST(CaseCatalogueTest, EveryStreamCaseHoldsInProcess) {
  int checked = 0;
  for (const Case* p : AllCases()) {
    const Case& c = *p;
    if (c.kind != CaseKind::kStream) continue;
    SCOPED_TRACE(absl::StrCat(c.id, " ", c.plan.Name()));
    absl::StatusOr<std::string> input = MaterializeInput(c.vector);
    ASSERT_TRUE(input.ok()) << input.status();
    if (input->size() > (16u << 20) + 64) continue;  // the 64 MiB case: vector_test has it
    const std::vector<size_t> cuts = c.plan.Cuts(input->size());
    DecoderOptions options;
    options.dialect = c.dialect;
    for (bool direct : {false, true}) {
      const DecodeOutcome outcome = DecodeSegments(options, *input, cuts, direct);
      EXPECT_EQ(CheckOutcome(c.vector, outcome), "") << (direct ? "direct reads" : "copied");
    }
    ++checked;
  }
  EXPECT_GE(checked, 550);
}

TEST(CaseCatalogueTest, SynthesizedExpectationsAreMeaningful) {
  std::map<std::string, const Case*> by_id;
  for (const Case& c : Catalogue()) by_id[c.id] = &c;
  auto expect = [&by_id](const std::string& id, const std::string& expected) {
    ASSERT_TRUE(by_id.count(id)) << id;
    EXPECT_EQ(by_id[id]->Expected(), expected) << id;
  };
  expect("split_offset.at.1", "DELIVER 2");
  expect("bit_flips.byte0.0", "REJECT BAD_MAGIC after 0");
  expect("bit_flips.byte4.0", "REJECT UNSUPPORTED_VERSION after 0");
  expect("bit_flips.byte13.7", "REJECT HEADER_CORRUPT after 0");
  expect("half_close.mid_frame.3", "REJECT TRUNCATED_PAYLOAD after 3");
  expect("header_cuts.http.7", "REJECT FOREIGN_PROTOCOL after 0");
  ASSERT_TRUE(by_id.count("roundtrip_sweep.size.16777216"));
  for (const auto& [name, cases] : DialectCatalogues()) {
    for (const Case& c : cases) by_id[c.id] = &c;
  }
  expect("varint32_limit_over.payload_default_plus_1.0", "REJECT PAYLOAD_TOO_LARGE after 1");
  ASSERT_FALSE(HasFatalFailure());  // the case exists
  EXPECT_TRUE(by_id["varint32_limit_over.payload_default_plus_1.0"]->vector.error_before_eof());
  expect("u32be_half_close.mid_frame.1", "REJECT TRUNCATED_HEADER after 3");
  expect("u32be_half_close.mid_frame.2", "REJECT TRUNCATED_PAYLOAD after 3");
  expect("u32be_split_offset.at.1", "DELIVER 2");
}

TEST(CaseCatalogueTest, Deterministic) {
  absl::StatusOr<VectorFile> native = LoadVectorFile("conformance/vectors/native.json");
  ASSERT_TRUE(native.ok());
  const std::vector<Case> again = BuildCatalogue(*native, {});
  ASSERT_EQ(again.size(), Catalogue().size());
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].id, Catalogue()[i].id);
    EXPECT_EQ(again[i].plan.Name(), Catalogue()[i].plan.Name());
  }
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
