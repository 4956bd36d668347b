#include "lib/io/send_queue.h"

#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "gtest/gtest.h"
#include "lib/frame_encoder.h"

namespace lpframe {
namespace {

// Drains `queue` through iovecs in writes of at most `step` bytes.
std::string Drain(SendQueue& queue, size_t step) {
  std::string out;
  std::vector<struct iovec> iov;
  while (!queue.empty()) {
    queue.FillIovecs(&iov, 3);
    size_t budget = step;
    size_t taken = 0;
    for (const struct iovec& v : iov) {
      const size_t n = std::min(budget, v.iov_len);
      out.append(static_cast<const char*>(v.iov_base), n);
      budget -= n;
      taken += n;
      if (budget == 0) break;
    }
    queue.Consume(taken);
  }
  return out;
}

TEST(SendQueueTest, FramesComeOutInOrderWhateverTheWriteSizes) {
  FrameEncoder encoder;
  std::string expected;
  for (size_t step : {1, 2, 3, 7, 13, 64, 4096, 1 << 20}) {
    SCOPED_TRACE(step);
    SendQueue queue(/*copy_payload_bytes=*/16, /*run_bytes=*/100);
    expected.clear();
    for (int i = 0; i < 20; ++i) {
      Envelope envelope;
      envelope.set_id(i);
      // Small payloads are copied, large ones referenced.
      absl::Cord payload(std::string(i % 2 == 0 ? 5 : 300 + i, static_cast<char>('a' + i)));
      absl::StatusOr<EncodedFrame> frame = encoder.Encode(envelope, payload);
      ASSERT_TRUE(frame.ok());
      queue.Append(*frame);
      expected += frame->ToString();
    }
    EXPECT_EQ(queue.size(), expected.size());
    EXPECT_EQ(Drain(queue, step), expected);
    EXPECT_TRUE(queue.empty());
  }
}

TEST(SendQueueTest, LargePayloadIsReferencedNotCopied) {
  SendQueue queue(/*copy_payload_bytes=*/16);
  std::string big(1 << 16, 'x');
  absl::Cord cord = absl::MakeCordFromExternal(big, [] {});
  queue.AppendCord(cord);
  std::vector<struct iovec> iov;
  queue.FillIovecs(&iov);
  ASSERT_EQ(iov.size(), 1u);
  EXPECT_EQ(iov[0].iov_base, big.data());
  queue.Consume(10);
  queue.FillIovecs(&iov);
  EXPECT_EQ(iov[0].iov_base, big.data() + 10);
  queue.Clear();
  EXPECT_TRUE(queue.empty());
}

TEST(SendQueueTest, AppendAfterPartialConsumeKeepsOrder) {
  SendQueue queue;
  queue.AppendBytes("hello ");
  queue.Consume(2);
  queue.AppendBytes("world");
  EXPECT_EQ(Drain(queue, 4), "llo world");
}

// Prepended bytes come out first: into an empty queue, before copied runs
// and referenced payloads, and after a partial write of the front piece
// (whose sent part is gone), for every write size.
TEST(SendQueueTest, PrependedBytesComeOutFirst) {
  const std::string big(5000, 'p');
  for (size_t step : {1, 3, 64, 1 << 20}) {
    SCOPED_TRACE(step);
    SendQueue empty;
    empty.PrependBytes("only");
    EXPECT_EQ(empty.size(), 4u);
    EXPECT_EQ(Drain(empty, step), "only");

    SendQueue runs(/*copy_payload_bytes=*/16);
    runs.AppendBytes("run");
    runs.AppendCord(absl::MakeCordFromExternal(big, [] {}));
    runs.PrependBytes("first ");
    runs.PrependBytes("");  // nothing
    EXPECT_EQ(runs.size(), 6 + 3 + big.size());
    EXPECT_EQ(Drain(runs, step), "first run" + big);

    for (bool cord_front : {false, true}) {
      SCOPED_TRACE(cord_front ? "referenced front" : "copied front");
      SendQueue partial(/*copy_payload_bytes=*/16);
      if (cord_front) {
        partial.AppendCord(absl::MakeCordFromExternal(big, [] {}));
      } else {
        partial.AppendBytes(big);
      }
      partial.AppendBytes("tail");
      partial.Consume(4000);
      partial.PrependBytes("rest of an earlier buffer ");
      EXPECT_EQ(partial.size(), 26 + 1000 + 4);
      EXPECT_EQ(Drain(partial, step), "rest of an earlier buffer " + big.substr(4000) + "tail");
    }
  }
}

TEST(SendQueueTest, EmptiedRunIsReusedAndNeverYieldsAnEmptyIovec) {
  SendQueue queue(/*copy_payload_bytes=*/16);
  std::vector<struct iovec> iov;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    queue.AppendBytes("request-reply");
    queue.FillIovecs(&iov);
    ASSERT_EQ(iov.size(), 1u);
    queue.Consume(13);
    EXPECT_TRUE(queue.empty());
    queue.FillIovecs(&iov);
    EXPECT_TRUE(iov.empty());
  }
  // A referenced payload after the emptied run comes out first and alone.
  std::string big(1 << 10, 'y');
  absl::Cord cord = absl::MakeCordFromExternal(big, [] {});
  queue.AppendCord(cord);
  queue.AppendBytes("tail");
  queue.FillIovecs(&iov);
  ASSERT_EQ(iov.size(), 2u);
  EXPECT_EQ(iov[0].iov_base, big.data());
  EXPECT_EQ(Drain(queue, 100), big + "tail");
  queue.AppendBytes("again");
  EXPECT_EQ(Drain(queue, 2), "again");
}

// Runs before and after a referenced payload, all sent: the queue keeps
// the last run for reuse and lets the first one go, so an idle connection
// holds one buffer, as much as a queue that only ever held that run.
TEST(SendQueueTest, AnEmptiedQueueKeepsOneRun) {
  const std::string big(1 << 12, 'b');
  SendQueue mixed(/*copy_payload_bytes=*/16);
  mixed.AppendBytes(std::string(3000, 'x'));
  mixed.AppendCord(absl::MakeCordFromExternal(big, [] {}));
  mixed.AppendBytes(std::string(3000, 'y'));
  const uint64_t in_use = mixed.capacity_bytes();
  EXPECT_GE(in_use, 6000u);
  EXPECT_EQ(Drain(mixed, 1000), std::string(3000, 'x') + big + std::string(3000, 'y'));

  SendQueue single(/*copy_payload_bytes=*/16);
  single.AppendBytes(std::string(3000, 'y'));
  EXPECT_EQ(Drain(single, 1000), std::string(3000, 'y'));
  EXPECT_GT(single.capacity_bytes(), 0u);
  EXPECT_EQ(mixed.capacity_bytes(), single.capacity_bytes());

  mixed.Clear();
  EXPECT_EQ(mixed.capacity_bytes(), 0u);
}

}  // namespace
}  // namespace lpframe
