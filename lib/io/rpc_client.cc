#include "lib/io/rpc_client.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "lib/frame_error.h"
#include "lib/io/socket.h"
#include "lib/wire_format.h"
#include "lib/xxh3_digest.h"

namespace lpframe {
namespace {

std::string DigestBytes(uint64_t digest) {
  char bytes[8];
  StoreBigEndian64(digest, bytes);
  return std::string(bytes, sizeof(bytes));
}

absl::StatusCode WireCode(int code) {
  if (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(code);
}

std::string KindName(Kind kind) {
  return Kind_IsValid(kind) ? Kind_Name(kind) : absl::StrCat("kind ", static_cast<int>(kind));
}

void AddMetadata(const CallOptions& options, Envelope* envelope) {
  for (const auto& [key, value] : options.metadata) (*envelope->mutable_metadata())[key] = value;
  if (options.deadline != absl::InfiniteFuture()) {
    const int64_t ms = absl::ToInt64Milliseconds(options.deadline - absl::Now());
    (*envelope->mutable_metadata())[std::string(kRpcClientTimeoutMetadataKey)] =
        absl::StrCat(ms < 0 ? 0 : ms);
  }
}

}  // namespace

// One call waiting for its answer. Guarded by RpcClient::mu_.
struct RpcClient::Pending {
  uint64_t id = 0;
  std::string type_name;  // of the request, for error messages
  bool streaming = false;
  bool ping = false;
  absl::CondVar cv;
  // Unary: the answer (or `status`) is there. Streaming: the call failed
  // (`status`); the stream's own frames arrive in `frames`.
  bool done = false;
  absl::Status status;
  Message reply;
  std::deque<Message> frames;
  uint64_t queued_bytes = 0;
  bool abandoned = false;  // the caller gave up
};

// --- Construction -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<RpcClient>> RpcClient::Dial(absl::string_view uri,
                                                           RpcClientOptions options,
                                                           absl::Time deadline) {
  absl::StatusOr<FramedConnection> connection =
      FramedConnection::Dial(uri, options.connection, deadline);
  if (!connection.ok()) return connection.status();
  return Create(*std::move(connection), std::move(options), std::string(uri));
}

absl::StatusOr<std::unique_ptr<RpcClient>> RpcClient::Adopt(FramedConnection connection,
                                                            RpcClientOptions options) {
  return Create(std::move(connection), std::move(options), "");
}

absl::StatusOr<std::unique_ptr<RpcClient>> RpcClient::Create(FramedConnection connection,
                                                             RpcClientOptions options,
                                                             std::string peer) {
  if (connection.closed()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed,
                          "RpcClient::Adopt: the connection is closed");
  }
  absl::Status flushed = connection.Flush();
  if (!flushed.ok()) return flushed;
  // Socket(fd) sets O_NONBLOCK on the shared open file: wrap `control`
  // before the sender, whose FramedConnection then applies its wait mode.
  const int control_fd = ::fcntl(connection.socket().fd(), F_DUPFD_CLOEXEC, 0);
  if (control_fd < 0) return ErrnoStatus(errno, "RpcClient: dup of the connection's socket");
  Socket control(control_fd);
  const int fd = ::fcntl(connection.socket().fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "RpcClient: dup of the connection's socket");
  FramedConnection sender(Socket(fd), connection.options());
  return std::unique_ptr<RpcClient>(new RpcClient(std::move(connection), std::move(sender),
                                                  std::move(control), std::move(options),
                                                  std::move(peer)));
}

RpcClient::RpcClient(FramedConnection receiver, FramedConnection sender, Socket control,
                     RpcClientOptions options, std::string peer)
    : options_(std::move(options)),
      peer_(std::move(peer)),
      sender_(std::move(sender)),
      receiver_(std::move(receiver)),
      control_(std::move(control)) {
  reader_ = std::thread([this] { ReadLoop(); });
}

RpcClient::~RpcClient() {
  Close();
  reader_.join();
}

void RpcClient::Close() {
  FailAll(MakeFrameError(FrameErrorCode::kConnectionClosed, "RpcClient::Close() was called"));
}

absl::Status RpcClient::status() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

RpcClientStats RpcClient::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

// --- Sending ------------------------------------------------------------------

absl::Status RpcClient::SendFrame(const Envelope& envelope, absl::Cord payload,
                                  absl::Time deadline) {
  if (!send_mu_.LockWhenWithDeadline(absl::Condition::kTrue, deadline)) {
    send_mu_.Unlock();
    return absl::DeadlineExceededError(
        absl::StrCat("deadline passed waiting for another call's send (", peer_, ")"));
  }
  absl::Status sent = sender_.Send(envelope, std::move(payload), deadline);
  send_mu_.Unlock();
  if (!sent.ok() &&
      !(absl::IsDeadlineExceeded(sent) && GetFrameErrorCode(sent) == FrameErrorCode::kNone)) {
    // Fatal for the connection; limit errors (nothing was queued) are not.
    const FrameErrorCode code = GetFrameErrorCode(sent);
    if (code != FrameErrorCode::kPayloadTooLarge && code != FrameErrorCode::kEnvelopeTooLarge) {
      FailAll(sent);
    }
  }
  return sent;
}

absl::Status RpcClient::Start(Envelope envelope, absl::Cord payload,
                              const std::shared_ptr<Pending>& pending, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return failure_;
    if (absl::Now() >= deadline) {
      ++stats_.deadline_exceeded;
      return absl::DeadlineExceededError(
          absl::StrCat(pending->type_name, " call: the deadline passed before it was sent"));
    }
    pending->id = next_id_.fetch_add(1);
    pending_[pending->id] = pending;
    if (pending->ping) {
      ++stats_.pings;
    } else {
      ++stats_.calls;
    }
  }
  envelope.set_id(pending->id);
  absl::Status sent = SendFrame(envelope, std::move(payload), deadline);
  if (!sent.ok()) {
    absl::MutexLock lock(&mu_);
    Abandon(pending);
    if (!failure_.ok()) return failure_;
    if (absl::IsDeadlineExceeded(sent)) ++stats_.deadline_exceeded;
    return absl::Status(sent.code(), absl::StrCat(pending->type_name, " call ", pending->id,
                                                  ": sending the request: ", sent.message()));
  }
  return absl::OkStatus();
}

void RpcClient::Abandon(const std::shared_ptr<Pending>& pending) {
  pending->abandoned = true;
  auto it = pending_.find(pending->id);
  if (it != pending_.end() && it->second == pending) pending_.erase(it);
}

absl::Status RpcClient::ErrorFromReply(const Pending& pending, const Envelope& envelope) const {
  return absl::Status(
      WireCode(envelope.status().code()),
      absl::StrCat(pending.type_name, " call ", pending.id, ": ", envelope.status().message()));
}

// --- Calls --------------------------------------------------------------------

absl::StatusOr<Message> RpcClient::CallMessage(Message request, const CallOptions& options) {
  auto pending = std::make_shared<Pending>();
  const absl::string_view type_name = TypeNameFromContentType(request.envelope.content_type());
  pending->type_name = type_name.empty() ? request.envelope.content_type() : std::string(type_name);
  request.envelope.set_kind(KIND_REQUEST);
  AddMetadata(options, &request.envelope);
  absl::Status started =
      Start(std::move(request.envelope), std::move(request.payload), pending, options.deadline);
  if (!started.ok()) return started;
  return Finish(pending, options.deadline);
}

absl::StatusOr<Message> RpcClient::Finish(const std::shared_ptr<Pending>& pending,
                                          absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (!pending->done) {
    if (pending->cv.WaitWithDeadline(&mu_, deadline) && !pending->done) {
      Abandon(pending);
      ++stats_.deadline_exceeded;
      return absl::DeadlineExceededError(
          absl::StrCat(pending->type_name, " call ", pending->id,
                       ": no answer before the deadline (the connection stays usable)"));
    }
  }
  if (!pending->status.ok()) return pending->status;
  if (pending->reply.envelope.kind() == KIND_ERROR) {
    ++stats_.errors;
    return ErrorFromReply(*pending, pending->reply.envelope);
  }
  return std::move(pending->reply);
}

absl::Status RpcClient::Notify(const google::protobuf::MessageLite& message, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return failure_;
  }
  Message m = PackTypedMessage(message);
  m.envelope.set_kind(KIND_MESSAGE);
  return SendFrame(m.envelope, std::move(m.payload), deadline);
}

absl::StatusOr<absl::Duration> RpcClient::Ping(absl::Time deadline) {
  auto pending = std::make_shared<Pending>();
  pending->ping = true;
  pending->type_name = "ping";
  Envelope ping;
  ping.set_kind(KIND_PING);
  const absl::Time start = absl::Now();
  absl::Status started = Start(ping, absl::Cord(), pending, deadline);
  if (!started.ok()) return started;
  absl::StatusOr<Message> pong = Finish(pending, deadline);
  if (!pong.ok()) return pong.status();
  return absl::Now() - start;
}

absl::StatusOr<uint64_t> RpcClient::CallStream(const google::protobuf::MessageLite& request,
                                               BodySink& sink, absl::Time deadline,
                                               const BodyProgress& progress) {
  CallOptions options;
  options.deadline = deadline;
  return CallStream(request, sink, options, progress);
}

absl::StatusOr<uint64_t> RpcClient::CallStream(const google::protobuf::MessageLite& request,
                                               const ChunkFn& on_chunk, absl::Time deadline) {
  class FunctionSink : public BodySink {
   public:
    explicit FunctionSink(const ChunkFn& fn) : fn_(fn) {}
    absl::Status Write(const absl::Cord& chunk) override { return fn_(chunk); }

   private:
    const ChunkFn& fn_;
  };
  FunctionSink sink(on_chunk);
  return CallStream(request, sink, deadline);
}

absl::StatusOr<uint64_t> RpcClient::CallStream(const google::protobuf::MessageLite& request,
                                               BodySink& sink, const CallOptions& options,
                                               const BodyProgress& progress) {
  auto pending = std::make_shared<Pending>();
  pending->streaming = true;
  pending->type_name = request.GetTypeName();
  Message m = PackTypedMessage(request);
  m.envelope.set_kind(KIND_REQUEST);
  AddMetadata(options, &m.envelope);
  absl::Status started =
      Start(std::move(m.envelope), std::move(m.payload), pending, options.deadline);
  if (!started.ok()) return started;

  // The same checks as ReceiveBody() (lib/io/body_stream.cc).
  const uint64_t id = pending->id;
  const std::string& type = pending->type_name;
  Xxh3Digest digest;
  uint64_t received = 0;
  uint64_t index = 0;
  mu_.Lock();
  // Every exit from here on goes through `end` (with mu_ held).
  auto end = [&](absl::StatusOr<uint64_t> result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Abandon(pending);
    mu_.Unlock();
    return result;
  };
  while (true) {
    while (pending->frames.empty() && !pending->done) {
      if (pending->cv.WaitWithDeadline(&mu_, options.deadline) && pending->frames.empty() &&
          !pending->done) {
        ++stats_.deadline_exceeded;
        return end(absl::DeadlineExceededError(
            absl::StrCat(type, " call ", id, ": streamed response not complete at the deadline (",
                         received, " bytes received; the connection stays usable)")));
      }
    }
    if (pending->frames.empty()) return end(pending->status);  // the connection failed
    Message frame = std::move(pending->frames.front());
    pending->frames.pop_front();
    pending->queued_bytes -= frame.payload.size();
    const Envelope& e = frame.envelope;
    if (e.kind() == KIND_ERROR) {
      ++stats_.errors;
      return end(ErrorFromReply(*pending, e));
    }
    if (e.kind() != KIND_CHUNK && e.kind() != KIND_END) {
      return end(absl::FailedPreconditionError(
          absl::StrCat(type, " call ", id, ": expected a streamed response, got ",
                       KindName(e.kind()), " after ", received, " bytes")));
    }
    mu_.Unlock();
    const ChunkInfo& info = e.chunk();
    absl::Status step;
    bool finished = false;
    if (e.kind() == KIND_END) {
      finished = true;
      if (info.total_size() != received) {
        step =
            absl::DataLossError(absl::StrCat(type, " call ", id, ": body of stream: KIND_END says ",
                                             info.total_size(), " bytes, received ", received));
      } else if (info.digest_algorithm() != kBodyDigestAlgorithm) {
        step = absl::DataLossError(absl::StrCat(type, " call ", id, ": unknown digest algorithm \"",
                                                info.digest_algorithm(), "\""));
      } else {
        const std::string expected = DigestBytes(digest.Digest());
        if (info.digest() != expected) {
          step = absl::DataLossError(absl::StrFormat(
              "%s call %d: digest mismatch over %d bytes (sender 0x%s, received 0x%s)", type, id,
              received, absl::BytesToHexString(info.digest()), absl::BytesToHexString(expected)));
        } else {
          step = sink.Finish();
        }
      }
    } else if (info.index() != index || info.offset() != received) {
      step = absl::DataLossError(absl::StrCat(type, " call ", id, ": expected chunk ", index,
                                              " at offset ", received, ", got chunk ", info.index(),
                                              " at offset ", info.offset()));
    } else if (info.total_size_known() && received + frame.payload.size() > info.total_size()) {
      step = absl::DataLossError(absl::StrCat(type, " call ", id, ": chunk ", index,
                                              " overruns the announced total of ",
                                              info.total_size(), " bytes"));
    } else {
      digest.Update(frame.payload);
      step = sink.Write(frame.payload);
      if (step.ok()) {
        received += frame.payload.size();
        ++index;
        if (progress) {
          progress(received, info.total_size_known() ? absl::optional<uint64_t>(info.total_size())
                                                     : absl::nullopt);
        }
      }
    }
    mu_.Lock();
    if (!step.ok()) return end(step);
    if (finished) return end(received);
  }
}

// --- Reader thread ------------------------------------------------------------

void RpcClient::ReadLoop() {
  while (true) {
    Message message;
    absl::Status received = receiver_.Receive(&message, absl::InfiniteFuture());
    if (!received.ok()) {
      FailAll(received);
      return;
    }
    Deliver(std::move(message));
  }
}

void RpcClient::Deliver(Message message) {
  absl::MutexLock lock(&mu_);
  const Envelope& e = message.envelope;
  auto it = pending_.find(e.id());
  if (it == pending_.end()) {
    if (e.id() == 0 && e.kind() == KIND_ERROR) {
      // The server's word on the whole connection, usually just before it
      // closes it (HANDLER_ERROR, SHUTTING_DOWN, limits).
      server_error_ = absl::Status(WireCode(e.status().code()), e.status().message());
    } else if (e.id() != 0 && e.id() < next_id_.load()) {
      ++stats_.late_replies;
    } else {
      ++stats_.stray_frames;
    }
    return;
  }
  std::shared_ptr<Pending> pending = it->second;
  const Kind kind = e.kind();
  if (!pending->streaming) {
    const bool expected =
        pending->ping ? kind == KIND_PONG : (kind == KIND_RESPONSE || kind == KIND_ERROR);
    if (!expected) {
      ++stats_.stray_frames;
      pending->status = absl::FailedPreconditionError(absl::StrCat(
          pending->type_name, " call ", pending->id, ": unexpected answer ", KindName(kind)));
    } else {
      pending->reply = std::move(message);
    }
    pending->done = true;
    pending_.erase(it);
    pending->cv.Signal();
    return;
  }
  if (kind != KIND_CHUNK) pending_.erase(it);  // the stream's last frame
  pending->queued_bytes += message.payload.size();
  pending->frames.push_back(std::move(message));
  pending->cv.Signal();
  // Back-pressure: let the caller catch up before reading more.
  auto drained = [this, &pending]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending->queued_bytes <= options_.stream_buffer_bytes || pending->abandoned ||
           !failure_.ok();
  };
  mu_.Await(absl::Condition(&drained));
}

void RpcClient::FailAll(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) {
      std::string reason(status.message());
      if (!server_error_.ok()) {
        reason = absl::StrCat("the server sent ", absl::StatusCodeToString(server_error_.code()),
                              ": ", server_error_.message(), "; then ", reason);
      }
      FrameErrorCode code = GetFrameErrorCode(status);
      absl::Status failure = absl::UnavailableError(
          absl::StrCat("rpc connection", peer_.empty() ? "" : " to ", peer_, " failed: ", reason));
      failure_ = code == FrameErrorCode::kNone ? failure : WithFrameErrorCode(failure, code);
    }
    for (auto& [id, pending] : pending_) {
      pending->status = failure_;
      pending->done = true;
      pending->cv.Signal();
    }
    pending_.clear();
  }
  ::shutdown(control_.fd(), SHUT_RDWR);  // wakes the reader; later sends fail
}

}  // namespace lpframe
