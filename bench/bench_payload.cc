#include "bench/bench_payload.h"

#include <cstdint>
#include <map>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace lpframe_bench {

const std::string& PayloadBytes(size_t size) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* const cache = new std::map<size_t, std::string>;
  absl::MutexLock lock(&mu);
  auto it = cache->find(size);
  if (it == cache->end()) {
    std::string bytes(size, '\0');
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < size; ++i) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      bytes[i] = static_cast<char>(x);
    }
    it = cache->emplace(size, std::move(bytes)).first;
  }
  return it->second;
}

absl::Cord PayloadCord(size_t size) {
  const std::string& bytes = PayloadBytes(size);
  if (size <= 4096) return absl::Cord(bytes);
  return absl::MakeCordFromExternal(bytes, [] {});
}

std::string SizeName(size_t size) {
  constexpr size_t kKiB = size_t{1} << 10;
  constexpr size_t kMiB = size_t{1} << 20;
  if (size >= kMiB && size % kMiB == 0) return absl::StrCat(size / kMiB, "MiB");
  if (size >= kKiB && size % kKiB == 0) return absl::StrCat(size / kKiB, "KiB");
  return absl::StrCat(size, "B");
}

}  // namespace lpframe_bench
