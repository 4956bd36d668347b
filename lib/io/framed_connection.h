// File: lib/io/framed_connection.h
//
// FramedConnection sends and receives lpframe messages over a connected
// stream socket (TCP, AF_UNIX, a socketpair end).
//
//   absl::StatusOr<FramedConnection> c = FramedConnection::Dial("tcp://h:7000");
//   c->Send(message);                        // header+envelope+payload, writev
//   absl::StatusOr<Message> reply = c->Receive(absl::Now() + absl::Seconds(5));
//
// Sending. Send() writes the message (and anything queued before it) with
// writev(2)/sendmsg(MSG_NOSIGNAL); the payload Cord is referenced, never
// copied, except that payloads of at most `copy_payload_bytes` are copied
// into the batch so many small messages share one contiguous buffer.
// When nothing is queued, Send() does one sendmsg straight from the encoded
// frame (header+envelope, payload chunks, trailer: no copy and no
// allocation) and queues only what the socket did not take. The batch
// buffer's capacity is kept after it was written and reused.
// Queue() only queues: queued messages go out together in one writev once
// `batch_bytes` are queued, on Flush(), on Send(), or before Receive()
// waits for input — so a stream of 64 B messages is not one syscall each.
// The encoder's limits apply: an over-limit message is refused before any
// byte of it is queued.
//
// Receiving. Headers and small messages come through reads of `read_size`
// bytes (8 KiB by default) fed to a FrameDecoder. In ReadMode::kDirect (the
// default), once a header announces a large payload the connection reads
// straight into the payload's storage with large reads: one copy, by the
// kernel. On AF_UNIX each such read is one recvmsg scattered over up to 16
// of the payload's blocks (FrameDecoder::PrepareReadSpans), as many as
// earlier reads of the payload proved the peer delivers; on TCP it stays
// within one block (see direct_read_max_bytes). ReadMode::kFixed keeps
// every read at `read_size` bytes (still into the payload's storage), as a
// tutorial receiver would. Where one read fills one block (kFixed, kDirect
// over TCP), a payload's body is read in a loop of its own whose work per
// read is a recv and a few counters, as in a raw loop. In kDirect, inside
// and right after a frame whose payload is at least 2 * read_size, a read
// through the input buffer asks for the rest of that frame (a short
// payload tail, a checksum trailer) plus as many bytes as came before its
// payload (header and envelope), no more: a frame like it then arrives as
// that small read and its whole payload straight into storage, the raw
// loop's recv(header) + recv(payload), where an 8 KiB read would have
// brought the payload's first 8 KiB into the input buffer, to be copied. A
// following frame with a longer envelope, or a small one, costs one more
// read.
//
// Errors are absl::Status with a FrameErrorCode (lib/frame_error.h):
//   END_OF_STREAM (kOutOfRange)    the peer closed at a frame boundary
//   TRUNCATED_* (kDataLoss)        the peer closed inside a frame
//   IDLE_TIMEOUT / STALL_TIMEOUT   no frame started within idle_timeout / a
//                                  frame not done within stall_timeout of its
//                                  first byte (both kDeadlineExceeded)
//   IO_ERROR                       reset, broken pipe, ...
//   framing errors                 as the decoder reports them
// All of these are fatal: the connection closes its socket, and later calls
// return CONNECTION_CLOSED naming the first error. A caller's own deadline
// passing is not fatal: Receive() returns kDeadlineExceeded without a
// FrameErrorCode and may be called again; a partly received message resumes.
//
// Waiting (ConnectionOptions::wait_mode). By default a wait without a time
// limit blocks in recv/sendmsg, and a wait with one (a finite deadline, or an
// idle/stall timeout that applies) passes MSG_DONTWAIT and waits in poll(2):
// every deadline and timeout holds, and an unbounded wait costs one system
// call per read, like a plain blocking loop. WaitMode::kAlwaysPoll keeps the
// socket non-blocking and waits in poll(2) every time. When Receive() polls,
// it reads first and polls when nothing is there, except at a frame boundary
// right after this connection wrote (a request-response turn), and after a
// payload body read found the socket empty, where it polls first: poll +
// recv instead of recv (EAGAIN) + poll + recv. With ConnectionOptions::
// busy_poll, Receive() busy polls before any of these waits.
//
// Thread-compatible: one thread sends while another receives is NOT
// supported; use one thread per connection or external locking.
#ifndef LPFRAME_LIB_IO_FRAMED_CONNECTION_H_
#define LPFRAME_LIB_IO_FRAMED_CONNECTION_H_

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "lib/block_pool.h"
#include "lib/dialect.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/frame_limits.h"
#include "lib/io/socket.h"
#include "lib/message.h"

namespace lpframe {

enum class ReadMode { kDirect, kFixed };

// How a FramedConnection waits until its socket can be read or written.
enum class WaitMode {
  // The default. The connection clears O_NONBLOCK on its socket, so a wait
  // without a time limit (infinite deadline, and no idle or stall timeout
  // applying) blocks in recv/sendmsg itself. A wait with a time limit passes
  // MSG_DONTWAIT and waits in poll(2) until its deadline, so every deadline
  // and timeout holds as in kAlwaysPoll. This is Python's socket model
  // (settimeout(None) blocks; a timeout polls). It matters for round trips:
  // on the 2-vCPU test VM a raw TCP loopback 64 B ping-pong that waits in
  // poll + recv takes 1.11-1.16x as long as one that blocks in recv
  // (bench/RESULTS.md, 2026-12-04 22:00).
  kBlockWhenUnbounded,
  // The connection sets O_NONBLOCK on its socket and every wait is poll(2). Use it when the
  // descriptor (or a dup() of it, which shares O_NONBLOCK) is also used by
  // code that expects a non-blocking socket, such as an epoll loop.
  kAlwaysPoll,
};

struct ConnectionOptions {
  Dialect dialect = Dialect::kNative;
  FrameLimits limits;       // for both directions
  bool checksum = false;    // send frames with the CHECKSUM trailer (native)
  size_t read_size = 8192;  // bytes per read outside large payloads
  ReadMode read_mode = ReadMode::kDirect;
  // kDirect: the most bytes one read into a large payload asks for, in
  // whole payload blocks (at least one, at most 16). 0 picks by the
  // socket's family. TCP: one pool block (256 KiB by default), because a longer recv holds
  // the socket lock while the sender's segments wait in its backlog (TCP
  // loopback, 16 MiB payloads: 6.6 GB/s with 256 KiB reads, 4.0 GB/s with
  // 4 MiB). Other stream sockets (AF_UNIX): 16 blocks, which saves wake-ups
  // (7.5 against 6.4 GB/s). Figures: bench/RESULTS.md, 2026-12-04 22:25.
  size_t direct_read_max_bytes = 0;
  std::shared_ptr<BlockPool> pool;  // payload storage; null: BlockPool::Default()
  // Between messages: from the end of the last message received (or the
  // connection's start) to the first byte of the next.
  absl::Duration idle_timeout = absl::InfiniteDuration();
  // Inside a message: from its first header byte to its last byte.
  absl::Duration stall_timeout = absl::InfiniteDuration();
  // Queue() writes once this many bytes are queued.
  size_t batch_bytes = 64 << 10;
  // Payloads up to this size are copied into the batch buffer.
  size_t copy_payload_bytes = 4096;
  // How waits for the socket are made; see WaitMode.
  WaitMode wait_mode = WaitMode::kBlockWhenUnbounded;
  // Busy polling (like Linux's SO_BUSY_POLL, which covers only NIC queues).
  // When Receive() would wait for bytes, it first repeats non-blocking
  // recv calls for up to this long (never past the wait's own deadline or
  // timeout). Bytes that arrive meanwhile are taken without putting the
  // thread to sleep, so no wake-up is paid: on the 2-vCPU test VM a 64 B
  // AF_UNIX round trip then takes well under half the time of a blocking
  // one (bench/RESULTS.md, 2026-12-05 17:16). The cost is a CPU kept busy
  // for up to busy_poll per wait: use it where each end has a core of its
  // own, and size it to the expected answer time. When it runs out, the
  // wait continues as wait_mode says. Zero (the default): no busy polling.
  absl::Duration busy_poll = absl::ZeroDuration();
};

// The codec options a connection with `options` uses (also for servers
// that frame connections themselves).
EncoderOptions EncoderOptionsFor(const ConnectionOptions& options);
DecoderOptions DecoderOptionsFor(const ConnectionOptions& options);

struct ConnectionStats {
  // Messages accepted by Send()/Queue() (queued output dropped by Close()
  // or a fatal error is included); bytes_sent counts bytes really written.
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t write_calls = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
  uint64_t read_calls = 0;
  // Of read_calls, the reads of a large payload's body made by Receive()'s
  // body loop (kFixed, and kDirect where a read fills one block).
  uint64_t body_reads = 0;
  // Of bytes_received, the bytes read straight into payload storage (not
  // through the input buffer, whose payload bytes are copied).
  uint64_t direct_bytes = 0;
  // Busy polling (ConnectionOptions::busy_poll): waits that found bytes (or
  // the end of stream, or an error) while polling, and waits whose polling
  // ran out and went on to block or poll(2) (a wait whose deadline had
  // passed before it began counts as neither).
  uint64_t busy_poll_reads = 0;
  uint64_t busy_poll_timeouts = 0;
  // Fatal errors by FrameErrorCode name ("IDLE_TIMEOUT", "BAD_MAGIC", ...).
  std::map<std::string, uint64_t> errors;
};

class FramedConnection {
 public:
  explicit FramedConnection(Socket socket, ConnectionOptions options = {});
  FramedConnection(FramedConnection&&) = default;
  FramedConnection& operator=(FramedConnection&&) = default;

  // Connects to a URI (see lib/io/address.h) before `deadline`.
  static absl::StatusOr<FramedConnection> Dial(absl::string_view uri,
                                               ConnectionOptions options = {},
                                               absl::Time deadline = absl::InfiniteFuture());

  // Queues `message` and writes everything queued before `deadline`.
  absl::Status Send(const Message& message, absl::Time deadline = absl::InfiniteFuture());
  absl::Status Send(const Envelope& envelope, absl::Cord payload,
                    absl::Time deadline = absl::InfiniteFuture());

  // Queues `message`; writes (waiting until `deadline` if the peer is slow)
  // only once batch_bytes are queued.
  absl::Status Queue(const Message& message, absl::Time deadline = absl::InfiniteFuture());
  absl::Status Queue(const Envelope& envelope, absl::Cord payload,
                     absl::Time deadline = absl::InfiniteFuture());

  // Writes everything queued.
  absl::Status Flush(absl::Time deadline = absl::InfiniteFuture());
  uint64_t queued_bytes() const { return queued_bytes_; }

  // The next message (moved into *out). Flushes queued output first.
  absl::Status Receive(Message* out, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<Message> Receive(absl::Time deadline = absl::InfiniteFuture());

  // Flushes, then shuts down the write side: the peer reads end of stream
  // after the last message; receiving continues to work.
  absl::Status ShutdownWrite(absl::Time deadline = absl::InfiniteFuture());

  // Closes the socket; queued output is dropped.
  void Close();
  bool closed() const { return !socket_.valid(); }

  const ConnectionStats& stats() const { return stats_; }
  const ConnectionOptions& options() const { return options_; }
  Socket& socket() { return socket_; }

 private:
  // One run of queued output bytes: owned bytes, or a payload by reference.
  struct Piece {
    std::string bytes;
    absl::Cord cord;
    bool is_cord = false;
    uint64_t size() const { return is_cord ? cord.size() : bytes.size(); }
  };

  absl::Status Enqueue(const Envelope& envelope, absl::Cord payload);
  void AppendOwned(absl::string_view bytes);
  // Queues the frame in scratch_ minus its first `skip` bytes (already
  // written); out_ must be empty.
  void QueueScratch(uint64_t skip);
  // Keeps the capacity of out_.front() (an owned run about to be dropped) in
  // spare_ for the next run.
  void RecycleFront();
  absl::Status WriteQueued(absl::Time deadline);
  absl::Status Fail(absl::Status status);
  // Why ReadPayloadBody() stopped.
  enum class BodyReadEnd {
    kNoRoom,       // no direct read is wanted (the payload is done, or its
                   // tail is below direct_read_min_bytes)
    kDrained,      // the socket had no bytes (recv: EAGAIN)
    kEndOfStream,  // the peer closed (recv: 0)
  };
  // Reads the body of the payload being decoded straight into its storage,
  // one recv per block room (at most read_size in kFixed), while the
  // socket has bytes; waits only as Read() with `wait` would without a
  // poll (an unbounded wait may block in recv, unless busy polling is on:
  // then the wait is left to Receive()). Adds the bytes read to
  // *read and says why it stopped in *end. Returns the recv error
  // (kIoError).
  absl::Status ReadPayloadBody(absl::Time wait, uint64_t* read, BodyReadEnd* end);
  // Busy polling: non-blocking reads into the `count` iovecs (one recvmsg
  // each) until one does not fail with EAGAIN (EINTR is
  // retried), or until busy_poll or `wait` passes. True when one did: *n
  // holds its bytes, 0 at end of stream, or its error. False when the time
  // ran out (*n untouched).
  bool BusyPollRead(const struct iovec* iov, int count, absl::Time wait,
                    absl::StatusOr<size_t>* n);
  // The peer closed: the truncation error, or the clean end of stream.
  absl::Status EndOfStream();
  absl::Status CheckOpen() const;

  Socket socket_;
  ConnectionOptions options_;
  FrameEncoder encoder_;
  std::unique_ptr<FrameDecoder> decoder_;
  EncodedFrame scratch_;
  std::deque<Piece> out_;
  uint64_t out_front_sent_ = 0;  // bytes of out_.front() already written
  std::string spare_;            // capacity of a written run, reused
  uint64_t queued_bytes_ = 0;
  std::vector<struct iovec> iov_;
  absl::Status failure_;
  absl::Status end_of_stream_;  // set once the peer closed cleanly
  absl::Time last_message_end_;
  absl::Time message_start_;
  ConnectionStats stats_;
  // stats_.write_calls when Receive last read: a write since then (a
  // request just sent) predicts that the answer is not there yet.
  uint64_t writes_at_last_read_ = 0;
  // Payload blocks one kDirect read may fill (direct_read_max_bytes).
  size_t direct_read_spans_ = 1;
  // Receive() reads large payload bodies with ReadPayloadBody().
  bool body_loop_ = false;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_FRAMED_CONNECTION_H_
