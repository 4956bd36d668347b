// Fuzz target for FrameDecoder (libFuzzer entry point; also run over
// generated inputs by frame_decoder_fuzz_test in every build).
//
// The first kControlBytes of an input choose the decoder's configuration
// (dialect, limits, pool block size, direct-read threshold) and the seed of
// the read sizes; the rest is the byte stream. The stream is decoded three
// ways: fed whole, fed in pieces, and read the way a server connection does
// (FeedBlock into scratch pool blocks that large payloads may keep, and
// straight into payload storage when the decoder wants a direct read, by
// scatter reads and by a client's DirectReadRoom() loop in turn).
// Invariants, each fatal when broken:
//   - the three ways deliver the same messages and end with the same status
//     code and FrameErrorCode (segmentation never changes the outcome);
//   - every pool block is back in the pool once the messages are gone;
//   - the decoder's storage follows what arrived (CheckHeld), whatever the
//     lengths the stream declares.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "lib/block_pool.h"
#include "lib/dialect.h"
#include "lib/frame_decoder.h"
#include "lib/frame_error.h"
#include "lib/message.h"
#include "lib/testing/server_style_read.h"

namespace lpframe {
namespace {

constexpr size_t kControlBytes = 4;

struct Outcome {
  std::vector<Message> messages;
  absl::Status status;  // the first error from Next(), else Finish()'s result
};

[[noreturn]] void Broken(const std::string& what) {
  std::fprintf(stderr, "frame_decoder_fuzzer: invariant broken: %s\n", what.c_str());
  std::abort();
}

// Small deterministic generator for read sizes.
class Pieces {
 public:
  Pieces(uint32_t seed, size_t max) : x_(seed * 2654435761u + 1), max_(max) {}
  size_t Next() {
    x_ = x_ * 1103515245u + 12345u;
    const uint32_t r = x_ >> 8;
    // Mostly small pieces, sometimes large ones.
    return (r & 3) == 0 ? 1 + r % max_ : 1 + r % 64;
  }

 private:
  uint32_t x_;
  size_t max_;
};

// Drains messages; returns false (and sets the status) on an error.
bool Drain(FrameDecoder& decoder, Outcome& out) {
  while (true) {
    Message m;
    DecodeStep step = decoder.Next(&m);
    if (step.is_message()) {
      out.messages.push_back(std::move(m));
      continue;
    }
    if (step.is_error()) {
      out.status = step.error();
      return false;
    }
    return true;
  }
}

// Storage follows arrival: buffers at most double what arrived, payload
// blocks lent ahead stay within twice the bytes committed plus one block,
// and a taken read block adds one more.
void CheckHeld(const FrameDecoder& decoder, uint64_t arrived, size_t block) {
  const uint64_t bound = 2 * arrived + 3 * block + 8192;
  if (decoder.reserved_bytes() > bound) {
    Broken(absl::StrCat("the decoder holds ", decoder.reserved_bytes(), " bytes after ",
                        arrived, " arrived (state ", decoder.DescribeState(), ")"));
  }
}

Outcome FeedWhole(const DecoderOptions& options, absl::string_view stream) {
  FrameDecoder decoder(options);
  Outcome out;
  decoder.Feed(stream);
  if (Drain(decoder, out)) out.status = decoder.Finish();
  return out;
}

Outcome FeedPieces(const DecoderOptions& options, absl::string_view stream, uint32_t seed,
                   size_t block) {
  FrameDecoder decoder(options);
  Outcome out;
  Pieces pieces(seed, 2 * block + 7);
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t n = std::min(pieces.Next(), stream.size() - pos);
    decoder.Feed(stream.substr(pos, n));
    pos += n;
    if (!Drain(decoder, out)) return out;
  }
  out.status = decoder.Finish();
  return out;
}

Outcome ReadLikeAServer(const DecoderOptions& options, absl::string_view stream, uint32_t seed,
                        size_t block) {
  Pieces pieces(seed ^ 0x5bd1e995u, 2 * block + 7);
  testing_util::ServerStyleRead r = testing_util::ReadLikeAServer(
      options, stream, [&pieces] { return pieces.Next(); },
      [block](const FrameDecoder& decoder, uint64_t arrived) {
        CheckHeld(decoder, arrived, block);
      },
      /*lend_input=*/(seed & 1) != 0);  // half the inputs: small payloads as views
  return Outcome{std::move(r.messages), std::move(r.status)};
}

void ExpectSame(const Outcome& want, const Outcome& got, const char* way) {
  // The texts may differ: an error describes what was in hand when it was
  // found (a wrong magic is reported on the bytes read so far).
  if (want.status.code() != got.status.code() ||
      GetFrameErrorCode(want.status) != GetFrameErrorCode(got.status)) {
    Broken(absl::StrCat(way, ": status ", got.status.ToString(), ", fed whole: ",
                        want.status.ToString()));
  }
  if (want.messages.size() != got.messages.size()) {
    Broken(absl::StrCat(way, ": ", got.messages.size(), " messages, fed whole: ",
                        want.messages.size()));
  }
  for (size_t i = 0; i < want.messages.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(want.messages[i].envelope,
                                                            got.messages[i].envelope) ||
        want.messages[i].payload != got.messages[i].payload) {
      Broken(absl::StrCat(way, ": message ", i, " differs"));
    }
  }
}

}  // namespace
}  // namespace lpframe

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lpframe;
  // Envelopes that fail to parse are expected; protobuf's log of each one
  // would only slow the fuzzer down.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  if (size < kControlBytes) return 0;
  constexpr Dialect kDialects[] = {Dialect::kNative, Dialect::kNative, Dialect::kVarint32,
                                   Dialect::kU32BE};
  constexpr size_t kBlocks[] = {64, 1024, 4096, 65536};
  DecoderOptions options;
  options.dialect = kDialects[data[0] & 3];
  if (data[0] & 4) {  // tight limits: the limit errors are reachable
    options.limits.max_payload_bytes = 3000;
    options.limits.max_envelope_bytes = 100;
  }
  // One pool per block size for the whole run: a fresh pool per input made
  // the fuzzer spend most of its time mapping and unmapping blocks (and
  // reused blocks are poisoned under ASan, so a stale payload still shows).
  static const std::shared_ptr<BlockPool> kPools[] = {
      BlockPool::Create(kBlocks[0], 1 << 20), BlockPool::Create(kBlocks[1], 1 << 20),
      BlockPool::Create(kBlocks[2], 1 << 20), BlockPool::Create(kBlocks[3], 1 << 20)};
  const size_t block = kBlocks[(data[0] >> 3) & 3];
  options.pool = kPools[(data[0] >> 3) & 3];
  options.direct_read_min_bytes = (data[0] & 32) ? 1 : block / 2;
  const uint32_t seed = data[1] | (uint32_t{data[2]} << 8) | (uint32_t{data[3]} << 16);
  const absl::string_view stream(reinterpret_cast<const char*>(data) + kControlBytes,
                                 size - kControlBytes);
  {
    const Outcome whole = FeedWhole(options, stream);
    ExpectSame(whole, FeedPieces(options, stream, seed, block), "fed in pieces");
    ExpectSame(whole, ReadLikeAServer(options, stream, seed, block), "read like a server");
  }
  if (options.pool->cached_blocks() * block != options.pool->mapped_bytes()) {
    Broken(absl::StrCat(options.pool->mapped_bytes() / block - options.pool->cached_blocks(),
                        " pool block(s) not returned"));
  }
  return 0;
}
