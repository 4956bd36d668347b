#include "lib/testing/pattern_bytes.h"

namespace lpframe {
namespace testing_util {

std::string PatternBytes(size_t n, uint32_t salt) {
  std::string s(n, '\0');
  uint32_t x = salt * 2654435761u + 7;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace testing_util
}  // namespace lpframe
