// File: lib/testing/pattern_bytes.h
//
// Deterministic test bytes for the codec's tests (testonly).
#ifndef LPFRAME_LIB_TESTING_PATTERN_BYTES_H_
#define LPFRAME_LIB_TESTING_PATTERN_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace lpframe {
namespace testing_util {

// `n` position-dependent bytes in which all 256 values occur; the same
// (n, salt) always gives the same bytes, and a shorter n gives a prefix.
std::string PatternBytes(size_t n, uint32_t salt);

}  // namespace testing_util
}  // namespace lpframe

#endif  // LPFRAME_LIB_TESTING_PATTERN_BYTES_H_
