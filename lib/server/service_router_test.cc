// ServiceRouter over a real StreamServer, checked on the wire with a raw
// FramedConnection: envelope kinds, ids, status codes, streamed bodies
// (verified with ReceiveBody), ordering with and without executor threads.
#include "lib/server/service_router.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/io/body_stream.h"
#include "lib/io/framed_connection.h"
#include "lib/server/stream_server.h"
#include "lib/server/testing/test_services.h"
#include "lib/typed_message.h"
#include "proto/testing/test_service.pb.h"

namespace lpframe {
namespace {

using testing::CatRequest;
using testing::EchoReply;
using testing::EchoRequest;
using testing::SumReply;
using testing::SumRequest;
using testing::UnknownRequest;

std::atomic<int> one_way_seen{0};
using servertest::ServiceBody;

class TestServer : public servertest::RouterTestServer {
 public:
  TestServer(ServiceRouterOptions router_options, StreamServerOptions server_options,
             const std::string& uri)
      : RouterTestServer(router_options, server_options, uri, &one_way_seen) {}
  FramedConnection Dial() {
    auto c = FramedConnection::Dial(address());
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }
};

std::string UnixUri(absl::string_view tag) {
  return absl::StrCat("unix:/tmp/lpframe_router_test_", ::getpid(), "_", tag, ".sock");
}

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

Message Request(uint64_t id, const google::protobuf::MessageLite& m) {
  Envelope e;
  e.set_id(id);
  e.set_kind(KIND_REQUEST);
  return PackTypedMessage(m, e);
}

EchoRequest Echo(const std::string& text, int delay_ms = 0) {
  EchoRequest r;
  r.set_text(text);
  r.set_delay_ms(delay_ms);
  return r;
}

Message Receive(FramedConnection& c) {
  auto m = c.Receive(Soon());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : Message();
}

void ExpectEchoResponse(const Message& m, uint64_t id, const std::string& text) {
  EXPECT_EQ(m.envelope.kind(), KIND_RESPONSE) << m.envelope.ShortDebugString();
  EXPECT_EQ(m.envelope.id(), id);
  EXPECT_EQ(m.envelope.content_type(), "type.googleapis.com/lpframe.testing.EchoReply");
  EchoReply reply;
  ASSERT_TRUE(UnpackTypedMessage(m, &reply).ok());
  EXPECT_EQ(reply.text(), text);
  EXPECT_EQ(reply.request_id(), id);
}

void ExpectError(const Message& m, uint64_t id, absl::StatusCode code,
                 const std::string& substring) {
  EXPECT_EQ(m.envelope.kind(), KIND_ERROR) << m.envelope.ShortDebugString();
  EXPECT_EQ(m.envelope.id(), id);
  EXPECT_EQ(m.envelope.status().code(), static_cast<int>(code)) << m.envelope.ShortDebugString();
  EXPECT_NE(m.envelope.status().message().find(substring), std::string::npos)
      << m.envelope.status().message();
}

TEST(ServiceRouterTest, DuplicateAndLateRegistrationFail) {
  ServiceRouter router;
  auto fn = [](const RequestContext&, const SumRequest&) -> absl::StatusOr<SumReply> {
    return SumReply();
  };
  EXPECT_TRUE((router.Handle<SumRequest, SumReply>(fn)).ok());
  absl::Status again = router.Handle<SumRequest, SumReply>(fn);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("lpframe.testing.SumRequest"), std::string::npos);
  absl::Status stream_again = router.HandleStream<SumRequest>(
      [](const RequestContext&, const SumRequest&, ResponseStream&) { return absl::OkStatus(); });
  EXPECT_EQ(stream_again.code(), absl::StatusCode::kAlreadyExists);
  HandlerFactory factory = router.factory();
  absl::Status late = router.Handle<EchoRequest, EchoReply>(
      [](const RequestContext&, const EchoRequest&) -> absl::StatusOr<EchoReply> {
        return EchoReply();
      });
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ServiceRouterTest, RequestResponseWireConventions) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  ASSERT_TRUE(c.Send(Request(7, Echo("hello"))).ok());
  ExpectEchoResponse(Receive(c), 7, "hello");
  SumRequest sum;
  sum.add_values(40);
  sum.add_values(2);
  ASSERT_TRUE(c.Send(Request(8, sum)).ok());
  Message m = Receive(c);
  EXPECT_EQ(m.envelope.kind(), KIND_RESPONSE);
  EXPECT_EQ(m.envelope.id(), 8u);
  SumReply reply;
  ASSERT_TRUE(UnpackTypedMessage(m, &reply).ok());
  EXPECT_EQ(reply.sum(), 42);
  ServiceRouterStats stats = ts.router().stats();
  EXPECT_EQ(stats.types["lpframe.testing.EchoRequest"].requests, 1u);
  EXPECT_EQ(stats.types["lpframe.testing.SumRequest"].requests, 1u);
  EXPECT_EQ(stats.types["lpframe.testing.CatRequest"].requests, 0u);
}

TEST(ServiceRouterTest, PerRequestErrorsKeepTheConnectionOpen) {
  TestServer ts({}, {}, UnixUri("errors"));
  FramedConnection c = ts.Dial();
  // Handler error: the code and message reach the client.
  EchoRequest failing = Echo("x");
  failing.set_fail_code(static_cast<int>(absl::StatusCode::kNotFound));
  failing.set_fail_message("no such thing: x");
  ASSERT_TRUE(c.Send(Request(1, failing)).ok());
  ExpectError(Receive(c), 1, absl::StatusCode::kNotFound, "no such thing: x");
  // Unknown type: UNIMPLEMENTED naming the type, and nothing else.
  UnknownRequest unknown;
  ASSERT_TRUE(c.Send(Request(2, unknown)).ok());
  Message m = Receive(c);
  ExpectError(m, 2, absl::StatusCode::kUnimplemented, "lpframe.testing.UnknownRequest");
  EXPECT_EQ(m.envelope.status().message().find("EchoRequest"), std::string::npos);
  // Unparsable payload.
  Message garbage = Request(3, Echo("y"));
  garbage.payload = absl::Cord("\xff\xff\xff\xff");
  ASSERT_TRUE(c.Send(garbage).ok());
  ExpectError(Receive(c), 3, absl::StatusCode::kInvalidArgument, "EchoRequest");
  // Not a type URL.
  Message untyped = Request(4, Echo("z"));
  untyped.envelope.set_content_type("application/octet-stream");
  ASSERT_TRUE(c.Send(untyped).ok());
  ExpectError(Receive(c), 4, absl::StatusCode::kInvalidArgument, "application/octet-stream");
  // Bad timeout metadata.
  Message bad_timeout = Request(5, Echo("t"));
  (*bad_timeout.envelope.mutable_metadata())[std::string(kRpcTimeoutMetadataKey)] = "soon";
  ASSERT_TRUE(c.Send(bad_timeout).ok());
  ExpectError(Receive(c), 5, absl::StatusCode::kInvalidArgument, "lpframe-timeout-ms");
  // Still open.
  ASSERT_TRUE(c.Send(Request(6, Echo("still here"))).ok());
  ExpectEchoResponse(Receive(c), 6, "still here");
  ServiceRouterStats stats = ts.router().stats();
  EXPECT_EQ(stats.unknown_type, 1u);
  EXPECT_EQ(stats.bad_request, 3u);
  EXPECT_EQ(stats.types["lpframe.testing.EchoRequest"].errors, 3u);
}

TEST(ServiceRouterTest, PingIsAnsweredWithPong) {
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  Envelope ping;
  ping.set_id(42);
  ping.set_kind(KIND_PING);
  ASSERT_TRUE(c.Send(ping, absl::Cord("payload")).ok());
  Message pong = Receive(c);
  EXPECT_EQ(pong.envelope.kind(), KIND_PONG);
  EXPECT_EQ(pong.envelope.id(), 42u);
  EXPECT_EQ(std::string(pong.payload), "payload");
  EXPECT_EQ(ts.router().stats().pings, 1u);
}

TEST(ServiceRouterTest, OneWayMessageRunsTheHandlerWithoutReply) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  one_way_seen = 0;
  Message note = PackTypedMessage(Echo("note"));
  note.envelope.set_kind(KIND_MESSAGE);
  ASSERT_TRUE(c.Send(note).ok());
  Message unknown_note = PackTypedMessage(UnknownRequest());
  ASSERT_TRUE(c.Send(unknown_note).ok());  // KIND_UNSPECIFIED: one-way too
  Envelope ping;
  ping.set_id(9);
  ping.set_kind(KIND_PING);
  ASSERT_TRUE(c.Send(ping, absl::Cord()).ok());
  // Inline handlers: the next frame is the PONG, nothing came before it.
  Message pong = Receive(c);
  EXPECT_EQ(pong.envelope.kind(), KIND_PONG);
  EXPECT_EQ(one_way_seen.load(), 1);
  EXPECT_EQ(ts.router().stats().unknown_type, 1u);
}

TEST(ServiceRouterTest, WrongKindsAreProtocolErrorsThatCloseTheConnection) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  for (Kind kind : {KIND_CHUNK, KIND_RESPONSE, KIND_REQUEST}) {
    FramedConnection c = ts.Dial();
    Envelope e;
    e.set_id(kind == KIND_REQUEST ? 0 : 5);  // a request without an id
    e.set_kind(kind);
    e.set_content_type("type.googleapis.com/lpframe.testing.EchoRequest");
    ASSERT_TRUE(c.Send(e, absl::Cord()).ok());
    Message error = Receive(c);
    EXPECT_EQ(error.envelope.kind(), KIND_ERROR);
    EXPECT_EQ(error.envelope.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_NE(error.envelope.status().message().find("service router"), std::string::npos)
        << error.envelope.status().message();
    auto end = c.Receive(Soon());
    EXPECT_EQ(GetFrameErrorCode(end.status()), FrameErrorCode::kEndOfStream) << end.status();
  }
  EXPECT_EQ(ts.router().stats().protocol_errors, 3u);
}

void StreamedBodyFollowsBodyConventions(int executor_threads, ConcurrencyModel model) {
  ServiceRouterOptions ro;
  ro.executor_threads = executor_threads;
  ro.stream_chunk_bytes = 100000;
  StreamServerOptions so;
  so.model = model;
  TestServer ts(ro, so, UnixUri(absl::StrCat("stream", executor_threads)));
  FramedConnection c = ts.Dial();
  CatRequest cat;
  cat.set_size(3 * 1000 * 1000 + 17);
  cat.set_write_bytes(250000);  // split into 100000-byte chunks
  cat.set_seed(3);
  ASSERT_TRUE(c.Send(Request(11, cat)).ok());
  Message first = Receive(c);
  ASSERT_EQ(first.envelope.kind(), KIND_CHUNK) << first.envelope.ShortDebugString();
  EXPECT_EQ(first.envelope.id(), 11u);
  EXPECT_EQ(first.payload.size(), 100000u);
  CordBodySink sink;
  absl::StatusOr<uint64_t> size = ReceiveBody(c, 11, sink, nullptr, Soon(), &first);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, cat.size());
  EXPECT_TRUE(sink.body() == ServiceBody(cat.size(), 3));
  // An empty body is a lone KIND_END.
  cat.set_size(0);
  ASSERT_TRUE(c.Send(Request(12, cat)).ok());
  Message end = Receive(c);
  EXPECT_EQ(end.envelope.kind(), KIND_END);
  CordBodySink empty;
  EXPECT_TRUE(ReceiveBody(c, 12, empty, nullptr, Soon(), &end).ok());
}

TEST(ServiceRouterTest, StreamedBodyInline) {
  StreamedBodyFollowsBodyConventions(0, ConcurrencyModel::kReactor);
}
TEST(ServiceRouterTest, StreamedBodyOnExecutor) {
  StreamedBodyFollowsBodyConventions(2, ConcurrencyModel::kReactor);
}
TEST(ServiceRouterTest, StreamedBodyThreadPerConnection) {
  StreamedBodyFollowsBodyConventions(0, ConcurrencyModel::kThreadPerConnection);
}

TEST(ServiceRouterTest, StreamErrorAfterChunksIsKindError) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  CatRequest cat;
  cat.set_size(1 << 20);
  cat.set_write_bytes(65536);
  cat.set_fail_after_bytes(200000);
  ASSERT_TRUE(c.Send(Request(5, cat)).ok());
  int chunks = 0;
  while (true) {
    Message m = Receive(c);
    if (m.envelope.kind() == KIND_CHUNK) {
      EXPECT_EQ(m.envelope.id(), 5u);
      EXPECT_EQ(m.envelope.chunk().index(), static_cast<uint64_t>(chunks));
      ++chunks;
      continue;
    }
    ExpectError(m, 5, absl::StatusCode::kInternal, "cat failed after");
    break;
  }
  EXPECT_EQ(chunks, 4);
  ASSERT_TRUE(c.Send(Request(6, Echo("after"))).ok());
  ExpectEchoResponse(Receive(c), 6, "after");
}

TEST(ServiceRouterTest, InlineAnswersInRequestOrder) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  ASSERT_TRUE(c.Queue(Request(1, Echo("slow", 200))).ok());
  ASSERT_TRUE(c.Send(Request(2, Echo("fast"))).ok());
  ExpectEchoResponse(Receive(c), 1, "slow");
  ExpectEchoResponse(Receive(c), 2, "fast");
}

TEST(ServiceRouterTest, ExecutorAnswersOutOfOrder) {
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(c.Queue(Request(1, Echo("slow", 600))).ok());
  ASSERT_TRUE(c.Send(Request(2, Echo("fast"))).ok());
  ExpectEchoResponse(Receive(c), 2, "fast");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  ExpectEchoResponse(Receive(c), 1, "slow");
}

// Requests running on the executor hold their connection open: a graceful
// shutdown, or the client's half-close, waits for their answers.
TEST(ServiceRouterTest, ExecutorRequestsAreAnsweredThroughShutdownAndHalfClose) {
  for (const bool by_shutdown : {true, false}) {
    SCOPED_TRACE(by_shutdown ? "graceful shutdown" : "client half-close");
    for (const ConcurrencyModel model :
         {ConcurrencyModel::kReactor, ConcurrencyModel::kThreadPerConnection}) {
      SCOPED_TRACE(model == ConcurrencyModel::kReactor ? "reactor" : "threads");
      ServiceRouterOptions ro;
      ro.executor_threads = 2;
      StreamServerOptions so;
      so.model = model;
      TestServer ts(ro, so, "tcp://127.0.0.1:0");
      FramedConnection c = ts.Dial();
      ASSERT_TRUE(c.Queue(Request(1, Echo("a", 300))).ok());
      ASSERT_TRUE(c.Send(Request(2, Echo("b", 400))).ok());
      absl::SleepFor(absl::Milliseconds(100));  // both are running
      if (by_shutdown) {
        ts.server().Shutdown();
      } else {
        ASSERT_TRUE(c.ShutdownWrite().ok());
      }
      ExpectEchoResponse(Receive(c), 1, "a");
      ExpectEchoResponse(Receive(c), 2, "b");
      absl::StatusOr<Message> next = c.Receive(Soon());
      if (next.ok()) {  // the shutdown is announced
        EXPECT_EQ(next->envelope.kind(), KIND_ERROR);
        EXPECT_TRUE(by_shutdown);
        next = c.Receive(Soon());
      }
      EXPECT_EQ(GetFrameErrorCode(next.status()), FrameErrorCode::kEndOfStream) << next.status();
    }
  }
}

TEST(ServiceRouterTest, InFlightLimitAnswersResourceExhausted) {
  ServiceRouterOptions ro;
  ro.executor_threads = 1;
  ro.max_in_flight = 2;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  for (uint64_t id = 1; id <= 4; ++id) ASSERT_TRUE(c.Queue(Request(id, Echo("s", 150))).ok());
  ASSERT_TRUE(c.Flush().ok());
  ExpectError(Receive(c), 3, absl::StatusCode::kResourceExhausted, "in flight");
  ExpectError(Receive(c), 4, absl::StatusCode::kResourceExhausted, "in flight");
  ExpectEchoResponse(Receive(c), 1, "s");
  ExpectEchoResponse(Receive(c), 2, "s");
  EXPECT_EQ(ts.router().stats().rejected, 2u);
}

TEST(ServiceRouterTest, DeadlineMetadata) {
  ServiceRouterOptions ro;
  ro.executor_threads = 1;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  FramedConnection c = ts.Dial();
  // Request 2 waits behind request 1 on the single executor thread and
  // its 50 ms pass before its handler can run.
  ASSERT_TRUE(c.Queue(Request(1, Echo("slow", 300))).ok());
  Message expiring = Request(2, Echo("late"));
  (*expiring.envelope.mutable_metadata())[std::string(kRpcTimeoutMetadataKey)] = "50";
  ASSERT_TRUE(c.Send(expiring).ok());
  ExpectEchoResponse(Receive(c), 1, "slow");
  ExpectError(Receive(c), 2, absl::StatusCode::kDeadlineExceeded, "deadline");
  Message timed = Request(3, Echo("timed"));
  timed.envelope.mutable_metadata()->insert({std::string(kRpcTimeoutMetadataKey), "5000"});
  ASSERT_TRUE(c.Send(timed).ok());
  Message m = Receive(c);
  EchoReply reply;
  ASSERT_TRUE(UnpackTypedMessage(m, &reply).ok());
  EXPECT_TRUE(reply.has_deadline());
  EXPECT_EQ(ts.router().stats().expired, 1u);
}

TEST(ServiceRouterTest, MetadataAndPeerReachTheHandler) {
  TestServer ts({}, {}, UnixUri("meta"));
  FramedConnection c = ts.Dial();
  EchoRequest req = Echo("m");
  req.set_metadata_key("user");
  Message m = Request(1, req);
  (*m.envelope.mutable_metadata())["user"] = "alice";
  ASSERT_TRUE(c.Send(m).ok());
  Message r = Receive(c);
  EchoReply reply;
  ASSERT_TRUE(UnpackTypedMessage(r, &reply).ok());
  EXPECT_EQ(reply.metadata_value(), "alice");
  EXPECT_FALSE(reply.has_deadline());
  EXPECT_EQ(reply.peer().rfind("unix:", 0), 0u) << reply.peer();
}

}  // namespace
}  // namespace lpframe
