// Tests for FramedConnection over every transport of the fixture
// (socketpair, TCP 127.0.0.1, TCP [::1], Unix path, abstract Unix name):
// round trips of 0 B to 64 MiB in both read modes, batching, every way a
// connection ends (clean close, close mid-frame, idle and stall timeouts,
// foreign bytes, a closed peer), caller deadlines that are not fatal,
// refused over-limit sends, half-close, counters, dialects and checksums.
#include "lib/io/framed_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "lib/dialect.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/frame_limits.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/message.h"
#include "lib/testing/prefix_read_cases.h"
#include "lib/wire_format.h"

namespace lpframe {

// Readable gtest output for FrameErrorCode values.
void PrintTo(FrameErrorCode code, std::ostream* os) { *os << FrameErrorCodeName(code); }

namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::lpframe::iotest::ConnectedConnections;
using ::lpframe::iotest::ConnectedSockets;
using ::lpframe::iotest::PatternCord;
using ::lpframe::iotest::PatternMismatch;
using ::lpframe::iotest::TransportKind;
using ::lpframe::iotest::TransportTest;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;
const absl::Duration kSafety = absl::Seconds(20);

absl::Time In(absl::Duration d) { return absl::Now() + d; }

Envelope TestEnvelope(uint64_t id) {
  Envelope e;
  e.set_id(id);
  e.set_kind(KIND_REQUEST);
  e.set_content_type("application/octet-stream");
  (*e.mutable_metadata())["seq"] = absl::StrCat(id);
  (*e.mutable_metadata())["bin"] = std::string("\0\xff\x01", 3);
  return e;
}

// Payload of message `id`: pattern bytes salted by the id.
Message TestMessage(uint64_t id, uint64_t size) {
  Message m;
  m.envelope = TestEnvelope(id);
  m.payload = PatternCord(size, static_cast<uint32_t>(id));
  return m;
}

// Checks `got` is TestMessage(id, size).
void ExpectTestMessage(const Message& got, uint64_t id, uint64_t size) {
  EXPECT_TRUE(MessageDifferencer::Equals(got.envelope, TestEnvelope(id)))
      << "envelope: " << got.envelope.ShortDebugString();
  EXPECT_EQ(PatternMismatch(got.payload, size, static_cast<uint32_t>(id)), "")
      << "payload of message " << id;
}

// The bytes FramedConnection puts on the wire for `m` with `options`.
std::string WireBytes(const ConnectionOptions& options, const Message& m) {
  EncoderOptions e;
  e.dialect = options.dialect;
  e.limits = options.limits;
  e.checksum = options.checksum;
  absl::StatusOr<EncodedFrame> frame = FrameEncoder(e).Encode(m);
  if (!frame.ok()) {
    ADD_FAILURE() << frame.status();
    return "";
  }
  return frame->ToString();
}

ConnectionOptions WithReadMode(ReadMode mode) {
  ConnectionOptions o;
  o.read_mode = mode;
  return o;
}

const char* ReadModeName(ReadMode mode) {
  return mode == ReadMode::kDirect ? "kDirect" : "kFixed";
}

// Expects `s` to be the fatal error `code` (by FrameErrorCode and canonical
// code).
void ExpectFrameError(const absl::Status& s, FrameErrorCode code) {
  EXPECT_EQ(GetFrameErrorCode(s), code) << s;
  EXPECT_EQ(s.code(), CanonicalCodeFor(code)) << s;
}

// After a fatal error: closed, and later calls say so naming the first error.
void ExpectClosedAfter(FramedConnection& c, FrameErrorCode first) {
  EXPECT_TRUE(c.closed());
  const std::string first_name(FrameErrorCodeName(first));
  absl::StatusOr<Message> again = c.Receive(In(kSafety));
  ASSERT_FALSE(again.ok());
  ExpectFrameError(again.status(), FrameErrorCode::kConnectionClosed);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("closed after"));
  if (first != FrameErrorCode::kIoError) {
    EXPECT_THAT(std::string(again.status().message()), HasSubstr(first_name));
  }
  absl::Status send = c.Send(TestEnvelope(99), absl::Cord("x"));
  ExpectFrameError(send, FrameErrorCode::kConnectionClosed);
  ExpectFrameError(c.Flush(), FrameErrorCode::kConnectionClosed);
  auto it = c.stats().errors.find(first_name);
  ASSERT_NE(it, c.stats().errors.end()) << "errors[" << first_name << "] not counted";
  EXPECT_EQ(it->second, 1u);
  EXPECT_EQ(c.stats().errors.size(), 1u) << "only the first error is counted";
}

class FramedConnectionTest : public TransportTest {
 protected:
  // A connected pair with the given options; first is the client side.
  std::pair<FramedConnection, FramedConnection> Pair(const ConnectionOptions& a = {},
                                                     const ConnectionOptions& b = {}) {
    absl::StatusOr<std::pair<FramedConnection, FramedConnection>> p =
        ConnectedConnections(kind(), a, b);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      auto sockets = Socket::Pair(SOCK_STREAM);
      return {FramedConnection(std::move(sockets->first), a),
              FramedConnection(std::move(sockets->second), b)};
    }
    return *std::move(p);
  }
  // A raw socket (first) and a FramedConnection (second) with `options`.
  std::pair<Socket, FramedConnection> RawAndFramed(const ConnectionOptions& options = {}) {
    absl::StatusOr<std::pair<Socket, Socket>> p = ConnectedSockets(kind());
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      p = Socket::Pair(SOCK_STREAM);
    }
    return {std::move(p->first), FramedConnection(std::move(p->second), options)};
  }
};

// --- Round trips -------------------------------------------------------------

TEST_P(FramedConnectionTest, RoundTripPayloadSizesInBothReadModes) {
  const uint64_t kSizes[] = {0, 1, 64, 4096, 65536, kMiB, 16 * kMiB};
  for (ReadMode mode : {ReadMode::kDirect, ReadMode::kFixed}) {
    SCOPED_TRACE(ReadModeName(mode));
    auto [sender, receiver] = Pair({}, WithReadMode(mode));
    std::thread send_thread([&, &sender = sender] {
      for (size_t i = 0; i < std::size(kSizes); ++i) {
        absl::Status s = sender.Send(TestMessage(i + 1, kSizes[i]), In(kSafety));
        EXPECT_TRUE(s.ok()) << "send " << kSizes[i] << ": " << s;
      }
      sender.Close();
    });
    uint64_t payload_bytes = 0;
    for (size_t i = 0; i < std::size(kSizes); ++i) {
      SCOPED_TRACE(absl::StrCat("payload of ", kSizes[i], " bytes"));
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, i + 1, kSizes[i]);
      payload_bytes += kSizes[i];
    }
    absl::StatusOr<Message> end = receiver.Receive(In(kSafety));
    ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
    send_thread.join();
    const ConnectionStats& rs = receiver.stats();
    EXPECT_EQ(rs.messages_received, std::size(kSizes));
    EXPECT_EQ(rs.bytes_received, sender.stats().bytes_sent);
    const uint64_t read_size = receiver.options().read_size;
    if (mode == ReadMode::kFixed) {
      EXPECT_GE(rs.read_calls, payload_bytes / read_size)
          << "kFixed never reads more than read_size bytes";
    } else {
      EXPECT_LT(rs.read_calls, payload_bytes / read_size / 2)
          << "kDirect reads large payloads with large reads";
    }
  }
}

// kDirect: in and right after a frame with a large payload, a read through
// the input buffer takes the rest of the frame (a short tail, a checksum
// trailer) and the prefix of a frame like it, so every payload after the
// first is read straight into its storage (lib/testing/prefix_read_cases.h).
// The frames are in the socket before the first Receive() (about 41 KiB:
// within TCP's first receive window).
TEST_P(FramedConnectionTest, AfterALargePayloadTheNextOnesAreReadStraightIntoStorage) {
  constexpr uint64_t kCount = 5;  // ids 1..5: envelopes of one size
  for (const testing_util::PrefixReadCase& c : testing_util::kPrefixReadCases) {
    SCOPED_TRACE(c.name);
    ConnectionOptions options;
    options.read_size = testing_util::kPrefixReadSize;
    options.checksum = c.checksum;
    options.pool = BlockPool::Create(testing_util::kPrefixReadBlock, 1 << 20);
    auto [sender, receiver] = Pair(options, options);
    for (uint64_t id = 1; id <= kCount; ++id) {
      ASSERT_TRUE(sender.Send(TestMessage(id, c.size), In(kSafety)).ok());
    }
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 1, c.size);
    const uint64_t first = receiver.stats().direct_bytes;
    for (uint64_t id = 2; id <= kCount; ++id) {
      m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, id, c.size);
    }
    const uint64_t rest = receiver.stats().direct_bytes - first;
    EXPECT_LE(rest, (kCount - 1) * c.size);
    EXPECT_GE(rest, testing_util::MinDirectPayloadBytes(c, kCount - 1));
  }
}

// kFixed keeps every read at read_size: a payload's first and last read go
// through the input buffer, the body straight into storage.
TEST_P(FramedConnectionTest, FixedReadsCountTheBodyAsDirect) {
  constexpr uint64_t kCount = 4;
  const uint64_t size = 64 << 10;
  auto [sender, receiver] = Pair({}, WithReadMode(ReadMode::kFixed));
  std::thread send_thread([&, &sender = sender] {
    for (uint64_t id = 1; id <= kCount; ++id) {
      EXPECT_TRUE(sender.Send(TestMessage(id, size), In(kSafety)).ok());
    }
  });
  for (uint64_t id = 1; id <= kCount; ++id) {
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, id, size);
  }
  send_thread.join();
  const uint64_t read_size = receiver.options().read_size;
  EXPECT_LE(receiver.stats().direct_bytes, kCount * size);
  EXPECT_GE(receiver.stats().direct_bytes, kCount * (size - 2 * read_size));
}

// The peer closes, or stalls, right after the prefix of a frame like the
// last large one: the smaller read changes neither error. (Everything is in
// the socket before Receive(), so the first frame cannot stall.)
TEST_P(FramedConnectionTest, AStreamThatEndsOrStallsAfterAPrefixIsTruncationOrStall) {
  const uint64_t size = 20000;  // at least 2 * read_size
  const std::string second = WireBytes({}, TestMessage(2, size));
  const size_t prefix = second.size() - size;
  for (const bool close : {true, false}) {
    SCOPED_TRACE(close ? "the peer closes" : "the peer stalls");
    ConnectionOptions options;
    options.stall_timeout = absl::Milliseconds(100);
    auto [raw, framed] = RawAndFramed(options);
    ASSERT_TRUE(raw.WriteAll(WireBytes({}, TestMessage(1, size)), In(kSafety)).ok());
    ASSERT_TRUE(raw.WriteAll(absl::string_view(second).substr(0, prefix), In(kSafety)).ok());
    if (close) raw.Close();
    absl::StatusOr<Message> m = framed.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 1, size);
    absl::StatusOr<Message> cut = framed.Receive(In(kSafety));
    ExpectFrameError(cut.status(), close ? FrameErrorCode::kTruncatedPayload
                                         : FrameErrorCode::kStallTimeout);
    EXPECT_THAT(cut.status().message(),
                HasSubstr(close ? "had 0 of 20000 payload bytes" : "payload (0 of 20000 bytes)"));
  }
}

// The frames after a large payload need not be like it: longer and shorter
// envelopes, small messages and larger payloads all arrive whole, in both
// read modes.
TEST_P(FramedConnectionTest, FramesUnlikeTheLastLargeOneArriveWhole) {
  struct Step {
    uint64_t id;  // TestEnvelope(id) grows with the digits of id
    uint64_t size;
  } const kSteps[] = {{1, 64 << 10}, {2, 64 << 10},  {10, 64 << 10}, {1000, 20000},
                      {5, 64 << 10}, {6, 0},         {7, 64},        {8, 1 << 20},
                      {9, 17000},    {11, 64 << 10}, {3, 16383},     {4, 70000},
                      {12, 16384},   {13, 16384},    {14, (1 << 20) + 3}, {15, 64 << 10}};
  for (ReadMode mode : {ReadMode::kDirect, ReadMode::kFixed}) {
    SCOPED_TRACE(ReadModeName(mode));
    auto [sender, receiver] = Pair({}, WithReadMode(mode));
    std::thread send_thread([&, &sender = sender] {
      for (const Step& s : kSteps) {
        EXPECT_TRUE(sender.Send(TestMessage(s.id, s.size), In(kSafety)).ok());
      }
      sender.Close();
    });
    for (const Step& s : kSteps) {
      SCOPED_TRACE(absl::StrCat("message ", s.id, " of ", s.size, " bytes"));
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, s.id, s.size);
    }
    ExpectFrameError(receiver.Receive(In(kSafety)).status(), FrameErrorCode::kEndOfStream);
    send_thread.join();
    EXPECT_EQ(receiver.stats().bytes_received, sender.stats().bytes_sent);
  }
}

TEST_P(FramedConnectionTest, RoundTrip64MiBMessage) {
  const uint64_t size = FrameLimits::kDefaultMaxPayloadBytes;  // the default limit, 64 MiB
  ASSERT_EQ(size, 64 * kMiB);
  auto [sender, receiver] = Pair();
  const Message m = TestMessage(64, size);
  std::thread send_thread([&, &sender = sender] {
    absl::Status s = sender.Send(m, In(kSafety));
    EXPECT_TRUE(s.ok()) << s;
  });
  absl::StatusOr<Message> got = receiver.Receive(In(kSafety));
  send_thread.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectTestMessage(*got, 64, size);
  EXPECT_EQ(receiver.stats().bytes_received, sender.stats().bytes_sent);
}

TEST_P(FramedConnectionTest, ManySmallMessagesAreCoalesced) {
  constexpr int kCount = 10000;
  auto [sender, receiver] = Pair();
  std::thread send_thread([&, &sender = sender] {
    for (int i = 0; i < kCount; ++i) {
      Envelope e;
      e.set_id(i + 1);
      absl::Status s = sender.Queue(e, absl::Cord(absl::StrCat("small message #", i)),
                                    In(kSafety));
      if (!s.ok()) {
        ADD_FAILURE() << "queue " << i << ": " << s;
        return;
      }
    }
    absl::Status s = sender.Flush(In(kSafety));
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(sender.queued_bytes(), 0u);
  });
  for (int i = 0; i < kCount; ++i) {
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << "message " << i << ": " << m.status();
    ASSERT_EQ(m->envelope.id(), static_cast<uint64_t>(i + 1)) << "out of order";
    ASSERT_EQ(std::string(m->payload), absl::StrCat("small message #", i));
  }
  send_thread.join();
  const ConnectionStats& ss = sender.stats();
  EXPECT_EQ(ss.messages_sent, static_cast<uint64_t>(kCount));
  EXPECT_EQ(ss.bytes_sent, receiver.stats().bytes_received);
  // One write per 64 KiB batch (plus partial writes), not one per message.
  EXPECT_LE(ss.write_calls, static_cast<uint64_t>(kCount / 50))
      << "write_calls=" << ss.write_calls << " for " << kCount << " messages";
  EXPECT_LE(receiver.stats().read_calls, static_cast<uint64_t>(kCount / 20))
      << "many messages per read";
}

TEST_P(FramedConnectionTest, ReceiveFlushesQueuedOutputFirst) {
  auto [client, server] = Pair();
  ASSERT_TRUE(client.Queue(TestMessage(1, 10)).ok());
  EXPECT_GT(client.queued_bytes(), 0u) << "a small message waits for the batch";
  std::thread server_thread([&, &server = server] {
    absl::StatusOr<Message> request = server.Receive(In(kSafety));
    ASSERT_TRUE(request.ok()) << request.status();
    ExpectTestMessage(*request, 1, 10);
    EXPECT_TRUE(server.Send(TestMessage(2, 20), In(kSafety)).ok());
  });
  absl::StatusOr<Message> reply = client.Receive(In(kSafety));
  server_thread.join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ExpectTestMessage(*reply, 2, 20);
  EXPECT_EQ(client.queued_bytes(), 0u);
}

// --- Ends of a connection ----------------------------------------------------

TEST_P(FramedConnectionTest, PeerClosingMidFrameIsTruncation) {
  struct Case {
    const char* name;
    uint64_t payload_size;
    bool checksum;
    // Bytes of the encoded frame the peer writes before closing: a function
    // of the frame's size and its prefix (header + envelope) size.
    std::function<size_t(size_t frame, size_t prefix)> cut;
    FrameErrorCode code;
  };
  const Case cases[] = {
      {"inside the header", 1000, false, [](size_t, size_t) { return size_t{10}; },
       FrameErrorCode::kTruncatedHeader},
      {"inside the envelope", 1000, false, [](size_t, size_t) { return kHeaderSize + 3; },
       FrameErrorCode::kTruncatedEnvelope},
      {"inside a small payload", 1000, false, [](size_t, size_t prefix) { return prefix + 400; },
       FrameErrorCode::kTruncatedPayload},
      {"half of a 1 MiB payload", kMiB, false, [](size_t frame, size_t) { return frame / 2; },
       FrameErrorCode::kTruncatedPayload},
      {"inside the checksum trailer", 1000, true, [](size_t frame, size_t) { return frame - 3; },
       FrameErrorCode::kTruncatedTrailer},
  };
  for (const Case& c : cases) {
    for (ReadMode mode : {ReadMode::kDirect, ReadMode::kFixed}) {
      SCOPED_TRACE(absl::StrCat(c.name, ", ", ReadModeName(mode)));
      ConnectionOptions options = WithReadMode(mode);
      options.checksum = c.checksum;
      auto [raw, receiver] = RawAndFramed(options);
      const Message m = TestMessage(7, c.payload_size);
      const std::string frame = WireBytes(options, m);
      const size_t prefix = kHeaderSize + m.envelope.ByteSizeLong();
      const size_t cut = c.cut(frame.size(), prefix);
      ASSERT_LT(cut, frame.size());
      std::thread writer([&, &raw = raw] {
        // A complete message first, then part of the next.
        EXPECT_TRUE(raw.WriteAll(frame, In(kSafety)).ok());
        EXPECT_TRUE(raw.WriteAll(absl::string_view(frame).substr(0, cut), In(kSafety)).ok());
        raw.Close();
      });
      absl::StatusOr<Message> first = receiver.Receive(In(kSafety));
      ASSERT_TRUE(first.ok()) << first.status();
      ExpectTestMessage(*first, 7, c.payload_size);
      absl::StatusOr<Message> second = receiver.Receive(In(kSafety));
      writer.join();
      ASSERT_FALSE(second.ok());
      ExpectFrameError(second.status(), c.code);
      EXPECT_EQ(second.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(second.status().message()),
                  AllOf(HasSubstr("stream ended"),
                        HasSubstr(absl::StrCat("stream offset ", frame.size()))));
      ExpectClosedAfter(receiver, c.code);
    }
  }
}

TEST_P(FramedConnectionTest, CleanCloseBetweenMessagesIsEndOfStream) {
  auto [sender, receiver] = Pair();
  ASSERT_TRUE(sender.Send(TestMessage(1, 100)).ok());
  ASSERT_TRUE(sender.Send(TestMessage(2, 5000)).ok());
  sender.Close();
  EXPECT_TRUE(sender.closed());
  for (uint64_t id : {1, 2}) {
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, id, id == 1 ? 100 : 5000);
  }
  absl::StatusOr<Message> end = receiver.Receive(In(kSafety));
  ASSERT_FALSE(end.ok());
  ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
  EXPECT_EQ(end.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(end.status().message()), HasSubstr("after 2 message(s)"));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Message> again = receiver.Receive(In(kSafety));
    ASSERT_FALSE(again.ok());
    ExpectFrameError(again.status(), FrameErrorCode::kEndOfStream);
    EXPECT_EQ(again.status(), end.status()) << "the same end of stream every time";
  }
  EXPECT_EQ(receiver.stats().errors, (std::map<std::string, uint64_t>{{"END_OF_STREAM", 1}}));
  EXPECT_EQ(receiver.stats().messages_received, 2u);
}

TEST_P(FramedConnectionTest, EndOfStreamBeforeAnyMessage) {
  auto [sender, receiver] = Pair();
  sender.Close();
  absl::StatusOr<Message> end = receiver.Receive(In(kSafety));
  ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
}

TEST_P(FramedConnectionTest, SendingToAClosedPeerIsAnErrorNotASignal) {
  iotest::RequireDefaultSigpipe();
  auto [sender, receiver] = Pair();
  receiver.Close();
  absl::Status status;
  const absl::Cord block = PatternCord(64 << 10, 5);
  for (int i = 0; i < 200 && status.ok(); ++i) {
    status = sender.Send(TestEnvelope(i), block, In(kSafety));
    if (status.ok()) absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_FALSE(status.ok()) << "sends to a closed peer kept succeeding";
  ExpectFrameError(status, FrameErrorCode::kIoError);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()),
              AnyOf(HasSubstr(absl::StrCat("(errno ", EPIPE, ")")),
                    HasSubstr(absl::StrCat("(errno ", ECONNRESET, ")"))));
  ExpectClosedAfter(sender, FrameErrorCode::kIoError);
  struct sigaction now;
  sigaction(SIGPIPE, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

// A reset while a large payload's body is being read (by Receive()'s body
// loop in both read modes, blocking and under a deadline) is an I/O error
// naming ECONNRESET, not a truncation: the peer closes with bytes it never
// read, after part of the payload.
TEST_P(FramedConnectionTest, PeerResetInsideAPayloadBodyIsAnIoError) {
  for (ReadMode mode : {ReadMode::kFixed, ReadMode::kDirect}) {
    for (bool bounded : {false, true}) {
      for (bool reset_first : {false, true}) {
        SCOPED_TRACE(absl::StrCat(ReadModeName(mode), bounded ? ", deadline" : ", no deadline",
                                  reset_first ? ", reset before Receive()" : ""));
        auto [raw, receiver] = RawAndFramed(WithReadMode(mode));
        ASSERT_TRUE(receiver.Send(TestMessage(1, 10), In(kSafety)).ok());  // never read
        const std::string frame = WireBytes({}, TestMessage(2, kMiB));
        // Small enough to sit in the socket buffers whole when the reset
        // comes first.
        const size_t cut = reset_first ? 40000 : frame.size() / 3;
        // Either the reset comes before Receive() (which reads the bytes
        // before it, then fails in the body loop without waiting), or most
        // likely while Receive() waits inside the body.
        std::thread resetter([&, &raw = raw] {
          EXPECT_TRUE(raw.WriteAll(absl::string_view(frame).substr(0, cut), In(kSafety)).ok());
          if (!reset_first) absl::SleepFor(absl::Milliseconds(30));
          raw.Close();
        });
        if (reset_first) resetter.join();
        absl::StatusOr<Message> m = bounded ? receiver.Receive(In(kSafety)) : receiver.Receive();
        if (resetter.joinable()) resetter.join();
        ASSERT_FALSE(m.ok());
        ExpectFrameError(m.status(), FrameErrorCode::kIoError);
        EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
        // recvmsg: kDirect's scatter reads over AF_UNIX.
        EXPECT_THAT(std::string(m.status().message()),
                    AllOf(AnyOf(HasSubstr("recv from"), HasSubstr("recvmsg from")),
                          HasSubstr(absl::StrCat("(errno ", ECONNRESET, ")"))));
        EXPECT_EQ(receiver.stats().bytes_received, cut);
        ExpectClosedAfter(receiver, FrameErrorCode::kIoError);
      }
    }
  }
}

TEST_P(FramedConnectionTest, IdleTimeout) {
  ConnectionOptions options;
  options.idle_timeout = absl::Milliseconds(100);
  auto [peer, receiver] = Pair({}, options);
  const absl::Time start = absl::Now();
  absl::StatusOr<Message> m = receiver.Receive(In(absl::Seconds(5)));  // far beyond the timeout
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(m.ok());
  ExpectFrameError(m.status(), FrameErrorCode::kIdleTimeout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("idle timeout of 100ms"));
  EXPECT_GE(took, absl::Milliseconds(90));
  EXPECT_LT(took, absl::Seconds(2));
  ExpectClosedAfter(receiver, FrameErrorCode::kIdleTimeout);
}

TEST_P(FramedConnectionTest, IdleTimeoutRestartsAfterEachMessage) {
  ConnectionOptions options;
  options.idle_timeout = absl::Milliseconds(250);
  auto [peer, receiver] = Pair({}, options);
  constexpr int kMessages = 5;  // 100 ms apart: 500 ms in all, > idle_timeout
  std::thread sender([&, &peer = peer] {
    for (int i = 1; i <= kMessages; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
      EXPECT_TRUE(peer.Send(TestMessage(i, 10), In(kSafety)).ok());
    }
  });
  for (int i = 1; i <= kMessages; ++i) {
    absl::StatusOr<Message> m = receiver.Receive(In(absl::Seconds(5)));
    ASSERT_TRUE(m.ok()) << "message " << i << ": " << m.status();
    ExpectTestMessage(*m, i, 10);
  }
  sender.join();
  absl::StatusOr<Message> idle = receiver.Receive(In(absl::Seconds(5)));
  ExpectFrameError(idle.status(), FrameErrorCode::kIdleTimeout);
  EXPECT_THAT(std::string(idle.status().message()), HasSubstr("after 5 message(s)"));
}

TEST_P(FramedConnectionTest, StallTimeout) {
  ConnectionOptions options;
  options.stall_timeout = absl::Milliseconds(100);
  auto [raw, receiver] = RawAndFramed(options);
  const std::string frame = WireBytes(options, TestMessage(1, 1000));
  ASSERT_TRUE(raw.WriteAll(absl::string_view(frame).substr(0, 10), In(kSafety)).ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<Message> m = receiver.Receive(In(absl::Seconds(5)));  // far beyond the timeout
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(m.ok());
  ExpectFrameError(m.status(), FrameErrorCode::kStallTimeout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(m.status().message()),
              AllOf(HasSubstr("stream offset 0"), HasSubstr("stall timeout of 100ms"),
                    HasSubstr("header (10 bytes buffered)")));
  EXPECT_GE(took, absl::Milliseconds(90));
  EXPECT_LT(took, absl::Seconds(2));
  ExpectClosedAfter(receiver, FrameErrorCode::kStallTimeout);
}

TEST_P(FramedConnectionTest, StallTimeoutDoesNotApplyBetweenMessages) {
  ConnectionOptions options;
  options.stall_timeout = absl::Milliseconds(100);
  auto [peer, receiver] = Pair({}, options);
  ASSERT_TRUE(peer.Send(TestMessage(1, 10)).ok());
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  // Nothing for 3x the stall timeout, at a frame boundary: not a stall.
  absl::StatusOr<Message> none = receiver.Receive(In(absl::Milliseconds(300)));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GetFrameErrorCode(none.status()), FrameErrorCode::kNone) << none.status();
  EXPECT_FALSE(receiver.closed());
  ASSERT_TRUE(peer.Send(TestMessage(2, 10)).ok());
  m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 2, 10);
}

TEST_P(FramedConnectionTest, CallerDeadlineIsNotFatal) {
  struct Case {
    const char* name;
    uint64_t payload_size;
    // Bytes of the frame sent before the deadline; the rest after.
    std::function<size_t(size_t frame)> first_part;
  };
  const Case cases[] = {
      {"nothing sent yet", 100, [](size_t) { return size_t{0}; }},
      {"inside the header", 100, [](size_t) { return size_t{10}; }},
      {"inside a small payload", 3000, [](size_t frame) { return frame - 1000; }},
      {"inside a large payload", 2 * kMiB, [](size_t frame) { return frame / 2; }},
      {"one byte missing", 2 * kMiB, [](size_t frame) { return frame - 1; }},
  };
  for (ReadMode mode : {ReadMode::kDirect, ReadMode::kFixed}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(absl::StrCat(ReadModeName(mode), ", ", c.name));
      ConnectionOptions options = WithReadMode(mode);
      // Timeouts configured but far away: the caller's deadline comes first.
      options.idle_timeout = absl::Seconds(30);
      options.stall_timeout = absl::Seconds(30);
      auto [raw, receiver] = RawAndFramed(options);
      const std::string frame = WireBytes(options, TestMessage(3, c.payload_size));
      const size_t part = c.first_part(frame.size());
      std::thread first_writer([&, &raw = raw] {
        EXPECT_TRUE(raw.WriteAll(absl::string_view(frame).substr(0, part), In(kSafety)).ok());
      });
      const absl::Time start = absl::Now();
      absl::StatusOr<Message> m = receiver.Receive(start + absl::Milliseconds(50));
      const absl::Duration took = absl::Now() - start;
      first_writer.join();
      ASSERT_FALSE(m.ok()) << "a message arrived before it was complete";
      EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
      EXPECT_EQ(GetFrameErrorCode(m.status()), FrameErrorCode::kNone)
          << "the caller's deadline is not a connection error: " << m.status();
      EXPECT_GE(took, absl::Milliseconds(49));
      EXPECT_FALSE(receiver.closed());
      EXPECT_TRUE(receiver.stats().errors.empty());

      std::thread rest_writer([&, &raw = raw] {
        EXPECT_TRUE(raw.WriteAll(absl::string_view(frame).substr(part), In(kSafety)).ok());
        // And one more whole message.
        EXPECT_TRUE(
            raw.WriteAll(WireBytes(options, TestMessage(4, 5)), In(kSafety)).ok());
      });
      m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, 3, c.payload_size);
      m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, 4, 5);
      rest_writer.join();
      EXPECT_EQ(receiver.stats().bytes_received, frame.size() + WireBytes(options, TestMessage(4, 5)).size());
    }
  }
}

TEST_P(FramedConnectionTest, OverLimitSendIsRefusedAndNothingIsWritten) {
  ConnectionOptions small;
  small.limits.max_payload_bytes = 1024;
  small.limits.max_envelope_bytes = 64;
  auto [sender, receiver] = Pair(small, {});

  // A message queued before the refused one is unaffected.
  ASSERT_TRUE(sender.Queue(TestMessage(1, 10)).ok());
  const uint64_t queued = sender.queued_bytes();
  ASSERT_GT(queued, 0u);

  absl::Status too_large = sender.Send(TestMessage(2, 1025));
  ExpectFrameError(too_large, FrameErrorCode::kPayloadTooLarge);
  EXPECT_EQ(too_large.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_large.message()), AllOf(HasSubstr("1025"), HasSubstr("1024")));

  Envelope big_envelope = TestEnvelope(3);
  (*big_envelope.mutable_metadata())["pad"] = std::string(100, 'p');
  absl::Status envelope_too_large = sender.Queue(big_envelope, absl::Cord("x"));
  ExpectFrameError(envelope_too_large, FrameErrorCode::kEnvelopeTooLarge);

  EXPECT_EQ(sender.queued_bytes(), queued) << "no byte of a refused message is queued";
  EXPECT_EQ(sender.stats().bytes_sent, 0u);
  EXPECT_EQ(sender.stats().write_calls, 0u);
  EXPECT_EQ(sender.stats().messages_sent, 1u);
  EXPECT_FALSE(sender.closed());
  EXPECT_TRUE(sender.stats().errors.empty()) << "a refused send is not a connection error";

  // The peer has seen nothing.
  absl::StatusOr<Message> nothing = receiver.Receive(In(absl::Milliseconds(100)));
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kDeadlineExceeded) << nothing.status();
  EXPECT_EQ(receiver.stats().bytes_received, 0u);

  // Still usable: the queued message and one at the limit go through, in order.
  ASSERT_TRUE(sender.Send(TestMessage(4, 1024)).ok());
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 1, 10);
  m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 4, 1024);
  EXPECT_EQ(receiver.stats().bytes_received, sender.stats().bytes_sent);
}

TEST_P(FramedConnectionTest, OverLimitReceiveIsFatal) {
  ConnectionOptions small;
  small.limits.max_payload_bytes = 1000;
  auto [sender, receiver] = Pair({}, small);
  ASSERT_TRUE(sender.Send(TestMessage(1, 1000)).ok());
  ASSERT_TRUE(sender.Send(TestMessage(2, 1001)).ok());
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  m = receiver.Receive(In(kSafety));
  ExpectFrameError(m.status(), FrameErrorCode::kPayloadTooLarge);
  ExpectClosedAfter(receiver, FrameErrorCode::kPayloadTooLarge);
}

TEST_P(FramedConnectionTest, ForeignBytesFromThePeer) {
  struct Case {
    const char* name;
    std::string bytes;
    FrameErrorCode code;
    const char* mention;
  };
  const Case cases[] = {
      {"HTTP request", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
       FrameErrorCode::kForeignProtocol, "HTTP"},
      {"short HTTP request", "GET /\r\n", FrameErrorCode::kForeignProtocol, "HTTP"},
      {"TLS ClientHello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                              std::string(40, '\x5a'),
       FrameErrorCode::kForeignProtocol, "TLS"},
      {"SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", FrameErrorCode::kForeignProtocol,
       "SSH"},
      {"garbage", std::string("\x01\x02\x03\x04\xfe\xff garbage garbage garbage", 30),
       FrameErrorCode::kBadMagic, "LPFR"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [raw, receiver] = RawAndFramed();
    ASSERT_TRUE(raw.WriteAll(c.bytes, In(kSafety)).ok());
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_FALSE(m.ok());
    ExpectFrameError(m.status(), c.code);
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.mention));
    ExpectClosedAfter(receiver, c.code);
  }
}

TEST_P(FramedConnectionTest, HalfClose) {
  constexpr int kMessages = 5;
  auto [a, b] = Pair();
  for (int i = 1; i <= kMessages; ++i) ASSERT_TRUE(a.Queue(TestMessage(i, 100 * i)).ok());
  ASSERT_TRUE(a.ShutdownWrite(In(kSafety)).ok()) << "ShutdownWrite flushes the queue first";
  EXPECT_EQ(a.queued_bytes(), 0u);
  for (int i = 1; i <= kMessages; ++i) {
    absl::StatusOr<Message> m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, i, 100 * i);
  }
  absl::StatusOr<Message> end = b.Receive(In(kSafety));
  ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
  EXPECT_FALSE(b.closed()) << "end of stream leaves the sending side open";

  // b can still answer, and a still receives.
  ASSERT_TRUE(b.Send(TestMessage(100, 4096), In(kSafety)).ok());
  absl::StatusOr<Message> reply = a.Receive(In(kSafety));
  ASSERT_TRUE(reply.ok()) << reply.status();
  ExpectTestMessage(*reply, 100, 4096);

  ASSERT_TRUE(b.ShutdownWrite(In(kSafety)).ok());
  end = a.Receive(In(kSafety));
  ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
}

TEST_P(FramedConnectionTest, Counters) {
  auto [a, b] = Pair();
  const uint64_t kSizes[] = {0, 100, 70000};
  uint64_t wire = 0;
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    const Message m = TestMessage(i + 1, kSizes[i]);
    wire += WireBytes(a.options(), m).size();
    ASSERT_TRUE(a.Send(m, In(kSafety)).ok());
  }
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    absl::StatusOr<Message> m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, i + 1, kSizes[i]);
  }
  const ConnectionStats& as = a.stats();
  EXPECT_EQ(as.messages_sent, 3u);
  EXPECT_EQ(as.bytes_sent, wire);
  EXPECT_GE(as.write_calls, 3u) << "Send() writes at once";
  EXPECT_EQ(as.messages_received, 0u);
  EXPECT_EQ(as.bytes_received, 0u);
  EXPECT_EQ(as.read_calls, 0u);
  EXPECT_TRUE(as.errors.empty());
  const ConnectionStats& bs = b.stats();
  EXPECT_EQ(bs.messages_received, 3u);
  EXPECT_EQ(bs.bytes_received, wire);
  EXPECT_GE(bs.read_calls, 1u);
  EXPECT_EQ(bs.messages_sent, 0u);
  EXPECT_EQ(bs.bytes_sent, 0u);
  EXPECT_EQ(bs.write_calls, 0u);
  EXPECT_TRUE(bs.errors.empty());

  // A fatal error is counted by name.
  ASSERT_TRUE(a.socket().WriteAll("GET / HTTP/1.0\r\n\r\n", In(kSafety)).ok());
  absl::StatusOr<Message> bad = b.Receive(In(kSafety));
  ExpectFrameError(bad.status(), FrameErrorCode::kForeignProtocol);
  EXPECT_EQ(b.stats().errors,
            (std::map<std::string, uint64_t>{{"FOREIGN_PROTOCOL", 1}}));
  EXPECT_EQ(b.stats().messages_received, 3u);
  // b closed its socket: a sees end of stream.
  absl::StatusOr<Message> end = a.Receive(In(kSafety));
  EXPECT_THAT(GetFrameErrorCode(end.status()),
              AnyOf(FrameErrorCode::kEndOfStream, FrameErrorCode::kIoError))
      << end.status();
  EXPECT_EQ(a.stats().errors.size(), 1u);
}

TEST_P(FramedConnectionTest, SendDeadlineIsNotFatalAndTheRestFollows) {
  auto [sender, receiver] = Pair();
  const uint64_t size = 32 * kMiB;  // more than any socket buffer holds
  const absl::Time start = absl::Now();
  absl::Status s = sender.Send(TestMessage(9, size), start + absl::Milliseconds(100));
  ASSERT_FALSE(s.ok()) << "32 MiB fit in the socket buffers";
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(GetFrameErrorCode(s), FrameErrorCode::kNone) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("still queued"));
  EXPECT_FALSE(sender.closed());
  EXPECT_GT(sender.queued_bytes(), 0u);
  EXPECT_GT(sender.stats().bytes_sent, 0u) << "part of the frame went out";
  std::thread flusher([&, &sender = sender] {
    absl::Status f = sender.Flush(In(kSafety));
    EXPECT_TRUE(f.ok()) << f;
  });
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  flusher.join();
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 9, size);
  EXPECT_EQ(sender.queued_bytes(), 0u);
}

TEST_P(FramedConnectionTest, CloseDropsTheConnection) {
  auto [a, b] = Pair();
  ASSERT_TRUE(a.Queue(TestMessage(1, 10)).ok());
  a.Close();
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(a.queued_bytes(), 0u) << "queued output is dropped";
  for (const absl::Status& s :
       {a.Send(TestMessage(2, 10)), a.Flush(), a.Receive(In(kSafety)).status()}) {
    ExpectFrameError(s, FrameErrorCode::kConnectionClosed);
    EXPECT_THAT(std::string(s.message()), HasSubstr("the connection was closed"));
  }
  absl::StatusOr<Message> end = b.Receive(In(kSafety));
  ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
  EXPECT_EQ(b.stats().bytes_received, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, FramedConnectionTest,
                         ::testing::ValuesIn(iotest::AllTransportKinds()),
                         iotest::TransportTestName);

// What busy polling finds besides bytes ends the wait as a blocking read
// would: the end of stream inside a frame, and a reset (the peer closes
// with input unread).
TEST_P(FramedConnectionTest, BusyPollingReportsAnEndOrAResetItFinds) {
  ConnectionOptions options;
  options.busy_poll = absl::Seconds(30);
  {
    auto [raw, framed] = RawAndFramed(options);
    const std::string wire = WireBytes({}, TestMessage(1, 1000));
    std::thread cut([&, &raw = raw] {
      absl::SleepFor(absl::Milliseconds(200));
      EXPECT_TRUE(raw.WriteAll(wire.substr(0, 500), In(kSafety)).ok());
      absl::SleepFor(absl::Milliseconds(200));
      raw.Close();
    });
    absl::StatusOr<Message> m = framed.Receive(In(kSafety));
    cut.join();
    ExpectFrameError(m.status(), FrameErrorCode::kTruncatedPayload);
    EXPECT_GE(framed.stats().busy_poll_reads, 2u);  // the half frame, then the end
    EXPECT_EQ(framed.stats().busy_poll_timeouts, 0u);
  }
  {
    auto [raw, framed] = RawAndFramed(options);
    ASSERT_TRUE(framed.Send(TestMessage(1, 10)).ok());  // left unread: close resets
    std::thread reset([&, &raw = raw] {
      absl::SleepFor(absl::Milliseconds(200));
      raw.Close();
    });
    absl::StatusOr<Message> m = framed.Receive(In(kSafety));
    reset.join();
    ExpectFrameError(m.status(), FrameErrorCode::kIoError);
    EXPECT_THAT(m.status().message(), HasSubstr("recv from"));
    EXPECT_EQ(framed.stats().busy_poll_reads, 1u);
    ExpectClosedAfter(framed, FrameErrorCode::kIoError);
  }
}

// --- Transport-independent -----------------------------------------------------

std::pair<FramedConnection, FramedConnection> SocketPairConnections(
    const ConnectionOptions& a = {}, const ConnectionOptions& b = {}) {
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::Pair(SOCK_STREAM);
  EXPECT_TRUE(p.ok()) << p.status();
  return {FramedConnection(std::move(p->first), a), FramedConnection(std::move(p->second), b)};
}

// The stall timeout runs from a message's own first byte, also when that
// byte arrived in the same read as the end of the message before it.
TEST(FramedConnectionTimingTest, StallTimeoutIsMeasuredPerMessage) {
  ConnectionOptions options;
  options.stall_timeout = absl::Milliseconds(400);
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::Pair(SOCK_STREAM);
  ASSERT_TRUE(p.ok());
  Socket raw = std::move(p->first);
  FramedConnection receiver(std::move(p->second), options);
  const std::string a = WireBytes(options, TestMessage(1, 1000));
  const std::string b = WireBytes(options, TestMessage(2, 1000));
  // t=0: first half of A. t=200ms: rest of A and 10 bytes of B. t=500ms: rest
  // of B. A takes 200 ms and B 300 ms, both within the 400 ms stall timeout;
  // B would "stall" only if its clock started with A's first byte.
  std::thread writer([&] {
    EXPECT_TRUE(raw.WriteAll(a.substr(0, a.size() / 2), In(kSafety)).ok());
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_TRUE(raw.WriteAll(a.substr(a.size() / 2) + b.substr(0, 10), In(kSafety)).ok());
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_TRUE(raw.WriteAll(b.substr(10), In(kSafety)).ok());
  });
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 1, 1000);
  m = receiver.Receive(In(kSafety));
  writer.join();
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 2, 1000);
}

TEST(FramedConnectionDialectTest, DialectsAndChecksumRoundTrip) {
  struct Flavor {
    const char* name;
    Dialect dialect;
    bool checksum;
  };
  const Flavor kFlavors[] = {
      {"native", Dialect::kNative, false},
      {"native+checksum", Dialect::kNative, true},
      {"varint32", Dialect::kVarint32, false},
      {"u32be", Dialect::kU32BE, false},
  };
  // Varint32 prefixes of 1, 2, 3 and 4 bytes; after large payloads, frames
  // with longer and shorter prefixes.
  const uint64_t kSizes[] = {0,     1,        127,      128,   300, 16383,
                             16384, 70000,    kMiB + 3, 4 * kMiB, 70000, 64};
  for (const Flavor& f : kFlavors) {
    SCOPED_TRACE(f.name);
    ConnectionOptions options;
    options.dialect = f.dialect;
    options.checksum = f.checksum;
    auto [sender, receiver] = SocketPairConnections(options, options);
    const bool has_envelope = f.dialect == Dialect::kNative;
    uint64_t wire = 0;
    uint64_t plain_wire = 0;  // the same messages without checksum trailers
    std::vector<Message> sent;
    for (size_t i = 0; i < std::size(kSizes); ++i) {
      Message m = TestMessage(i + 1, kSizes[i]);
      if (!has_envelope) m.envelope.Clear();
      wire += WireBytes(options, m).size();
      ConnectionOptions plain = options;
      plain.checksum = false;
      plain_wire += WireBytes(plain, m).size();
      sent.push_back(std::move(m));
    }
    std::thread send_thread([&, &sender = sender] {
      for (const Message& m : sent) EXPECT_TRUE(sender.Send(m, In(kSafety)).ok());
    });
    for (size_t i = 0; i < sent.size(); ++i) {
      SCOPED_TRACE(absl::StrCat(kSizes[i], " bytes"));
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      EXPECT_TRUE(MessageDifferencer::Equals(m->envelope, sent[i].envelope));
      EXPECT_EQ(PatternMismatch(m->payload, kSizes[i], static_cast<uint32_t>(i + 1)), "");
    }
    send_thread.join();
    EXPECT_EQ(sender.stats().bytes_sent, wire);
    EXPECT_EQ(receiver.stats().bytes_received, wire);
    if (f.checksum) {
      EXPECT_EQ(wire, plain_wire + kChecksumTrailerSize * std::size(kSizes))
          << "every frame carries the checksum trailer";
    } else {
      EXPECT_EQ(wire, plain_wire);
    }
  }
}

TEST(FramedConnectionDialectTest, DialectRefusesEnvelope) {
  ConnectionOptions options;
  options.dialect = Dialect::kU32BE;
  auto [sender, receiver] = SocketPairConnections(options, options);
  absl::Status s = sender.Send(TestEnvelope(1), absl::Cord("x"));
  ExpectFrameError(s, FrameErrorCode::kEnvelopeNotSupported);
  EXPECT_FALSE(sender.closed());
  EXPECT_EQ(sender.stats().bytes_sent, 0u);
}

TEST(FramedConnectionDialectTest, ChecksumMismatchIsDetected) {
  ConnectionOptions options;
  options.checksum = true;
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::Pair(SOCK_STREAM);
  ASSERT_TRUE(p.ok());
  FramedConnection receiver(std::move(p->second), options);
  for (uint64_t size : {uint64_t{100}, 2 * kMiB}) {
    SCOPED_TRACE(absl::StrCat(size, "-byte payload"));
    std::string frame = WireBytes(options, TestMessage(1, size));
    std::thread writer([&] { EXPECT_TRUE(p->first.WriteAll(frame, In(kSafety)).ok()); });
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    writer.join();
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 1, size);
  }
  std::string tampered = WireBytes(options, TestMessage(2, 2 * kMiB));
  tampered[tampered.size() / 2] ^= 0x20;  // one payload bit
  std::thread writer([&] { EXPECT_TRUE(p->first.WriteAll(tampered, In(kSafety)).ok()); });
  absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
  writer.join();
  ASSERT_FALSE(m.ok()) << "a corrupted payload was delivered";
  ExpectFrameError(m.status(), FrameErrorCode::kChecksumMismatch);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  ExpectClosedAfter(receiver, FrameErrorCode::kChecksumMismatch);
}

TEST(FramedConnectionDialTest, DialConnectsAndFailsOnClosedPort) {
  absl::StatusOr<Listener> listener = Listener::Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = listener->address();
  absl::StatusOr<FramedConnection> client =
      FramedConnection::Dial(address, {}, In(kSafety));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Socket> accepted = listener->Accept(In(kSafety));
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  FramedConnection server(*std::move(accepted));
  ASSERT_TRUE(client->Send(TestMessage(1, 1234)).ok());
  absl::StatusOr<Message> m = server.Receive(In(kSafety));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectTestMessage(*m, 1, 1234);

  listener = absl::UnknownError("closed");  // the port is free again
  absl::StatusOr<FramedConnection> refused = FramedConnection::Dial(address, {}, In(kSafety));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(address));

  absl::StatusOr<FramedConnection> bad = FramedConnection::Dial("tcp://127.0.0.1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}


// --- ConnectionOptions::wait_mode ----------------------------------------------

bool IsNonBlocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

const char* WaitModeName(WaitMode mode) {
  return mode == WaitMode::kAlwaysPoll ? "kAlwaysPoll" : "kBlockWhenUnbounded";
}

constexpr WaitMode kWaitModes[] = {WaitMode::kBlockWhenUnbounded, WaitMode::kAlwaysPoll};

TEST(FramedConnectionWaitModeTest, OnlyAlwaysPollKeepsTheSocketNonBlocking) {
  ConnectionOptions polling;
  polling.wait_mode = WaitMode::kAlwaysPoll;
  auto [by_default, polled] = SocketPairConnections({}, polling);
  EXPECT_FALSE(IsNonBlocking(by_default.socket().fd()));
  EXPECT_TRUE(IsNonBlocking(polled.socket().fd()));
  // A socket handed over blocking (here: taken from a default-mode
  // connection) is made non-blocking by kAlwaysPoll.
  FramedConnection adopted(std::move(by_default.socket()), polling);
  EXPECT_TRUE(IsNonBlocking(adopted.socket().fd()));
}

// Round trips of every size both ways (in kBlockWhenUnbounded, blocking
// recv/sendmsg for the infinite deadlines), a Receive() that waits for a late
// sender, and end of stream; and all of it again with busy polling long
// enough to take every answer.
TEST(FramedConnectionWaitModeTest, RoundTripsInBothReadModes) {
  const uint64_t kSizes[] = {0, 1, 64, 4096, 65536, kMiB, 16 * kMiB};
  for (WaitMode wait_mode : kWaitModes)
    for (ReadMode mode : {ReadMode::kDirect, ReadMode::kFixed})
      for (absl::Duration busy_poll : {absl::ZeroDuration(), absl::Seconds(30)}) {
        SCOPED_TRACE(absl::StrCat(WaitModeName(wait_mode), " ", ReadModeName(mode),
                                  " busy_poll=", absl::FormatDuration(busy_poll)));
        ConnectionOptions options = WithReadMode(mode);
        options.wait_mode = wait_mode;
        options.busy_poll = busy_poll;
        auto [client, server] = SocketPairConnections(options, options);
        std::thread echo([&, &server = server] {
          Message m;
          while (true) {
            absl::Status s = server.Receive(&m);
            if (!s.ok()) {
              ExpectFrameError(s, FrameErrorCode::kEndOfStream);
              return;
            }
            if (m.envelope.id() == 1) absl::SleepFor(absl::Milliseconds(30));  // a late reply
            s = server.Send(m);
            if (!s.ok()) {
              ADD_FAILURE() << s;
              return;
            }
          }
        });
        for (size_t i = 0; i < std::size(kSizes); ++i) {
          ASSERT_TRUE(client.Send(TestMessage(i + 1, kSizes[i])).ok());
          absl::StatusOr<Message> m = client.Receive();
          ASSERT_TRUE(m.ok()) << m.status();
          ExpectTestMessage(*m, i + 1, kSizes[i]);
        }
        ASSERT_TRUE(client.ShutdownWrite().ok());
        echo.join();
        server.Close();
        absl::StatusOr<Message> end = client.Receive(In(kSafety));
        ExpectFrameError(end.status(), FrameErrorCode::kEndOfStream);
        // Busy polling took the late reply; the client's polls never ran out.
        if (busy_poll > absl::ZeroDuration()) {
          EXPECT_GT(client.stats().busy_poll_reads, 0u);
          EXPECT_EQ(client.stats().busy_poll_timeouts, 0u);
        } else {
          EXPECT_EQ(client.stats().busy_poll_reads + client.stats().busy_poll_timeouts, 0u);
        }
      }
}

// Finite deadlines and timeouts hold in both wait modes (in the default one
// on a blocking socket), also with busy polling far longer than them:
// nothing waits for the polling to run out.
TEST(FramedConnectionWaitModeTest, DeadlinesAndTimeoutsHold) {
  for (WaitMode wait_mode : kWaitModes)
    for (absl::Duration busy_poll : {absl::ZeroDuration(), absl::Seconds(60)}) {
      SCOPED_TRACE(absl::StrCat(WaitModeName(wait_mode),
                                " busy_poll=", absl::FormatDuration(busy_poll)));
      ConnectionOptions options;
      options.wait_mode = wait_mode;
      options.busy_poll = busy_poll;
      {
        auto [a, b] = SocketPairConnections(options, options);
        // A caller's deadline: not fatal, and a later message still arrives.
        const absl::Time start = absl::Now();
        absl::StatusOr<Message> m = b.Receive(start + absl::Milliseconds(50));
        EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
        EXPECT_EQ(GetFrameErrorCode(m.status()), FrameErrorCode::kNone);
        EXPECT_LT(absl::Now() - start, absl::Seconds(10));
        EXPECT_FALSE(b.closed());
        // A send deadline into a full socket: not fatal, the rest follows.
        const uint64_t size = 32 * kMiB;
        absl::Status s = a.Send(TestMessage(7, size), In(absl::Milliseconds(100)));
        EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
        EXPECT_GT(a.queued_bytes(), 0u);
        EXPECT_FALSE(a.closed());
        std::thread flusher([&, &a = a] { EXPECT_TRUE(a.Flush().ok()); });
        m = b.Receive(In(kSafety));
        flusher.join();
        ASSERT_TRUE(m.ok()) << m.status();
        ExpectTestMessage(*m, 7, size);
      }
      {
        // The idle timeout bounds a Receive() with an infinite deadline.
        ConnectionOptions idle = options;
        idle.idle_timeout = absl::Milliseconds(50);
        auto [a, b] = SocketPairConnections(options, idle);
        const absl::Time start = absl::Now();
        absl::StatusOr<Message> m = b.Receive();
        ExpectFrameError(m.status(), FrameErrorCode::kIdleTimeout);
        EXPECT_LT(absl::Now() - start, absl::Seconds(10));
      }
      {
        // The stall timeout too, inside a frame.
        ConnectionOptions stall = options;
        stall.stall_timeout = absl::Milliseconds(50);
        auto [a, b] = SocketPairConnections(options, stall);
        const std::string wire = WireBytes(options, TestMessage(1, 1000));
        ASSERT_TRUE(a.socket().WriteAll(wire.substr(0, 500), In(kSafety)).ok());
        const absl::Time start = absl::Now();
        absl::StatusOr<Message> m = b.Receive();
        ExpectFrameError(m.status(), FrameErrorCode::kStallTimeout);
        EXPECT_LT(absl::Now() - start, absl::Seconds(10));
      }
    }
}

// --- Busy polling --------------------------------------------------------------

// Polling that runs out before the answer comes continues as the wait mode
// says (blocking recv or poll), and the answer still arrives whole.
TEST(FramedConnectionBusyPollTest, PollingThatRunsOutWaitsAsTheWaitModeSays) {
  for (WaitMode wait_mode : kWaitModes) {
    SCOPED_TRACE(WaitModeName(wait_mode));
    ConnectionOptions options;
    options.wait_mode = wait_mode;
    options.busy_poll = absl::Milliseconds(2);
    auto [a, b] = SocketPairConnections(options, options);
    std::thread late([&, &a = a] {
      absl::SleepFor(absl::Milliseconds(100));
      EXPECT_TRUE(a.Send(TestMessage(1, 100000)).ok());
    });
    absl::StatusOr<Message> m = b.Receive();
    late.join();
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 1, 100000);
    EXPECT_GE(b.stats().busy_poll_timeouts, 1u);
  }
}

// --- Scatter reads of large payloads ----------------------------------------------

// With a whole 160 KiB message already in the socket and payload blocks of
// 8 KiB, ReadMode::kDirect on AF_UNIX reads its payload into several blocks
// per recvmsg (1, then 2, 4, 8 blocks...): a handful of reads, not one per
// block. On TCP, or with direct_read_max_bytes of one block, every read
// stays within one block; kFixed keeps every read at read_size. All of
// it also with busy polling.
TEST(FramedConnectionScatterReadTest, ReadsPerLargePayloadFollowTheTransportAndOptions) {
  constexpr size_t kBlock = 8192;
  const uint64_t size = 160 << 10;
  const uint64_t blocks = size / kBlock;
  struct Case {
    const char* name;
    TransportKind kind;
    ReadMode mode;
    size_t direct_read_max_bytes;
    uint64_t min_reads, max_reads;
    bool body_loop;  // the body is read by Receive()'s body loop
  } const kCases[] = {
      {"unix direct (auto: up to 16 blocks)", TransportKind::kSocketPair, ReadMode::kDirect, 0,
       2, 7, false},
      {"unix direct, one block", TransportKind::kSocketPair, ReadMode::kDirect, kBlock, blocks,
       UINT64_MAX, true},
      {"unix fixed", TransportKind::kSocketPair, ReadMode::kFixed, 0, size / 8192, UINT64_MAX,
       true},
      {"tcp direct (auto: one block)", TransportKind::kTcp4, ReadMode::kDirect, 0, blocks,
       UINT64_MAX, true},
  };
  for (const Case& c : kCases)
    for (absl::Duration busy_poll : {absl::ZeroDuration(), absl::Seconds(30)}) {
      SCOPED_TRACE(absl::StrCat(c.name, " busy_poll=", absl::FormatDuration(busy_poll)));
      ConnectionOptions options = WithReadMode(c.mode);
      options.direct_read_max_bytes = c.direct_read_max_bytes;
      options.busy_poll = busy_poll;
      options.pool = BlockPool::Create(kBlock, 1 << 20);
      auto connections = ConnectedConnections(c.kind, {}, options);
      ASSERT_TRUE(connections.ok()) << connections.status();
      auto& [sender, receiver] = *connections;
      std::thread send([&, &sender = sender] {
        EXPECT_TRUE(sender.Send(TestMessage(1, size), In(kSafety)).ok());
      });
      // On the socketpair the whole message fits in the socket (the default
      // buffer holds about 200 KiB): read only once it is all there.
      if (c.kind == TransportKind::kSocketPair) send.join();
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      if (send.joinable()) send.join();
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, 1, size);
      const uint64_t reads = receiver.stats().read_calls;
      EXPECT_GE(reads, c.min_reads);
      EXPECT_LE(reads, c.max_reads);
      // The first read of the frame and the payload's tail go through the
      // decoder's buffer; the rest of the body through the loop.
      if (c.body_loop) {
        EXPECT_GE(receiver.stats().body_reads, c.min_reads - 2);
      } else {
        EXPECT_EQ(receiver.stats().body_reads, 0u);
      }
      EXPECT_LE(receiver.stats().body_reads, reads);
    }
}

// A signal that interrupts a blocked body read (EINTR, no SA_RESTART) is
// retried: the message arrives whole.
TEST(FramedConnectionScatterReadTest, InterruptedBodyReadsAreRetried) {
  // Restores SIGUSR1's disposition however the test ends.
  struct HandlerWithoutRestart {
    struct sigaction previous;
    HandlerWithoutRestart() {
      struct sigaction action = {};
      action.sa_handler = [](int) {};
      sigemptyset(&action.sa_mask);
      action.sa_flags = 0;  // no SA_RESTART: a blocked recv fails with EINTR
      EXPECT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    }
    ~HandlerWithoutRestart() { sigaction(SIGUSR1, &previous, nullptr); }
  } handler;
  for (ReadMode mode : {ReadMode::kFixed, ReadMode::kDirect}) {
    SCOPED_TRACE(ReadModeName(mode));
    auto connections = ConnectedConnections(TransportKind::kTcp4, {}, WithReadMode(mode));
    ASSERT_TRUE(connections.ok()) << connections.status();
    auto& [sender, receiver] = *connections;
    const std::string wire = WireBytes({}, TestMessage(3, 2 * kMiB));
    std::atomic<bool> received{false};
    absl::StatusOr<Message> m;
    std::thread reader([&, &receiver = receiver] {
      m = receiver.Receive();  // blocks in recv inside the body
      received = true;
    });
    const pthread_t reader_thread = reader.native_handle();
    const bool first_half = sender.socket().WriteAll(wire.substr(0, kMiB), In(kSafety)).ok();
    for (int i = 0; i < 20 && !received; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
      pthread_kill(reader_thread, SIGUSR1);
    }
    const bool rest = first_half && sender.socket().WriteAll(wire.substr(kMiB), In(kSafety)).ok();
    if (!rest) sender.Close();  // the reader sees end of stream instead of waiting
    reader.join();
    EXPECT_TRUE(first_half);
    EXPECT_TRUE(rest) << "the receiver closed early";
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 3, 2 * kMiB);
    EXPECT_GT(receiver.stats().body_reads, 0u);
  }
}

// The stall timeout holds inside a large payload's body, however it is
// read: a scatter read (the peer stops after more than two blocks, in the
// middle of a multi-block recvmsg) or Receive()'s body loop (kFixed, and
// kDirect over TCP), whose reads must not block past the timeout.
TEST(FramedConnectionScatterReadTest, StallTimeoutInsideAPayloadBody) {
  struct Case {
    const char* name;
    TransportKind kind;
    ReadMode mode;
  } const kCases[] = {
      {"unix direct (scatter reads)", TransportKind::kSocketPair, ReadMode::kDirect},
      {"unix fixed (body loop)", TransportKind::kSocketPair, ReadMode::kFixed},
      {"tcp direct (body loop)", TransportKind::kTcp4, ReadMode::kDirect},
      {"tcp fixed (body loop)", TransportKind::kTcp4, ReadMode::kFixed},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    ConnectionOptions options = WithReadMode(c.mode);
    options.stall_timeout = absl::Milliseconds(100);
    auto connections = ConnectedConnections(c.kind, {}, options);
    ASSERT_TRUE(connections.ok()) << connections.status();
    auto& [a, b] = *connections;
    const std::string wire = WireBytes({}, TestMessage(1, 4 * kMiB));
    const size_t cut = 3 * BlockPool::kDefaultBlockSize + 1000;
    std::thread writer([&, &a = a] {
      EXPECT_TRUE(a.socket().WriteAll(wire.substr(0, cut), In(kSafety)).ok());
    });
    const absl::Time start = absl::Now();
    absl::StatusOr<Message> m = b.Receive();
    writer.join();
    ExpectFrameError(m.status(), FrameErrorCode::kStallTimeout);
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(absl::StrCat(
        "payload (", cut - (wire.size() - 4 * kMiB), " of ", 4 * kMiB, " bytes)")));
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    EXPECT_EQ(b.stats().bytes_received, cut);
  }
}

// --- Send fast path, partial writes, batch buffer reuse ------------------------

// Counts operator new calls of the current thread while enabled.
thread_local bool g_count_allocations = false;
thread_local uint64_t g_allocations = 0;

class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations = 0;
    g_count_allocations = true;
  }
  ~AllocationCounter() { g_count_allocations = false; }
  uint64_t count() const { return g_allocations; }
};

// A socketpair whose buffers hold only a few KiB, so sends are split
// everywhere: inside prefixes, payloads and trailers.
std::pair<Socket, Socket> TinyBufferPair() {
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::Pair(SOCK_STREAM);
  EXPECT_TRUE(p.ok()) << p.status();
  const int small = 4096;  // the kernel doubles it and enforces a minimum
  for (int fd : {p->first.fd(), p->second.fd()}) {
    EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  }
  return *std::move(p);
}

// A payload of `pieces` separate chunks of `piece_size` bytes each (more
// chunks than IOV_MAX when pieces > 1024), pattern bytes salted by `salt`.
absl::Cord ChunkyCord(int pieces, size_t piece_size, uint32_t salt) {
  const std::string bytes(PatternCord(static_cast<uint64_t>(pieces) * piece_size, salt));
  absl::Cord cord;
  for (int i = 0; i < pieces; ++i) {
    auto* copy = new std::string(bytes.substr(i * piece_size, piece_size));
    cord.Append(absl::MakeCordFromExternal(*copy, [copy] { delete copy; }));
  }
  return cord;
}

// Send() writes straight from the encoded frame when nothing is queued; a
// socket that takes only part of it must leave the rest queued in order,
// whatever the split point, with and without the checksum trailer, mixed
// with Queue()d messages, and with payloads of more chunks than IOV_MAX.
TEST(FramedConnectionSendTest, PartialWritesToASlowReaderKeepEveryFrameIntact) {
  const uint64_t kSizes[] = {0, 1, 5, 63, 64, 100, 1000, 4095, 4096, 4097, 9000, 70000, 300000};
  for (bool checksum : {false, true}) {
    SCOPED_TRACE(checksum ? "checksum" : "no checksum");
    ConnectionOptions send_options;
    send_options.checksum = checksum;
    ConnectionOptions receive_options;
    receive_options.read_mode = ReadMode::kFixed;
    receive_options.read_size = 777;  // small reads: the writer keeps hitting a full socket
    auto [a, b] = TinyBufferPair();
    FramedConnection sender(std::move(a), send_options);
    FramedConnection receiver(std::move(b), receive_options);
    std::vector<Message> sent;
    uint32_t id = 0;
    for (int round = 0; round < 3; ++round) {
      for (uint64_t size : kSizes) sent.push_back(TestMessage(++id, size));
    }
    Message chunky;
    chunky.envelope = TestEnvelope(++id);
    chunky.payload = ChunkyCord(1500, 600, id);
    sent.push_back(chunky);
    sent.push_back(TestMessage(++id, 3));
    std::thread send_thread([&, &sender = sender] {
      for (size_t i = 0; i < sent.size(); ++i) {
        // Every fifth message is only queued, so Send() also finds output queued.
        absl::Status s = i % 5 == 3 ? sender.Queue(sent[i], In(kSafety))
                                    : sender.Send(sent[i], In(kSafety));
        if (!s.ok()) {
          ADD_FAILURE() << "message " << i << ": " << s;
          return;
        }
        if (i % 7 == 0) absl::SleepFor(absl::Microseconds(200));
      }
      EXPECT_TRUE(sender.Flush(In(kSafety)).ok());
      EXPECT_EQ(sender.queued_bytes(), 0u);
    });
    for (size_t i = 0; i < sent.size(); ++i) {
      if (i % 3 == 0) absl::SleepFor(absl::Microseconds(300));  // a slow reader
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << "message " << i << ": " << m.status();
      ASSERT_TRUE(MessageDifferencer::Equals(m->envelope, sent[i].envelope))
          << "message " << i << ": " << m->envelope.ShortDebugString();
      ASSERT_EQ(iotest::CordMismatch(sent[i].payload, m->payload), "") << "message " << i;
    }
    send_thread.join();
    EXPECT_EQ(sender.stats().messages_sent, sent.size());
    EXPECT_EQ(sender.stats().bytes_sent, receiver.stats().bytes_received);
    EXPECT_GT(sender.stats().write_calls, sent.size()) << "the writes were split";
  }
}

// A Send() that finds the socket full writes nothing before its deadline:
// the whole frame is queued (not fatal) and goes out with the next Flush().
TEST(FramedConnectionSendTest, SendIntoAFullSocketQueuesTheWholeFrame) {
  auto [a, b] = TinyBufferPair();
  FramedConnection sender(std::move(a));
  // Fill the socket with filler bytes the reader discards first.
  const std::string filler(1024, 'f');
  uint64_t filled = 0;
  while (true) {
    const ssize_t n = ::send(sender.socket().fd(), filler.data(), filler.size(), MSG_DONTWAIT);
    if (n < 0) {
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
      break;
    }
    filled += static_cast<uint64_t>(n);
  }
  ASSERT_GT(filled, 0u);
  const Message first = TestMessage(1, 3000);
  const uint64_t wire = WireBytes(sender.options(), first).size();
  absl::Status s = sender.Send(first, In(absl::Milliseconds(50)));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(GetFrameErrorCode(s), FrameErrorCode::kNone) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("still queued"));
  EXPECT_FALSE(sender.closed());
  EXPECT_EQ(sender.queued_bytes(), wire);
  EXPECT_EQ(sender.stats().bytes_sent, 0u);
  EXPECT_EQ(sender.stats().messages_sent, 1u);

  std::thread reader([&, b = std::move(b)]() mutable {
    std::string discard(filled, '\0');
    size_t got = 0;
    while (got < filled) {
      absl::StatusOr<size_t> n =
          b.Read(absl::MakeSpan(&discard[got], filled - got), In(kSafety));
      ASSERT_TRUE(n.ok() && *n > 0) << n.status();
      got += *n;
    }
    EXPECT_EQ(discard, std::string(filled, 'f'));
    FramedConnection receiver(std::move(b));
    for (uint64_t id : {1, 2}) {
      absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
      ASSERT_TRUE(m.ok()) << m.status();
      ExpectTestMessage(*m, id, id == 1 ? 3000 : 70000);
    }
  });
  EXPECT_TRUE(sender.Flush(In(kSafety)).ok());
  EXPECT_TRUE(sender.Send(TestMessage(2, 70000), In(kSafety)).ok());
  reader.join();
  EXPECT_EQ(sender.queued_bytes(), 0u);
}

// A Receive() right after a Send() (the fast path wrote everything) waits
// for the reply within its deadline and the idle timeout, in both socket
// modes, and a reply that is already there is read at once.
TEST(FramedConnectionSendTest, ReceiveAfterSendHonoursDeadlines) {
  for (WaitMode wait_mode : kWaitModes) {
    SCOPED_TRACE(WaitModeName(wait_mode));
    ConnectionOptions options;
    options.wait_mode = wait_mode;
    auto [a, b] = SocketPairConnections(options, options);
    ASSERT_TRUE(a.Send(TestMessage(1, 10)).ok());
    absl::Time start = absl::Now();
    absl::StatusOr<Message> m = a.Receive(start + absl::Milliseconds(50));
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
    EXPECT_EQ(GetFrameErrorCode(m.status()), FrameErrorCode::kNone);
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(b.Send(*m).ok());
    absl::SleepFor(absl::Milliseconds(20));  // the reply is there before the next Receive()
    ASSERT_TRUE(a.Send(TestMessage(2, 20)).ok());
    m = a.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 1, 10);
    // A deadline already past still takes a reply that has arrived.
    m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(b.Send(*m).ok());
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(a.Send(TestMessage(4, 30)).ok());
    const uint64_t reads = a.stats().read_calls;
    m = a.Receive(absl::InfinitePast());
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 2, 20);
    EXPECT_EQ(a.stats().read_calls, reads + 1);
    m = a.Receive(absl::InfinitePast());  // nothing there: a deadline, not a failure
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
    m = b.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectTestMessage(*m, 4, 30);

    ConnectionOptions idle = options;
    idle.idle_timeout = absl::Milliseconds(50);
    auto [c, d] = SocketPairConnections(idle, options);
    ASSERT_TRUE(c.Send(TestMessage(3, 10)).ok());
    start = absl::Now();
    m = c.Receive();
    ExpectFrameError(m.status(), FrameErrorCode::kIdleTimeout);
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  }
}

// The owned batch buffer is reused after it was written: contents stay
// intact across many sizes and batch boundaries (a small batch_bytes makes
// runs roll over often), mixing Queue(), Flush() and Send().
TEST(FramedConnectionSendTest, BatchBufferReuseKeepsContentIntact) {
  ConnectionOptions options;
  options.batch_bytes = 1500;
  auto [sender, receiver] = SocketPairConnections(options);
  constexpr int kCount = 600;
  auto size_of = [](int i) -> uint64_t { return static_cast<uint64_t>((i * 37) % 5000); };
  std::thread send_thread([&, &sender = sender] {
    for (int i = 0; i < kCount; ++i) {
      const Message m = TestMessage(i + 1, size_of(i));
      absl::Status s;
      switch (i % 4) {
        case 0:
        case 1:
          s = sender.Queue(m, In(kSafety));
          break;
        case 2:
          s = sender.Send(m, In(kSafety));
          break;
        default:
          s = sender.Queue(m, In(kSafety));
          if (s.ok()) s = sender.Flush(In(kSafety));
      }
      if (!s.ok()) {
        ADD_FAILURE() << "message " << i << ": " << s;
        return;
      }
    }
    EXPECT_TRUE(sender.Flush(In(kSafety)).ok());
  });
  for (int i = 0; i < kCount; ++i) {
    absl::StatusOr<Message> m = receiver.Receive(In(kSafety));
    ASSERT_TRUE(m.ok()) << "message " << i << ": " << m.status();
    ExpectTestMessage(*m, i + 1, size_of(i));
    if (HasFailure()) break;
  }
  send_thread.join();
}

// Small messages cost no allocation per Send() (written straight from the
// encoded frame), and Queue()+Flush() reuses the written batch buffer.
// A 64 B message with the minimal envelope (id and kind): sorting a
// metadata map of two or more entries for deterministic bytes allocates in
// the encoder.
Message MinimalSmallMessage() {
  Message m = TestMessage(1, 64);
  m.envelope.Clear();
  m.envelope.set_id(1);
  m.envelope.set_kind(KIND_REQUEST);
  return m;
}

TEST(FramedConnectionSendTest, SmallSendsDoNotAllocate) {
  auto [sender, receiver] = SocketPairConnections();
  const Message m = MinimalSmallMessage();
  constexpr int kRounds = 50;
  constexpr int kPerRound = 8;
  // Warm-up: the encoder's prefix buffer and the batch buffer get their size.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sender.Send(m, In(kSafety)).ok());
    ASSERT_TRUE(sender.Queue(m, In(kSafety)).ok());
    ASSERT_TRUE(sender.Flush(In(kSafety)).ok());
  }
  int sent = 6;
  uint64_t send_allocations = 0;
  uint64_t queue_allocations = 0;
  for (int round = 0; round < kRounds; ++round) {
    {
      AllocationCounter counter;
      for (int i = 0; i < kPerRound; ++i) ASSERT_TRUE(sender.Send(m, In(kSafety)).ok());
      send_allocations += counter.count();
    }
    {
      AllocationCounter counter;
      for (int i = 0; i < kPerRound; ++i) ASSERT_TRUE(sender.Queue(m, In(kSafety)).ok());
      ASSERT_TRUE(sender.Flush(In(kSafety)).ok());
      queue_allocations += counter.count();
    }
    sent += 2 * kPerRound;
    for (; sent > 0; --sent) {
      absl::StatusOr<Message> got = receiver.Receive(In(kSafety));
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(MessageDifferencer::Equals(got->envelope, m.envelope));
      EXPECT_EQ(PatternMismatch(got->payload, 64, 1), "");
    }
  }
  EXPECT_EQ(send_allocations, 0u) << "allocations in " << kRounds * kPerRound << " Send()s";
  // At most the deque's node now and then, not a buffer per batch.
  EXPECT_LE(queue_allocations, static_cast<uint64_t>(kRounds / 4))
      << "allocations in " << kRounds << " Queue()+Flush() batches";
}

// A loop that receives small messages into the same Message allocates
// nothing per message (the payload's buffer is reused), while the sender
// lets go of each payload once it is written.
TEST(FramedConnectionReceiveTest, SmallReceivesIntoTheSameMessageDoNotAllocate) {
  auto [sender, receiver] = SocketPairConnections();
  const Message m = MinimalSmallMessage();
  constexpr int kMessages = 200;
  Message got;
  uint64_t allocations = 0;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(sender.Send(m, In(kSafety)).ok());
    AllocationCounter counter;
    ASSERT_TRUE(receiver.Receive(&got, In(kSafety)).ok());
    if (i >= 2) allocations += counter.count();  // after a warm-up
    ASSERT_EQ(PatternMismatch(got.payload, 64, 1), "");
  }
  EXPECT_EQ(allocations, 0u) << "allocations in " << kMessages - 2 << " Receive()s";
  // Send() keeps no reference to a payload it wrote: the caller's is its own.
  absl::Cord payload = PatternCord(64, 1);
  absl::Cord copy = payload;
  ASSERT_TRUE(sender.Send(m.envelope, std::move(copy), In(kSafety)).ok());
  EXPECT_EQ(payload.GetAppendBuffer(0, 0).length(), 64u) << "the payload is still shared";
}

}  // namespace
}  // namespace lpframe

// Counting operator new (see AllocationCounter above).
void* operator new(size_t size) {
  if (lpframe::g_count_allocations) ++lpframe::g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return ::operator new(size); }
// The nothrow forms too (protobuf uses them), so that every form of delete
// below frees what our new allocated (AddressSanitizer checks the pairing).
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  if (lpframe::g_count_allocations) ++lpframe::g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
