#include "lib/server/service_router.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/error_envelope.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

// Sends a KIND_ERROR answer for request `id`. A send failure (the connection
// is gone, or closing) is not reported: nobody is left to tell.
void SendError(Session& session, uint64_t id, const absl::Status& status) {
  Envelope envelope = ErrorEnvelope(status);
  envelope.set_id(id);
  (void)session.Send(envelope, absl::Cord());
}

bool IsLimitError(const absl::Status& status) {
  const FrameErrorCode code = GetFrameErrorCode(status);
  return code == FrameErrorCode::kPayloadTooLarge || code == FrameErrorCode::kEnvelopeTooLarge;
}

}  // namespace

absl::optional<absl::string_view> RequestContext::Metadata(absl::string_view key) const {
  auto it = envelope_.metadata().find(std::string(key));
  if (it == envelope_.metadata().end()) return absl::nullopt;
  return absl::string_view(it->second);
}

// --- Connection handler -------------------------------------------------------

class ServiceRouter::Connection final : public StreamHandler {
 public:
  explicit Connection(ServiceRouter* router)
      : router_(router), in_flight_(std::make_shared<std::atomic<int>>(0)) {}

  absl::Status OnMessage(Session& session, Message message) override {
    return router_->OnMessage(session, in_flight_, std::move(message));
  }

 private:
  ServiceRouter* const router_;
  // Requests of this connection queued or running on the executor; shared
  // with the tasks, which may outlive this handler.
  const std::shared_ptr<std::atomic<int>> in_flight_;
};

// One request handed to the executor. Holds the session until it is done.
struct ServiceRouter::Task {
  std::shared_ptr<Session> session;
  // Keeps the connection open (graceful shutdown, peer's end of stream)
  // until the answer is sent.
  std::shared_ptr<void> hold;
  std::shared_ptr<std::atomic<int>> in_flight;
  Entry* entry = nullptr;
  Message message;
  absl::Time received;
  absl::Time deadline;
};

// --- ServiceRouter ------------------------------------------------------------

ServiceRouter::ServiceRouter(ServiceRouterOptions options)
    : options_(std::move(options)), owner_pid_(::getpid()) {
  if (options_.executor_threads > 0) {
    pool_ = std::make_unique<WorkerPool>(options_.executor_threads);
  }
}

ServiceRouter::~ServiceRouter() { pool_.reset(); }

absl::Status ServiceRouter::Register(std::unique_ptr<Entry> entry) {
  absl::MutexLock lock(&registry_mu_);
  if (frozen_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ServiceRouter: cannot register a handler for ", entry->type_name,
                     " after factory() was called"));
  }
  auto inserted = entries_.try_emplace(entry->type_name, nullptr);
  if (!inserted.second) {
    return absl::AlreadyExistsError(
        absl::StrCat("ServiceRouter: type ", entry->type_name, " already has a handler"));
  }
  inserted.first->second = std::move(entry);
  return absl::OkStatus();
}

HandlerFactory ServiceRouter::factory() {
  {
    absl::MutexLock lock(&registry_mu_);
    frozen_ = true;
  }
  return [this] { return std::make_unique<Connection>(this); };
}

absl::Status ServiceRouter::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&idle_mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(idle_mu_) { return tasks_ == 0; };
  if (!idle_mu_.AwaitWithDeadline(absl::Condition(&idle), deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat("ServiceRouter: ", tasks_, " requests still queued or running"));
  }
  return absl::OkStatus();
}

ServiceRouterStats ServiceRouter::stats() const {
  ServiceRouterStats stats;
  {
    absl::MutexLock lock(&registry_mu_);
    for (const auto& [name, entry] : entries_) {
      RpcTypeStats& type = stats.types[name];
      type.requests = entry->requests.load(std::memory_order_relaxed);
      type.errors = entry->errors.load(std::memory_order_relaxed);
    }
  }
  stats.unknown_type = unknown_type_.load(std::memory_order_relaxed);
  stats.bad_request = bad_request_.load(std::memory_order_relaxed);
  stats.rejected = rejected_.load(std::memory_order_relaxed);
  stats.expired = expired_.load(std::memory_order_relaxed);
  stats.pings = pings_.load(std::memory_order_relaxed);
  stats.protocol_errors = protocol_errors_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status ServiceRouter::OnMessage(Session& session,
                                      const std::shared_ptr<std::atomic<int>>& in_flight,
                                      Message message) {
  const Envelope& e = message.envelope;
  switch (e.kind()) {
    case KIND_PING: {
      pings_.fetch_add(1, std::memory_order_relaxed);
      Envelope pong;
      pong.set_id(e.id());
      pong.set_kind(KIND_PONG);
      pong.set_content_type(e.content_type());
      (void)session.Send(pong, std::move(message.payload));
      return absl::OkStatus();
    }
    case KIND_REQUEST:
      if (e.id() == 0) {
        protocol_errors_.fetch_add(1, std::memory_order_relaxed);
        return absl::InvalidArgumentError(
            absl::StrCat("service router: a KIND_REQUEST needs a non-zero id (content_type \"",
                         e.content_type(), "\")"));
      }
      Dispatch(session, in_flight, std::move(message));
      return absl::OkStatus();
    case KIND_UNSPECIFIED:
    case KIND_MESSAGE:
      Dispatch(session, in_flight, std::move(message));
      return absl::OkStatus();
    default:
      protocol_errors_.fetch_add(1, std::memory_order_relaxed);
      return absl::InvalidArgumentError(absl::StrCat(
          "service router: a client may send KIND_REQUEST, KIND_MESSAGE or KIND_PING; got ",
          Kind_IsValid(e.kind()) ? Kind_Name(e.kind()) : absl::StrCat("kind ", e.kind()), " (id ",
          e.id(), ")"));
  }
}

void ServiceRouter::Dispatch(Session& session, const std::shared_ptr<std::atomic<int>>& in_flight,
                             Message message) {
  const absl::Time received = absl::Now();
  const Envelope& e = message.envelope;
  const bool one_way = e.kind() != KIND_REQUEST;
  const absl::string_view type_name = TypeNameFromContentType(e.content_type());
  if (type_name.empty()) {
    bad_request_.fetch_add(1, std::memory_order_relaxed);
    if (!one_way) {
      SendError(session, e.id(),
                absl::InvalidArgumentError(absl::StrCat(
                    "request ", e.id(), ": content_type \"", e.content_type(),
                    "\" is not a protobuf type URL (", kTypeUrlPrefix, "<full.Name>)")));
    }
    return;
  }
  auto it = entries_.find(type_name);
  if (it == entries_.end()) {
    unknown_type_.fetch_add(1, std::memory_order_relaxed);
    if (!one_way) {
      SendError(session, e.id(),
                absl::UnimplementedError(
                    absl::StrCat("request ", e.id(), ": no handler for type ", type_name)));
    }
    return;
  }
  Entry& entry = *it->second;
  entry.requests.fetch_add(1, std::memory_order_relaxed);

  absl::Time deadline = absl::InfiniteFuture();
  auto timeout = e.metadata().find(std::string(kRpcTimeoutMetadataKey));
  if (timeout != e.metadata().end()) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(timeout->second, &ms) || ms < 0) {
      bad_request_.fetch_add(1, std::memory_order_relaxed);
      entry.errors.fetch_add(1, std::memory_order_relaxed);
      if (!one_way) {
        SendError(session, e.id(),
                  absl::InvalidArgumentError(absl::StrCat(
                      "request ", e.id(), " (", type_name, "): metadata ", kRpcTimeoutMetadataKey,
                      " must be a non-negative number of milliseconds")));
      }
      return;
    }
    deadline = received + absl::Milliseconds(ms);
  }

  // In a forked child the pool's threads do not exist: run inline.
  if (pool_ == nullptr || ::getpid() != owner_pid_) {
    Run(session, entry, message, received, deadline);
    return;
  }
  if (in_flight->fetch_add(1) >= options_.max_in_flight) {
    in_flight->fetch_sub(1);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    entry.errors.fetch_add(1, std::memory_order_relaxed);
    if (!one_way) {
      SendError(session, e.id(),
                absl::ResourceExhaustedError(
                    absl::StrCat("request ", e.id(), " (", type_name, "): ", options_.max_in_flight,
                                 " requests of this connection are already in flight")));
    }
    return;
  }
  {
    absl::MutexLock lock(&idle_mu_);
    ++tasks_;
  }
  auto task = std::make_shared<Task>();
  task->session = session.shared_from_this();
  task->hold = session.HoldOpen();
  task->in_flight = in_flight;
  task->entry = &entry;
  task->message = std::move(message);
  task->received = received;
  task->deadline = deadline;
  pool_->Submit([this, task] { RunTask(*task); });
}

void ServiceRouter::RunTask(Task& task) {
  Run(*task.session, *task.entry, task.message, task.received, task.deadline);
  task.hold.reset();  // answered: the connection may close
  // Let go of the session before the router counts the task done, so that
  // after WaitIdle() no task holds a session of a server being destroyed.
  task.session.reset();
  task.message = Message();
  task.in_flight->fetch_sub(1);
  absl::MutexLock lock(&idle_mu_);
  --tasks_;
}

void ServiceRouter::Run(Session& session, Entry& entry, const Message& message, absl::Time received,
                        absl::Time deadline) {
  const Envelope& e = message.envelope;
  const uint64_t id = e.id();
  const bool one_way = e.kind() != KIND_REQUEST;
  if (absl::Now() > deadline) {
    expired_.fetch_add(1, std::memory_order_relaxed);
    entry.errors.fetch_add(1, std::memory_order_relaxed);
    if (!one_way) {
      SendError(session, id,
                absl::DeadlineExceededError(
                    absl::StrCat("request ", id, " (", entry.type_name,
                                 "): the deadline passed before its handler ran")));
    }
    return;
  }
  std::unique_ptr<google::protobuf::MessageLite> request = entry.new_request();
  absl::Status parsed = UnpackTypedMessage(message, request.get());
  if (!parsed.ok()) {
    bad_request_.fetch_add(1, std::memory_order_relaxed);
    entry.errors.fetch_add(1, std::memory_order_relaxed);
    if (!one_way) {
      SendError(session, id,
                absl::InvalidArgumentError(
                    absl::StrCat("request ", id, " (", entry.type_name, "): ", parsed.message())));
    }
    return;
  }
  const RequestContext context(session.peer(), e, entry.type_name, received, deadline);

  if (entry.unary) {
    absl::StatusOr<Message> reply = entry.unary(context, *request);
    if (!reply.ok()) {
      entry.errors.fetch_add(1, std::memory_order_relaxed);
      if (!one_way) SendError(session, id, reply.status());
      return;
    }
    if (one_way) return;
    reply->envelope.set_id(id);
    reply->envelope.set_kind(KIND_RESPONSE);
    absl::Status sent = session.Send(*reply);
    if (!sent.ok() && IsLimitError(sent)) {
      entry.errors.fetch_add(1, std::memory_order_relaxed);
      SendError(session, id,
                absl::ResourceExhaustedError(
                    absl::StrCat("request ", id, " (", entry.type_name,
                                 "): the reply was not sent: ", sent.message())));
    }
    return;
  }

  // Streamed response. One-way messages have nobody to stream to.
  if (one_way) {
    entry.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ResponseStreamOptions stream_options;
  stream_options.chunk_bytes = options_.stream_chunk_bytes;
  stream_options.write_timeout = options_.stream_write_timeout;
  ResponseStream stream(&session, id, stream_options, deadline);
  absl::Status status = entry.stream(context, *request, stream);
  if (status.ok() && !stream.finished()) status = stream.Finish();
  if (!status.ok()) {
    entry.errors.fetch_add(1, std::memory_order_relaxed);
    // After KIND_END the stream is complete; an error cannot follow it.
    if (!stream.finished() || !stream.status().ok()) SendError(session, id, status);
  }
}

}  // namespace lpframe
