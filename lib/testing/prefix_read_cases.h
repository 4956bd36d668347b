// File: lib/testing/prefix_read_cases.h
//
// The cases of the prefix-read tests: FramedConnection and the server's
// ConnectionReader read the same way. In ReadMode::kDirect, in and right
// after a frame whose payload is at least 2 * read_size, a read of input
// asks for the rest of the frame plus the prefix of a frame like it, so
// every payload after the first of a stream of like frames is read straight
// into its storage. The tests use reads of kPrefixReadSize bytes and a pool
// of kPrefixReadBlock-byte blocks, and write every frame before the first
// read, so each read returns what it asks for.
#ifndef LPFRAME_LIB_TESTING_PREFIX_READ_CASES_H_
#define LPFRAME_LIB_TESTING_PREFIX_READ_CASES_H_

#include <cstddef>
#include <cstdint>

namespace lpframe {
namespace testing_util {

constexpr size_t kPrefixReadSize = 1024;
constexpr size_t kPrefixReadBlock = 4096;

struct PrefixReadCase {
  const char* name;
  bool checksum;  // frames carry the CHECKSUM trailer
  uint64_t size;  // payload bytes of every frame
};

inline constexpr PrefixReadCase kPrefixReadCases[] = {
    {"whole blocks", false, 2 * kPrefixReadBlock},
    {"whole blocks, checksum", true, 2 * kPrefixReadBlock},
    {"a 3-byte tail past the blocks", false, 2 * kPrefixReadBlock + 3},
    {"a 3-byte tail past the blocks, checksum", true, 2 * kPrefixReadBlock + 3},
    {"exactly 2 * read_size", false, 2 * kPrefixReadSize},
};

// The fewest payload bytes of `frames` frames (after a stream's first) that
// must arrive straight into storage: a tail below read_size past the last
// whole block may come through the input, with the next frame's prefix.
inline uint64_t MinDirectPayloadBytes(const PrefixReadCase& c, uint64_t frames) {
  const uint64_t past_blocks = c.size % kPrefixReadBlock;
  const uint64_t tail = past_blocks < kPrefixReadSize ? past_blocks : 0;
  return frames * (c.size - tail);
}

}  // namespace testing_util
}  // namespace lpframe

#endif  // LPFRAME_LIB_TESTING_PREFIX_READ_CASES_H_
