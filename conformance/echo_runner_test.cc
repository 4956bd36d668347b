// The native conformance vectors over real sockets, against lpframe's own
// echo server (StreamServer, reactor and thread models) on TCP and a Unix
// path, under several segmentations: every clean vector comes back whole and
// ends cleanly, every error vector ends with its error in a KIND_ERROR frame.
#include "conformance/echo_runner.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "conformance/test_vector.h"
#include "lib/frame_encoder.h"
#include "lib/io/framed_connection.h"
#include "lib/server/stream_server.h"

namespace lpframe {
namespace conformance {
namespace {

class Echo : public StreamHandler {
 public:
  absl::Status OnMessage(Session& session, Message message) override {
    return session.Send(message);
  }
};

// Vectors an echo server with default limits can answer: native, default
// limits, inputs up to 8 MiB (the 64 MiB ones stay with the in-process
// tests).
std::vector<Vector> SocketVectors() {
  absl::StatusOr<VectorFile> file = LoadVectorFile("conformance/vectors/native.json");
  if (!file.ok()) {
    ADD_FAILURE() << file.status();
    return {};
  }
  std::vector<Vector> out;
  for (const Vector& v : file->vectors()) {
    if (v.limits().max_payload_bytes() != 0 || v.limits().max_envelope_bytes() != 0) continue;
    absl::StatusOr<std::string> input = MaterializeInput(v);
    if (!input.ok() || input->size() > (8u << 20)) continue;
    out.push_back(v);
  }
  return out;
}

struct Target {
  std::string name;
  std::string uri;
  ConcurrencyModel model;
};

class EchoRunnerTest : public ::testing::TestWithParam<Target> {};

TEST_P(EchoRunnerTest, NativeVectorsUnderSegmentations) {
  StreamServerOptions options;
  options.model = GetParam().model;
  options.on_error = nullptr;  // the error vectors are expected to fail
  auto server = StreamServer::Create(GetParam().uri, options,
                                     [] { return std::make_unique<Echo>(); });
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread serve([&] { EXPECT_TRUE((*server)->ServeForever().ok()); });

  const std::vector<Vector> vectors = SocketVectors();
  ASSERT_GE(vectors.size(), 30u);
  int cases = 0, failed = 0, errors = 0;
  for (const Vector& vector : vectors) {
    absl::StatusOr<std::string> input = MaterializeInput(vector);
    ASSERT_TRUE(input.ok());
    for (const SegmentPlan& plan : StandardPlans(input->size())) {
      CaseReport report = RunVectorOverSocket((*server)->address(), vector, plan, {});
      ++cases;
      if (!vector.error().empty()) ++errors;
      if (!report.passed) {
        ++failed;
        ADD_FAILURE() << report.id << " (PROTOCOL.md §" << report.spec << ", " << report.writes
                      << " writes): " << report.detail;
      }
    }
  }
  std::printf("%s: %d socket cases (%d expecting an error), %d failed\n",
              GetParam().name.c_str(), cases, errors, failed);
  EXPECT_GE(cases, 250);
  EXPECT_GE(errors, 20);
  (*server)->Shutdown();
  serve.join();
}

INSTANTIATE_TEST_SUITE_P(
    Targets, EchoRunnerTest,
    ::testing::Values(
        Target{"ReactorTcp", "tcp://127.0.0.1:0", ConcurrencyModel::kReactor},
        Target{"ReactorUnix", absl::StrCat("unix:/tmp/lpframe-conf-", getpid(), ".sock"),
               ConcurrencyModel::kReactor},
        Target{"ThreadsTcp", "tcp://127.0.0.1:0", ConcurrencyModel::kThreadPerConnection}),
    [](const ::testing::TestParamInfo<Target>& info) { return info.param.name; });

// The runner catches a testee that breaks the contract: one that drops the
// last message of a connection, one that changes a payload byte, one that
// closes without the error frame.
TEST(EchoRunnerFaultTest, FaultyTesteesFail) {
  struct Fault {
    const char* name;
    bool error_frames;
    int mode;  // 0 none, 1 flip a payload byte, 2 drop every 3rd message
  };
  class Faulty : public StreamHandler {
   public:
    explicit Faulty(int mode) : mode_(mode) {}
    absl::Status OnMessage(Session& session, Message message) override {
      ++seen_;
      if (mode_ == 2 && seen_ % 3 == 0) return absl::OkStatus();
      if (mode_ == 1 && !message.payload.empty()) {
        std::string bytes(message.payload);
        bytes[bytes.size() / 2] ^= 0x01;
        message.payload = absl::Cord(bytes);
      }
      return session.Send(message);
    }

   private:
    int mode_;
    int seen_ = 0;
  };
  const std::vector<Vector> vectors = SocketVectors();
  for (const Fault& fault : {Fault{"none", true, 0}, Fault{"flipped byte", true, 1},
                             Fault{"dropped message", true, 2},
                             Fault{"no error frame", false, 0}}) {
    SCOPED_TRACE(fault.name);
    StreamServerOptions options;
    options.send_error_frames = fault.error_frames;
    options.on_error = nullptr;
    const int mode = fault.mode;
    auto server = StreamServer::Create("tcp://127.0.0.1:0", options,
                                       [mode] { return std::make_unique<Faulty>(mode); });
    ASSERT_TRUE(server.ok());
    std::thread serve([&] { (void)(*server)->ServeForever(); });
    int failed = 0;
    for (const Vector& vector : vectors) {
      if (!RunVectorOverSocket((*server)->address(), vector, SegmentPlan::Chop(997), {}).passed) {
        ++failed;
      }
    }
    (*server)->Shutdown();
    serve.join();
    if (fault.mode == 0 && fault.error_frames) {
      EXPECT_EQ(failed, 0);
    } else {
      EXPECT_GT(failed, 0) << "the suite did not notice: " << fault.name;
    }
  }
}

// Interleaved connections: 64 cases at once on one server, one of them an
// error case (bad magic): the 63 others are delivered intact and end
// cleanly, and the bad one alone is rejected.
TEST(EchoRunnerConcurrencyTest, OneBadConnectionAmong63Good) {
  StreamServerOptions options;
  options.on_error = nullptr;
  auto server = StreamServer::Create("tcp://127.0.0.1:0", options,
                                     [] { return std::make_unique<Echo>(); });
  ASSERT_TRUE(server.ok());
  std::thread serve([&] { (void)(*server)->ServeForever(); });
  const std::vector<Vector> vectors = SocketVectors();
  const Vector* good = nullptr;
  const Vector* bad = nullptr;
  for (const Vector& v : vectors) {
    if (v.id() == "native.coalesced.five") good = &v;
    if (v.id() == "native.magic.garbage") bad = &v;
  }
  ASSERT_NE(good, nullptr);
  ASSERT_NE(bad, nullptr);
  std::vector<CaseReport> reports(64);
  std::vector<std::thread> clients;
  for (int i = 0; i < 64; ++i) {
    clients.emplace_back([&, i] {
      reports[i] = RunVectorOverSocket((*server)->address(), i == 17 ? *bad : *good,
                                       SegmentPlan::SeededRandom(static_cast<uint32_t>(i), 32),
                                       {});
    });
  }
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(reports[i].passed) << reports[i].id << ": " << reports[i].detail;
  EXPECT_EQ((*server)->stats().errors["BAD_MAGIC"], 1u);
  (*server)->Shutdown();
  serve.join();
}

// Allocation bomb: 256 connections each send a header announcing the
// largest payload (64 MiB) and 1 KiB of it, then stall. Storage follows the
// bytes that arrived, so the server holds about 256 x (a block + a read
// buffer), not 256 x 64 MiB; a fresh client is still served.
TEST(EchoRunnerBombTest, HeadersAnnouncingTheMaximumThenStallingStayBounded) {
  StreamServerOptions options;
  options.on_error = nullptr;
  auto server = StreamServer::Create("tcp://127.0.0.1:0", options,
                                     [] { return std::make_unique<Echo>(); });
  ASSERT_TRUE(server.ok());
  std::thread serve([&] { (void)(*server)->ServeForever(); });
  FrameEncoder encoder;
  Envelope envelope;
  envelope.set_id(1);
  // The header and envelope of a 64 MiB frame, then 1 KiB of its payload.
  absl::StatusOr<EncodedFrame> frame =
      encoder.Encode(envelope, absl::Cord(std::string(64u << 20, 'b')));
  ASSERT_TRUE(frame.ok());
  const std::string head = std::string(frame->prefix()) + std::string(1024, 'b');
  std::vector<FramedConnection> bombs;
  for (int i = 0; i < 256; ++i) {
    absl::StatusOr<FramedConnection> conn =
        FramedConnection::Dial((*server)->address(), {}, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(conn->socket().WriteAll(head, absl::Now() + absl::Seconds(10)).ok());
    bombs.push_back(*std::move(conn));
  }
  // Wait until every stalled frame has been read as far as it goes.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*server)->stats().accepted < 256 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(200));
  const uint64_t buffered = (*server)->stats().input_bytes_buffered;
  std::printf("256 stalled connections announcing 64 MiB each: %llu bytes buffered\n",
              static_cast<unsigned long long>(buffered));
  // One payload block (256 KiB) + the 8 KiB read buffer per connection at
  // most: 66 MiB for all 256, against 16 GiB announced.
  EXPECT_LE(buffered, 256u * ((256u << 10) + (16u << 10))) << buffered << " bytes buffered";
  EXPECT_GE(buffered, 256u * 1024u) << "the stalled bytes are accounted";
  // Still serving.
  const std::vector<Vector> vectors = SocketVectors();
  for (const Vector& v : vectors) {
    if (v.id() != "native.coalesced.five") continue;
    CaseReport r = RunVectorOverSocket((*server)->address(), v, SegmentPlan::Whole(), {});
    EXPECT_TRUE(r.passed) << r.detail;
  }
  bombs.clear();
  (*server)->Shutdown();
  serve.join();
}

// The runner itself: cut plans cover the input exactly.
TEST(SegmentPlanTest, CutsAreIncreasingAndInside) {
  for (const SegmentPlan& plan : {SegmentPlan::Whole(), SegmentPlan::Chop(1),
                                  SegmentPlan::Chop(7), SegmentPlan::SeededRandom(9, 13)}) {
    SCOPED_TRACE(plan.Name());
    for (size_t size : {size_t{0}, size_t{1}, size_t{24}, size_t{1000}}) {
      std::vector<size_t> cuts = plan.Cuts(size);
      size_t last = 0;
      for (size_t cut : cuts) {
        EXPECT_GT(cut, last);
        EXPECT_LT(cut, size);
        last = cut;
      }
    }
  }
  EXPECT_EQ(SegmentPlan::Chop(7).Cuts(20), (std::vector<size_t>{7, 14}));
  EXPECT_EQ(SegmentPlan::Chop(7).Name(), "chop7");
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
