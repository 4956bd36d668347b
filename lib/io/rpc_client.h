// File: lib/io/rpc_client.h
//
// RpcClient: typed request/response calls over one lpframe connection, the
// client side of lib/server/service_router.h. Thread-safe: many threads may
// call at once, and their requests are in flight together on the one
// connection; answers are matched to calls by envelope id.
//
//   absl::StatusOr<std::unique_ptr<RpcClient>> client =
//       RpcClient::Dial("tcp://127.0.0.1:7000");
//   absl::StatusOr<EchoReply> reply = (*client)->Call<EchoReply>(
//       request, absl::Now() + absl::Seconds(2));
//   CordBodySink body;
//   absl::StatusOr<uint64_t> size = (*client)->CallStream(cat, body, deadline);
//   absl::StatusOr<absl::Duration> rtt = (*client)->Ping(deadline);
//
// Wire conventions: a call sends KIND_REQUEST with a fresh id (unique per
// client, from 1), content_type = the request's type URL, and metadata
// kRpcTimeoutMetadataKey = milliseconds left before the deadline (unless the
// deadline is infinite). The answer is
//  - KIND_RESPONSE with the id: parsed as Resp (a reply of another type is
//    kInternal naming both types);
//  - KIND_ERROR with the id: an absl::Status with the server's code (an
//    out-of-range or OK code becomes kUnknown) and the message
//    "<Req type> call <id>: <server message>";
//  - for CallStream: KIND_CHUNK frames then KIND_END (docs/PROTOCOL.md §4.6),
//    checked exactly like ReceiveBody() (lib/io/body_stream.h): chunk index
//    and offset in order, the announced total, KIND_END's total_size,
//    digest algorithm "xxh3-64" and digest; a mismatch is kDataLoss. A
//    KIND_ERROR, also after some chunks, ends the stream with its status.
// Ping() sends KIND_PING and waits for the KIND_PONG with the same id.
//
// Deadlines: a call whose deadline passes returns kDeadlineExceeded and is
// forgotten; the connection stays usable, and a reply arriving later for
// that id is dropped (stats().late_replies). A send that cannot complete
// by the deadline leaves the rest of the request queued: it goes out before
// the next request.
//
// Connection failure (the server closed, a reset, a framing error, Close())
// fails every pending call and every later call with kUnavailable, carrying
// the connection's FrameErrorCode (e.g. END_OF_STREAM) and its message. When
// the server sent a KIND_ERROR with id 0 just before closing (e.g. a
// HANDLER_ERROR for a protocol violation), that error is the reason given.
//
// Threads: one reader thread per client receives and dispatches answers.
// Streamed bodies are handed to the calling thread, which runs the checks
// and the BodySink; at most `stream_buffer_bytes` of one stream wait for the
// caller, beyond that the reader waits (back-pressure through TCP, which
// also delays the other calls' answers on this connection).
//
// Implementation: the connection's socket is dup()ed so that one
// FramedConnection only sends (under a mutex) and the other only receives
// (on the reader thread); FramedConnection itself is not safe for one
// sender and one receiver thread at once.
#ifndef LPFRAME_LIB_IO_RPC_CLIENT_H_
#define LPFRAME_LIB_IO_RPC_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "lib/io/body_stream.h"
#include "lib/io/framed_connection.h"
#include "lib/message.h"
#include "lib/typed_message.h"

namespace lpframe {

// Metadata key carrying a call's timeout in decimal milliseconds (the
// server-side constant of the same name is in lib/server/service_router.h).
inline constexpr absl::string_view kRpcClientTimeoutMetadataKey = "lpframe-timeout-ms";

struct RpcClientOptions {
  // Framing of the connection (Dial only; Adopt keeps the connection's).
  ConnectionOptions connection;
  // Streamed responses: bytes of one stream waiting for its caller before
  // the reader thread stops reading.
  uint64_t stream_buffer_bytes = 8 << 20;
};

struct CallOptions {
  absl::Time deadline = absl::InfiniteFuture();
  // Sent in the envelope's metadata (the timeout key is added).
  std::map<std::string, std::string> metadata;
};

struct RpcClientStats {
  uint64_t calls = 0;   // requests sent (Call, CallStream)
  uint64_t errors = 0;  // calls that ended with a KIND_ERROR
  uint64_t deadline_exceeded = 0;
  uint64_t late_replies = 0;  // frames for calls already given up (dropped)
  uint64_t stray_frames = 0;  // frames for ids never used, or unexpected kinds
  uint64_t pings = 0;
};

class RpcClient {
 public:
  // Connects to `uri` (lib/io/address.h) before `deadline`.
  static absl::StatusOr<std::unique_ptr<RpcClient>> Dial(
      absl::string_view uri, RpcClientOptions options = {},
      absl::Time deadline = absl::InfiniteFuture());
  // Takes over an open connection (output queued on it is flushed first;
  // input it has already buffered is kept). The connection must not be
  // used elsewhere afterwards.
  static absl::StatusOr<std::unique_ptr<RpcClient>> Adopt(FramedConnection connection,
                                                          RpcClientOptions options = {});

  // Close()s and joins the reader thread. No call may be running.
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // A unary call: Req's reply must be a Resp.
  template <class Resp, class Req>
  absl::StatusOr<Resp> Call(const Req& request, absl::Time deadline) {
    CallOptions options;
    options.deadline = deadline;
    return Call<Resp>(request, options);
  }
  template <class Resp, class Req>
  absl::StatusOr<Resp> Call(const Req& request, const CallOptions& options);

  // A call answered by a streamed body, written to `sink` on this thread
  // chunk by chunk once checked. Returns the body size. Errors: the
  // server's KIND_ERROR; kDataLoss for order, size or digest mismatches
  // (the sink may have received part of the body); the sink's errors;
  // kDeadlineExceeded; connection errors.
  absl::StatusOr<uint64_t> CallStream(const google::protobuf::MessageLite& request, BodySink& sink,
                                      absl::Time deadline, const BodyProgress& progress = nullptr);
  absl::StatusOr<uint64_t> CallStream(const google::protobuf::MessageLite& request, BodySink& sink,
                                      const CallOptions& options,
                                      const BodyProgress& progress = nullptr);
  // The same, handing each chunk to `on_chunk` on this thread (in order,
  // before the digest on KIND_END is checked, as with any BodySink).
  using ChunkFn = std::function<absl::Status(const absl::Cord& chunk)>;
  absl::StatusOr<uint64_t> CallStream(const google::protobuf::MessageLite& request,
                                      const ChunkFn& on_chunk, absl::Time deadline);

  // Untyped unary call: `request`'s envelope gets a fresh id and
  // KIND_REQUEST; returns the KIND_RESPONSE (or the KIND_ERROR as status).
  absl::StatusOr<Message> CallMessage(Message request, const CallOptions& options);

  // Sends `message` as a one-way KIND_MESSAGE (id 0); no answer.
  absl::Status Notify(const google::protobuf::MessageLite& message,
                      absl::Time deadline = absl::InfiniteFuture());

  // KIND_PING / KIND_PONG round trip.
  absl::StatusOr<absl::Duration> Ping(absl::Time deadline);

  // Fails pending and later calls (kUnavailable, CONNECTION_CLOSED) and
  // closes the connection. Idempotent; any thread.
  void Close();

  // OK while the connection is usable, else the error that ended it.
  absl::Status status() const;
  RpcClientStats stats() const;
  // The peer, as given to Dial() (empty after Adopt()).
  const std::string& peer() const { return peer_; }

 private:
  struct Pending;

  RpcClient(FramedConnection receiver, FramedConnection sender, Socket control,
            RpcClientOptions options, std::string peer);
  static absl::StatusOr<std::unique_ptr<RpcClient>> Create(FramedConnection connection,
                                                           RpcClientOptions options,
                                                           std::string peer);
  // Sends KIND_REQUEST/KIND_PING `envelope` under a fresh id registered as
  // `pending` (whose id is set).
  absl::Status Start(Envelope envelope, absl::Cord payload, const std::shared_ptr<Pending>& pending,
                     absl::Time deadline);
  // Waits for the unary answer of `pending`.
  absl::StatusOr<Message> Finish(const std::shared_ptr<Pending>& pending, absl::Time deadline);
  absl::Status SendFrame(const Envelope& envelope, absl::Cord payload, absl::Time deadline);
  // Forgets `pending` (deadline, error): later frames for its id are dropped.
  void Abandon(const std::shared_ptr<Pending>& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ErrorFromReply(const Pending& pending, const Envelope& envelope) const;
  void ReadLoop();
  void Deliver(Message message);
  void FailAll(absl::Status status);

  const RpcClientOptions options_;
  const std::string peer_;

  absl::Mutex send_mu_;
  FramedConnection sender_ ABSL_GUARDED_BY(send_mu_);
  FramedConnection receiver_;  // reader thread only
  // Another dup of the connection's socket, only for shutdown(2): open for
  // the client's whole life, unlike the receiver's and the sender's
  // descriptors, which a failed Receive()/Send() closes (and the number may
  // then be reused by an unrelated socket).
  Socket control_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  absl::Status server_error_ ABSL_GUARDED_BY(mu_);  // a KIND_ERROR with id 0
  RpcClientStats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> next_id_{1};

  std::thread reader_;
};

template <class Resp, class Req>
absl::StatusOr<Resp> RpcClient::Call(const Req& request, const CallOptions& options) {
  absl::StatusOr<Message> reply = CallMessage(PackTypedMessage(request), options);
  if (!reply.ok()) return reply.status();
  Resp response;
  absl::Status parsed = UnpackTypedMessage(*reply, &response);
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat(request.GetTypeName(), " call ", reply->envelope.id(),
                                            ": the reply is not a ", response.GetTypeName(), ": ",
                                            parsed.message()));
  }
  return response;
}

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_RPC_CLIENT_H_
