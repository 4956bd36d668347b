#include "conformance/segment_relay.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "conformance/segment_plan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"

namespace lpframe {
namespace conformance {
namespace {

using ::testing::ElementsAre;

enum class Transport { kTcp, kUnix };

absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

std::string ListenUri(Transport transport) {
  static int counter = 0;
  if (transport == Transport::kTcp) return "tcp://127.0.0.1:0";
  return absl::StrCat("unix:/tmp/lpframe_relay_", getpid(), "_", counter++, ".sock");
}

std::string Pattern(size_t size) {
  std::mt19937 random(size);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

bool IsReset(const absl::Status& status) {
  return absl::StrContains(status.message(), absl::StrCat("(errno ", ECONNRESET, ")"));
}

int CountOpenFds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

// Everything one socket reads until end of stream or an error.
struct Seen {
  std::string bytes;
  std::vector<size_t> reads;
  std::vector<absl::Time> times;  // when each read returned
  absl::Status end;               // OK at end of stream
};

Seen ReadToEnd(Socket& socket) {
  Seen seen;
  std::vector<char> buffer(64 * 1024);
  while (true) {
    absl::StatusOr<size_t> n = socket.Read(absl::MakeSpan(buffer), Deadline());
    if (!n.ok() || *n == 0) {
      seen.end = n.status();
      return seen;
    }
    seen.reads.push_back(*n);
    seen.times.push_back(absl::Now());
    seen.bytes.append(buffer.data(), *n);
  }
}

// The relay's target: accepts one connection and records its reads (64 KiB
// buffer); kEcho writes them back, kClose closes at once. Closes after end
// of stream.
class Target {
 public:
  enum Mode { kSink, kEcho, kClose };

  static absl::StatusOr<std::unique_ptr<Target>> Start(Transport transport, Mode mode) {
    absl::StatusOr<Listener> listener = Listener::Listen(ListenUri(transport));
    if (!listener.ok()) return listener.status();
    return std::unique_ptr<Target>(new Target(*std::move(listener), mode));
  }
  ~Target() { Wait(); }

  const std::string& address() const { return listener_.address(); }
  // What the connection carried, once it has ended.
  const Seen& Wait() {
    if (thread_.joinable()) thread_.join();
    return seen_;
  }

 private:
  Target(Listener listener, Mode mode) : listener_(std::move(listener)), mode_(mode) {
    thread_ = std::thread([this] { Serve(); });
  }

  void Serve() {
    absl::StatusOr<Socket> socket = listener_.Accept(Deadline());
    if (!socket.ok() || mode_ == kClose) {
      seen_.end = socket.status();
      return;
    }
    std::vector<char> buffer(64 * 1024);
    while (true) {
      absl::StatusOr<size_t> n = socket->Read(absl::MakeSpan(buffer), Deadline());
      if (!n.ok() || *n == 0) {
        seen_.end = n.status();
        return;
      }
      seen_.reads.push_back(*n);
      seen_.times.push_back(absl::Now());
      seen_.bytes.append(buffer.data(), *n);
      if (mode_ == kEcho) {
        absl::Status written = socket->WriteAll(absl::string_view(buffer.data(), *n), Deadline());
        if (!written.ok()) {
          seen_.end = written;
          return;
        }
      }
    }
  }

  Listener listener_;
  const Mode mode_;
  Seen seen_;
  std::thread thread_;
};

class SegmentRelayTest : public testing::TestWithParam<Transport> {
 protected:
  // A target in `mode`, a relay in front of it, and a client connected to it.
  void StartRelay(Target::Mode mode, RelayDirection upstream, RelayDirection downstream = {}) {
    absl::StatusOr<std::unique_ptr<Target>> target = Target::Start(GetParam(), mode);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = *std::move(target);
    absl::StatusOr<std::unique_ptr<SegmentRelay>> relay =
        SegmentRelay::Start(ListenUri(GetParam()), target_->address(), upstream, downstream);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    absl::StatusOr<Socket> client = Socket::Connect(relay_->address(), Deadline());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  std::pair<RelayRecord, RelayRecord> Records() {
    absl::StatusOr<std::pair<RelayRecord, RelayRecord>> records = relay_->Wait(0, Deadline());
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::pair<RelayRecord, RelayRecord>();
  }

  std::unique_ptr<Target> target_;
  std::unique_ptr<SegmentRelay> relay_;
  Socket client_;
};

TEST_P(SegmentRelayTest, WholePassesAMegabyteAndItsEcho) {
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kEcho, {}));
  const std::string input = Pattern(1 << 20);
  Seen echoed;
  std::thread reader([&] { echoed = ReadToEnd(client_); });
  EXPECT_TRUE(client_.WriteAll(input, Deadline()).ok());
  EXPECT_TRUE(client_.ShutdownWrite().ok());
  reader.join();
  EXPECT_TRUE(echoed.end.ok()) << echoed.end;
  EXPECT_TRUE(echoed.bytes == input) << "echo differs, " << echoed.bytes.size() << " bytes";
  EXPECT_TRUE(target_->Wait().bytes == input);
  const auto [up, down] = Records();
  EXPECT_EQ(up.bytes_forwarded, input.size());
  EXPECT_EQ(down.bytes_forwarded, input.size());
  EXPECT_TRUE(up.end.ok()) << up.end;
  EXPECT_TRUE(down.end.ok()) << down.end;
}

struct SegmentRow {
  std::string name;
  RelayDirection upstream;
  std::vector<size_t> pieces;    // the client's writes, 2 ms apart
  std::vector<size_t> expected;  // the relay's writes, hence the target's reads
};

std::vector<SegmentRow> SegmentRows() {
  const absl::Duration pause = absl::Milliseconds(2);
  std::vector<SegmentRow> rows;
  rows.push_back({"chop7", {SegmentPlan::Chop(7), pause}, {100}, {}});
  rows.back().expected.assign(14, 7);
  rows.back().expected.push_back(2);
  rows.push_back({"cut(3,24)", {SegmentPlan::Offsets({3, 24}), pause}, {100}, {3, 21, 76}});
  rows.push_back({"random", {SegmentPlan::SeededRandom(5, 20), pause}, {100}, {}});
  size_t last = 0;
  for (size_t cut : rows.back().upstream.segments.Cuts(100)) {
    rows.back().expected.push_back(cut - last);
    last = cut;
  }
  rows.back().expected.push_back(100 - last);
  rows.push_back({"coalesce100", {}, std::vector<size_t>(10, 10), {100}});
  rows.back().upstream.coalesce_until = 100;
  return rows;
}

// Offsets where the reads (or writes) of `sizes` end.
std::vector<size_t> Ends(const std::vector<size_t>& sizes) {
  std::vector<size_t> ends;
  size_t at = 0;
  for (size_t size : sizes) ends.push_back(at += size);
  return ends;
}

TEST_P(SegmentRelayTest, TargetReadsArePlannedSegments) {
  for (const SegmentRow& row : SegmentRows()) {
    SCOPED_TRACE(row.name);
    // The relay's writes are exact. The target sees each as its own read
    // unless it is descheduled for a whole pause (then reads merge whole
    // segments, never split one): under load, retry with longer pauses.
    Seen seen;
    for (absl::Duration pause : {absl::Milliseconds(2), absl::Milliseconds(10),
                                 absl::Milliseconds(50)}) {
      RelayDirection upstream = row.upstream;
      if (upstream.pause > absl::ZeroDuration()) upstream.pause = pause;
      ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kSink, upstream));
      const std::string input = Pattern(100);
      size_t at = 0;
      for (size_t piece : row.pieces) {
        ASSERT_TRUE(client_.WriteAll(input.substr(at, piece), Deadline()).ok());
        at += piece;
        absl::SleepFor(absl::Milliseconds(2));
      }
      ASSERT_TRUE(client_.ShutdownWrite().ok());
      seen = target_->Wait();
      EXPECT_EQ(seen.bytes, input);
      EXPECT_EQ(Records().first.writes, row.expected);
      EXPECT_THAT(Ends(seen.reads), testing::IsSubsetOf(Ends(row.expected)));
      relay_.reset();
      if (seen.reads == row.expected) break;
    }
    EXPECT_EQ(seen.reads, row.expected);
  }
}

TEST_P(SegmentRelayTest, EofAtHalfClosesAndDiscardsTheRest) {
  RelayDirection up;
  up.eof_at = 40;
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kSink, up));
  const std::string input = Pattern(100);
  ASSERT_TRUE(client_.WriteAll(input, Deadline()).ok());
  ASSERT_TRUE(client_.ShutdownWrite().ok());
  const Seen& seen = target_->Wait();
  EXPECT_TRUE(seen.end.ok()) << seen.end;  // end of stream after 40 bytes
  EXPECT_EQ(seen.bytes, input.substr(0, 40));
  const RelayRecord up_record = Records().first;
  EXPECT_TRUE(up_record.eof_injected);
  EXPECT_EQ(up_record.bytes_forwarded, 40u);
  EXPECT_EQ(up_record.bytes_discarded, 60u);
  EXPECT_TRUE(up_record.end.ok()) << up_record.end;
}

TEST_P(SegmentRelayTest, ResetAtAbortsBothLegs) {
  RelayDirection up;
  up.reset_at = 30;
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kSink, up));
  ASSERT_TRUE(client_.WriteAll(Pattern(100), Deadline()).ok());
  const Seen& seen = target_->Wait();
  EXPECT_EQ(seen.bytes, Pattern(100).substr(0, 30));
  const Seen at_client = ReadToEnd(client_);
  EXPECT_TRUE(at_client.bytes.empty());
  if (GetParam() == Transport::kTcp) {
    EXPECT_TRUE(IsReset(seen.end)) << seen.end;
    EXPECT_TRUE(IsReset(at_client.end)) << at_client.end;
  } else {  // AF_UNIX has no RST: end of stream or ECONNRESET
    EXPECT_TRUE(seen.end.ok() || IsReset(seen.end)) << seen.end;
    EXPECT_TRUE(at_client.end.ok() || IsReset(at_client.end)) << at_client.end;
  }
  const auto [up_record, down_record] = Records();
  EXPECT_TRUE(up_record.reset_injected);
  EXPECT_EQ(up_record.bytes_forwarded, 30u);
  EXPECT_TRUE(absl::IsAborted(down_record.end)) << down_record.end;
}

TEST_P(SegmentRelayTest, StallDelaysTheBytesAfterStallAt) {
  RelayDirection up;
  up.stall_at = 10;
  up.stall = absl::Milliseconds(100);
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kSink, up));
  ASSERT_TRUE(client_.WriteAll(Pattern(20), Deadline()).ok());
  ASSERT_TRUE(client_.ShutdownWrite().ok());
  const Seen& seen = target_->Wait();
  ASSERT_THAT(seen.reads, ElementsAre(10, 10));
  EXPECT_GE(seen.times[1] - seen.times[0], absl::Milliseconds(90));
  EXPECT_THAT(Records().first.writes, ElementsAre(10, 10));
}

TEST_P(SegmentRelayTest, SenderHalfClosePropagates) {
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kEcho, {}));
  ASSERT_TRUE(client_.WriteAll("hello", Deadline()).ok());
  ASSERT_TRUE(client_.ShutdownWrite().ok());
  const Seen& seen = target_->Wait();
  EXPECT_EQ(seen.bytes, "hello");
  EXPECT_TRUE(seen.end.ok()) << seen.end;  // end of stream after the data
  const Seen echoed = ReadToEnd(client_);
  EXPECT_EQ(echoed.bytes, "hello");
  EXPECT_TRUE(echoed.end.ok()) << echoed.end;
}

TEST_P(SegmentRelayTest, TargetClosePropagatesToTheClient) {
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kClose, {}));
  const Seen at_client = ReadToEnd(client_);  // the client has not half-closed
  EXPECT_TRUE(at_client.bytes.empty());
  EXPECT_TRUE(at_client.end.ok()) << at_client.end;
  client_.Close();
  EXPECT_TRUE(Records().second.end.ok());
}

TEST_P(SegmentRelayTest, DestructorEndsOpenConnectionsPromptlyWithoutLeaks) {
  const int fds_before = CountOpenFds();
  ASSERT_NO_FATAL_FAILURE(StartRelay(Target::kEcho, {}));
  ASSERT_TRUE(client_.WriteAll("ping", Deadline()).ok());
  std::vector<char> buffer(4);
  ASSERT_TRUE(client_.Read(absl::MakeSpan(buffer), Deadline()).ok());  // the relay is live
  const absl::Time start = absl::Now();
  relay_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(ReadToEnd(client_).end.ok());
  target_.reset();
  client_.Close();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_P(SegmentRelayTest, UndialableTargetClosesTheClient) {
  std::string target_uri;
  {
    absl::StatusOr<Listener> gone = Listener::Listen(ListenUri(GetParam()));
    ASSERT_TRUE(gone.ok()) << gone.status();
    target_uri = gone->address();
  }  // closed (and its Unix path removed)
  absl::StatusOr<std::unique_ptr<SegmentRelay>> relay =
      SegmentRelay::Start(ListenUri(GetParam()), target_uri, {});
  ASSERT_TRUE(relay.ok()) << relay.status();
  absl::StatusOr<Socket> client = Socket::Connect((*relay)->address(), Deadline());
  ASSERT_TRUE(client.ok()) << client.status();
  const Seen seen = ReadToEnd(*client);
  EXPECT_TRUE(seen.end.ok() || IsReset(seen.end)) << seen.end;
  absl::StatusOr<std::pair<RelayRecord, RelayRecord>> records = (*relay)->Wait(0, Deadline());
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(absl::IsUnavailable(records->first.end)) << records->first.end;
  EXPECT_TRUE(absl::IsUnavailable(records->second.end)) << records->second.end;
  EXPECT_TRUE(absl::IsDeadlineExceeded((*relay)->Wait(1, absl::Now()).status()));
}

INSTANTIATE_TEST_SUITE_P(Transports, SegmentRelayTest,
                         testing::Values(Transport::kTcp, Transport::kUnix),
                         [](const testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kTcp ? "Tcp" : "Unix";
                         });

TEST(SegmentRelayStartTest, RejectsAnUnparseableListenUri) {
  absl::StatusOr<std::unique_ptr<SegmentRelay>> relay =
      SegmentRelay::Start("nonsense://", "tcp://127.0.0.1:1", {});
  EXPECT_TRUE(absl::IsInvalidArgument(relay.status())) << relay.status();
}

}  // namespace
}  // namespace conformance
}  // namespace lpframe
