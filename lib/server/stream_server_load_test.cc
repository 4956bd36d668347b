// 200 concurrent clients x 1000 messages against an echo server, for every
// concurrency model, over TCP and a Unix path: every message comes back
// once, intact and in order; the server counts them all; descriptors return
// to their baseline once the clients leave and again once the server closes.
#include <atomic>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/server/stream_server.h"
#include "lib/server/testing/server_test_util.h"

namespace lpframe {
namespace {

using servertest::Model;
using servertest::Net;

constexpr int kClients = 200;
constexpr int kMessages = 1000;
constexpr int kWindow = 50;  // messages in flight per client

// Sizes vary with the message; every 250th is 70 KiB (a direct read).
uint64_t SizeOf(int client, int i) {
  if (i % 250 == 249) return 70 << 10;
  return (static_cast<uint64_t>(client) * 7919 + static_cast<uint64_t>(i) * 104729) % 1500;
}
uint32_t SaltOf(int client, int i) { return static_cast<uint32_t>(client * kMessages + i); }

// One client: windows of kWindow queued messages, then their echoes.
// Returns "" or the first problem.
std::string RunClient(const std::string& uri, int client) {
  absl::StatusOr<FramedConnection> conn = servertest::Dial(uri);
  if (!conn.ok()) return absl::StrCat("dial: ", conn.status().ToString());
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  int received = 0;
  for (int sent = 0; sent < kMessages;) {
    const int end = std::min(kMessages, sent + kWindow);
    for (; sent < end; ++sent) {
      Envelope e;
      e.set_id(static_cast<uint64_t>(client) << 32 | static_cast<uint64_t>(sent));
      e.set_kind(KIND_MESSAGE);
      absl::Status queued =
          conn->Queue(e, iotest::PatternCord(SizeOf(client, sent), SaltOf(client, sent)), deadline);
      if (!queued.ok()) return absl::StrCat("queue #", sent, ": ", queued.ToString());
    }
    for (; received < sent; ++received) {
      absl::StatusOr<Message> m = conn->Receive(deadline);
      if (!m.ok()) return absl::StrCat("receive #", received, ": ", m.status().ToString());
      const uint64_t want_id = static_cast<uint64_t>(client) << 32 | received;
      if (m->envelope.id() != want_id) {
        return absl::StrCat("message #", received, " has id ", m->envelope.id() & 0xffffffff,
                            " of client ", m->envelope.id() >> 32, " (lost, duplicated or "
                            "reordered)");
      }
      std::string mismatch = iotest::PatternMismatch(m->payload, SizeOf(client, received),
                                                     SaltOf(client, received));
      if (!mismatch.empty()) return absl::StrCat("message #", received, ": ", mismatch);
    }
  }
  // The server has nothing more for us: a clean end follows our close.
  absl::Status shut = conn->ShutdownWrite(deadline);
  if (!shut.ok()) return absl::StrCat("shutdown: ", shut.ToString());
  absl::StatusOr<Message> extra = conn->Receive(deadline);
  if (extra.ok()) return absl::StrCat("an extra message: ", extra->envelope.ShortDebugString());
  if (GetFrameErrorCode(extra.status()) != FrameErrorCode::kEndOfStream) {
    return absl::StrCat("end: ", extra.status().ToString());
  }
  return "";
}

class LoadTest : public ::testing::TestWithParam<std::tuple<Model, Net>> {};

TEST_P(LoadTest, EveryMessageEchoedOnceIntactInOrder) {
  const auto [model, net] = GetParam();
  if (model == Model::kForks && !servertest::ForkModelUntestableReason().empty()) {
    GTEST_SKIP() << servertest::ForkModelUntestableReason();
  }
  const int fds_before = servertest::CountOpenFds();
  StreamServerOptions options = servertest::WithModel(model);
  options.max_connections = kClients + 8;
  auto running = servertest::RunningServer::Start(servertest::ListenUri(net), options,
                                                  servertest::EchoFactory());
  ASSERT_NE(running, nullptr);
  // A first connection proves the server is serving (its loops have made
  // their epoll and wake descriptors); once it is gone, the descriptors
  // open are the server's own: the baseline for after the clients.
  {
    absl::StatusOr<FramedConnection> probe = servertest::Dial(running->address());
    ASSERT_TRUE(probe.ok()) << probe.status();
    ASSERT_TRUE(probe->Send(Envelope(), absl::Cord("probe")).ok());
    ASSERT_TRUE(probe->Receive(absl::Now() + absl::Seconds(30)).ok());
  }
  ASSERT_TRUE(servertest::WaitFor([&] { return running->server().stats().active == 0; }));
  const int fds_serving = servertest::CountOpenFds();
  constexpr uint64_t kConnections = kClients + 1;  // with the probe

  std::vector<std::string> problems(kClients);
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] { problems[c] = RunClient(running->address(), c); });
  }
  for (std::thread& t : clients) t.join();
  int failed = 0;
  for (int c = 0; c < kClients; ++c) {
    if (!problems[c].empty() && ++failed <= 5) {
      ADD_FAILURE() << "client " << c << ": " << problems[c];
    }
  }
  EXPECT_EQ(failed, 0);

  StreamServer& server = running->server();
  EXPECT_TRUE(servertest::WaitFor([&] { return server.stats().active == 0; }))
      << "connections still open: " << server.stats().active;
  // The clients are gone: the server holds only what it held before them.
  EXPECT_TRUE(servertest::WaitFor([&] { return servertest::CountOpenFds() == fds_serving; }))
      << servertest::CountOpenFds() << " descriptors open, " << fds_serving << " before clients";
  const ServerStats stats = server.stats();
  EXPECT_EQ(stats.accepted, kConnections);
  EXPECT_EQ(stats.closed, kConnections);
  EXPECT_EQ(stats.refused, 0u);
  if (model != Model::kForks) {  // children count their own messages
    EXPECT_EQ(stats.messages_received, uint64_t{kClients} * kMessages + 1);
    EXPECT_EQ(stats.messages_sent, uint64_t{kClients} * kMessages + 1);
    EXPECT_EQ(stats.input_bytes_buffered, 0u);
    // Every connection ended cleanly (children keep their own counts).
    EXPECT_EQ(stats.errors.count("END_OF_STREAM") ? stats.errors.at("END_OF_STREAM") : 0,
              kConnections);
  }
  for (const auto& [name, count] : stats.errors) {
    EXPECT_EQ(name, "END_OF_STREAM") << count << " connection(s) closed by " << name;
  }
  EXPECT_TRUE(running->Stop().ok());
  running.reset();
  EXPECT_EQ(servertest::CountOpenFds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(
    AllModels, LoadTest,
    ::testing::Combine(::testing::ValuesIn(servertest::AllModels()),
                       ::testing::Values(Net::kTcp, Net::kUnix)),
    [](const ::testing::TestParamInfo<std::tuple<Model, Net>>& info) {
      return servertest::ModelName(std::get<0>(info.param)) +
             servertest::NetName(std::get<1>(info.param));
    });

}  // namespace
}  // namespace lpframe
