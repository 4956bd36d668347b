// Tests for lib/server/datagram_server: echo over UDP (127.0.0.1, [::1]) and
// Unix datagram sockets (path, abstract) with several clients; bad
// datagrams among good ones, each rejected and counted by code; over-size
// replies refused; VerifyPeer; handler errors; HandleOne; Shutdown from a
// thread and from a signal; Close and descriptors.
#include "lib/server/datagram_server.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/datagram_socket.h"
#include "lib/io/testing/datagram_fixture.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/server/shutdown_signals.h"
#include "lib/server/stream_server.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

Envelope Env(uint64_t id) {
  Envelope e;
  e.set_id(id);
  e.set_kind(KIND_MESSAGE);
  return e;
}

// Echoes every message; payload "fail" makes it return InvalidArgument,
// "big" makes it try an over-size reply first.
class Echo : public DatagramHandler {
 public:
  absl::Status OnDatagram(DatagramReply& reply, Message message) override {
    calls.fetch_add(1);
    const std::string payload(message.payload);
    if (payload == "fail") return absl::InvalidArgumentError("the handler refuses \"fail\"");
    if (payload == "big") {
      big_reply = reply.Send(Env(0), absl::Cord(std::string(100000, 'b')));
    }
    if (payload == "who") {
      absl::MutexLock lock(&mu);
      peers.push_back(reply.peer());
    }
    return reply.Send(message);
  }

  std::atomic<int> calls{0};
  absl::Status big_reply;
  absl::Mutex mu;
  std::vector<PeerInfo> peers;
};

// Collects what the error hook sees.
struct ErrorLog {
  absl::Mutex mu;
  std::vector<ServerError> errors;
  ErrorHookFn Hook() {
    return [this](const ServerError& e) {
      absl::MutexLock lock(&mu);
      errors.push_back(e);
    };
  }
  std::vector<ServerError> Snapshot() {
    absl::MutexLock lock(&mu);
    return errors;
  }
};

// Runs ServeForever() on a thread; shuts down and joins when destroyed.
class Serving {
 public:
  explicit Serving(DatagramServer* server) : server_(server) {
    thread_ = std::thread([this] { status_ = server_->ServeForever(); });
  }
  ~Serving() { (void)Stop(); }
  absl::Status Stop() {
    if (thread_.joinable()) {
      server_->Shutdown();
      thread_.join();
    }
    return status_;
  }

 private:
  DatagramServer* server_;
  std::thread thread_;
  absl::Status status_;
};

using iotest::FrameBytes;
using iotest::PathExists;
using iotest::SendRaw;
using Kind = iotest::DatagramKind;

class DatagramServerTest : public iotest::DatagramKindTest {
 protected:
  std::string Uri() const { return ListenUri(); }
};

INSTANTIATE_TEST_SUITE_P(All, DatagramServerTest,
                         testing::ValuesIn(iotest::AllDatagramKinds()),
                         iotest::DatagramKindName);

// `clients` clients each send `count` datagrams with a window of `window`
// outstanding and check every echo (content; order unless `any_order`).
void RunEchoClients(const std::string& address, int clients, int count, bool any_order) {
  constexpr int kWindow = 4;
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(address);
      if (!client.ok()) {
        ADD_FAILURE() << client.status();
        return;
      }
      std::set<uint64_t> expected;
      int received = 0;
      for (int sent = 0; sent < count;) {
        for (int i = 0; i < kWindow && sent < count; ++i, ++sent) {
          const uint64_t id = uint64_t(c) * 1000000 + sent;
          absl::Status s =
              client->SendFrame(Env(id), absl::Cord(absl::StrCat("payload-", id)), Soon());
          if (!s.ok()) {
            ADD_FAILURE() << s;
            return;
          }
          expected.insert(id);
        }
        for (; received < sent; ++received) {
          absl::StatusOr<ReceivedDatagram> d = client->ReceiveFrame(Soon());
          if (!d.ok()) {
            ADD_FAILURE() << "client " << c << " datagram " << received << ": " << d.status();
            return;
          }
          const uint64_t id = d->message.envelope.id();
          if (!any_order) {
            EXPECT_EQ(id, uint64_t(c) * 1000000 + received);
          }
          EXPECT_EQ(expected.erase(id), 1u) << "unexpected or repeated id " << id;
          EXPECT_EQ(std::string(d->message.payload), absl::StrCat("payload-", id));
        }
      }
      EXPECT_TRUE(expected.empty());
      done.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(done.load(), clients);
}

TEST_P(DatagramServerTest, EchoManyClients) {
  auto echo = std::make_shared<Echo>();
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), {}, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_FALSE(absl::EndsWith((*server)->address(), ":0")) << (*server)->address();
  {
    Serving serving(server->get());
    RunEchoClients((*server)->address(), 4, 250, /*any_order=*/false);
    EXPECT_TRUE(serving.Stop().ok());
  }
  const DatagramStats stats = (*server)->stats();
  EXPECT_EQ(stats.datagrams_received, 1000u);
  EXPECT_EQ(stats.messages_received, 1000u);
  EXPECT_EQ(stats.messages_sent, 1000u);
  EXPECT_EQ(stats.bad_datagrams, 0u);
  EXPECT_TRUE(stats.errors.empty());
}

TEST_P(DatagramServerTest, EchoWithThreeThreads) {
  auto echo = std::make_shared<Echo>();
  DatagramServerOptions options;
  options.threads = 3;
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Serving serving(server->get());
  RunEchoClients((*server)->address(), 4, 150, /*any_order=*/true);
  EXPECT_TRUE(serving.Stop().ok());
  EXPECT_EQ((*server)->stats().messages_sent, 600u);
}

TEST_P(DatagramServerTest, BadDatagramsAmongGoodOnes) {
  auto echo = std::make_shared<Echo>();
  ErrorLog log;
  DatagramServerOptions options;
  options.datagram.max_datagram_size = 2000;
  options.datagram.limits.max_payload_bytes = 1500;
  options.on_error = log.Hook();
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Serving serving(server->get());
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();

  const std::string good = FrameBytes(1, "good");
  const std::string frame100 = FrameBytes(2, std::string(100, 'x'));
  const std::vector<std::pair<std::string, FrameErrorCode>> bad = {
      {"garbage bytes, not a frame", FrameErrorCode::kBadMagic},
      {frame100.substr(0, frame100.size() - 1), FrameErrorCode::kDatagramTruncated},
      {good + "trailing", FrameErrorCode::kDatagramTrailingBytes},
      {FrameBytes(3, std::string(2500, 'o')), FrameErrorCode::kDatagramTruncated},  // MSG_TRUNC
      {FrameBytes(4, std::string(1600, 'p')).substr(0, 100), FrameErrorCode::kPayloadTooLarge},
  };
  uint64_t id = 10;
  for (const auto& [bytes, code] : bad) {
    SCOPED_TRACE(FrameErrorCodeName(code));
    ASSERT_TRUE(client->SendFrame(Env(++id), absl::Cord("before"), Soon()).ok());
    SendRaw(*client, bytes);
    ASSERT_TRUE(client->SendFrame(Env(++id), absl::Cord("after"), Soon()).ok());
    for (uint64_t want : {id - 1, id}) {
      absl::StatusOr<ReceivedDatagram> d = client->ReceiveFrame(Soon());
      ASSERT_TRUE(d.ok()) << d.status();
      EXPECT_EQ(d->message.envelope.id(), want) << "the good datagrams are answered in order";
    }
  }
  // No error datagrams by default: nothing else arrives.
  ReceivedDatagram extra;
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      client->ReceiveFrame(&extra, absl::Now() + absl::Milliseconds(30))));
  ASSERT_TRUE(serving.Stop().ok());

  const DatagramStats stats = (*server)->stats();
  EXPECT_EQ(stats.datagrams_received, 15u);
  EXPECT_EQ(stats.messages_received, 10u);
  EXPECT_EQ(stats.messages_sent, 10u);
  EXPECT_EQ(stats.bad_datagrams, 5u);
  EXPECT_EQ(stats.errors.at("BAD_MAGIC"), 1u);
  EXPECT_EQ(stats.errors.at("DATAGRAM_TRUNCATED"), 2u);
  EXPECT_EQ(stats.errors.at("DATAGRAM_TRAILING_BYTES"), 1u);
  EXPECT_EQ(stats.errors.at("PAYLOAD_TOO_LARGE"), 1u);
  const std::vector<ServerError> errors = log.Snapshot();
  ASSERT_EQ(errors.size(), 5u);
  for (const ServerError& e : errors) {
    EXPECT_EQ(e.stage, "datagram");
    EXPECT_EQ(e.peer.address, client->address());
    EXPECT_EQ(e.peer.local_address, (*server)->address());
  }
  EXPECT_THAT(std::string(errors[3].status.message()),
              HasSubstr("more than the maximum datagram size of 2000 bytes"));
}

TEST_P(DatagramServerTest, ErrorDatagramsWhenAskedFor) {
  auto echo = std::make_shared<Echo>();
  DatagramServerOptions options;
  options.send_error_datagrams = true;
  options.on_error = nullptr;
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Serving serving(server->get());
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();

  SendRaw(*client, "garbage bytes, not a frame");
  absl::StatusOr<ReceivedDatagram> error = client->ReceiveFrame(Soon());
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->message.envelope.kind(), KIND_ERROR);
  EXPECT_EQ(error->message.envelope.status().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(error->message.envelope.status().message(), HasSubstr("BAD_MAGIC"));

  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("fail"), Soon()).ok());
  error = client->ReceiveFrame(Soon());
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->message.envelope.kind(), KIND_ERROR);
  EXPECT_EQ(error->message.envelope.status().code(),
            static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(error->message.envelope.status().message(), HasSubstr("refuses"));
}

TEST_P(DatagramServerTest, HandlerErrorIsCountedAndServingContinues) {
  auto echo = std::make_shared<Echo>();
  ErrorLog log;
  DatagramServerOptions options;
  options.on_error = log.Hook();
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Serving serving(server->get());
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("fail"), Soon()).ok());
  ASSERT_TRUE(client->SendFrame(Env(2), absl::Cord("fine"), Soon()).ok());
  absl::StatusOr<ReceivedDatagram> d = client->ReceiveFrame(Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->message.envelope.id(), 2u);
  ASSERT_TRUE(serving.Stop().ok());
  const DatagramStats stats = (*server)->stats();
  EXPECT_EQ(stats.handler_errors, 1u);
  EXPECT_EQ(stats.messages_received, 2u);
  EXPECT_EQ(stats.errors.at("HANDLER_ERROR"), 1u);
  const std::vector<ServerError> errors = log.Snapshot();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].stage, "handler");
  EXPECT_EQ(errors[0].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFrameErrorCode(errors[0].status), FrameErrorCode::kHandlerError);
}

TEST_P(DatagramServerTest, OversizeReplyIsRefusedAndNothingIsSent) {
  auto echo = std::make_shared<Echo>();
  ErrorLog log;
  DatagramServerOptions options;
  options.on_error = log.Hook();
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(5), absl::Cord("big"), Soon()).ok());
  ASSERT_TRUE((*server)->HandleOne(Soon()).ok());
  EXPECT_EQ(GetFrameErrorCode(echo->big_reply), FrameErrorCode::kDatagramTooLarge)
      << echo->big_reply;
  EXPECT_THAT(std::string(echo->big_reply.message()),
              HasSubstr("maximum datagram size of 65507 bytes"));
  // Only the echo arrives.
  absl::StatusOr<ReceivedDatagram> d = client->ReceiveFrame(Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::string(d->message.payload), "big");
  ReceivedDatagram extra;
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      client->ReceiveFrame(&extra, absl::Now() + absl::Milliseconds(30))));
  const DatagramStats stats = (*server)->stats();
  EXPECT_EQ(stats.send_errors, 1u);
  EXPECT_EQ(stats.messages_sent, 1u);
  EXPECT_EQ(stats.errors.at("DATAGRAM_TOO_LARGE"), 1u);
  ASSERT_EQ(log.Snapshot().size(), 1u);
  EXPECT_EQ(log.Snapshot()[0].stage, "write");
}

TEST_P(DatagramServerTest, VerifyPeerRefuses) {
  auto echo = std::make_shared<Echo>();
  std::string refused_address;
  ErrorLog log;
  DatagramServerOptions options;
  options.on_error = log.Hook();
  absl::Mutex mu;
  options.verify_peer = [&](const PeerInfo& peer) {
    absl::MutexLock lock(&mu);
    if (peer.address == refused_address) return absl::PermissionDeniedError("not this one");
    return absl::OkStatus();
  };
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> good = DatagramSocket::Connect((*server)->address());
  absl::StatusOr<DatagramSocket> bad = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(good.ok() && bad.ok());
  {
    absl::MutexLock lock(&mu);
    refused_address = bad->address();
  }
  Serving serving(server->get());
  ASSERT_TRUE(bad->SendFrame(Env(1), absl::Cord("let me in"), Soon()).ok());
  ASSERT_TRUE(good->SendFrame(Env(2), absl::Cord("hello"), Soon()).ok());
  absl::StatusOr<ReceivedDatagram> d = good->ReceiveFrame(Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::string(d->message.payload), "hello");
  ReceivedDatagram nothing;
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      bad->ReceiveFrame(&nothing, absl::Now() + absl::Milliseconds(30))));
  ASSERT_TRUE(serving.Stop().ok());
  const DatagramStats stats = (*server)->stats();
  EXPECT_EQ(stats.refused, 1u);
  EXPECT_EQ(stats.messages_received, 1u);
  EXPECT_EQ(echo->calls.load(), 1);
  EXPECT_EQ(stats.errors.at("PEER_REFUSED"), 1u);
  const std::vector<ServerError> errors = log.Snapshot();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].stage, "verify_peer");
  EXPECT_EQ(errors[0].status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(errors[0].status.message()), HasSubstr("not this one"));
  EXPECT_THAT(std::string(errors[0].status.message()), HasSubstr(refused_address));
}

TEST_P(DatagramServerTest, HandleOne) {
  auto echo = std::make_shared<Echo>();
  DatagramServerOptions options;
  options.on_error = nullptr;
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Time start = absl::Now();
  absl::Status none = (*server)->HandleOne(start + absl::Milliseconds(30));
  EXPECT_TRUE(absl::IsDeadlineExceeded(none)) << none;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(29));

  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("one"), Soon()).ok());
  SendRaw(*client, "junk");
  ASSERT_TRUE(client->SendFrame(Env(2), absl::Cord("two"), Soon()).ok());
  // One datagram per call: good, bad (rejected, still OK), good.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*server)->HandleOne(Soon()).ok());
  EXPECT_EQ(echo->calls.load(), 2);
  EXPECT_EQ((*server)->stats().bad_datagrams, 1u);
  for (uint64_t want : {1u, 2u}) {
    absl::StatusOr<ReceivedDatagram> d = client->ReceiveFrame(Soon());
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->message.envelope.id(), want);
  }
  (*server)->Shutdown();
  EXPECT_TRUE(absl::IsUnavailable((*server)->HandleOne(Soon())));
  (*server)->Close();
  EXPECT_TRUE(absl::IsFailedPrecondition((*server)->HandleOne(Soon())));
  EXPECT_TRUE(absl::IsFailedPrecondition((*server)->ServeForever()));
}

TEST_P(DatagramServerTest, ShutdownFromAnotherThread) {
  auto echo = std::make_shared<Echo>();
  DatagramServerOptions options;
  options.threads = 2;
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create(Uri(), options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<bool> returned{false};
  absl::Status status;
  std::thread serve([&] {
    status = (*server)->ServeForever();
    returned = true;
  });
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("x"), Soon()).ok());
  ASSERT_TRUE(client->ReceiveFrame(Soon()).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition((*server)->HandleOne(Soon())))
      << "already serving on another thread";
  EXPECT_FALSE(returned.load());
  const absl::Time start = absl::Now();
  (*server)->Shutdown();
  (*server)->Shutdown();  // idempotent
  serve.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(status.ok()) << status;
  // Shut down for good: serving again returns at once.
  EXPECT_TRUE((*server)->ServeForever().ok());
}

TEST(DatagramServerSignalTest, ShutdownOnSigterm) {
  auto echo = std::make_shared<Echo>();
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create("udp://127.0.0.1:0", {}, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ShutdownOnSignals signals;
  ASSERT_TRUE(signals.status().ok()) << signals.status();
  ASSERT_TRUE(signals.Add(server->get()).ok());
  std::thread killer([] {
    absl::SleepFor(absl::Milliseconds(50));
    ::kill(::getpid(), SIGTERM);
  });
  const absl::Time start = absl::Now();
  EXPECT_TRUE((*server)->ServeForever().ok());
  killer.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(ShutdownOnSignals::last_signal(), SIGTERM);
}

TEST(DatagramServerUnixTest, CredentialsAndUnboundSenders) {
  auto echo = std::make_shared<Echo>();
  ErrorLog log;
  DatagramServerOptions options;
  options.datagram.receive_credentials = true;
  options.on_error = log.Hook();
  std::optional<PeerCredentials> verified;
  options.verify_peer = [&](const PeerInfo& peer) {
    verified = peer.credentials;
    return absl::OkStatus();
  };
  const std::string path = iotest::UniqueSocketPath("cred");
  absl::StatusOr<std::unique_ptr<DatagramServer>> server =
      DatagramServer::Create("unixgram:" + path, options, echo);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address(), "unixgram:" + path);

  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect((*server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("who"), Soon()).ok());
  ASSERT_TRUE((*server)->HandleOne(Soon()).ok());
  ASSERT_TRUE(verified.has_value());
  EXPECT_EQ(verified->pid, getpid());
  {
    absl::MutexLock lock(&echo->mu);
    ASSERT_EQ(echo->peers.size(), 1u);
    EXPECT_EQ(echo->peers[0].address, client->address());
    ASSERT_TRUE(echo->peers[0].credentials.has_value());
    EXPECT_EQ(echo->peers[0].credentials->uid, getuid());
  }

  // An unbound sender (no autobind) cannot be answered: a send error.
  // (With SO_PASSCRED on the server, Linux autobinds the sender anyway, so
  // use a second server without it.)
  options.datagram.receive_credentials = false;
  options.verify_peer = nullptr;
  const std::string path2 = iotest::UniqueSocketPath("unbound");
  absl::StatusOr<std::unique_ptr<DatagramServer>> plain =
      DatagramServer::Create("unixgram:" + path2, options, echo);
  ASSERT_TRUE(plain.ok()) << plain.status();
  absl::StatusOr<Socket> raw = Socket::Create(AF_UNIX, SOCK_DGRAM);
  ASSERT_TRUE(raw.ok());
  absl::StatusOr<Address> target = ParseAddress("unixgram:" + path2);
  absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveDatagramAddress(*target, false);
  ASSERT_TRUE(resolved.ok());
  const std::string frame = FrameBytes(2, "hello");
  ASSERT_EQ(::sendto(raw->fd(), frame.data(), frame.size(), MSG_NOSIGNAL,
                     resolved->front().get(), resolved->front().length()),
            static_cast<ssize_t>(frame.size()));
  ASSERT_TRUE((*plain)->HandleOne(Soon()).ok());
  const DatagramStats stats = (*plain)->stats();
  EXPECT_EQ(stats.messages_received, 1u);
  EXPECT_EQ(stats.send_errors, 1u);
  EXPECT_EQ(stats.errors.at("FAILED_PRECONDITION"), 1u);

  (*server)->Close();
  EXPECT_FALSE(PathExists(path)) << "Close() removes the unixgram path";
  plain->reset();
  EXPECT_FALSE(PathExists(path2)) << "destruction removes the unixgram path";
}

TEST(DatagramServerCreateTest, Errors) {
  auto echo = std::make_shared<Echo>();
  absl::StatusOr<std::unique_ptr<DatagramServer>> stream =
      DatagramServer::Create("tcp://127.0.0.1:0", {}, echo);
  ASSERT_FALSE(stream.ok());
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(stream.status().message()), HasSubstr("is a stream address"));

  absl::StatusOr<std::unique_ptr<DatagramServer>> null_handler =
      DatagramServer::Create("udp://127.0.0.1:0", {}, nullptr);
  ASSERT_FALSE(null_handler.ok());
  EXPECT_THAT(std::string(null_handler.status().message()), HasSubstr("handler is null"));

  DatagramServerOptions options;
  options.threads = 0;
  absl::StatusOr<std::unique_ptr<DatagramServer>> no_threads =
      DatagramServer::Create("udp://127.0.0.1:0", options, echo);
  ASSERT_FALSE(no_threads.ok());
  EXPECT_THAT(std::string(no_threads.status().message()), HasSubstr("threads 0"));

  options.threads = 1;
  options.datagram.max_datagram_size = 70000;
  absl::StatusOr<std::unique_ptr<DatagramServer>> too_big =
      DatagramServer::Create("udp://127.0.0.1:0", options, echo);
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("max_datagram_size 70000"));

  // The stream server refuses a datagram address.
  absl::StatusOr<std::unique_ptr<StreamServer>> stream_server = StreamServer::Create(
      "udp://127.0.0.1:0", {}, []() -> std::unique_ptr<StreamHandler> { return nullptr; });
  ASSERT_FALSE(stream_server.ok());
  EXPECT_EQ(stream_server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(stream_server.status().message()),
              HasSubstr("udp:// is a datagram address"));
  EXPECT_THAT(std::string(stream_server.status().message()), HasSubstr("DatagramServer"));
}

TEST(DatagramServerFdTest, DescriptorsReturnToBaseline) {
  const int before = iotest::CountOpenFds();
  ASSERT_GT(before, 0);
  {
    auto echo = std::make_shared<Echo>();
    DatagramServerOptions options;
    options.threads = 3;
    absl::StatusOr<std::unique_ptr<DatagramServer>> server =
        DatagramServer::Create("unixgram:" + iotest::UniqueSocketPath("fds"), options, echo);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ(iotest::CountOpenFds(), before + 2) << "the socket and the shutdown eventfd";
    {
      Serving serving(server->get());
      RunEchoClients((*server)->address(), 2, 20, /*any_order=*/true);
      EXPECT_EQ(iotest::CountOpenFds(), before + 4) << "two more receiving threads' dups";
    }
    EXPECT_EQ(iotest::CountOpenFds(), before + 2) << "the dups are closed when serving ends";
    (*server)->Close();
    EXPECT_EQ(iotest::CountOpenFds(), before + 1) << "only the eventfd, until destruction";
  }
  EXPECT_EQ(iotest::CountOpenFds(), before);
}

}  // namespace
}  // namespace lpframe
