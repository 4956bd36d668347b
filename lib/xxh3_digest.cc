#include "lib/xxh3_digest.h"

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>  // XXH3_64bits* -> runtime-dispatched AVX2/AVX-512
#endif

#include <cstdlib>

namespace lpframe {

Xxh3Digest::Xxh3Digest() : state_(XXH3_createState()) {
  if (state_ == nullptr) std::abort();  // out of memory
  Reset();
}

Xxh3Digest::~Xxh3Digest() { XXH3_freeState(state_); }

void Xxh3Digest::Reset() { XXH3_64bits_reset(state_); }

void Xxh3Digest::Update(absl::string_view bytes) {
  XXH3_64bits_update(state_, bytes.data(), bytes.size());
}

void Xxh3Digest::Update(const absl::Cord& bytes) {
  for (absl::string_view chunk : bytes.Chunks()) Update(chunk);
}

uint64_t Xxh3Digest::Digest() const { return XXH3_64bits_digest(state_); }

uint64_t Xxh3Digest::Of(absl::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace lpframe
