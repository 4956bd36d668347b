// File: lib/io/body_stream.h
//
// Streamed bodies: a body of unknown (or known) length sent as a run of
// KIND_CHUNK frames closed by a KIND_END frame that carries the total size
// and an XXH3-64 digest of the whole body (docs/PROTOCOL.md §4.6).
//
//   BodyWriter body(&connection, /*stream_id=*/7);
//   while (more) body.Write(next_piece);        // any sizes
//   body.Finish();                              // KIND_END, flushed
//
//   FdBodySink file(fd);                        // bounded memory
//   absl::StatusOr<uint64_t> n = ReceiveBody(connection, 7, file, progress);
//
// The receiver checks every chunk in order (index and offset), the total
// size and the digest; any mismatch is kDataLoss naming what differed.
// Memory on the receiving side is one chunk at a time when the sink writes
// elsewhere (FdBodySink); CordBodySink reassembles the body, reusing the
// chunks' storage (no re-copy).
#ifndef LPFRAME_LIB_IO_BODY_STREAM_H_
#define LPFRAME_LIB_IO_BODY_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "lib/io/framed_connection.h"
#include "lib/message.h"
#include "lib/xxh3_digest.h"

namespace lpframe {

inline constexpr absl::string_view kBodyDigestAlgorithm = "xxh3-64";

struct BodyOptions {
  // Bytes per KIND_CHUNK frame.
  size_t chunk_bytes = 256 << 10;
  // Set on every chunk when the sender knows the size in advance.
  absl::optional<uint64_t> total_size;
  // content_type of the chunk envelopes.
  std::string content_type = "application/octet-stream";
};

// Sends one streamed body on a connection. Not thread-safe; the connection
// must outlive the writer.
class BodyWriter {
 public:
  BodyWriter(FramedConnection* connection, uint64_t stream_id, BodyOptions options = {});

  // Appends `data` to the body: full chunks are queued (and written as the
  // connection's batching decides); a partial chunk waits for more data.
  absl::Status Write(absl::Cord data, absl::Time deadline = absl::InfiniteFuture());

  // Sends the last partial chunk and the KIND_END frame, then flushes.
  // Errors: kFailedPrecondition when total_size was promised and differs.
  absl::Status Finish(absl::Time deadline = absl::InfiniteFuture());

  uint64_t bytes_written() const { return offset_ + pending_.size(); }

 private:
  absl::Status SendChunk(absl::Cord chunk, absl::Time deadline);

  FramedConnection* connection_;
  uint64_t stream_id_;
  BodyOptions options_;
  absl::Cord pending_;
  uint64_t index_ = 0;
  uint64_t offset_ = 0;
  Xxh3Digest digest_;
  bool finished_ = false;
};

// Where a received body goes.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Consumes the next chunk of the body, in order.
  virtual absl::Status Write(const absl::Cord& chunk) = 0;
  // Called once after the whole body arrived and was verified.
  virtual absl::Status Finish() { return absl::OkStatus(); }
};

// Reassembles the body in memory.
class CordBodySink : public BodySink {
 public:
  absl::Status Write(const absl::Cord& chunk) override;
  const absl::Cord& body() const { return body_; }

 private:
  absl::Cord body_;
};

// Writes the body to a file descriptor (not owned) chunk by chunk.
class FdBodySink : public BodySink {
 public:
  explicit FdBodySink(int fd) : fd_(fd) {}
  absl::Status Write(const absl::Cord& chunk) override;

 private:
  int fd_;
};

// Progress: bytes received so far, and the total when the sender knows it.
using BodyProgress = std::function<void(uint64_t received, absl::optional<uint64_t> total)>;

// Receives the body of stream `stream_id`: chunk frames until its KIND_END.
// `first`, when not null, is a chunk of the stream already received by the
// caller (e.g. while dispatching). Returns the body size.
// Errors: kDataLoss on an out-of-order chunk, size or digest mismatch;
// kFailedPrecondition for a frame of another kind or stream; connection
// errors as FramedConnection::Receive reports them; sink errors as is.
absl::StatusOr<uint64_t> ReceiveBody(FramedConnection& connection, uint64_t stream_id,
                                     BodySink& sink, const BodyProgress& progress = nullptr,
                                     absl::Time deadline = absl::InfiniteFuture(),
                                     const Message* first = nullptr);

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_BODY_STREAM_H_
