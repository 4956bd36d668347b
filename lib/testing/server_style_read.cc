#include "lib/testing/server_style_read.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "lib/block_pool.h"

namespace lpframe {
namespace testing_util {

ServerStyleRead ReadLikeAServer(
    const DecoderOptions& options, absl::string_view stream,
    const std::function<size_t()>& next_piece,
    const std::function<void(const FrameDecoder&, uint64_t)>& after_read, bool lend_input) {
  FrameDecoder decoder(options);
  decoder.set_lend_input(lend_input);
  BlockPool& pool = *decoder.pool();
  char* scratch = pool.Acquire();
  ServerStyleRead r;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t n = std::min(std::max<size_t>(next_piece(), 1), stream.size() - pos);
    if (decoder.WantsDirectRead() && n % 2 == 1) {
      // A client's body loop: room by room, within the piece.
      size_t done = 0;
      while (done < n) {
        const absl::Span<char> room = decoder.DirectReadRoom(n - done);
        if (room.empty()) break;
        std::memcpy(room.data(), stream.data() + pos + done, room.size());
        decoder.CommitDirectRead(room, room.size());
        done += room.size();
      }
      n = done;
    } else if (decoder.WantsDirectRead()) {
      absl::Span<const absl::Span<char>> spans =
          decoder.PrepareReadSpans(n, FrameDecoder::kMaxReadSpans);
      size_t done = 0;
      for (absl::Span<char> span : spans) {
        const size_t part = std::min(span.size(), n - done);
        std::memcpy(span.data(), stream.data() + pos + done, part);
        done += part;
        if (done == n) break;
      }
      decoder.CommitRead(done);
      n = done;
    } else {
      n = std::min(n, pool.block_size());
      std::memcpy(scratch, stream.data() + pos, n);
      if (decoder.FeedBlock(scratch, absl::string_view(scratch, n))) {
        ++r.blocks_taken;
        scratch = pool.Acquire();  // the old block is the payload's now
      }
      if (!lend_input) std::memset(scratch, 0xEE, pool.block_size());
    }
    pos += n;
    if (after_read) after_read(decoder, pos);
    while (true) {
      Message m;
      if (decoder.Poll().is_message() && decoder.payload_is_view() &&
          r.messages.size() % 2 == 0) {
        const absl::string_view payload = decoder.TakeView(&m.envelope, /*fresh=*/true);
        m.payload = absl::Cord(payload);
        r.messages.push_back(std::move(m));
        ++r.views_taken;
        continue;
      }
      DecodeStep step = decoder.Next(&m);
      if (step.is_message()) {
        r.messages.push_back(std::move(m));
        continue;
      }
      if (step.is_error()) {
        r.status = step.error();
        r.from_next = true;
        pool.Release(scratch);
        return r;
      }
      break;
    }
    if (lend_input) {
      decoder.EndLend();
      std::memset(scratch, 0xEE, pool.block_size());
    }
  }
  r.status = decoder.Finish();
  pool.Release(scratch);
  return r;
}

}  // namespace testing_util
}  // namespace lpframe
