// File: lib/xxh3_digest.h
//
// Streaming XXH3-64 (xxHash, Debian's libxxhash) used for the optional
// checksum trailer of native frames and for streamed-body digests.
//
// Thread-compatible. Not copyable (the state is large and heap-allocated).
#ifndef LPFRAME_LIB_XXH3_DIGEST_H_
#define LPFRAME_LIB_XXH3_DIGEST_H_

#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

struct XXH3_state_s;

namespace lpframe {

class Xxh3Digest {
 public:
  Xxh3Digest();
  ~Xxh3Digest();
  Xxh3Digest(const Xxh3Digest&) = delete;
  Xxh3Digest& operator=(const Xxh3Digest&) = delete;

  // Starts a new digest (seed 0).
  void Reset();
  void Update(absl::string_view bytes);
  void Update(const absl::Cord& bytes);
  // The digest of everything since Reset(); does not reset.
  uint64_t Digest() const;

  // One-shot XXH3-64 of `bytes` (seed 0).
  static uint64_t Of(absl::string_view bytes);

 private:
  XXH3_state_s* state_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_XXH3_DIGEST_H_
