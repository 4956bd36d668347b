// File: lib/server/service_router.h
//
// ServiceRouter: a typed request/response layer on top of StreamServer. It
// dispatches each request to the handler registered for the protobuf type
// named by the envelope's content_type, and answers with the request's id.
//
//   ServiceRouterOptions options;
//   options.executor_threads = 4;
//   ServiceRouter router(options);
//   absl::Status s = router.Handle<EchoRequest, EchoReply>(
//       [](const RequestContext& ctx, const EchoRequest& req)
//           -> absl::StatusOr<EchoReply> { ... });
//   s = router.HandleStream<CatRequest>(
//       [](const RequestContext& ctx, const CatRequest& req,
//          ResponseStream& out) -> absl::Status { ...; return out.Write(data); });
//   auto server = StreamServer::Create(uri, options, router.factory());
//   ... ServeForever(); Shutdown(); ...
//   router.WaitIdle(absl::Now() + absl::Seconds(5));   // before ~StreamServer
//
// Wire conventions (docs: "Typed services"). N is the request's envelope id.
//
//   client sends                          server answers
//   ------------------------------------  ----------------------------------
//   KIND_REQUEST id N, content_type =     KIND_RESPONSE id N, content_type =
//     type.googleapis.com/<Req>             type URL of the reply
//   ... handler returns an error          KIND_ERROR id N, status{code, msg}
//   ... stream handler                    KIND_CHUNK id N ... KIND_END id N
//                                          (ResponseStream, §4.6 digest)
//   ... stream handler fails              KIND_ERROR id N (ends the stream,
//                                          also after some chunks)
//   ... no handler for the type           KIND_ERROR id N UNIMPLEMENTED,
//                                          naming only the requested type
//   ... content_type not a type URL,      KIND_ERROR id N INVALID_ARGUMENT
//       payload not parsable, bad
//       lpframe-timeout-ms metadata
//   ... deadline passed before it ran     KIND_ERROR id N DEADLINE_EXCEEDED
//   ... max_in_flight requests running    KIND_ERROR id N RESOURCE_EXHAUSTED
//   KIND_MESSAGE / KIND_UNSPECIFIED       nothing: a unary handler runs and
//     (one-way) with a type URL             its reply or error is dropped
//                                           (counted); unknown types and
//                                           stream handlers: dropped, counted
//   KIND_PING id N, payload P             KIND_PONG id N, payload P (at once,
//                                           even with executor threads)
//   KIND_REQUEST with id 0, or any other  protocol error: OnMessage fails, the
//     kind (RESPONSE, ERROR, CHUNK, END,    server sends a HANDLER_ERROR frame
//     PONG, unknown values)                 and closes the connection
//
// Per-request errors keep the connection open. Metadata: a request may carry
// kRpcTimeoutMetadataKey = decimal milliseconds left (RpcClient sets it from
// the call's deadline); RequestContext::deadline() is then the arrival time
// plus that. Other metadata is passed to the handler untouched.
//
// Concurrency and ordering (ServiceRouterOptions::executor_threads):
//  - 0: handlers run where the server calls OnMessage (the reactor thread or
//    its workers, a connection thread); a connection's requests run one at
//    a time, answers leave in request order.
//  - N > 0: a router-owned WorkerPool of N threads runs requests; several
//    requests of one connection run at once and answers may leave out of
//    order (clients match them by id). The Session is kept alive with
//    shared_from_this() while a request runs. At most `max_in_flight`
//    requests (and one-way messages) per connection are queued or running;
//    beyond that a request is answered RESOURCE_EXHAUSTED at once (the
//    router cannot stop the server reading). In a forked child (model
//    kForkPerConnection) the pool's threads do not exist; the router then
//    runs handlers inline. Each queued or running request holds its
//    connection open (Session::HoldOpen): a graceful shutdown waits for its
//    answer, up to the end of the grace period.
//
// Handlers: must be copyable or movable callables; they may run on several
// threads at once (thread-safe), must not block the I/O thread for long when
// executor_threads is 0, and must not keep the RequestContext or the
// ResponseStream after returning. A stream handler that returns OK without
// Finish() gets Finish() called for it.
//
// Lifetime: register every handler before factory() is called (later
// registration fails). The router must outlive the server, and no executor
// task may still run when the server is destroyed: after ServeForever()
// returned, call WaitIdle() (or destroy the router) before ~StreamServer.
// The destructor runs the queued tasks and joins the executor.
//
// Thread-safety: Handle*/factory() from one thread during set-up; stats(),
// WaitIdle() from any thread.
#ifndef LPFRAME_LIB_SERVER_SERVICE_ROUTER_H_
#define LPFRAME_LIB_SERVER_SERVICE_ROUTER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/protobuf/message_lite.h"
#include "lib/message.h"
#include "lib/server/peer_info.h"
#include "lib/server/response_stream.h"
#include "lib/server/session.h"
#include "lib/server/stream_handler.h"
#include "lib/server/worker_pool.h"
#include "lib/typed_message.h"

namespace lpframe {

// Metadata key of a request's timeout: decimal milliseconds left when the
// client sent it (same value as RpcClient's kRpcTimeoutMetadataKey).
inline constexpr absl::string_view kRpcTimeoutMetadataKey = "lpframe-timeout-ms";

// What a handler knows about the request besides its message. Valid only
// during the handler call.
class RequestContext {
 public:
  RequestContext(const PeerInfo& peer, const Envelope& envelope, absl::string_view type_name,
                 absl::Time received, absl::Time deadline)
      : peer_(peer),
        envelope_(envelope),
        type_name_(type_name),
        received_(received),
        deadline_(deadline) {}

  const PeerInfo& peer() const { return peer_; }
  // The request's envelope id (0 for a one-way message).
  uint64_t request_id() const { return envelope_.id(); }
  bool one_way() const { return envelope_.kind() != KIND_REQUEST; }
  // Full protobuf name of the request type, e.g. "pkg.EchoRequest".
  absl::string_view type_name() const { return type_name_; }
  const google::protobuf::Map<std::string, std::string>& metadata() const {
    return envelope_.metadata();
  }
  // The value of metadata `key`, if present.
  absl::optional<absl::string_view> Metadata(absl::string_view key) const;
  // When the server read the request.
  absl::Time received() const { return received_; }
  // From kRpcTimeoutMetadataKey; InfiniteFuture when the client set none.
  absl::Time deadline() const { return deadline_; }

 private:
  const PeerInfo& peer_;
  const Envelope& envelope_;
  absl::string_view type_name_;
  absl::Time received_;
  absl::Time deadline_;
};

struct ServiceRouterOptions {
  // 0: handlers inline, answers in request order. N > 0: a pool of N
  // threads, answers possibly out of order.
  int executor_threads = 0;
  // executor_threads > 0: requests per connection queued or running; more
  // are answered RESOURCE_EXHAUSTED. Queued requests are not counted in the
  // server's input budgets; on an inline reactor a large one may also hold
  // its read block (StreamServerOptions::keep_payloads_in_read_blocks).
  int max_in_flight = 64;
  // Streamed responses: chunk size and the longest wait for output space.
  size_t stream_chunk_bytes = 256 << 10;
  absl::Duration stream_write_timeout = absl::Seconds(30);
};

struct RpcTypeStats {
  uint64_t requests = 0;  // dispatched to this type's handler (incl. one-way)
  uint64_t errors = 0;    // error answers (or dropped one-way errors)
};

struct ServiceRouterStats {
  std::map<std::string, RpcTypeStats> types;  // by full type name
  uint64_t unknown_type = 0;                  // no handler registered
  uint64_t bad_request = 0;                   // not a type URL, unparsable, bad metadata
  uint64_t rejected = 0;                      // over max_in_flight
  uint64_t expired = 0;                       // deadline passed before the handler ran
  uint64_t pings = 0;
  uint64_t protocol_errors = 0;  // connections closed for a wrong kind / id 0
};

class ServiceRouter {
 public:
  explicit ServiceRouter(ServiceRouterOptions options = {});
  // Runs the executor's queued tasks and joins it.
  ~ServiceRouter();
  ServiceRouter(const ServiceRouter&) = delete;
  ServiceRouter& operator=(const ServiceRouter&) = delete;

  // Registers fn(const RequestContext&, const Req&) -> absl::StatusOr<Resp>
  // for requests of type Req. Errors: kAlreadyExists when Req already has a
  // handler, kFailedPrecondition after factory() was called.
  template <class Req, class Resp, class Fn>
  absl::Status Handle(Fn fn);

  // Registers fn(const RequestContext&, const Req&, ResponseStream&) ->
  // absl::Status: the response is a streamed body (ResponseStream). Errors
  // as for Handle().
  template <class Req, class Fn>
  absl::Status HandleStream(Fn fn);

  // The StreamServer's handler factory: one connection handler per
  // connection, all dispatching through this router. Ends registration.
  HandlerFactory factory();

  // Waits until no executor task is queued or running. DeadlineExceeded
  // (with the count) if some still are at `deadline`.
  absl::Status WaitIdle(absl::Time deadline = absl::InfiniteFuture());

  ServiceRouterStats stats() const;
  const ServiceRouterOptions& options() const { return options_; }

 private:
  class Connection;
  struct Task;

  // One registered request type; immutable once registered, but counters.
  struct Entry {
    std::string type_name;
    std::function<std::unique_ptr<google::protobuf::MessageLite>()> new_request;
    // Exactly one of these is set. `unary` returns the packed reply.
    std::function<absl::StatusOr<Message>(const RequestContext&,
                                          const google::protobuf::MessageLite&)>
        unary;
    std::function<absl::Status(const RequestContext&, const google::protobuf::MessageLite&,
                               ResponseStream&)>
        stream;
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> errors{0};
  };

  absl::Status Register(std::unique_ptr<Entry> entry);
  // Connection handler entry point (any server thread).
  absl::Status OnMessage(Session& session, const std::shared_ptr<std::atomic<int>>& in_flight,
                         Message message);
  void Dispatch(Session& session, const std::shared_ptr<std::atomic<int>>& in_flight,
                Message message);
  // Runs one request to completion: parse, handler, answer.
  void Run(Session& session, Entry& entry, const Message& message, absl::Time received,
           absl::Time deadline);
  void RunTask(Task& task);

  const ServiceRouterOptions options_;
  const pid_t owner_pid_;

  mutable absl::Mutex registry_mu_;
  bool frozen_ ABSL_GUARDED_BY(registry_mu_) = false;
  // Written only before frozen_; read without the lock once frozen.
  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries_;

  std::atomic<uint64_t> unknown_type_{0};
  std::atomic<uint64_t> bad_request_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> pings_{0};
  std::atomic<uint64_t> protocol_errors_{0};

  absl::Mutex idle_mu_;
  int64_t tasks_ ABSL_GUARDED_BY(idle_mu_) = 0;

  std::unique_ptr<WorkerPool> pool_;  // null when executor_threads == 0
};

// --- Implementation details --------------------------------------------------

template <class Req, class Resp, class Fn>
absl::Status ServiceRouter::Handle(Fn fn) {
  static_assert(std::is_base_of<google::protobuf::MessageLite, Req>::value,
                "Req must be a protobuf message");
  static_assert(std::is_base_of<google::protobuf::MessageLite, Resp>::value,
                "Resp must be a protobuf message");
  auto shared_fn = std::make_shared<Fn>(std::move(fn));
  auto entry = std::make_unique<Entry>();
  entry->type_name = Req::default_instance().GetTypeName();
  entry->new_request = [] { return std::make_unique<Req>(); };
  entry->unary = [shared_fn](
                     const RequestContext& context,
                     const google::protobuf::MessageLite& request) -> absl::StatusOr<Message> {
    absl::StatusOr<Resp> reply = (*shared_fn)(context, static_cast<const Req&>(request));
    if (!reply.ok()) return reply.status();
    return PackTypedMessage(*reply);
  };
  return Register(std::move(entry));
}

template <class Req, class Fn>
absl::Status ServiceRouter::HandleStream(Fn fn) {
  static_assert(std::is_base_of<google::protobuf::MessageLite, Req>::value,
                "Req must be a protobuf message");
  auto shared_fn = std::make_shared<Fn>(std::move(fn));
  auto entry = std::make_unique<Entry>();
  entry->type_name = Req::default_instance().GetTypeName();
  entry->new_request = [] { return std::make_unique<Req>(); };
  entry->stream = [shared_fn](const RequestContext& context,
                              const google::protobuf::MessageLite& request,
                              ResponseStream& out) -> absl::Status {
    return (*shared_fn)(context, static_cast<const Req&>(request), out);
  };
  return Register(std::move(entry));
}

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_SERVICE_ROUTER_H_
