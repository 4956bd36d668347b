#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/io/framed_connection.h"
#include "lib/server/stream_server.h"

namespace lpframe {
namespace {

class Echo : public StreamHandler {
 public:
  absl::Status OnMessage(Session& session, Message message) override {
    return session.Send(message);
  }
};

void RunEcho(StreamServerOptions options, const std::string& uri, int clients, int messages) {
  auto server = StreamServer::Create(uri, options, [] { return std::make_unique<Echo>(); });
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread serve([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto conn = FramedConnection::Dial((*server)->address());
      if (!conn.ok()) { ADD_FAILURE() << conn.status(); return; }
      for (int i = 0; i < messages; ++i) {
        Envelope e;
        e.set_id(c * 100000 + i);
        ASSERT_TRUE(conn->Queue(e, absl::Cord(std::string(64, 'a' + i % 26))).ok());
      }
      for (int i = 0; i < messages; ++i) {
        auto m = conn->Receive(absl::Now() + absl::Seconds(20));
        ASSERT_TRUE(m.ok()) << m.status();
        ASSERT_EQ(m->envelope.id(), static_cast<uint64_t>(c * 100000 + i));
        ASSERT_EQ(std::string(m->payload), std::string(64, 'a' + i % 26));
      }
      ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), clients);
  absl::SleepFor(absl::Milliseconds(200));
  fprintf(stderr, "before shutdown: active=%lu closed=%lu\n", (*server)->stats().active, (*server)->stats().closed);
  absl::Time t0 = absl::Now();
  (*server)->Shutdown();
  serve.join();
  fprintf(stderr, "shutdown took %s\n", absl::FormatDuration(absl::Now() - t0).c_str());
  auto stats = (*server)->stats();
  if (options.model != ConcurrencyModel::kForkPerConnection) {
    EXPECT_EQ(stats.messages_received, uint64_t(clients) * messages);
  }
}

TEST(Smoke, ReactorInline) { RunEcho({}, "tcp://127.0.0.1:0", 20, 1000); }
TEST(Smoke, ReactorWorkers) {
  StreamServerOptions o;
  o.worker_threads = 2;
  RunEcho(o, "tcp://127.0.0.1:0", 20, 1000);
}
TEST(Smoke, Reactors) {
  StreamServerOptions o;
  o.reactor_threads = 2;
  RunEcho(o, "tcp://127.0.0.1:0", 20, 1000);
  RunEcho(o, "unix:/tmp/lpframe_smoke.sock", 20, 1000);
}
TEST(Smoke, Threads) {
  StreamServerOptions o;
  o.model = ConcurrencyModel::kThreadPerConnection;
  RunEcho(o, "tcp://127.0.0.1:0", 20, 1000);
}
TEST(Smoke, Forks) {
  StreamServerOptions o;
  o.model = ConcurrencyModel::kForkPerConnection;
  RunEcho(o, "unix:/tmp/lpframe_smoke2.sock", 20, 1000);
}

}  // namespace
}  // namespace lpframe
