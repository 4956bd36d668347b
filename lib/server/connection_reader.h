// File: lib/server/connection_reader.h
//
// ConnectionReader is the input side of one server connection: it reads a
// non-blocking socket into a FrameDecoder, yields decoded messages, keeps
// the idle and stall clocks, and enforces the input budgets (one
// connection's, and the server's across connections). Shared by the
// reactor and by the thread and fork models. Internal to lib/server.
//
// Thread-compatible: one thread at a time.
#ifndef LPFRAME_LIB_SERVER_CONNECTION_READER_H_
#define LPFRAME_LIB_SERVER_CONNECTION_READER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "lib/frame_decoder.h"
#include "lib/message.h"
#include "lib/server/read_scratch.h"
#include "lib/server/server_context.h"

namespace lpframe {

class ConnectionReader {
 public:
  ConnectionReader(ServerContext* context, absl::Time now);
  ~ConnectionReader();  // gives back this connection's share of the budget
  ConnectionReader(const ConnectionReader&) = delete;
  ConnectionReader& operator=(const ConnectionReader&) = delete;

  enum class ReadOutcome {
    kData,         // some bytes were read
    kShortData,    // fewer bytes than asked, or a direct read that ended a
                   // frame: the socket is probably empty now
    kWouldBlock,   // nothing to read now
    kEndOfStream,  // the peer closed at a frame boundary
  };
  // One recv(2) into the decoder. `now` is used for the stall clock.
  // `scratch`, when given, is memory the caller shares between its
  // connections (one at a time): bytes that do not go straight into a
  // large payload's storage are read into it and fed to the decoder, which
  // copies only what it cannot consume yet (the rest of a frame, or frames
  // after the first). A connection between messages then holds no input
  // buffer. Reads into it ask for read_size bytes, but never more than the
  // block (reads into payload storage never pass a block either). With
  // takeover (EnableScratchTakeover), right after a message whose payload
  // was large, the read at the frame boundary asks for the whole block, so
  // a request like the last arrives in one recv. Without takeover, in
  // ReadMode::kDirect, in and right after a frame whose payload is at least
  // 2 * read_size, a read of input (not of payload storage) asks for the
  // rest of that frame plus its header and envelope, no more, so that the
  // payload of a frame like it is read straight into its storage, as
  // FramedConnection does.
  // Errors (fatal to the connection): IO_ERROR, TRUNCATED_* (the peer
  // closed inside a frame), MEMORY_BUDGET_EXCEEDED.
  absl::StatusOr<ReadOutcome> ReadOnce(int fd, absl::Time now,
                                       ReadScratch* scratch = nullptr);

  // Lets this connection's decoder take over the scratch block when a
  // large payload starts in it (FrameDecoder::FeedBlock; ReadOnce then
  // renews the scratch), so the payload is not copied out of it. For a
  // caller whose handlers take delivered messages at once: a taken block
  // is held by the message's payload, up to 4x its size, and is counted
  // (whole) in the budgets only while the message is incomplete. Takes
  // effect only in ReadMode::kDirect, when the connection's input budget
  // is unlimited or at least four pool blocks, and for a scratch of the
  // decoder's pool.
  void EnableScratchTakeover();

  // ReadOnce() in two steps, for a reactor that makes the reads of many
  // ready connections one after another and decodes them afterwards:
  // PrereadSize(room) is how many bytes ReadOnce() would ask for now if
  // its scratch were `room` bytes of the caller's memory, or 0 when this
  // read cannot be made ahead (ReadOnce() it later). The caller recv()s at
  // most that many into its memory (n, and errno when n < 0), and then,
  // before anything else reads this connection, AbsorbRead() takes the
  // result and returns what ReadOnce() would have. The bytes are lent as
  // the scratch's are: unchanged until the messages they hold are taken.
  // Unlike a read into the scratch, a read made ahead is never taken over
  // by a large payload that starts in it (its start is copied into payload
  // blocks); right after a large payload, when that is likely, none is
  // made ahead.
  size_t PrereadSize(size_t room) const;
  // A read made ahead: `n` bytes (or -1 and errno `error_number`) at
  // `data`, of the `want` asked for; want 0 when none was made.
  struct Preread {
    const char* data = nullptr;
    ssize_t n = 0;
    int error_number = 0;
    size_t want = 0;
  };
  // PrereadSize(room_size), then that recv() from `fd` into `room`.
  Preread ReadAhead(int fd, char* room, size_t room_size);
  absl::StatusOr<ReadOutcome> AbsorbRead(const char* data, ssize_t n, int error_number,
                                         size_t want, absl::Time now);

  // The next decoded message, need-more, or a fatal framing error.
  DecodeStep Next(Message* out, absl::Time now);
  // Next() in two steps (FrameDecoder::Poll and Take): Poll() tells what
  // Next() would; after it returned a message, Take() returns it, built in
  // place when it is a function's by-value argument.
  DecodeStep Poll();
  Message Take(absl::Time now) {
    Message message = decoder_.Take();
    CountMessage(message.payload.size(), now);
    return message;
  }

  // Small payloads as views of the scratch buffer (FrameDecoder's lending
  // mode), for a caller that reads with a scratch and hands each message on
  // before the next ReadOnce(): after Poll() returned a message and
  // payload_is_view(), TakeView() returns the envelope (into *envelope,
  // default-constructed) and the payload, a view into the scratch valid
  // until the scratch is read into again (ReadOnce() of any connection
  // sharing it). Call EndLend() before another connection reads into it.
  void EnableViews() { decoder_.set_lend_input(true); }
  bool payload_is_view() const { return decoder_.payload_is_view(); }
  absl::string_view TakeView(Envelope* envelope, absl::Time now) {
    const absl::string_view payload = decoder_.TakeView(envelope, /*fresh=*/true);
    CountMessage(payload.size(), now);
    return payload;
  }
  void EndLend() { decoder_.EndLend(); }

  // Bytes held elsewhere for this connection (decoded messages waiting for
  // a worker) that count against the budgets. Returns a budget error when
  // the new total does not fit.
  absl::Status SetExtraBuffered(uint64_t bytes);

  // The connection was busy without input (an answer went out): the idle
  // clock starts again at `now`.
  void RestartIdleClock(absl::Time now) {
    if (idle_limited_) last_message_end_ = now;
  }

  // When the idle or stall timeout of this connection fires
  // (InfiniteFuture when neither applies now), and the error it gives.
  absl::Time TimeoutAt() const;
  absl::Status TimeoutError() const;

  bool at_frame_boundary() const { return decoder_.at_frame_boundary(); }
  uint64_t messages_received() const { return messages_; }
  uint64_t bytes_received() const { return decoder_.bytes_received(); }
  // Of bytes_received(), the bytes read straight into payload storage.
  uint64_t direct_bytes() const { return direct_bytes_; }
  const FrameDecoder& decoder() const { return decoder_; }

 private:
  // Brings this connection's share of the budgets up to date; a budget
  // error when it grew past one.
  absl::Status UpdateReservation() {
    const uint64_t now_reserved = decoder_.reserved_bytes() + extra_;
    if (now_reserved == reserved_) return absl::OkStatus();
    return ChangeReservation(now_reserved);
  }
  absl::Status ChangeReservation(uint64_t now_reserved);
  // The end of ReadOnce() and AbsorbRead(), once the bytes are in the
  // decoder: the outcome of a recv that returned `n` (errno
  // `error_number`) when `want` bytes were asked for.
  absl::StatusOr<ReadOutcome> AfterRead(ssize_t n, int error_number, size_t want, bool direct,
                                        bool was_at_boundary, absl::Time now);
  // Bookkeeping for a message taken from the decoder, and after need-more.
  void CountMessage(uint64_t payload_size, absl::Time now);
  void OnNeedMore();

  // The reader's own fields come first, in two cache lines, and the
  // decoder's hot lines right after them (see FrameDecoder's fields).
  ServerContext* context_;
  size_t read_size_;
  bool fixed_reads_;
  bool scratch_reads_ = false;  // ReadOnce() was given a scratch buffer
  bool scratch_takeover_ = false;  // see EnableScratchTakeover()
  bool last_payload_large_ = false;  // at least takeover_min_bytes()
  bool idle_limited_;
  bool stall_limited_;
  absl::Time last_message_end_;
  absl::Time frame_start_;
  absl::Time last_read_ = absl::InfinitePast();
  uint64_t extra_ = 0;
  uint64_t reserved_ = 0;  // counted in the server-wide total
  uint64_t messages_ = 0;
  FrameDecoder decoder_;
  uint64_t direct_bytes_ = 0;  // not touched by reads into scratch
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_CONNECTION_READER_H_
