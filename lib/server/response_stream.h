// File: lib/server/response_stream.h
//
// ResponseStream sends one streamed response body over a server Session:
// KIND_CHUNK frames with the request's id, closed by a KIND_END frame that
// carries the total size and the XXH3-64 digest of the whole body. These are
// exactly BodyWriter's conventions (lib/io/body_stream.h, docs/PROTOCOL.md
// §4.6), so ReceiveBody() or RpcClient::CallStream() verify the body:
//
//   KIND_CHUNK  id=N  content_type  chunk{index, offset[, total_size,
//                                          total_size_known=true]}  payload
//   ...
//   KIND_END    id=N  chunk{index=#chunks, offset=size, total_size=size,
//                           total_size_known=true, digest=8 bytes BE,
//                           digest_algorithm="xxh3-64"}             (empty)
//
//   ResponseStream stream(&session, request_id);
//   stream.Write(piece);   // sent at once, as chunks of <= chunk_bytes
//   stream.Finish();       // KIND_END
//
// Unlike BodyWriter, Write() does not hold back a partial chunk: every
// Write() is sent at once (split into chunks of at most `chunk_bytes`), so
// a slow producer's data reaches the client without waiting for more.
//
// Flow control: before every chunk the stream calls
// Session::WaitForOutputSpace(), which blocks off the I/O thread while the
// connection's queued output is above the server's output_high_watermark
// (on the reactor's own thread it returns at once, and the whole body is
// queued; keep bodies larger than a few MiB off the I/O thread).
//
// Errors: the Session's Send() errors (CONNECTION_CLOSED, OUTPUT_BUDGET_
// EXCEEDED, ...), kDeadlineExceeded when the peer did not take output for
// `write_timeout` (or past the request deadline), kFailedPrecondition for
// use after Finish() or a promised total_size that was not met. The first
// error is sticky: later calls return it.
//
// Lifetime: the Session must outlive the stream (the router keeps it alive
// for the duration of the handler). Thread-compatible: one thread at a time.
#ifndef LPFRAME_LIB_SERVER_RESPONSE_STREAM_H_
#define LPFRAME_LIB_SERVER_RESPONSE_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "lib/server/session.h"
#include "lib/xxh3_digest.h"

namespace lpframe {

struct ResponseStreamOptions {
  // Largest payload of one KIND_CHUNK frame (0: 256 KiB).
  size_t chunk_bytes = 256 << 10;
  // Longest wait for output space before one chunk.
  absl::Duration write_timeout = absl::Seconds(30);
  // content_type of the KIND_CHUNK frames.
  std::string content_type = "application/octet-stream";
};

class ResponseStream {
 public:
  // `session` is not owned. `deadline` bounds every wait (the request's
  // deadline; InfiniteFuture for none).
  ResponseStream(Session* session, uint64_t stream_id, ResponseStreamOptions options = {},
                 absl::Time deadline = absl::InfiniteFuture());
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // Before the first Write(): the chunks' content type.
  void set_content_type(absl::string_view content_type);
  // Before the first Write(): announces the body size on every chunk;
  // Finish() fails (kFailedPrecondition, nothing sent) if it is not met.
  void set_total_size(uint64_t total_size);

  // Sends `data` as one or more KIND_CHUNK frames. Empty data sends nothing.
  absl::Status Write(absl::Cord data);
  // Sends KIND_END. After Finish() (successful or not) the stream is done.
  absl::Status Finish();

  uint64_t id() const { return stream_id_; }
  uint64_t bytes_written() const { return offset_; }
  uint64_t chunks_written() const { return index_; }
  // True once Finish() was called.
  bool finished() const { return finished_; }
  // The first error, or OK.
  const absl::Status& status() const { return status_; }

 private:
  absl::Status SendChunk(absl::Cord chunk);
  absl::Status Fail(absl::Status status);

  Session* const session_;
  const uint64_t stream_id_;
  ResponseStreamOptions options_;
  const absl::Time deadline_;
  absl::optional<uint64_t> total_size_;
  uint64_t index_ = 0;
  uint64_t offset_ = 0;
  Xxh3Digest digest_;
  bool finished_ = false;
  absl::Status status_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_RESPONSE_STREAM_H_
