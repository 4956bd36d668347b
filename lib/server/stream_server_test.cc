// StreamServer behaviour under every concurrency model: errors close only
// their own connection, limits refuse cleanly with a typed error frame,
// timeouts, backpressure, peer verification, HandleOne, graceful shutdown
// (also by signal) while clients are active.
#include "lib/server/stream_server.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/server/shutdown_signals.h"
#include "lib/server/testing/server_test_util.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace {

using servertest::AllModels;
using servertest::Dial;
using servertest::ExpectErrorFrameThenClose;
using servertest::Model;
using servertest::Net;
using servertest::RunningServer;
using servertest::WaitFor;

Envelope Id(uint64_t id) {
  Envelope e;
  e.set_id(id);
  return e;
}

// Sends one message and expects it back.
std::string RoundTrip(FramedConnection& conn, uint64_t id, absl::string_view text) {
  absl::Status sent = conn.Send(Id(id), absl::Cord(text), absl::Now() + absl::Seconds(10));
  if (!sent.ok()) return absl::StrCat("send: ", sent.ToString());
  absl::StatusOr<Message> m = conn.Receive(absl::Now() + absl::Seconds(10));
  if (!m.ok()) return absl::StrCat("receive: ", m.status().ToString());
  if (m->envelope.id() != id || std::string(m->payload) != text) {
    return absl::StrCat("got ", m->envelope.ShortDebugString(), " \"",
                        std::string(m->payload).substr(0, 40), "\"");
  }
  return "";
}

// Client threads, each on a connection of its own to `address`, running
// body(connection, index), which returns "" or what went wrong. Join()
// waits for them all and returns what each reported.
class ClientThreads {
 public:
  using Body = std::function<std::string(FramedConnection&, int)>;
  ClientThreads(int count, const std::string& address, Body body) : problems_(count) {
    for (int c = 0; c < count; ++c) {
      threads_.emplace_back([this, c, address, body] {
        absl::StatusOr<FramedConnection> conn = Dial(address);
        problems_[c] = conn.ok() ? body(*conn, c) : conn.status().ToString();
      });
    }
  }
  std::vector<std::string> Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    return problems_;
  }

 private:
  std::vector<std::string> problems_;
  std::vector<std::thread> threads_;
};

// Echoes, except that a payload "fail" fails the handler. Small messages
// come as views (in the reactor with inline handlers), so a failing
// OnMessageView is covered too.
class FailOnRequest : public StreamHandler {
 public:
  absl::Status OnMessage(Session& session, Message message) override {
    if (message.payload == "fail") return absl::FailedPreconditionError("asked to fail");
    return session.Send(message);
  }
  bool TakesMessageViews() const override { return true; }
  absl::Status OnMessageView(Session& session, const Envelope& envelope,
                             absl::string_view payload) override {
    if (payload == "fail") return absl::FailedPreconditionError("asked to fail");
    return session.Send(envelope, payload);
  }
};

class ModelTest : public ::testing::TestWithParam<Model> {
 protected:
  void SetUp() override {
    if (forks() && !servertest::ForkModelUntestableReason().empty()) {
      GTEST_SKIP() << servertest::ForkModelUntestableReason();
    }
  }
  StreamServerOptions Options(StreamServerOptions base = {}) {
    return servertest::WithModel(GetParam(), std::move(base));
  }
  bool forks() const { return GetParam() == Model::kForks; }
};

TEST_P(ModelTest, HandlerErrorClosesOnlyItsConnection) {
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(),
                                      [] { return std::make_unique<FailOnRequest>(); });
  ASSERT_NE(running, nullptr);
  auto bad = Dial(running->address());
  auto good = Dial(running->address());
  ASSERT_TRUE(bad.ok() && good.ok());
  EXPECT_EQ(RoundTrip(*bad, 1, "before"), "");
  EXPECT_EQ(RoundTrip(*good, 1, "before"), "");

  ASSERT_TRUE(bad->Send(Id(2), absl::Cord("fail")).ok());
  absl::StatusOr<Message> error = bad->Receive(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->envelope.kind(), KIND_ERROR);
  EXPECT_EQ(error->envelope.status().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(error->envelope.status().message(), "HANDLER_ERROR: asked to fail");
  absl::StatusOr<Message> end = bad->Receive(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(GetFrameErrorCode(end.status()), FrameErrorCode::kEndOfStream) << end.status();

  for (int i = 0; i < 20; ++i) EXPECT_EQ(RoundTrip(*good, 10 + i, "still served"), "");
  if (!forks()) {
    EXPECT_TRUE(WaitFor([&] { return running->server().stats().handler_errors == 1; }));
    EXPECT_EQ(running->server().stats().errors["HANDLER_ERROR"], 1u);
  }
}

TEST_P(ModelTest, ExtraConnectionsRefusedWithConnectionLimit) {
  StreamServerOptions base;
  base.max_connections = 2;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto a = Dial(running->address());
  auto b = Dial(running->address());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(RoundTrip(*a, 1, "a"), "");
  EXPECT_EQ(RoundTrip(*b, 1, "b"), "");

  auto c = Dial(running->address());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(ExpectErrorFrameThenClose(*c, "CONNECTION_LIMIT"), "");
  EXPECT_EQ(running->server().stats().refused, 1u);
  EXPECT_EQ(RoundTrip(*a, 2, "a still served"), "");

  a->Close();  // frees a place
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().active == 1; }))
      << running->server().stats().active;
  auto d = Dial(running->address());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(RoundTrip(*d, 1, "d"), "");
}

TEST_P(ModelTest, ForeignBytesGetAnErrorFrameAndOthersAreServed) {
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(), servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto good = Dial(running->address());
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(RoundTrip(*good, 1, "before"), "");
  const std::vector<std::string> foreign = {
      "GET / HTTP/1.1\r\nHost: example\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(64, 'x'),
      std::string(48, '\x7f'),
  };
  for (const std::string& bytes : foreign) {
    SCOPED_TRACE(absl::CEscape(bytes.substr(0, 12)));
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->socket().WriteAll(bytes, absl::Now() + absl::Seconds(5)).ok());
    absl::StatusOr<Message> error = conn->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(error.ok()) << error.status();
    EXPECT_EQ(error->envelope.kind(), KIND_ERROR);
    EXPECT_TRUE(absl::StartsWith(error->envelope.status().message(), "FOREIGN_PROTOCOL") ||
                absl::StartsWith(error->envelope.status().message(), "BAD_MAGIC"))
        << error->envelope.status().message();
    absl::StatusOr<Message> end = conn->Receive(absl::Now() + absl::Seconds(10));
    EXPECT_EQ(GetFrameErrorCode(end.status()), FrameErrorCode::kEndOfStream) << end.status();
  }
  EXPECT_EQ(RoundTrip(*good, 2, "after"), "");
}

// Large frames pipelined in one write and then the end of the stream: a
// direct read that ends a frame stops the read burst (ConnectionReader), so
// the rest must still be read when the socket is reported readable again.
TEST_P(ModelTest, PipelinedLargeFramesAndEndOfStreamInOneWrite) {
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(), servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  const size_t kSizes[] = {100 << 10, 64 << 10, 7, 300 << 10};
  std::string bytes;
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    absl::StatusOr<EncodedFrame> frame =
        FrameEncoder().Encode(Id(i + 1), absl::Cord(std::string(kSizes[i], 'a' + i)));
    ASSERT_TRUE(frame.ok());
    bytes += frame->ToString();
  }
  std::thread writer([&] {
    EXPECT_TRUE(conn->socket().WriteAll(bytes, absl::Now() + absl::Seconds(10)).ok());
    EXPECT_TRUE(conn->socket().ShutdownWrite().ok());
  });
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    SCOPED_TRACE(absl::StrCat("frame ", i + 1));
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->envelope.id(), i + 1);
    EXPECT_EQ(std::string(m->payload), std::string(kSizes[i], 'a' + i));
  }
  writer.join();
  absl::StatusOr<Message> end = conn->Receive(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(GetFrameErrorCode(end.status()), FrameErrorCode::kEndOfStream) << end.status();
}

// Answers request n with frames n*1000, n*1000+1, ... that take every path
// of the server's output: small frames batched while the loop reads, more
// of them than one batch holds, a payload large enough to be referenced
// instead of copied, and frames sent from another thread in between (one
// while the handler's first answer still waits to go out).
class ManyAnswers : public StreamHandler {
 public:
  static constexpr int kSmall = 150;  // x 500 bytes: past the 64 KiB batch
  static constexpr int kFrames = kSmall + 4;
  static size_t Size(int k) {
    if (k < kSmall) return 500;
    return k == kSmall ? (20 << 10) : 10 + static_cast<size_t>(k);
  }
  static std::string Payload(uint64_t id, int k) {
    return std::string(Size(k), static_cast<char>('a' + (id + k) % 26));
  }

  absl::Status OnMessage(Session& session, Message message) override {
    const uint64_t base = message.envelope.id() * 1000;
    auto send = [&](int k) { return session.Send(Id(base + k), absl::Cord(Payload(base, k))); };
    auto send_from_thread = [&](int k) {
      absl::Status status;
      std::thread other([&] { status = send(k); });
      other.join();
      return status;
    };
    for (int k = 0; k <= kSmall + 1; ++k) {
      // Frame 1 from another thread while frame 0 waits in the reply buffer.
      absl::Status sent = k == 1 ? send_from_thread(k) : send(k);
      if (!sent.ok()) return sent;
    }
    absl::Status from_thread = send_from_thread(kSmall + 2);
    if (!from_thread.ok()) return from_thread;
    return send(kSmall + 3);
  }
};

TEST_P(ModelTest, AnswersKeepTheirOrderWhateverQueueTheyTake) {
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(),
                                      [] { return std::make_unique<ManyAnswers>(); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  // Three requests in one write: answered within one read event.
  std::string bytes;
  for (uint64_t n = 1; n <= 3; ++n) {
    absl::StatusOr<EncodedFrame> frame = FrameEncoder().Encode(Id(n), absl::Cord("go"));
    ASSERT_TRUE(frame.ok());
    bytes += frame->ToString();
  }
  ASSERT_TRUE(conn->socket().WriteAll(bytes, absl::Now() + absl::Seconds(10)).ok());
  for (uint64_t n = 1; n <= 3; ++n) {
    for (int k = 0; k < ManyAnswers::kFrames; ++k) {
      const uint64_t want = n * 1000 + k;
      absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
      ASSERT_TRUE(m.ok()) << "frame " << want << ": " << m.status();
      ASSERT_EQ(m->envelope.id(), want);
      ASSERT_EQ(std::string(m->payload), ManyAnswers::Payload(n * 1000, k)) << want;
    }
  }
}

// Clients keep requests in flight while the server shuts down: every answer
// they get is intact and in order, and each connection ends cleanly (a
// SHUTTING_DOWN error frame and/or the end of the stream), never inside a
// frame; ServeForever() returns within the grace period.
TEST_P(ModelTest, ShutdownWhileClientsAreActive) {
  StreamServerOptions base;
  base.shutdown_grace = absl::Seconds(3);
  auto running = RunningServer::Start(servertest::ListenUri(Net::kUnix), Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  constexpr int kClients = 16;
  std::atomic<bool> stopping{false};
  std::atomic<int> answered{0};
  std::atomic<int> clients_served{0};  // clients with at least one answer
  ClientThreads clients(kClients, running->address(), [&](FramedConnection& conn, int c) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    uint64_t sent = 0, received = 0;
    while (true) {
      while (sent < received + 8) {
        absl::Status queued =
            conn.Queue(Id(sent), iotest::PatternCord(100 + sent % 900, c * 100000 + sent));
        if (!queued.ok()) break;  // the server closed; read what came back
        ++sent;
      }
      (void)conn.Flush(deadline);
      absl::StatusOr<Message> m = conn.Receive(deadline);
      if (!m.ok()) {
        const FrameErrorCode code = GetFrameErrorCode(m.status());
        if (code != FrameErrorCode::kEndOfStream) {
          return absl::StrCat("after ", received, " answers: ", m.status().ToString());
        }
        return std::string(stopping.load() ? "" : "the connection ended before the shutdown");
      }
      if (m->envelope.kind() == KIND_ERROR) {
        if (!absl::StartsWith(m->envelope.status().message(), "SHUTTING_DOWN")) {
          return m->envelope.status().message();
        }
        continue;  // the end of the stream follows
      }
      std::string mismatch =
          iotest::PatternMismatch(m->payload, 100 + received % 900, c * 100000 + received);
      if (m->envelope.id() != received || !mismatch.empty()) {
        return absl::StrCat("answer ", received, ": id ", m->envelope.id(), " ", mismatch);
      }
      if (++received == 1) clients_served.fetch_add(1);
      answered.fetch_add(1);
    }
  });
  // Every client is being served (none still waits in the listen backlog,
  // where closing the listener resets it) and many answers went out.
  ASSERT_TRUE(WaitFor([&] {
    return clients_served.load() == kClients && answered.load() > kClients * 200;
  }));
  stopping.store(true);
  absl::Duration took;
  EXPECT_TRUE(running->Stop(&took).ok());
  EXPECT_LT(took, base.shutdown_grace + absl::Seconds(2));
  const std::vector<std::string> problems = clients.Join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(problems[c], "") << "client " << c;
}

// A request being handled when the shutdown starts is still answered.
TEST_P(ModelTest, InFlightRequestFinishesDuringShutdown) {
  static std::atomic<bool> started{false};
  started = false;
  class Slow : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      started = true;
      absl::SleepFor(absl::Milliseconds(300));
      return session.Send(message);
    }
  };
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(),
                                      [] { return std::make_unique<Slow>(); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn->Send(Id(7), absl::Cord("slow")).ok());
  if (forks()) {
    absl::SleepFor(absl::Milliseconds(150));  // the child's flag is not ours
  } else {
    ASSERT_TRUE(WaitFor([] { return started.load(); }));  // the handler is running
  }
  std::thread stop([&] { EXPECT_TRUE(running->Stop().ok()); });
  absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->envelope.id(), 7u);
  EXPECT_EQ(std::string(m->payload), "slow");
  EXPECT_EQ(ExpectErrorFrameThenClose(*conn, "SHUTTING_DOWN"), "");
  stop.join();
}

TEST_P(ModelTest, IdleConnectionTimesOut) {
  StreamServerOptions base;
  base.connection.idle_timeout = absl::Milliseconds(200);
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(RoundTrip(*conn, 1, "hello"), "");
  const absl::Time start = absl::Now();
  EXPECT_EQ(ExpectErrorFrameThenClose(*conn, "IDLE_TIMEOUT"), "");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
}

// Slowloris: a frame trickled one byte at a time never completes; the stall
// clock runs from its first byte, so the trickle does not keep it alive.
TEST_P(ModelTest, TrickledFrameHitsStallTimeout) {
  StreamServerOptions base;
  base.connection.stall_timeout = absl::Milliseconds(300);
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  FrameEncoder encoder;
  auto frame = encoder.Encode(Id(1), absl::Cord(std::string(1000, 'z')));
  ASSERT_TRUE(frame.ok());
  const std::string bytes = frame->ToString();
  std::atomic<bool> done{false};
  const absl::Time start = absl::Now();
  std::thread trickle([&] {
    for (size_t i = 0; i < bytes.size() && !done.load(); ++i) {
      if (!conn->socket().WriteAll(bytes.substr(i, 1), absl::Now() + absl::Seconds(1)).ok()) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  // Read on a second descriptor-free path: the error frame arrives while
  // the trickle still writes.
  std::string verdict = ExpectErrorFrameThenClose(*conn, "STALL_TIMEOUT");
  done.store(true);
  trickle.join();
  EXPECT_EQ(verdict, "");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_P(ModelTest, VerifyPeerRefusesWithPeerRefused) {
  std::atomic<int> seen{0};
  StreamServerOptions base;
  base.verify_peer = [&seen](const PeerInfo& peer) -> absl::Status {
    if (!peer.credentials.has_value() || peer.credentials->uid != getuid()) {
      return absl::PermissionDeniedError("no credentials of this uid");
    }
    return seen.fetch_add(1) == 1 ? absl::PermissionDeniedError("the second peer is refused")
                                  : absl::OkStatus();
  };
  auto running = RunningServer::Start(servertest::ListenUri(Net::kUnix), Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto first = Dial(running->address());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(RoundTrip(*first, 1, "first"), "");
  auto second = Dial(running->address());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(ExpectErrorFrameThenClose(*second, "PEER_REFUSED"), "");
  auto third = Dial(running->address());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(RoundTrip(*third, 1, "third"), "");
  EXPECT_EQ(running->server().stats().refused, 1u);
}

// A refused peer that had already sent a request still reads the error
// frame and then a clean end of stream, on TCP and AF_UNIX: closing a socket
// with unread input would reset the connection instead.
TEST_P(ModelTest, RefusedPeerThatAlreadySentReadsTheErrorFrameAndACleanEnd) {
  StreamServerOptions base;
  base.verify_peer = [](const PeerInfo&) -> absl::Status {
    absl::SleepFor(absl::Milliseconds(100));  // the peer's request arrives meanwhile
    return absl::PermissionDeniedError("refused after a look");
  };
  for (Net net : {Net::kTcp, Net::kUnix}) {
    SCOPED_TRACE(net == Net::kTcp ? "tcp" : "unix");
    auto running = RunningServer::Start(servertest::ListenUri(net), Options(base),
                                        servertest::EchoFactory());
    ASSERT_NE(running, nullptr);
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok()) << conn.status();
    Envelope request;
    request.set_id(1);
    ASSERT_TRUE(conn->Send(request, absl::Cord(std::string(3000, 'r'))).ok());
    EXPECT_EQ(ExpectErrorFrameThenClose(*conn, "PEER_REFUSED"), "");
    EXPECT_EQ(running->server().stats().refused, 1u);
  }
}

// How many of SendMany's frames were accepted, and the first refusal.
struct SendLog {
  absl::Mutex mu;
  absl::Status first_error;
  int sent = 0;
};

// Answers any request with frames 0..count-1 (id i, payload(i)), stopping
// at the first Send() that fails; logs both.
class SendMany : public StreamHandler {
 public:
  SendMany(std::shared_ptr<SendLog> log, int count, std::function<absl::Cord(int)> payload)
      : log_(std::move(log)), count_(count), payload_(std::move(payload)) {}
  absl::Status OnMessage(Session& session, Message message) override {
    for (int i = 0; i < count_; ++i) {
      absl::Status s = session.Send(Id(i), payload_(i));
      absl::MutexLock lock(&log_->mu);
      if (!s.ok()) {
        log_->first_error = s;
        break;
      }
      ++log_->sent;
    }
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<SendLog> log_;
  int count_;
  std::function<absl::Cord(int)> payload_;
};

// A handler that keeps answering a peer that never reads fails with
// OUTPUT_BUDGET_EXCEEDED instead of buffering without bound.
TEST_P(ModelTest, PeerThatNeverReadsHitsOutputBudget) {
  auto result = std::make_shared<SendLog>();
  const absl::Cord block = iotest::PatternCord(256 << 10, 1);
  auto payload = [block](int) { return block; };
  StreamServerOptions base;
  base.max_output_bytes = 4 << 20;
  base.write_timeout = absl::Milliseconds(300);
  auto running = RunningServer::Start(
      "tcp://127.0.0.1:0", Options(base),
      [result, payload] { return std::make_unique<SendMany>(result, 400, payload); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn->Send(Id(1), absl::Cord("go")).ok());
  if (forks()) {
    // The handler runs in the child; the peer sees the connection end.
    absl::SleepFor(absl::Seconds(1));
  } else {
    ASSERT_TRUE(WaitFor([&] {
      absl::MutexLock lock(&result->mu);
      return !result->first_error.ok();
    }));
    absl::MutexLock lock(&result->mu);
    EXPECT_EQ(GetFrameErrorCode(result->first_error), FrameErrorCode::kOutputBudgetExceeded)
        << result->first_error;
    EXPECT_LT(result->sent, 400);
  }
  // Reading now gives whole frames, then the end: nothing half-sent.
  int frames = 0;
  while (true) {
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
    if (!m.ok()) {
      // The reactor queues whole frames only; a blocking write that times
      // out may stop inside one (session.h).
      const FrameErrorCode code = GetFrameErrorCode(m.status());
      const bool blocking = GetParam() == Model::kThreads || forks();
      EXPECT_TRUE(code == FrameErrorCode::kEndOfStream || code == FrameErrorCode::kIoError ||
                  (blocking && code == FrameErrorCode::kTruncatedPayload))
          << m.status();
      break;
    }
    if (m->envelope.kind() == KIND_ERROR) {
      EXPECT_TRUE(absl::StartsWith(m->envelope.status().message(), "OUTPUT_BUDGET_EXCEEDED"))
          << m->envelope.status().message();
      continue;
    }
    EXPECT_EQ(iotest::PatternMismatch(m->payload, 256 << 10, 1), "");
    ++frames;
  }
  EXPECT_LT(frames, 400);
  if (!forks()) {
    EXPECT_TRUE(WaitFor([&] {
      return running->server().stats().errors["OUTPUT_BUDGET_EXCEEDED"] == 1;
    }));
  }
}

// Requests, each answered by 300 small frames (more than a batch of 256
// KiB: the last ones queue behind the first), to a peer that reads only
// once all are answered: the first write is larger than the socket's
// buffer and is cut short, and its rest waits ahead of the answers queued
// after it. Every frame arrives once, in order.
TEST_P(ModelTest, SmallAnswersToASlowReaderArriveOnceInOrder) {
  static constexpr uint64_t kFrames = 300;
  class Answers : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      for (uint64_t j = 0; j < kFrames; ++j) {
        const uint64_t id = message.envelope.id() * kFrames + j;
        absl::Status s = session.Send(Id(id), iotest::PatternCord(900 + id % 50, id));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
  };
  StreamServerOptions base;
  base.connection.batch_bytes = 256 << 10;
  auto running = RunningServer::Start(servertest::ListenUri(Net::kUnix), Options(base),
                                      [] { return std::make_unique<Answers>(); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  // One request per read event; about 290 KB of answers each.
  constexpr uint64_t kRequests = 8;
  for (uint64_t i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(conn->Send(Id(i), absl::Cord("q")).ok());
    absl::SleepFor(absl::Milliseconds(2));
  }
  for (uint64_t id = 0; id < kRequests * kFrames; ++id) {
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << "answer " << id << ": " << m.status();
    ASSERT_EQ(m->envelope.id(), id) << "out of order";
    ASSERT_EQ(iotest::PatternMismatch(m->payload, 900 + id % 50, id), "") << "answer " << id;
  }
}

// Small answers (copied into one buffer while a read event lasts) go out
// whole and in order, within a batch and past it, and past the output budget
// (inside the first batch, or later) the handler gets OUTPUT_BUDGET_EXCEEDED
// with nothing of the refused frame queued.
TEST_P(ModelTest, SmallAnswersPastABatchArriveInOrderUntilTheBudget) {
  // 2000 frames of about 1 KiB: 32 batches.
  auto payload = [](int i) { return iotest::PatternCord(1000 + i % 24, i); };
  for (uint64_t budget : {uint64_t{40} << 10, uint64_t{1} << 20}) {
    SCOPED_TRACE(absl::StrCat("output budget ", budget));
    auto result = std::make_shared<SendLog>();
    StreamServerOptions base;
    base.max_output_bytes = budget;
    base.write_timeout = absl::Seconds(20);
    auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                        [result, payload] {
                                          return std::make_unique<SendMany>(result, 2000, payload);
                                        });
    ASSERT_NE(running, nullptr);
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->Send(Id(1), absl::Cord("go")).ok());
    // An inline handler queues everything before the peer can read: the
    // budget ends it. Elsewhere the answers may drain while the peer reads.
    const bool inline_reactor = GetParam() == Model::kReactorInline;
    if (inline_reactor) {
      ASSERT_TRUE(WaitFor([&] {
        absl::MutexLock lock(&result->mu);
        return !result->first_error.ok();
      }));
    }
    int frames = 0;
    uint64_t frame_bytes = 0;  // at least: headers and payloads
    while (frames < 2000) {
      absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
      if (!m.ok() || m->envelope.kind() == KIND_ERROR) break;
      ASSERT_EQ(m->envelope.id(), static_cast<uint64_t>(frames)) << "out of order";
      ASSERT_EQ(iotest::PatternMismatch(m->payload, 1000 + frames % 24, frames), "");
      frame_bytes += kHeaderSize + m->payload.size();
      ++frames;
    }
    if (!forks()) {
      absl::MutexLock lock(&result->mu);
      if (inline_reactor || !result->first_error.ok()) {
        EXPECT_EQ(GetFrameErrorCode(result->first_error), FrameErrorCode::kOutputBudgetExceeded)
            << result->first_error;
        EXPECT_EQ(frames, result->sent);
        EXPECT_LT(frames, 2000);
        if (inline_reactor) {
          EXPECT_LE(frame_bytes, budget) << "queued past the budget";
        }
      } else {
        EXPECT_EQ(frames, 2000);
      }
    }
    EXPECT_GT(frames, 30) << "fewer frames than the budget holds";
  }
}

// Echoes, as a handler that takes small messages as views, and records
// which method each message came through.
class ViewEcho : public StreamHandler {
 public:
  struct Log {
    absl::Mutex mu;
    std::vector<std::pair<uint64_t, bool>> calls ABSL_GUARDED_BY(mu);  // id, as a view
  };
  explicit ViewEcho(Log* log) : log_(log) {}
  bool TakesMessageViews() const override { return true; }
  absl::Status OnMessage(Session& session, Message message) override {
    Record(message.envelope.id(), false);
    return session.Send(std::move(message));
  }
  absl::Status OnMessageView(Session& session, const Envelope& envelope,
                             absl::string_view payload) override {
    Record(envelope.id(), true);
    return session.Send(envelope, payload);
  }

 private:
  void Record(uint64_t id, bool view) {
    absl::MutexLock lock(&log_->mu);
    log_->calls.emplace_back(id, view);
  }
  Log* log_;
};

// A handler that takes views gets every message once, in order, through
// one method or the other: small payloads as views in the reactor with
// inline handlers, everything else (and every message in the other models,
// whose handlers run on other threads) through OnMessage; the answers (sent
// from views and from messages) come back whole and in order, one by one
// and pipelined.
TEST_P(ModelTest, HandlerTakingViewsGetsEachMessageOnceInOrder) {
  ViewEcho::Log log;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(),
                                      [&log] { return std::make_unique<ViewEcho>(&log); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  const uint64_t kSizes[] = {64, 0, 1, 4096, 4097, 20000, 64, 3000, 100000, 5};
  const int kRounds = 2;  // one by one, then pipelined in one write each
  uint64_t id = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<uint64_t> ids;
    for (uint64_t size : kSizes) {
      ids.push_back(++id);
      ASSERT_TRUE(conn->Send(Id(id), iotest::PatternCord(size, static_cast<uint32_t>(id)),
                             absl::Now() + absl::Seconds(10))
                      .ok());
      if (round == 1) continue;
      ASSERT_TRUE(conn->Flush(absl::Now() + absl::Seconds(10)).ok());
      absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_EQ(m->envelope.id(), id);
      EXPECT_EQ(iotest::PatternMismatch(m->payload, size, static_cast<uint32_t>(id)), "");
    }
    if (round == 0) continue;
    ASSERT_TRUE(conn->Flush(absl::Now() + absl::Seconds(10)).ok());
    for (size_t i = 0; i < ids.size(); ++i) {
      absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_EQ(m->envelope.id(), ids[i]);
      EXPECT_EQ(iotest::PatternMismatch(m->payload, kSizes[i], static_cast<uint32_t>(ids[i])),
                "");
    }
  }
  if (forks()) return;  // the handlers ran in the children
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.calls.size(), id);
  int views = 0;
  for (size_t i = 0; i < log.calls.size(); ++i) {
    EXPECT_EQ(log.calls[i].first, i + 1) << "out of order or twice";
    const uint64_t size = kSizes[i % std::size(kSizes)];
    if (log.calls[i].second) {
      ++views;
      EXPECT_LE(size, 4096u) << "a large payload came as a view";
      EXPECT_GT(size, 0u) << "an empty payload came as a view";
    }
  }
  if (GetParam() == Model::kReactorInline) {
    EXPECT_GE(views, 5) << "small messages read one by one came as views";
  } else {
    EXPECT_EQ(views, 0) << "views outside the inline reactor";
  }
}

// Two reactors with inline handlers share one small pool (blocks freed at
// once, so a freed block is soon reused, perhaps by the other reactor):
// clients sending bursts of small and large frames, on connections that
// take views and connections that do not, get every answer whole and in
// order. A view left pointing into a read buffer or a taken block would
// show here as a corrupted answer.
TEST(StreamServerTest, TwoInlineReactorsServeMixedSizesWithAndWithoutViews) {
  StreamServerOptions options;
  options.reactor_threads = 2;
  options.connection.pool = BlockPool::Create(64 << 10, /*max_cached_bytes=*/256 << 10);
  auto running = RunningServer::Start("tcp://127.0.0.1:0", options, servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  constexpr int kClients = 8;
  constexpr int kBursts = 20;
  const uint64_t kSizes[] = {64, 4096, 100000, 1, 4097, 30000, 64, 0};
  ClientThreads clients(kClients, running->address(), [&](FramedConnection& conn, int c) {
    uint64_t id = static_cast<uint64_t>(c) << 32;
    for (int burst = 0; burst < kBursts; ++burst) {
      const uint64_t first = id;
      for (uint64_t size : kSizes) {
        absl::Status sent = conn.Send(Id(id), iotest::PatternCord(size, id & 0xffffffff),
                                      absl::Now() + absl::Seconds(20));
        if (!sent.ok()) return sent.ToString();
        ++id;
      }
      for (uint64_t want = first; want < id; ++want) {
        absl::StatusOr<Message> m = conn.Receive(absl::Now() + absl::Seconds(20));
        if (!m.ok()) return m.status().ToString();
        const uint64_t size = kSizes[(want - first) % std::size(kSizes)];
        std::string mismatch = iotest::PatternMismatch(m->payload, size, want & 0xffffffff);
        if (m->envelope.id() != want || !mismatch.empty()) {
          return absl::StrCat("answer ", want, ": id ", m->envelope.id(), " ", mismatch);
        }
      }
    }
    return std::string();
  });
  const std::vector<std::string> problems = clients.Join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(problems[c], "") << "client " << c;
}

// Connections whose requests wait when the reactor starts are ready in
// one large batch of events, served in two chunks: their reads are made
// ahead of decoding any of a chunk (counted in stats().reads_ahead; the
// buffer they go into takes only some, the rest are read at their turn),
// and every request, small or large, is answered once and in order, with
// and without views.
TEST(StreamServerTest, AReadyCrowdIsReadAheadAndAnsweredInOrder) {
  for (const Model model : {Model::kReactorInline, Model::kReactorWorkers}) {
    SCOPED_TRACE(servertest::ModelName(model));
    StreamServerOptions options = servertest::WithModel(model);
    options.connection.pool = BlockPool::Create(64 << 10, /*max_cached_bytes=*/256 << 10);
    absl::StatusOr<std::unique_ptr<StreamServer>> server = StreamServer::Create(
        servertest::ListenUri(Net::kUnix), options, servertest::EchoFactory());
    ASSERT_TRUE(server.ok()) << server.status();
    // Accepted 64 per listener event; their reads then come as one batch.
    constexpr int kClients = 160;
    const uint64_t kSizes[] = {64, 0, 4096, 20000, 1, 9000, 64};
    std::vector<FramedConnection> conns;
    for (int c = 0; c < kClients; ++c) {
      absl::StatusOr<FramedConnection> conn = Dial((*server)->address());
      ASSERT_TRUE(conn.ok()) << conn.status();
      for (size_t k = 0; k < std::size(kSizes); ++k) {
        const uint64_t id = (static_cast<uint64_t>(c) << 32) | k;
        ASSERT_TRUE(conn->Send(Id(id), iotest::PatternCord(kSizes[k], id & 0xffff),
                               absl::Now() + absl::Seconds(10))
                        .ok());
      }
      conns.push_back(*std::move(conn));
    }
    std::thread serving([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });
    for (int c = 0; c < kClients; ++c) {
      for (size_t k = 0; k < std::size(kSizes); ++k) {
        const uint64_t id = (static_cast<uint64_t>(c) << 32) | k;
        absl::StatusOr<Message> m = conns[c].Receive(absl::Now() + absl::Seconds(20));
        ASSERT_TRUE(m.ok()) << "client " << c << " answer " << k << ": " << m.status();
        EXPECT_EQ(m->envelope.id(), id) << "client " << c;
        EXPECT_EQ(iotest::PatternMismatch(m->payload, kSizes[k], id & 0xffff), "")
            << "client " << c << " answer " << k;
      }
    }
    EXPECT_GT((*server)->stats().reads_ahead, 0u);
    (*server)->Shutdown();
    serving.join();
  }
}

// Many busy connections whose answers pass their sockets' buffers before
// they read any: the server reads and answers them in large batches (read
// ahead, answers sent ahead of servicing, a write the socket cuts short
// queued in front of the rest), and every answer arrives once and in order.
// Every connection's first request waits before the server starts serving,
// so its first batch of events holds all of them (at least 32: read ahead)
// whatever the scheduling of the client threads.
TEST(StreamServerTest, ABusyCrowdThatReadsLateGetsEveryAnswerInOrder) {
  absl::StatusOr<std::unique_ptr<StreamServer>> server = StreamServer::Create(
      servertest::ListenUri(Net::kUnix), StreamServerOptions(), servertest::EchoFactory());
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kClients = 40;
  constexpr uint64_t kRequests = 400;  // about 370 KB of answers each
  auto id_of = [](int c, uint64_t i) { return (static_cast<uint64_t>(c) << 32) | i; };
  auto send = [&](FramedConnection& conn, int c, uint64_t i) {
    return conn.Send(Id(id_of(c, i)), iotest::PatternCord(900 + i % 64, i),
                     absl::Now() + absl::Seconds(20));
  };
  std::vector<FramedConnection> conns;
  for (int c = 0; c < kClients; ++c) {
    absl::StatusOr<FramedConnection> conn = Dial((*server)->address());
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(send(*conn, c, 0).ok());
    conns.push_back(*std::move(conn));
  }
  std::thread serving([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });
  std::vector<std::string> problems(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      FramedConnection& conn = conns[c];
      for (uint64_t i = 1; i < kRequests; ++i) {
        absl::Status sent = send(conn, c, i);
        if (!sent.ok()) {
          problems[c] = sent.ToString();
          return;
        }
      }
      for (uint64_t i = 0; i < kRequests; ++i) {
        absl::StatusOr<Message> m = conn.Receive(absl::Now() + absl::Seconds(20));
        if (!m.ok()) {
          problems[c] = absl::StrCat("answer ", i, ": ", m.status().ToString());
          return;
        }
        std::string mismatch = iotest::PatternMismatch(m->payload, 900 + i % 64, i);
        if (m->envelope.id() != id_of(c, i) || !mismatch.empty()) {
          problems[c] = absl::StrCat("answer ", i, ": id ", m->envelope.id() & 0xffffffff, " ",
                                     mismatch);
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(problems[c], "") << "client " << c;
  EXPECT_GT((*server)->stats().reads_ahead, 0u);
  (*server)->Shutdown();
  serving.join();
}

TEST_P(ModelTest, PerConnectionInputBudgetRefusesLargeFrame) {
  StreamServerOptions base;
  base.connection_input_budget = 256 << 10;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  auto good = Dial(running->address());
  ASSERT_TRUE(good.ok());
  auto big = Dial(running->address());
  ASSERT_TRUE(big.ok());
  FrameEncoder encoder;
  auto frame = encoder.Encode(Id(1), iotest::PatternCord(16 << 20, 3));
  ASSERT_TRUE(frame.ok());
  const std::string first_mib = frame->ToString().substr(0, 1 << 20);
  std::thread writer([&] {
    (void)big->socket().WriteAll(first_mib, absl::Now() + absl::Seconds(10));
  });
  EXPECT_EQ(ExpectErrorFrameThenClose(*big, "MEMORY_BUDGET_EXCEEDED"), "");
  writer.join();
  EXPECT_EQ(RoundTrip(*good, 1, "unaffected"), "");
}

// A peer that sends requests but never reads the answers is dropped once it
// has taken no output for write_timeout: it does not keep its slot (and
// its queued output) for ever.
TEST_P(ModelTest, PeerThatNeverReadsIsDroppedAfterTheWriteTimeout) {
  class Big : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      return session.Send(message.envelope, iotest::PatternCord(64 << 10, 6));
    }
  };
  StreamServerOptions base;
  base.write_timeout = absl::Milliseconds(300);
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      [] { return std::make_unique<Big>(); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(conn->Queue(Id(i), absl::Cord("q")).ok());
  ASSERT_TRUE(conn->Flush(absl::Now() + absl::Seconds(5)).ok());
  ASSERT_TRUE(WaitFor([&] { return running->server().stats().accepted == 1; }));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().active == 0; }))
      << "still open after " << absl::Now() - start;
  if (!forks()) {
    EXPECT_GE(running->server().stats().errors["OUTPUT_BUDGET_EXCEEDED"], 1u);
  }
  auto other = Dial(running->address());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->Send(Id(1), absl::Cord("x")).ok());
  absl::StatusOr<Message> m = other->Receive(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
}

// A handler answering later from another thread holds the connection open
// (Session::HoldOpen): the idle timeout waits for it, the answer arrives,
// and the connection is still usable afterwards.
TEST_P(ModelTest, HoldOpenDefersTheIdleTimeout) {
  class Later : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      std::shared_ptr<Session> self = session.shared_from_this();
      std::shared_ptr<void> hold = session.HoldOpen();
      std::thread([self, hold, message]() mutable {
        absl::SleepFor(absl::Milliseconds(800));  // longer than the idle timeout
        (void)self->Send(message);
        hold.reset();
      }).detach();
      return absl::OkStatus();
    }
  };
  StreamServerOptions base;
  // The client answers each reply at once; 500 ms leaves room for a loaded
  // machine between a reply and the next message.
  base.connection.idle_timeout = absl::Milliseconds(500);
  auto running = RunningServer::Start("tcp://127.0.0.1:0", Options(base),
                                      [] { return std::make_unique<Later>(); });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(conn->Send(Id(i), absl::Cord("later")).ok());
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->envelope.id(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(ExpectErrorFrameThenClose(*conn, "IDLE_TIMEOUT"), "");
}

// Once ServeForever() has returned, the listener stays open until Close():
// clients that connect meanwhile wait in its backlog, and Close() refuses
// them with SHUTTING_DOWN, whether they sent a request or not, instead of
// the reset that closing the listener would give them.
TEST_P(ModelTest, ConnectionsLeftInTheBacklogAreRefusedAtClose) {
  auto server = StreamServer::Create("tcp://127.0.0.1:0", Options(), servertest::EchoFactory());
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread serving([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });
  (*server)->Shutdown();
  serving.join();
  auto quiet = Dial((*server)->address());
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  auto asking = Dial((*server)->address());
  ASSERT_TRUE(asking.ok()) << asking.status();
  ASSERT_TRUE(asking->Send(Id(1), absl::Cord("hello"), absl::Now() + absl::Seconds(10)).ok());
  const uint64_t refused = (*server)->stats().refused;
  (*server)->Close();
  EXPECT_EQ(ExpectErrorFrameThenClose(*quiet, "SHUTTING_DOWN"), "");
  EXPECT_EQ(ExpectErrorFrameThenClose(*asking, "SHUTTING_DOWN"), "");
  EXPECT_EQ((*server)->stats().refused, refused + 2);
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelTest, ::testing::ValuesIn(AllModels()),
                         [](const ::testing::TestParamInfo<Model>& info) {
                           return servertest::ModelName(info.param);
                         });

// The reactor reads into one buffer for all its connections: one between
// messages holds no input buffer of its own. Frames split across reads
// still arrive whole, and afterwards nothing stays buffered.
TEST(StreamServerTest, ReactorConnectionsBetweenMessagesHoldNoInputBuffer) {
  auto running =
      RunningServer::Start("tcp://127.0.0.1:0", StreamServerOptions(), servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  std::vector<FramedConnection> conns;
  for (int i = 0; i < 10; ++i) {
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    ASSERT_EQ(RoundTrip(*conn, i, std::string(100 + i, 'x')), "");
    conns.push_back(*std::move(conn));
  }
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered == 0; }))
      << running->server().stats().input_bytes_buffered << " bytes";
  // Five frames in one write: those behind the first are buffered, then let go.
  std::string pipelined;
  for (uint64_t id = 20; id < 25; ++id) {
    absl::StatusOr<EncodedFrame> frame = FrameEncoder().Encode(Id(id), absl::Cord("p"));
    ASSERT_TRUE(frame.ok());
    pipelined += frame->ToString();
  }
  ASSERT_TRUE(conns[2].socket().WriteAll(pipelined, absl::Now() + absl::Seconds(10)).ok());
  for (uint64_t id = 20; id < 25; ++id) {
    absl::StatusOr<Message> m = conns[2].Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->envelope.id(), id);
  }
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered == 0; }))
      << running->server().stats().input_bytes_buffered << " bytes after pipelined frames";
  // Half a header on one connection, a header and part of the body on
  // another; the rest comes once both partial reads have been taken.
  absl::StatusOr<EncodedFrame> frame = FrameEncoder().Encode(Id(7), absl::Cord("payload"));
  ASSERT_TRUE(frame.ok());
  const std::string bytes = frame->ToString();
  ASSERT_TRUE(conns[0].socket().WriteAll(bytes.substr(0, 12), absl::Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(conns[1].socket().WriteAll(bytes.substr(0, 30), absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().messages_received == 15; }));
  ASSERT_TRUE(conns[0].socket().WriteAll(bytes.substr(12), absl::Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(conns[1].socket().WriteAll(bytes.substr(30), absl::Now() + absl::Seconds(10)).ok());
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Message> m = conns[i].Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->envelope.id(), 7u);
    EXPECT_EQ(std::string(m->payload), "payload");
  }
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered == 0; }));
}

// Answers request n of client c (payload "c") with frames n*100+k whose
// payloads depend on c, n and k: mostly small (copied into the reactor's
// reply buffer), one large enough to be referenced, and for client 3 one
// from another thread while the first still waits in the reply buffer.
// Request 0 waits for the test's gate first, so the others arrive in one
// batch.
class BatchAnswers : public StreamHandler {
 public:
  struct Gate {
    std::atomic<bool> entered{false};
    std::atomic<bool> open{false};
  };
  static constexpr int kFrames = 12;
  static std::string Payload(absl::string_view client, uint64_t id, int k) {
    const size_t size = k == 5 ? (20 << 10) : 1 + (37 * k + 11 * id) % 400;
    return absl::StrCat(client, ":", id, ":", k, ":", std::string(size, 'a' + (id + k) % 26));
  }

  explicit BatchAnswers(Gate* gate) : gate_(gate) {}

  absl::Status OnMessage(Session& session, Message message) override {
    const uint64_t id = message.envelope.id();
    if (id == 0) {
      gate_->entered = true;
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      while (!gate_->open && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
      return session.Send(message);
    }
    const std::string client(message.payload);
    auto send = [&](int k) {
      return session.Send(Id(id * 100 + k), absl::Cord(Payload(client, id, k)));
    };
    for (int k = 0; k < kFrames; ++k) {
      absl::Status sent;
      if (k == 1 && client == "c3") {
        std::thread other([&] { sent = send(k); });
        other.join();
      } else {
        sent = send(k);
      }
      if (!sent.ok()) return sent;
    }
    return absl::OkStatus();
  }

 private:
  Gate* const gate_;
};

// Connections whose requests are read in one event batch take turns with
// the reactor's shared read and reply buffers: each client gets exactly
// its own answers, whole and in order.
TEST(StreamServerTest, ReactorConnectionsAnsweredInOneBatchGetTheirOwnAnswers) {
  BatchAnswers::Gate gate;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", StreamServerOptions(),
                                      [&gate] { return std::make_unique<BatchAnswers>(&gate); });
  ASSERT_NE(running, nullptr);
  constexpr int kClients = 8;
  auto gate_conn = Dial(running->address());
  ASSERT_TRUE(gate_conn.ok());
  std::vector<FramedConnection> clients;
  for (int c = 0; c < kClients; ++c) {
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    clients.push_back(*std::move(conn));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  ASSERT_TRUE(gate_conn->Send(Id(0), absl::Cord("gate"), deadline).ok());
  ASSERT_TRUE(WaitFor([&] { return gate.entered.load(); }));
  // Two requests per client in one write, while the loop is held.
  for (int c = 0; c < kClients; ++c) {
    std::string bytes;
    for (uint64_t id = 1; id <= 2; ++id) {
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder().Encode(Id(id), absl::Cord(absl::StrCat("c", c)));
      ASSERT_TRUE(frame.ok());
      bytes += frame->ToString();
    }
    ASSERT_TRUE(clients[c].socket().WriteAll(bytes, deadline).ok());
  }
  gate.open = true;
  absl::StatusOr<Message> opened = gate_conn->Receive(deadline);
  ASSERT_TRUE(opened.ok()) << opened.status();
  for (int c = 0; c < kClients; ++c) {
    const std::string client = absl::StrCat("c", c);
    for (uint64_t id = 1; id <= 2; ++id) {
      for (int k = 0; k < BatchAnswers::kFrames; ++k) {
        SCOPED_TRACE(absl::StrCat(client, ", request ", id, ", frame ", k));
        absl::StatusOr<Message> m = clients[c].Receive(deadline);
        ASSERT_TRUE(m.ok()) << m.status();
        ASSERT_EQ(m->envelope.id(), id * 100 + k);
        const std::string payload(m->payload);
        ASSERT_TRUE(payload == BatchAnswers::Payload(client, id, k))
            << "got \"" << payload.substr(0, 40) << "\" (" << payload.size() << " bytes)";
      }
    }
  }
}

// Keeps every payload it gets (as a handler that stores requests would) and
// acknowledges each with an empty answer of the same id.
class KeepPayloads : public StreamHandler {
 public:
  struct Kept {
    absl::Mutex mu;
    std::vector<std::pair<uint64_t, absl::Cord>> payloads ABSL_GUARDED_BY(mu);
  };
  explicit KeepPayloads(Kept* kept) : kept_(kept) {}
  absl::Status OnMessage(Session& session, Message message) override {
    {
      absl::MutexLock lock(&kept_->mu);
      kept_->payloads.emplace_back(message.envelope.id(), message.payload);
    }
    return session.Send(Id(message.envelope.id()), absl::Cord());
  }

 private:
  Kept* kept_;
};

// An inline reactor lets a large payload keep the read block it arrived in
// (ConnectionReader::EnableScratchTakeover) and reads the next request at
// once into a new block. Payloads the handler keeps must stay intact while
// later requests, of every size, arrive one by one and pipelined; the input
// counter returns to 0, also after a peer leaves inside a kept payload; and
// the blocks all go back to the pool once the payloads are dropped. Where
// the budgets would not hold (workers, a tight connection budget) or the
// option is off, payloads get storage of their own.
TEST(StreamServerTest, ReactorPayloadsKeptByTheHandlerSurviveLaterReads) {
  struct Config {
    const char* name;
    Net net;
    bool takes_blocks;
    int worker_threads;
    uint64_t connection_input_budget;
    bool keep_payloads_in_read_blocks;
    size_t block = 64 << 10;  // takes payloads of 16 KiB and up
  };
  const Config configs[] = {
      {"tcp", Net::kTcp, true, 0, 0, true},
      {"unix", Net::kUnix, true, 0, 0, true},
      {"unix, budget of 4 blocks", Net::kUnix, true, 0, 256 << 10, true},
      {"unix, option off", Net::kUnix, false, 0, 0, false},
      {"unix, workers", Net::kUnix, false, 2, 0, true},
      {"unix, budget under 4 blocks", Net::kUnix, false, 0, (256 << 10) - 1, true},
      // Blocks smaller than read_size: reads of one block, nothing taken
      // (a payload needs read_size bytes of a block's room).
      {"unix, 4 KiB blocks", Net::kUnix, false, 0, 0, true, 4096},
  };
  for (const Config& config : configs) {
    SCOPED_TRACE(config.name);
    const size_t kBlock = config.block;
    auto pool = BlockPool::Create(kBlock, 64 << 20);
    StreamServerOptions options;
    options.connection.pool = pool;
    options.worker_threads = config.worker_threads;
    options.connection_input_budget = config.connection_input_budget;
    options.keep_payloads_in_read_blocks = config.keep_payloads_in_read_blocks;
    KeepPayloads::Kept kept;
    auto running = RunningServer::Start(ListenUri(config.net), options, [&kept] {
      return std::make_unique<KeepPayloads>(&kept);
    });
    ASSERT_NE(running, nullptr);
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    // Frames up to 300 KiB: within the tightest budget of the table.
    const uint64_t kSizes[] = {20 << 10, (64 << 10) - 40, 100 << 10, 7,   200 << 10,
                               16 << 10, 150 << 10,       40 << 10,  100, 64 << 10};
    std::vector<uint64_t> sizes;
    uint64_t id = 0;
    // One by one: each request is read when the last is answered.
    for (int round = 0; round < 2; ++round) {
      for (uint64_t size : kSizes) {
        ++id;
        sizes.push_back(size);
        ASSERT_TRUE(conn->Send(Id(id), iotest::PatternCord(size, static_cast<uint32_t>(id)),
                               absl::Now() + absl::Seconds(10))
                        .ok());
        absl::StatusOr<Message> ack = conn->Receive(absl::Now() + absl::Seconds(10));
        ASSERT_TRUE(ack.ok()) << ack.status();
        ASSERT_EQ(ack->envelope.id(), id);
      }
    }
    // Pipelined: several requests per read.
    std::string burst;
    for (uint64_t size : kSizes) {
      ++id;
      sizes.push_back(size);
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder().Encode(Id(id), iotest::PatternCord(size, static_cast<uint32_t>(id)));
      ASSERT_TRUE(frame.ok());
      burst += frame->ToString();
    }
    std::thread writer([&] {
      EXPECT_TRUE(conn->socket().WriteAll(burst, absl::Now() + absl::Seconds(10)).ok());
    });
    for (uint64_t want = id - std::size(kSizes) + 1; want <= id; ++want) {
      absl::StatusOr<Message> ack = conn->Receive(absl::Now() + absl::Seconds(10));
      ASSERT_TRUE(ack.ok()) << ack.status();
      ASSERT_EQ(ack->envelope.id(), want);
    }
    writer.join();
    EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered == 0; }))
        << running->server().stats().input_bytes_buffered << " bytes";
    // A peer that leaves inside a large payload.
    {
      auto quitter = Dial(running->address());
      ASSERT_TRUE(quitter.ok());
      absl::StatusOr<EncodedFrame> frame =
          FrameEncoder().Encode(Id(1), iotest::PatternCord(100 << 10, 9));
      ASSERT_TRUE(frame.ok());
      ASSERT_TRUE(quitter->socket()
                      .WriteAll(frame->ToString().substr(0, 30 << 10),
                                absl::Now() + absl::Seconds(10))
                      .ok());
      EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered > 0; }));
    }
    EXPECT_TRUE(WaitFor([&] { return running->server().stats().input_bytes_buffered == 0; }))
        << running->server().stats().input_bytes_buffered << " bytes after a peer left";
    size_t taken_in_place = 0;
    {
      absl::MutexLock lock(&kept.mu);
      ASSERT_EQ(kept.payloads.size(), sizes.size());
      for (size_t i = 0; i < sizes.size(); ++i) {
        SCOPED_TRACE(absl::StrCat("request ", i + 1, " of ", sizes[i], " bytes"));
        EXPECT_EQ(kept.payloads[i].first, i + 1);
        EXPECT_EQ(iotest::PatternMismatch(kept.payloads[i].second, sizes[i],
                                          static_cast<uint32_t>(i + 1)),
                  "");
        // A payload kept in a read block starts right after its frame's
        // 24-byte header and 2-byte envelope in a page-aligned block.
        const auto at =
            reinterpret_cast<uintptr_t>(kept.payloads[i].second.Chunks().begin()->data());
        if (sizes[i] >= (16 << 10) && at % 4096 == kHeaderSize + 2) ++taken_in_place;
      }
    }
    if (config.takes_blocks) {
      EXPECT_GE(taken_in_place, 10u) << "large payloads were copied out of the read block";
    } else {
      EXPECT_EQ(taken_in_place, 0u) << "a payload kept a read block";
    }
    conn->Close();
    EXPECT_TRUE(running->Stop().ok());
    running.reset();
    {
      absl::MutexLock lock(&kept.mu);
      kept.payloads.clear();
    }
    EXPECT_EQ(pool->cached_blocks() * kBlock, pool->mapped_bytes()) << "a block was not returned";
  }
}

// A client that connects while the loop is busy in a handler waits in
// the backlog; the shutdown refuses it at once with SHUTTING_DOWN (it does
// not wait for Close(), which comes only after ServeForever() returns).
TEST(StreamServerTest, ReactorRefusesItsBacklogWhenItShutsDown) {
  BatchAnswers::Gate gate;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", StreamServerOptions(),
                                      [&gate] { return std::make_unique<BatchAnswers>(&gate); });
  ASSERT_NE(running, nullptr);
  auto busy = Dial(running->address());
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(busy->Send(Id(0), absl::Cord("gate"), absl::Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(WaitFor([&] { return gate.entered.load(); }));
  auto waiting = Dial(running->address());
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  running->server().Shutdown();
  gate.open = true;
  EXPECT_EQ(ExpectErrorFrameThenClose(*waiting, "SHUTTING_DOWN"), "");
  EXPECT_EQ(ExpectErrorFrameThenClose(*busy, "SHUTTING_DOWN"), "");
}

// A forked child inherits whatever locks other parent threads held at the
// fork, and those threads do not exist in the child to release them. Debian's
// Abseil takes a process-wide lock (deadlock detection) in every
// absl::Mutex operation; with parent threads locking mutexes all the time,
// children that used it hung (207 of 300 connections unanswered before the
// fix). Every connection must be answered.
TEST(StreamServerTest, ForkedChildrenServeWhileParentThreadsLockMutexes) {
  if (!servertest::ForkModelUntestableReason().empty()) {
    GTEST_SKIP() << servertest::ForkModelUntestableReason();
  }
  StreamServerOptions options;
  options.model = ConcurrencyModel::kForkPerConnection;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", options, servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  std::atomic<bool> stop{false};
  std::vector<std::thread> lockers;
  for (int t = 0; t < 2; ++t) {
    lockers.emplace_back([&stop] {
      absl::Mutex mu;
      while (!stop.load(std::memory_order_relaxed)) {
        mu.Lock();
        mu.Unlock();
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok()) << conn.status();
    const std::string problem = RoundTrip(*conn, i, "x");
    if (!problem.empty()) {
      stop = true;
      for (std::thread& t : lockers) t.join();
      FAIL() << "connection " << i << ": " << problem;
    }
  }
  stop = true;
  for (std::thread& t : lockers) t.join();
}

// Many connections announcing large payloads and stalling: the server-wide
// budget refuses some instead of growing; memory stays bounded; once they
// are gone a new client is served.
TEST(StreamServerTest, GlobalInputBudgetBoundsAFloodOfLargeFrames) {
  StreamServerOptions options;
  options.global_input_budget = 4 << 20;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", options, servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  FrameEncoder encoder;
  auto frame = encoder.Encode(Id(1), iotest::PatternCord(16 << 20, 4));
  ASSERT_TRUE(frame.ok());
  const std::string head = frame->ToString().substr(0, 512 << 10);
  constexpr int kFlood = 32;
  std::vector<FramedConnection> flood;
  for (int i = 0; i < kFlood; ++i) {
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    (void)conn->socket().WriteAll(head, absl::Now() + absl::Seconds(10));
    flood.push_back(*std::move(conn));
  }
  uint64_t peak = 0;
  int refused = 0;
  for (FramedConnection& conn : flood) {
    absl::StatusOr<Message> m = conn.Receive(absl::Now() + absl::Milliseconds(300));
    peak = std::max(peak, running->server().stats().input_bytes_buffered);
    if (m.ok() && m->envelope.kind() == KIND_ERROR) {
      EXPECT_TRUE(absl::StartsWith(m->envelope.status().message(), "MEMORY_BUDGET_EXCEEDED"))
          << m->envelope.status().message();
      ++refused;
    }
  }
  // 32 x 512 KiB arrived; the budget holds 4 MiB (plus one read in flight).
  EXPECT_GE(refused, kFlood - 8 - 1);
  EXPECT_LE(peak, (4u << 20) + (1u << 20));
  EXPECT_GE(running->server().stats().errors["MEMORY_BUDGET_EXCEEDED"],
            static_cast<uint64_t>(refused));
  flood.clear();
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().active == 0; }));
  EXPECT_EQ(running->server().stats().input_bytes_buffered, 0u);
  auto fresh = Dial(running->address());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(RoundTrip(*fresh, 1, "served again"), "");
}

// The reactor stops reading a connection whose answers are not read, and
// resumes when they are: every answer then arrives, in order.
TEST(StreamServerTest, ReactorBackpressurePausesReadingAPeerThatDoesNotRead) {
  std::atomic<int> handled{0};
  std::atomic<uint64_t> max_queued{0};
  class Big : public StreamHandler {
   public:
    Big(std::atomic<int>* handled, std::atomic<uint64_t>* max_queued)
        : handled_(handled), max_queued_(max_queued) {}
    absl::Status OnMessage(Session& session, Message message) override {
      handled_->fetch_add(1);
      absl::Status s = session.Send(message.envelope, iotest::PatternCord(64 << 10, 5));
      uint64_t q = session.queued_output_bytes();
      uint64_t old = max_queued_->load();
      while (q > old && !max_queued_->compare_exchange_weak(old, q)) {
      }
      return s;
    }
    std::atomic<int>* handled_;
    std::atomic<uint64_t>* max_queued_;
  };
  StreamServerOptions options;
  options.output_high_watermark = 1 << 20;
  auto running = RunningServer::Start("tcp://127.0.0.1:0", options, [&] {
    return std::make_unique<Big>(&handled, &max_queued);
  });
  ASSERT_NE(running, nullptr);
  auto conn = Dial(running->address());
  ASSERT_TRUE(conn.ok());
  constexpr int kRequests = 3000;
  for (int i = 0; i < kRequests; ++i) ASSERT_TRUE(conn->Queue(Id(i), absl::Cord("q")).ok());
  ASSERT_TRUE(conn->Flush(absl::Now() + absl::Seconds(10)).ok());
  absl::SleepFor(absl::Milliseconds(300));
  // Paused: far fewer handled than sent, and the queue near the watermark
  // (plus the answers to one 8 KiB read of requests).
  const int handled_while_paused = handled.load();
  EXPECT_LT(handled_while_paused, kRequests / 2);
  const uint64_t requests_per_read = 8192 / 26 + 1;
  EXPECT_LE(max_queued.load(), (1u << 20) + (requests_per_read + 1) * ((64u << 10) + 64));
  for (int i = 0; i < kRequests; ++i) {
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(20));
    ASSERT_TRUE(m.ok()) << "answer " << i << ": " << m.status();
    ASSERT_EQ(m->envelope.id(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(handled.load(), kRequests);
}

// Large answers the inline handler writes at once (nothing queued before
// them) to a peer that has gone: the first write fails, that connection
// closes with one IO_ERROR, the handler's later Send()s of the same read
// do not fail it (no HANDLER_ERROR), and another connection keeps getting
// its large answers whole. The reactor is kept busy by a slow request on the
// other connection while the peer sends three requests and closes, so it
// reads all three only after the peer left. The answers (256 KiB) are
// larger than the socket's buffer, so the peer would never take one whole
// even if it were read earlier.
TEST(StreamServerTest, ReactorLargeAnswersToAPeerThatLeftCloseOnlyThatConnection) {
  class LargeAnswer : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      if (message.payload == "stall") absl::SleepFor(absl::Milliseconds(300));
      return session.Send(message.envelope, iotest::PatternCord(256 << 10, 3));
    }
  };
  auto running = RunningServer::Start(servertest::ListenUri(Net::kUnix), StreamServerOptions(),
                                      [] { return std::make_unique<LargeAnswer>(); });
  ASSERT_NE(running, nullptr);
  auto good = Dial(running->address());
  auto gone = Dial(running->address());
  ASSERT_TRUE(good.ok() && gone.ok());
  ASSERT_TRUE(WaitFor([&] { return running->server().stats().active == 2; }));
  ASSERT_TRUE(good->Send(Id(1), absl::Cord("stall")).ok());
  absl::SleepFor(absl::Milliseconds(50));  // the reactor is in the slow handler
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(gone->Send(Id(100 + i), absl::Cord("answer me after I left")).ok());
  }
  gone->Close();
  for (int i = 0; i < 8; ++i) {
    if (i > 0) {
      ASSERT_TRUE(good->Send(Id(1 + i), absl::Cord("again")).ok());
    }
    absl::StatusOr<Message> m = good->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->envelope.id(), static_cast<uint64_t>(1 + i));
    EXPECT_EQ(iotest::PatternMismatch(m->payload, 256 << 10, 3), "");
  }
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().active == 1; }));
  const ServerStats stats = running->server().stats();
  EXPECT_EQ(stats.errors.count("IO_ERROR") == 1 ? stats.errors.at("IO_ERROR") : 0, 1u);
  EXPECT_EQ(stats.handler_errors, 0u);
  EXPECT_EQ(stats.errors.count("HANDLER_ERROR"), 0u);
}

// HandleOne() serves its connection with a Session in a shared_ptr like
// every other model: shared_from_this() and HoldOpen() work.
TEST(StreamServerTest, HandleOneSessionSupportsHoldOpen) {
  class Later : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      std::shared_ptr<Session> self = session.shared_from_this();
      std::shared_ptr<void> hold = session.HoldOpen();
      std::thread([self, hold, message]() mutable {
        absl::SleepFor(absl::Milliseconds(100));
        (void)self->Send(message);
      }).detach();
      return absl::OkStatus();
    }
  };
  auto server = StreamServer::Create("tcp://127.0.0.1:0", {},
                                     [] { return std::make_unique<Later>(); });
  ASSERT_TRUE(server.ok());
  std::thread client([&] {
    auto conn = Dial((*server)->address());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->Send(Id(5), absl::Cord("held")).ok());
    ASSERT_TRUE(conn->ShutdownWrite().ok());  // the answer must still come
    absl::StatusOr<Message> m = conn->Receive(absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(std::string(m->payload), "held");
  });
  EXPECT_TRUE((*server)->HandleOne(absl::Now() + absl::Seconds(10)).ok());
  client.join();
}

// A Unix peer that closes while its request is still held open: the
// reactor sees EPOLLHUP on every wait; it must end the session instead of
// spinning until the work is done.
TEST(StreamServerTest, PeerGoneWhileWorkIsHeldDoesNotSpin) {
  class Later : public StreamHandler {
   public:
    absl::Status OnMessage(Session& session, Message message) override {
      std::shared_ptr<Session> self = session.shared_from_this();
      std::shared_ptr<void> hold = session.HoldOpen();
      std::thread([self, hold, message]() mutable {
        absl::SleepFor(absl::Milliseconds(800));
        (void)self->Send(message);  // CONNECTION_CLOSED by then
      }).detach();
      return absl::OkStatus();
    }
  };
  auto running = RunningServer::Start(servertest::ListenUri(Net::kUnix), {},
                                      [] { return std::make_unique<Later>(); });
  ASSERT_NE(running, nullptr);
  {
    auto conn = Dial(running->address());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->Send(Id(1), absl::Cord("bye")).ok());
    ASSERT_TRUE(WaitFor([&] { return running->server().stats().messages_received == 1; }));
  }  // closed while the answer is pending
  auto cpu_seconds = [] {
    rusage usage;
    ::getrusage(RUSAGE_SELF, &usage);
    return absl::ToDoubleSeconds(absl::DurationFromTimeval(usage.ru_utime) +
                                 absl::DurationFromTimeval(usage.ru_stime));
  };
  const double before = cpu_seconds();
  absl::SleepFor(absl::Milliseconds(500));
  const double used = cpu_seconds() - before;
  EXPECT_LT(used, 0.15) << "the process used " << used << " s of CPU in 0.5 s: a spinning loop";
  EXPECT_TRUE(WaitFor([&] { return running->server().stats().active == 0; }));
}

TEST(StreamServerTest, HandleOneServesOneConnection) {
  auto server = StreamServer::Create("tcp://127.0.0.1:0", {}, servertest::EchoFactory());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Status none = (*server)->HandleOne(absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(none)) << none;

  std::thread client([&] {
    auto conn = Dial((*server)->address());
    ASSERT_TRUE(conn.ok());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(RoundTrip(*conn, i, "one"), "");
  });
  EXPECT_TRUE((*server)->HandleOne(absl::Now() + absl::Seconds(10)).ok());
  client.join();
  EXPECT_EQ((*server)->stats().accepted, 1u);
  EXPECT_EQ((*server)->stats().messages_received, 10u);
  (*server)->Shutdown();
  absl::Status after = (*server)->HandleOne(absl::Now() + absl::Seconds(1));
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
}

TEST(StreamServerTest, SigtermShutsDownGracefully) {
  auto server = StreamServer::Create("tcp://127.0.0.1:0", {}, servertest::EchoFactory());
  ASSERT_TRUE(server.ok());
  ShutdownOnSignals signals;
  ASSERT_TRUE(signals.status().ok()) << signals.status();
  ASSERT_TRUE(signals.Add(server->get()).ok());
  std::thread serve([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });
  auto conn = Dial((*server)->address());
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(RoundTrip(*conn, 1, "before the signal"), "");
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_EQ(ExpectErrorFrameThenClose(*conn, "SHUTTING_DOWN"), "");
  serve.join();
  EXPECT_EQ(ShutdownOnSignals::last_signal(), SIGTERM);
}

TEST(StreamServerTest, CreateErrorsNameTheProblem) {
  auto bad = StreamServer::Create("tcp://127.0.0.1:99999", {}, servertest::EchoFactory());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "99999")) << bad.status();

  auto first = StreamServer::Create("tcp://127.0.0.1:0", {}, servertest::EchoFactory());
  ASSERT_TRUE(first.ok());
  auto second = StreamServer::Create((*first)->address(), {}, servertest::EchoFactory());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();

  const std::string uri = servertest::ListenUri(Net::kUnix);
  auto unix_first = StreamServer::Create(uri, {}, servertest::EchoFactory());
  ASSERT_TRUE(unix_first.ok());
  auto unix_second = StreamServer::Create(uri, {}, servertest::EchoFactory());
  EXPECT_EQ(unix_second.status().code(), absl::StatusCode::kAlreadyExists)
      << unix_second.status();
}

}  // namespace
}  // namespace lpframe
