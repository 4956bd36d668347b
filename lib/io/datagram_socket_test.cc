// Tests for lib/io/datagram_socket: one frame per datagram over UDP
// (127.0.0.1 and [::1]) and Unix datagram sockets (path and abstract name);
// the maximum datagram size on send and receive (MSG_TRUNC); bad datagrams
// (garbage, a truncated frame, trailing bytes, an over-limit declared
// length) rejected by code without affecting the good ones around them;
// stream code refusing datagram URIs; Unix path ownership; descriptors.
#include "lib/io/datagram_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/io/testing/datagram_fixture.h"
#include "lib/io/testing/transport_fixture.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

// Deterministic payload bytes depending on `seed` and position.
std::string Pattern(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return out;
}

Envelope Env(uint64_t id) {
  Envelope e;
  e.set_id(id);
  e.set_kind(KIND_MESSAGE);
  return e;
}

// --- Transports --------------------------------------------------------------

using iotest::FrameBytes;
using iotest::PathExists;
using iotest::SendRaw;
using Kind = iotest::DatagramKind;

class DatagramTransportTest : public iotest::DatagramKindTest {};

INSTANTIATE_TEST_SUITE_P(All, DatagramTransportTest,
                         testing::ValuesIn(iotest::AllDatagramKinds()),
                         iotest::DatagramKindName);

TEST_P(DatagramTransportTest, RoundTripAndReply) {
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_FALSE(absl::EndsWith(server->address(), ":0")) << server->address();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->peer(), server->address());
  if (GetParam() == Kind::kUnixgramPath || GetParam() == Kind::kUnixgramAbstract) {
    EXPECT_THAT(client->address(), StartsWith("unixgram-abstract:")) << "autobound";
  } else {
    EXPECT_THAT(client->address(), StartsWith("udp://"));
  }

  // Sizes up to the largest frame that fits in the default maximum.
  const size_t header_and_envelope = FrameBytes(1, "").size();
  const size_t largest = kDefaultMaxDatagramSize - FrameBytes(1, "").size();
  uint64_t id = 0;
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{30000}, largest}) {
    SCOPED_TRACE(absl::StrCat("payload ", size));
    ++id;  // ids below 128: the envelope's size does not change
    const std::string payload = Pattern(size, size);
    absl::Status sent = client->SendFrame(Env(id), absl::Cord(payload), Soon());
    ASSERT_TRUE(sent.ok()) << sent;
    ReceivedDatagram d;
    absl::Status received = server->ReceiveFrame(&d, Soon());
    ASSERT_TRUE(received.ok()) << received;
    EXPECT_EQ(d.message.envelope.id(), id);
    EXPECT_EQ(std::string(d.message.payload), payload);
    EXPECT_EQ(d.sender_uri(), client->address());
    EXPECT_EQ(d.size, header_and_envelope + size);

    // The reply goes back to the sender's address.
    sent = server->SendFrame(Env(id + 100), absl::Cord(payload), d.sender, Soon());
    ASSERT_TRUE(sent.ok()) << sent;
    absl::StatusOr<ReceivedDatagram> reply = client->ReceiveFrame(Soon());
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->message.envelope.id(), id + 100);
    EXPECT_EQ(std::string(reply->message.payload), payload);
    EXPECT_EQ(reply->sender_uri(), server->address());
  }
}

TEST_P(DatagramTransportTest, ManyDatagramsInOrderWithChecksum) {
  DatagramOptions options;
  options.checksum = true;
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  // A window of 8 datagrams: below net.unix.max_dgram_qlen (>= 10) and far
  // below the UDP receive buffer, so nothing is dropped or blocked.
  constexpr int kCount = 400;
  constexpr int kWindow = 8;
  int received = 0;
  for (int sent = 0; sent < kCount;) {
    for (int i = 0; i < kWindow && sent < kCount; ++i, ++sent) {
      ASSERT_TRUE(client->SendFrame(Env(sent), absl::Cord(Pattern(sent % 700, sent)), Soon()).ok());
    }
    for (; received < sent; ++received) {
      absl::StatusOr<ReceivedDatagram> d = server->ReceiveFrame(Soon());
      ASSERT_TRUE(d.ok()) << d.status();
      ASSERT_EQ(d->message.envelope.id(), static_cast<uint64_t>(received));
      ASSERT_EQ(std::string(d->message.payload), Pattern(received % 700, received));
    }
  }
}

TEST_P(DatagramTransportTest, OversizeSendIsRefusedAndNothingIsSent) {
  DatagramOptions options;
  options.max_datagram_size = 1000;
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  const size_t overhead = FrameBytes(7, "").size();
  const size_t fits = 1000 - overhead;

  absl::Status refused = client->SendFrame(Env(7), absl::Cord(Pattern(fits + 1, 1)), Soon());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(GetFrameErrorCode(refused), FrameErrorCode::kDatagramTooLarge) << refused;
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("is 1001 bytes"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("maximum datagram size of 1000 bytes"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("nothing was sent"));
  ReceivedDatagram d;
  absl::Status none = server->ReceiveFrame(&d, absl::Now() + absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(none)) << none;
  EXPECT_FALSE(IsBadDatagram(none));

  // Exactly the maximum is sent.
  ASSERT_TRUE(client->SendFrame(Env(8), absl::Cord(Pattern(fits, 2)), Soon()).ok());
  ASSERT_TRUE(server->ReceiveFrame(&d, Soon()).ok());
  EXPECT_EQ(d.size, 1000u);
  EXPECT_EQ(d.message.envelope.id(), 8u);
}

TEST_P(DatagramTransportTest, BadDatagramsAreRejectedByCodeAndGoodOnesStillArrive) {
  DatagramOptions server_options;
  server_options.max_datagram_size = 2000;
  server_options.limits.max_payload_bytes = 1500;
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri(), server_options);
  ASSERT_TRUE(server.ok()) << server.status();
  DatagramOptions client_options;  // default limits: can send what the server refuses
  absl::StatusOr<DatagramSocket> client =
      DatagramSocket::Connect(server->address(), client_options);
  ASSERT_TRUE(client.ok()) << client.status();

  const std::string good = FrameBytes(1, "good");
  const std::string frame100 = FrameBytes(2, Pattern(100, 3));
  struct Bad {
    std::string name;
    std::string bytes;
    FrameErrorCode code;
    std::vector<std::string> must_contain;
  };
  const std::vector<Bad> bad = {
      {"garbage", "this is not a frame at all", FrameErrorCode::kBadMagic, {}},
      {"http", "GET / HTTP/1.1\r\n\r\n", FrameErrorCode::kForeignProtocol, {}},
      {"truncated payload", frame100.substr(0, frame100.size() - 10),
       FrameErrorCode::kDatagramTruncated, {"ends inside its frame", "TRUNCATED_PAYLOAD"}},
      {"truncated header", good.substr(0, 10), FrameErrorCode::kDatagramTruncated,
       {"TRUNCATED_HEADER"}},
      {"empty", "", FrameErrorCode::kDatagramTruncated, {"is empty"}},
      {"trailing garbage", good + "xyz", FrameErrorCode::kDatagramTrailingBytes,
       {"bytes after its frame"}},
      {"two frames", good + good, FrameErrorCode::kDatagramTrailingBytes, {"exactly one frame"}},
      {"oversize (MSG_TRUNC)", FrameBytes(3, Pattern(1990, 4)), FrameErrorCode::kDatagramTruncated,
       {"more than the maximum datagram size of 2000 bytes"}},
      {"declared payload over the limit", FrameBytes(4, Pattern(1600, 5)).substr(0, 200),
       FrameErrorCode::kPayloadTooLarge, {"stream offset 0", "1500"}},
  };
  uint64_t id = 100;
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    // A good datagram before the bad one (so the decoder has history), the
    // bad one, and a good one after it.
    ASSERT_TRUE(client->SendFrame(Env(++id), absl::Cord("before"), Soon()).ok());
    SendRaw(*client, b.bytes);
    ASSERT_TRUE(client->SendFrame(Env(++id), absl::Cord("after"), Soon()).ok());

    ReceivedDatagram d;
    ASSERT_TRUE(server->ReceiveFrame(&d, Soon()).ok());
    EXPECT_EQ(d.message.envelope.id(), id - 1);
    EXPECT_EQ(std::string(d.message.payload), "before");

    absl::Status rejected = server->ReceiveFrame(&d, Soon());
    ASSERT_FALSE(rejected.ok());
    EXPECT_TRUE(IsBadDatagram(rejected)) << rejected;
    EXPECT_EQ(GetFrameErrorCode(rejected), b.code) << rejected;
    EXPECT_EQ(d.sender_uri(), client->address());
    EXPECT_EQ(d.size, b.bytes.size());
    EXPECT_THAT(std::string(rejected.message()), HasSubstr(client->address()));
    for (const std::string& part : b.must_contain) {
      EXPECT_THAT(std::string(rejected.message()), HasSubstr(part));
    }

    ASSERT_TRUE(server->ReceiveFrame(&d, Soon()).ok());
    EXPECT_EQ(d.message.envelope.id(), id);
    EXPECT_EQ(std::string(d.message.payload), "after");
  }
}

TEST_P(DatagramTransportTest, ReceiveDeadlines) {
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri());
  ASSERT_TRUE(server.ok()) << server.status();
  ReceivedDatagram d;
  absl::Status now = server->ReceiveFrame(&d, absl::InfinitePast());
  EXPECT_TRUE(absl::IsDeadlineExceeded(now)) << now;
  EXPECT_EQ(GetFrameErrorCode(now), FrameErrorCode::kNone);
  const absl::Time start = absl::Now();
  absl::Status later = server->ReceiveFrame(&d, start + absl::Milliseconds(30));
  EXPECT_TRUE(absl::IsDeadlineExceeded(later)) << later;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(29));
}

TEST_P(DatagramTransportTest, DuplicateReceivesFromTheSameSocket) {
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> dup = server->Duplicate();
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->address(), server->address());
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("one"), Soon()).ok());
  ASSERT_TRUE(client->SendFrame(Env(2), absl::Cord("two"), Soon()).ok());
  absl::StatusOr<ReceivedDatagram> a = server->ReceiveFrame(Soon());
  absl::StatusOr<ReceivedDatagram> b = dup->ReceiveFrame(Soon());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->message.envelope.id(), 1u);
  EXPECT_EQ(b->message.envelope.id(), 2u);
  // The duplicate answers from the same address.
  ASSERT_TRUE(dup->SendFrame(Env(3), absl::Cord("three"), b->sender, Soon()).ok());
  absl::StatusOr<ReceivedDatagram> reply = client->ReceiveFrame(Soon());
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->sender_uri(), server->address());
}

TEST_P(DatagramTransportTest, DialectsCarryOneBodyPerDatagram) {
  for (Dialect dialect : {Dialect::kVarint32, Dialect::kU32BE}) {
    SCOPED_TRACE(DialectName(dialect));
    DatagramOptions options;
    options.dialect = dialect;
    absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind(ListenUri(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address(), options);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->SendFrame(Envelope(), absl::Cord("body"), Soon()).ok());
    absl::StatusOr<ReceivedDatagram> d = server->ReceiveFrame(Soon());
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(std::string(d->message.payload), "body");
    EXPECT_EQ(d->size, std::string("body").size() + 1 + (dialect == Dialect::kU32BE ? 3 : 0));
  }
}

// --- Options and addresses ---------------------------------------------------

TEST(DatagramSocketTest, InvalidMaxDatagramSize) {
  DatagramOptions options;
  options.max_datagram_size = 0;
  absl::StatusOr<DatagramSocket> zero = DatagramSocket::Bind("udp://127.0.0.1:0", options);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("max_datagram_size 0"));

  options.max_datagram_size = 65508;
  absl::StatusOr<DatagramSocket> v4 = DatagramSocket::Bind("udp://127.0.0.1:0", options);
  ASSERT_FALSE(v4.ok());
  EXPECT_THAT(std::string(v4.status().message()), HasSubstr("max_datagram_size 65508"));
  EXPECT_THAT(std::string(v4.status().message()), HasSubstr("1 to 65507"));
  EXPECT_THAT(std::string(v4.status().message()), HasSubstr("IPv4"));
  absl::StatusOr<DatagramSocket> connect4 = DatagramSocket::Connect("udp://127.0.0.1:9", options);
  EXPECT_FALSE(connect4.ok());

  if (iotest::HostHasUdp6Loopback()) {
    options.max_datagram_size = kMaxUdp6DatagramSize;
    EXPECT_TRUE(DatagramSocket::Bind("udp://[::1]:0", options).ok());
    options.max_datagram_size = kMaxUdp6DatagramSize + 1;
    EXPECT_FALSE(DatagramSocket::Bind("udp://[::1]:0", options).ok());
  }

  options.max_datagram_size = kMaxConfigurableDatagramSize + 1;
  absl::StatusOr<DatagramSocket> unix_too_big =
      DatagramSocket::Bind("unixgram-abstract:" + iotest::UniqueName("lpframe-big"), options);
  ASSERT_FALSE(unix_too_big.ok());
  EXPECT_THAT(std::string(unix_too_big.status().message()), HasSubstr("16777216"));

  options.max_datagram_size = kDefaultMaxDatagramSize;
  options.limits.max_envelope_bytes = FrameLimits::kMaxEnvelopeLimit + 1;
  EXPECT_FALSE(DatagramSocket::Bind("udp://127.0.0.1:0", options).ok());
}

// A Unix datagram larger than the default 65507 works once configured.
TEST(DatagramSocketTest, LargeUnixDatagrams) {
  DatagramOptions options;
  options.max_datagram_size = 150000;
  absl::StatusOr<DatagramSocket> server =
      DatagramSocket::Bind("unixgram-abstract:" + iotest::UniqueName("lpframe-large"), options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string payload = Pattern(140000, 9);
  absl::Status sent = client->SendFrame(Env(1), absl::Cord(payload), Soon());
  if (!sent.ok()) {
    // Only if net.core.wmem_max is below ~150 KB: then the typed error.
    EXPECT_EQ(GetFrameErrorCode(sent), FrameErrorCode::kDatagramTooLarge) << sent;
    GTEST_SKIP() << "the kernel refused a 140 KB Unix datagram: " << sent;
  }
  absl::StatusOr<ReceivedDatagram> d = server->ReceiveFrame(Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::string(d->message.payload), payload);
}

TEST(DatagramSocketTest, StreamAndDatagramUrisAreNotMixedUp) {
  for (const char* uri : {"tcp://127.0.0.1:0", "unix:/tmp/x.sock", "unix-abstract:x"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<DatagramSocket> bound = DatagramSocket::Bind(uri);
    ASSERT_FALSE(bound.ok());
    EXPECT_EQ(bound.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bound.status().message()), HasSubstr("is a stream address"));
    absl::StatusOr<DatagramSocket> connected = DatagramSocket::Connect(uri);
    ASSERT_FALSE(connected.ok());
    EXPECT_THAT(std::string(connected.status().message()), HasSubstr("is a stream address"));
  }
  for (const char* uri : {"udp://127.0.0.1:0", "unixgram:/tmp/x.sock", "unixgram-abstract:x"}) {
    SCOPED_TRACE(uri);
    absl::StatusOr<Listener> listener = Listener::Listen(uri);
    ASSERT_FALSE(listener.ok());
    EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(listener.status().message()), HasSubstr("is a datagram address"));
    absl::StatusOr<FramedConnection> dialed =
        FramedConnection::Dial(uri, {}, absl::Now() + absl::Seconds(1));
    ASSERT_FALSE(dialed.ok());
    EXPECT_EQ(dialed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(dialed.status().message()), HasSubstr("is a datagram address"));
    EXPECT_THAT(std::string(dialed.status().message()), HasSubstr("DatagramSocket"));
  }
  EXPECT_FALSE(PathExists("/tmp/x.sock"));
}

TEST(DatagramSocketTest, ConnectToNothing) {
  absl::StatusOr<DatagramSocket> client =
      DatagramSocket::Connect("unixgram:" + iotest::UniqueSocketPath("nobody"));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable) << client.status();
}

// A connected UDP client learns of a closed port (ICMP) as IO_ERROR.
TEST(DatagramSocketTest, UdpPortUnreachableIsAnIoError) {
  std::string address;
  {
    absl::StatusOr<DatagramSocket> gone = DatagramSocket::Bind("udp://127.0.0.1:0");
    ASSERT_TRUE(gone.ok());
    address = gone->address();
  }
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(address);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("x"), Soon()).ok());
  ReceivedDatagram d;
  absl::Status status = client->ReceiveFrame(&d, absl::Now() + absl::Seconds(2));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(GetFrameErrorCode(status), FrameErrorCode::kIoError) << status;
  EXPECT_FALSE(IsBadDatagram(status));
}

TEST(DatagramSocketTest, UnixPathOwnership) {
  const std::string path = iotest::UniqueSocketPath("owner");
  {
    absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind("unixgram:" + path);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ(server->address(), "unixgram:" + path);
    EXPECT_TRUE(PathExists(path));
    // A live socket holds the path.
    absl::StatusOr<DatagramSocket> second = DatagramSocket::Bind("unixgram:" + path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
    EXPECT_THAT(std::string(second.status().message()), HasSubstr("live socket"));
    // A duplicate does not remove the path.
    { absl::StatusOr<DatagramSocket> dup = server->Duplicate(); }
    EXPECT_TRUE(PathExists(path));
    server->Close();
    EXPECT_FALSE(PathExists(path)) << "Close() removes the path";
    server->Close();  // idempotent
  }
  {
    // A stale socket file (its socket closed without removing it) is replaced.
    absl::StatusOr<Socket> raw = Socket::Create(AF_UNIX, SOCK_DGRAM);
    ASSERT_TRUE(raw.ok());
    absl::StatusOr<Address> a = ParseAddress("unixgram:" + path);
    absl::StatusOr<std::vector<SocketAddress>> sa = ResolveDatagramAddress(*a, true);
    ASSERT_TRUE(sa.ok());
    ASSERT_EQ(::bind(raw->fd(), sa->front().get(), sa->front().length()), 0);
    raw->Close();
    ASSERT_TRUE(PathExists(path));
    absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind("unixgram:" + path);
    ASSERT_TRUE(server.ok()) << server.status();
  }
  EXPECT_FALSE(PathExists(path)) << "the destructor removes the path";
  {
    // A regular file is never removed.
    std::ofstream(path) << "precious";
    absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind("unixgram:" + path);
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_THAT(std::string(server.status().message()), HasSubstr("not a socket"));
    EXPECT_TRUE(PathExists(path));
    ::unlink(path.c_str());
  }
}

TEST(DatagramSocketTest, ClientWithItsOwnUnixPath) {
  absl::StatusOr<DatagramSocket> server =
      DatagramSocket::Bind("unixgram-abstract:" + iotest::UniqueName("lpframe-srv"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string client_path = iotest::UniqueSocketPath("client");
  DatagramOptions options;
  options.local_address = "unixgram:" + client_path;
  {
    absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address(), options);
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(client->address(), "unixgram:" + client_path);
    ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("hi"), Soon()).ok());
    absl::StatusOr<ReceivedDatagram> d = server->ReceiveFrame(Soon());
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->sender_uri(), "unixgram:" + client_path);
    ASSERT_TRUE(server->SendFrame(Env(2), absl::Cord("back"), d->sender, Soon()).ok());
    absl::StatusOr<ReceivedDatagram> reply = client->ReceiveFrame(Soon());
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(std::string(reply->message.payload), "back");
  }
  EXPECT_FALSE(PathExists(client_path)) << "the client removes its own path";
}

TEST(DatagramSocketTest, UnixCredentials) {
  DatagramOptions options;
  options.receive_credentials = true;
  absl::StatusOr<DatagramSocket> server =
      DatagramSocket::Bind("unixgram-abstract:" + iotest::UniqueName("lpframe-cred"), options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("who"), Soon()).ok());
  absl::StatusOr<ReceivedDatagram> d = server->ReceiveFrame(Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->credentials.has_value());
  EXPECT_EQ(d->credentials->pid, getpid());
  EXPECT_EQ(d->credentials->uid, getuid());
}

TEST(DatagramSocketTest, ClosedSocketErrors) {
  absl::StatusOr<DatagramSocket> server = DatagramSocket::Bind("udp://127.0.0.1:0");
  ASSERT_TRUE(server.ok());
  server->Close();
  EXPECT_FALSE(server->valid());
  ReceivedDatagram d;
  EXPECT_EQ(GetFrameErrorCode(server->ReceiveFrame(&d, Soon())),
            FrameErrorCode::kConnectionClosed);
  EXPECT_EQ(GetFrameErrorCode(server->SendFrame(Env(1), absl::Cord("x"), Soon())),
            FrameErrorCode::kConnectionClosed);
  EXPECT_FALSE(server->Duplicate().ok());
}

TEST(DatagramSocketTest, DescriptorsReturnToBaseline) {
  const int before = iotest::CountOpenFds();
  ASSERT_GT(before, 0);
  {
    absl::StatusOr<DatagramSocket> server =
        DatagramSocket::Bind("unixgram:" + iotest::UniqueSocketPath("fds"));
    ASSERT_TRUE(server.ok());
    absl::StatusOr<DatagramSocket> dup = server->Duplicate();
    absl::StatusOr<DatagramSocket> udp = DatagramSocket::Bind("udp://127.0.0.1:0");
    absl::StatusOr<DatagramSocket> client = DatagramSocket::Connect(server->address());
    ASSERT_TRUE(dup.ok() && udp.ok() && client.ok());
    ASSERT_TRUE(client->SendFrame(Env(1), absl::Cord("x"), Soon()).ok());
    ASSERT_TRUE(server->ReceiveFrame(Soon()).ok());
    DatagramSocket moved = *std::move(client);
    EXPECT_EQ(iotest::CountOpenFds(), before + 4);
  }
  EXPECT_EQ(iotest::CountOpenFds(), before);
}

}  // namespace
}  // namespace lpframe
