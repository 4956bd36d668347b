// RpcClient against a real StreamServer + ServiceRouter (TCP and Unix), and
// against a hand-made bad server (raw FramedConnection) for stream checks.
#include "lib/io/rpc_client.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/io/body_stream.h"
#include "lib/io/framed_connection.h"
#include "lib/io/listener.h"
#include "lib/server/service_router.h"
#include "lib/server/stream_server.h"
#include "lib/server/testing/test_services.h"
#include "lib/typed_message.h"
#include "lib/wire_format.h"
#include "lib/xxh3_digest.h"
#include "proto/testing/test_service.pb.h"

namespace lpframe {
namespace {

static_assert(kRpcClientTimeoutMetadataKey == kRpcTimeoutMetadataKey,
              "client and router must agree on the timeout metadata key");

using testing::CatRequest;
using testing::EchoReply;
using testing::EchoRequest;
using testing::SumReply;
using testing::SumRequest;
using testing::UnknownRequest;

using servertest::ServiceBody;

class TestServer : public servertest::RouterTestServer {
 public:
  using RouterTestServer::RouterTestServer;
  std::unique_ptr<RpcClient> Client() {
    auto client = RpcClient::Dial(address(), {}, Soon());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  static absl::Time Soon() { return absl::Now() + absl::Seconds(10); }
};

std::string UnixPath(absl::string_view tag) {
  return absl::StrCat("/tmp/lpframe_rpc_client_test_", ::getpid(), "_", tag, ".sock");
}

absl::Time Soon() { return TestServer::Soon(); }

EchoRequest Echo(const std::string& text, int delay_ms = 0) {
  EchoRequest r;
  r.set_text(text);
  r.set_delay_ms(delay_ms);
  return r;
}

void UnaryCalls(const std::string& uri) {
  TestServer ts({}, {}, uri);
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<EchoReply> reply = client->Call<EchoReply>(Echo("hello"), Soon());
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "hello");
  EXPECT_EQ(reply->request_id(), 1u);
  EXPECT_TRUE(reply->has_deadline());
  SumRequest sum;
  for (int i = 1; i <= 100; ++i) sum.add_values(i);
  absl::StatusOr<SumReply> total = client->Call<SumReply>(sum, absl::InfiniteFuture());
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(total->sum(), 5050);
  // Metadata, and no deadline with an infinite one.
  CallOptions options;
  options.metadata["trace"] = std::string("a\0b", 3);
  EchoRequest req = Echo("meta");
  req.set_metadata_key("trace");
  reply = client->Call<EchoReply>(req, options);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->metadata_value(), std::string("a\0b", 3));
  EXPECT_FALSE(reply->has_deadline());
  // A reply of another type than asked for.
  absl::StatusOr<SumReply> wrong = client->Call<SumReply>(Echo("x"), Soon());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal) << wrong.status();
  EXPECT_EQ(client->stats().calls, 4u);
}

TEST(RpcClientTest, UnaryCallsTcp) { UnaryCalls("tcp://127.0.0.1:0"); }
TEST(RpcClientTest, UnaryCallsUnix) { UnaryCalls(absl::StrCat("unix:", UnixPath("unary"))); }

void ConcurrentCalls(int worker_threads, int executor_threads) {
  ServiceRouterOptions ro;
  ro.executor_threads = executor_threads;
  StreamServerOptions so;
  so.worker_threads = worker_threads;
  TestServer ts(ro, so, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  constexpr int kThreads = 8;
  constexpr int kCalls = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        if (i % 2 == 0) {
          const std::string text = absl::StrCat("t", t, "-", i, std::string(i % 50, 'x'));
          absl::StatusOr<EchoReply> r = client->Call<EchoReply>(Echo(text), Soon());
          if (!r.ok() || r->text() != text) {
            ADD_FAILURE() << (r.ok() ? r->text() : r.status().ToString());
            return;
          }
        } else {
          SumRequest sum;
          sum.add_values(t * 1000);
          sum.add_values(i);
          absl::StatusOr<SumReply> r = client->Call<SumReply>(sum, Soon());
          if (!r.ok() || r->sum() != t * 1000 + i) {
            ADD_FAILURE() << (r.ok() ? absl::StrCat(r->sum()) : r.status().ToString());
            return;
          }
        }
        ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
  RpcClientStats stats = client->stats();
  EXPECT_EQ(stats.calls, uint64_t{kThreads * kCalls});
  EXPECT_EQ(stats.late_replies + stats.stray_frames, 0u);
}

TEST(RpcClientTest, ConcurrentCallsInline) { ConcurrentCalls(0, 0); }
TEST(RpcClientTest, ConcurrentCallsServerWorkers) { ConcurrentCalls(2, 0); }
TEST(RpcClientTest, ConcurrentCallsExecutor) { ConcurrentCalls(0, 2); }
TEST(RpcClientTest, ConcurrentCallsServerWorkersAndExecutor) { ConcurrentCalls(2, 2); }

TEST(RpcClientTest, SlowCallDoesNotDelayAFastOneWithExecutor) {
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  std::atomic<bool> slow_done{false};
  std::thread slow([&] {
    absl::StatusOr<EchoReply> r = client->Call<EchoReply>(Echo("slow", 800), Soon());
    EXPECT_TRUE(r.ok()) << r.status();
    slow_done = true;
  });
  absl::SleepFor(absl::Milliseconds(50));  // the slow request goes first
  const absl::Time start = absl::Now();
  absl::StatusOr<EchoReply> fast = client->Call<EchoReply>(Echo("fast"), Soon());
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  EXPECT_FALSE(slow_done.load());
  slow.join();
}

TEST(RpcClientTest, ServerErrorsReachTheCaller) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  // Unknown type: UNIMPLEMENTED, and the connection still works.
  UnknownRequest unknown;
  absl::StatusOr<EchoReply> r = client->Call<EchoReply>(unknown, Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  EXPECT_NE(r.status().message().find("lpframe.testing.UnknownRequest"), std::string::npos);
  // Handler error: code and message.
  EchoRequest failing = Echo("x");
  failing.set_fail_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
  failing.set_fail_message("not for you");
  r = client->Call<EchoReply>(failing, Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_NE(r.status().message().find("not for you"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("lpframe.testing.EchoRequest call"), std::string::npos)
      << r.status();
  // Unparsable payload: INVALID_ARGUMENT.
  Message garbage = PackTypedMessage(Echo("y"));
  garbage.payload = absl::Cord("\xff\xff\xff\xff");
  CallOptions options;
  options.deadline = Soon();
  absl::StatusOr<Message> raw = client->CallMessage(garbage, options);
  EXPECT_EQ(raw.status().code(), absl::StatusCode::kInvalidArgument) << raw.status();
  r = client->Call<EchoReply>(Echo("fine"), Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text(), "fine");
  EXPECT_EQ(client->stats().errors, 3u);
  EXPECT_TRUE(client->status().ok());
}

TEST(RpcClientTest, StreamedResponseOfFiveMiB) {
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, {}, absl::StrCat("unix:", UnixPath("stream")));
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  CatRequest cat;
  cat.set_size(5 << 20);
  cat.set_write_bytes(300000);
  cat.set_seed(9);
  CordBodySink sink;
  uint64_t progress_calls = 0;
  uint64_t last = 0;
  // A unary call runs alongside the stream on the same connection.
  std::thread other([&] {
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<EchoReply> r = client->Call<EchoReply>(Echo(absl::StrCat(i)), Soon());
      EXPECT_TRUE(r.ok() && r->text() == absl::StrCat(i)) << r.status();
    }
  });
  absl::StatusOr<uint64_t> size =
      client->CallStream(cat, sink, Soon(), [&](uint64_t received, absl::optional<uint64_t>) {
        ++progress_calls;
        EXPECT_GT(received, last);
        last = received;
      });
  other.join();
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, uint64_t{5 << 20});
  EXPECT_TRUE(sink.body() == ServiceBody(5 << 20, 9));
  EXPECT_GE(progress_calls, 20u);  // 256 KiB chunks
  // A failing stream: the status after some chunks.
  cat.set_fail_after_bytes(1 << 20);
  CordBodySink partial;
  size = client->CallStream(cat, partial, Soon());
  EXPECT_EQ(size.status().code(), absl::StatusCode::kInternal) << size.status();
  EXPECT_NE(size.status().message().find("cat failed after"), std::string::npos);
  // The connection is still fine.
  EXPECT_TRUE(client->Ping(Soon()).ok());
}

// A hand-made server: answers the first request it reads with `frames`
// (ids replaced by the request's), then echoes PINGs until the client goes.
class BadServer {
 public:
  explicit BadServer(std::vector<Message> frames) : frames_(std::move(frames)) {
    static std::atomic<int> count{0};
    auto listener = Listener::Listen(absl::StrCat("unix:", UnixPath(absl::StrCat("bad", count++))));
    EXPECT_TRUE(listener.ok()) << listener.status();
    listener_ = std::make_unique<Listener>(*std::move(listener));
    thread_ = std::thread([this] { Serve(); });
  }
  ~BadServer() { thread_.join(); }
  const std::string& address() const { return listener_->address(); }

 private:
  void Serve() {
    auto socket = listener_->Accept(Soon());
    ASSERT_TRUE(socket.ok()) << socket.status();
    FramedConnection c(*std::move(socket));
    while (true) {
      auto m = c.Receive(Soon());
      if (!m.ok()) return;
      if (m->envelope.kind() == KIND_PING) {
        Envelope pong = m->envelope;
        pong.set_kind(KIND_PONG);
        (void)c.Send(pong, absl::Cord());
        continue;
      }
      for (Message f : frames_) {
        f.envelope.set_id(m->envelope.id());
        (void)c.Queue(f);
      }
      (void)c.Flush();
    }
  }

  std::vector<Message> frames_;
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
};

Message Chunk(uint64_t index, uint64_t offset, const std::string& data) {
  Message m;
  m.envelope.set_kind(KIND_CHUNK);
  m.envelope.mutable_chunk()->set_index(index);
  m.envelope.mutable_chunk()->set_offset(offset);
  m.payload = absl::Cord(data);
  return m;
}

Message End(uint64_t size, uint64_t digest) {
  Message m;
  m.envelope.set_kind(KIND_END);
  m.envelope.mutable_chunk()->set_total_size(size);
  m.envelope.mutable_chunk()->set_total_size_known(true);
  char bytes[8];
  StoreBigEndian64(digest, bytes);
  m.envelope.mutable_chunk()->set_digest(std::string(bytes, 8));
  m.envelope.mutable_chunk()->set_digest_algorithm("xxh3-64");
  return m;
}

absl::Status StreamFromBadServer(std::vector<Message> frames, std::string* body = nullptr) {
  BadServer bad(std::move(frames));
  auto client = RpcClient::Dial(bad.address(), {}, Soon());
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return client.status();
  CordBodySink sink;
  absl::StatusOr<uint64_t> size = (*client)->CallStream(CatRequest(), sink, Soon());
  // Whatever went wrong with that stream, the connection still works.
  EXPECT_TRUE((*client)->Ping(Soon()).ok());
  if (body != nullptr) *body = std::string(sink.body());
  return size.status();
}

TEST(RpcClientTest, StreamChecksDetectABadServer) {
  const std::string a = "hello ", b = "world";
  const uint64_t good = Xxh3Digest::Of(a + b);
  std::string body;
  EXPECT_TRUE(StreamFromBadServer({Chunk(0, 0, a), Chunk(1, 6, b), End(11, good)}, &body).ok());
  EXPECT_EQ(body, a + b);

  absl::Status corrupt = StreamFromBadServer({Chunk(0, 0, a), Chunk(1, 6, b), End(11, good ^ 1)});
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kDataLoss) << corrupt;
  EXPECT_NE(corrupt.message().find("digest mismatch"), std::string::npos) << corrupt;

  absl::Status order = StreamFromBadServer({Chunk(1, 6, b), Chunk(0, 0, a), End(11, good)});
  EXPECT_EQ(order.code(), absl::StatusCode::kDataLoss) << order;
  EXPECT_NE(order.message().find("expected chunk 0"), std::string::npos) << order;

  absl::Status size = StreamFromBadServer({Chunk(0, 0, a), End(11, good)});
  EXPECT_EQ(size.code(), absl::StatusCode::kDataLoss) << size;

  Message md5 = End(11, good);
  md5.envelope.mutable_chunk()->set_digest_algorithm("md5");
  absl::Status algorithm = StreamFromBadServer({Chunk(0, 0, a), Chunk(1, 6, b), md5});
  EXPECT_EQ(algorithm.code(), absl::StatusCode::kDataLoss) << algorithm;
}

TEST(RpcClientTest, PingMeasuresARoundTrip) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<absl::Duration> rtt = client->Ping(Soon());
    ASSERT_TRUE(rtt.ok()) << rtt.status();
    EXPECT_GT(*rtt, absl::ZeroDuration());
    EXPECT_LT(*rtt, absl::Seconds(5));
  }
  EXPECT_EQ(client->stats().pings, 5u);
  EXPECT_EQ(ts.router().stats().pings, 5u);
}

TEST(RpcClientTest, DeadlineDoesNotBreakTheConnection) {
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<EchoReply> r =
      client->Call<EchoReply>(Echo("slow", 300), absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  r = client->Call<EchoReply>(Echo("next"), Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text(), "next");
  absl::SleepFor(absl::Milliseconds(400));  // the slow reply arrives, unwanted
  RpcClientStats stats = client->stats();
  EXPECT_EQ(stats.deadline_exceeded, 1u);
  EXPECT_EQ(stats.late_replies, 1u);
  // An already expired deadline fails without sending.
  r = client->Call<EchoReply>(Echo("never"), absl::Now() - absl::Seconds(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(client->status().ok());
}

// A graceful shutdown answers a call already running (it holds its
// connection open), then fails later calls; a call still running at the end
// of the grace period fails with the connection.
TEST(RpcClientTest, ServerShutdownAnswersRunningCallsThenFailsPendingOnes) {
  for (const bool within_grace : {true, false}) {
    SCOPED_TRACE(within_grace ? "answered within the grace period" : "grace period ends");
    ServiceRouterOptions ro;
    ro.executor_threads = 1;
    StreamServerOptions so;
    so.shutdown_grace = within_grace ? absl::Seconds(5) : absl::Milliseconds(300);
    TestServer ts(ro, so, "tcp://127.0.0.1:0");
    std::unique_ptr<RpcClient> client = ts.Client();
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->Ping(Soon()).ok());
    absl::Status pending;
    absl::Time failed_at;
    std::thread caller([&] {
      pending = client->Call<EchoReply>(Echo("slow", 1000), Soon()).status();
      failed_at = absl::Now();
    });
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time start = absl::Now();
    ts.Shutdown();
    caller.join();
    if (within_grace) {
      EXPECT_TRUE(pending.ok()) << pending;
    } else {
      EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
      EXPECT_LT(failed_at - start, absl::Milliseconds(800));
    }
    // Later calls fail at once, with the same error.
    absl::StatusOr<EchoReply> later = client->Call<EchoReply>(Echo("later"), Soon());
    EXPECT_EQ(later.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(later.status(), client->status());
  }
}

TEST(RpcClientTest, CloseFailsPendingCalls) {
  ServiceRouterOptions ro;
  ro.executor_threads = 1;
  TestServer ts(ro, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  absl::Status pending;
  std::thread caller(
      [&] { pending = client->Call<EchoReply>(Echo("slow", 500), Soon()).status(); });
  absl::SleepFor(absl::Milliseconds(100));
  client->Close();
  caller.join();
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
  EXPECT_EQ(GetFrameErrorCode(pending), FrameErrorCode::kConnectionClosed) << pending;
  EXPECT_EQ(client->Ping(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(RpcClientTest, NotifyIsOneWay) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  // No answer comes for a one-way message, not even for an unknown type.
  ASSERT_TRUE(client->Notify(Echo("note")).ok());
  ASSERT_TRUE(client->Notify(UnknownRequest()).ok());
  ASSERT_TRUE(client->Ping(Soon()).ok());
  EXPECT_EQ(ts.router().stats().unknown_type, 1u);
  EXPECT_EQ(ts.router().stats().types["lpframe.testing.EchoRequest"].requests, 1u);
  EXPECT_EQ(client->stats().stray_frames + client->stats().late_replies, 0u);
}

TEST(RpcClientTest, AdoptFlushesQueuedOutputAndKeepsWorking) {
  TestServer ts({}, {}, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> probe = ts.Client();  // for the address only
  ASSERT_NE(probe, nullptr);
  auto connection = FramedConnection::Dial(probe->peer(), {}, Soon());
  ASSERT_TRUE(connection.ok()) << connection.status();
  Envelope ping;
  ping.set_id(999);
  ping.set_kind(KIND_PING);
  ASSERT_TRUE(connection->Queue(ping, absl::Cord()).ok());  // not yet written
  auto client = RpcClient::Adopt(*std::move(connection));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<EchoReply> r = (*client)->Call<EchoReply>(Echo("adopted"), Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text(), "adopted");
  // The PONG for id 999 (sent before the client's ids) is nobody's answer.
  EXPECT_EQ((*client)->stats().stray_frames, 1u);
}

TEST(RpcClientTest, ThreadPerConnectionServer) {
  StreamServerOptions so;
  so.model = ConcurrencyModel::kThreadPerConnection;
  ServiceRouterOptions ro;
  ro.executor_threads = 2;
  TestServer ts(ro, so, "tcp://127.0.0.1:0");
  std::unique_ptr<RpcClient> client = ts.Client();
  ASSERT_NE(client, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string text = absl::StrCat(t, ":", i);
        absl::StatusOr<EchoReply> r = client->Call<EchoReply>(Echo(text), Soon());
        EXPECT_TRUE(r.ok() && r->text() == text) << r.status();
      }
    });
  }
  CatRequest cat;
  cat.set_size(1 << 20);
  cat.set_seed(4);
  absl::Cord body;
  absl::StatusOr<uint64_t> size = client->CallStream(
      cat,
      [&](const absl::Cord& chunk) {
        body.Append(chunk);
        return absl::OkStatus();
      },
      Soon());
  for (auto& th : threads) th.join();
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_TRUE(body == ServiceBody(1 << 20, 4));
}

}  // namespace
}  // namespace lpframe
