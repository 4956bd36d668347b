// File: lib/testing/server_style_read.h
//
// Decodes a stream the way a server connection reads it (testonly), for the
// decoder's tests and its fuzz target.
#ifndef LPFRAME_LIB_TESTING_SERVER_STYLE_READ_H_
#define LPFRAME_LIB_TESTING_SERVER_STYLE_READ_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/frame_decoder.h"
#include "lib/message.h"

namespace lpframe {
namespace testing_util {

struct ServerStyleRead {
  std::vector<Message> messages;
  absl::Status status;     // the first error from Next(), else Finish()'s result
  bool from_next = false;  // status came from Next()
  int blocks_taken = 0;    // FeedBlock() calls that kept the scratch block
  int views_taken = 0;     // messages taken with TakeView() (lend_input)
};

// Reads `stream` in reads of at most next_piece() bytes: into a scratch
// block of the decoder's pool fed with FeedBlock() (a new block whenever the
// decoder keeps one; the scratch is scribbled on after every read, so a
// payload that kept no block cannot point into it), or straight into payload
// storage when the decoder wants a direct read: scattered over up to
// kMaxReadSpans spans for a piece of even size, through DirectReadRoom()
// room by room (a FramedConnection's body loop) for one of odd size. After each read, after_read (if set) sees the decoder and
// the bytes read so far; then the messages are drained. Every block goes
// back to the pool once the messages do. With `lend_input` the decoder is in
// lending mode (FrameDecoder::set_lend_input) and reads like a server whose
// handlers take views: every other message whose payload is a view is taken
// with TakeView() (and copied into the result), the others with Next(); the
// scratch is scribbled on only after the drain and EndLend().
ServerStyleRead ReadLikeAServer(
    const DecoderOptions& options, absl::string_view stream,
    const std::function<size_t()>& next_piece,
    const std::function<void(const FrameDecoder&, uint64_t)>& after_read = nullptr,
    bool lend_input = false);

}  // namespace testing_util
}  // namespace lpframe

#endif  // LPFRAME_LIB_TESTING_SERVER_STYLE_READ_H_
