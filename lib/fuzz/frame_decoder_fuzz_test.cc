// Runs the FrameDecoder fuzz target over generated inputs in every build:
// valid streams of every dialect (frames of many sizes, with and without
// checksums), then the same streams mutated (bytes flipped, cut short,
// spliced, bytes inserted), each under every decoder configuration the
// control bytes select. The target aborts when an invariant breaks.
// With LPFRAME_FUZZ_SEED_DIR set, the inputs are also written there as a
// seed corpus for tools/fuzz.sh.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/dialect.h"
#include "lib/frame_encoder.h"
#include "lib/message.h"
#include "lib/testing/pattern_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace lpframe {
namespace {

using testing_util::PatternBytes;

// A valid stream of `count` frames in `dialect`.
std::string ValidStream(Dialect dialect, bool checksum, std::mt19937& rng, int count) {
  EncoderOptions options;
  options.dialect = dialect;
  options.checksum = checksum && dialect == Dialect::kNative;
  FrameEncoder encoder(options);
  constexpr size_t kSizes[] = {0, 1, 7, 64, 700, 2999, 3001, 4097, 9000, 70000};
  std::string stream;
  for (int i = 0; i < count; ++i) {
    Message m;
    if (dialect == Dialect::kNative) {
      m.envelope.set_id(rng() % 1000);
      if (rng() % 3 == 0) m.envelope.set_content_type(std::string(rng() % 150, 't'));
    }
    const size_t size = kSizes[rng() % std::size(kSizes)];
    m.payload = absl::Cord(PatternBytes(size, static_cast<uint32_t>(rng())));
    absl::StatusOr<EncodedFrame> frame = encoder.Encode(m);
    if (frame.ok()) stream += frame->ToString();
  }
  return stream;
}

std::string Mutate(std::string s, std::mt19937& rng) {
  if (s.empty()) return s;
  switch (rng() % 5) {
    case 0:  // flip bytes
      for (int k = 0, n = 1 + rng() % 4; k < n; ++k) s[rng() % s.size()] ^= 1 << (rng() % 8);
      break;
    case 1:  // cut short
      s.resize(rng() % s.size());
      break;
    case 2:  // splice a piece of itself
      s.insert(rng() % s.size(), s.substr(rng() % s.size(), 1 + rng() % 64));
      break;
    case 3:  // insert random bytes
      s.insert(rng() % s.size(), PatternBytes(1 + rng() % 16, static_cast<uint32_t>(rng())));
      break;
    default:  // overwrite a length field area with large values
      s[rng() % s.size()] = static_cast<char>(0xff);
      break;
  }
  return s;
}

TEST(FrameDecoderFuzzTest, GeneratedStreamsKeepEveryInvariant) {
  const char* seed_dir = std::getenv("LPFRAME_FUZZ_SEED_DIR");
  std::mt19937 rng(20261205);
  constexpr Dialect kDialects[] = {Dialect::kNative, Dialect::kNative, Dialect::kVarint32,
                                   Dialect::kU32BE};
  int inputs = 0;
  for (int round = 0; round < 40; ++round) {
    for (uint8_t config = 0; config < 64; config += 1 + rng() % 5) {
      const Dialect dialect = kDialects[config & 3];
      const std::string valid = ValidStream(dialect, round % 2 == 1, rng, 1 + rng() % 6);
      for (int variant = 0; variant < 3; ++variant) {
        std::string input(4, '\0');
        input[0] = static_cast<char>(config);
        input[1] = static_cast<char>(rng());
        input[2] = static_cast<char>(rng());
        input[3] = static_cast<char>(rng());
        input += variant == 0 ? valid : Mutate(valid, rng);
        SCOPED_TRACE(absl::StrCat("round ", round, " config ", int{config}, " variant ",
                                  variant, " (", input.size(), " bytes)"));
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
        if (seed_dir != nullptr && input.size() < 20000) {
          std::ofstream(absl::StrCat(seed_dir, "/gen-", inputs)) << input;
        }
        ++inputs;
      }
    }
  }
  EXPECT_GT(inputs, 1000);
}

}  // namespace
}  // namespace lpframe
