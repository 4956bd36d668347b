// Proves that a huge declared length never makes the decoder allocate
// beyond what arrived: every operator new/delete of the process is replaced
// to count live bytes and the largest single allocation.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/block_pool.h"
#include "lib/frame_decoder.h"
#include "lib/frame_error.h"
#include "lib/frame_limits.h"
#include "lib/wire_format.h"

namespace {

std::atomic<int64_t> g_live_bytes{0};
std::atomic<size_t> g_largest{0};
std::atomic<int64_t> g_peak_live{0};

// Every block carries its size in a header of `kHeader` bytes (or `align`
// bytes for over-aligned allocations) just before the returned pointer.
constexpr size_t kHeader = 2 * sizeof(std::max_align_t) > 16 ? 2 * sizeof(std::max_align_t) : 16;

void Note(size_t size) {
  const int64_t live = g_live_bytes.fetch_add(static_cast<int64_t>(size)) +
                       static_cast<int64_t>(size);
  size_t largest = g_largest.load();
  while (size > largest && !g_largest.compare_exchange_weak(largest, size)) {
  }
  int64_t peak = g_peak_live.load();
  while (live > peak && !g_peak_live.compare_exchange_weak(peak, live)) {
  }
}

void* Allocate(size_t size, size_t align, bool nothrow) {
  const size_t header = align > kHeader ? align : kHeader;
  void* base = align > alignof(std::max_align_t)
                   ? std::aligned_alloc(align, ((header + size + align - 1) / align) * align)
                   : std::malloc(header + size);
  if (base == nullptr) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  char* p = static_cast<char*>(base) + header;
  reinterpret_cast<size_t*>(p)[-1] = size;
  reinterpret_cast<size_t*>(p)[-2] = header;
  Note(size);
  return p;
}

void Deallocate(void* ptr) {
  if (ptr == nullptr) return;
  char* p = static_cast<char*>(ptr);
  const size_t size = reinterpret_cast<size_t*>(p)[-1];
  const size_t header = reinterpret_cast<size_t*>(p)[-2];
  g_live_bytes.fetch_sub(static_cast<int64_t>(size));
  std::free(p - header);
}

}  // namespace

void* operator new(size_t n) { return Allocate(n, 0, false); }
void* operator new[](size_t n) { return Allocate(n, 0, false); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0, true); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0, true); }
void* operator new(size_t n, std::align_val_t a) {
  return Allocate(n, static_cast<size_t>(a), false);
}
void* operator new[](size_t n, std::align_val_t a) {
  return Allocate(n, static_cast<size_t>(a), false);
}
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<size_t>(a), true);
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<size_t>(a), true);
}
void operator delete(void* p) noexcept { Deallocate(p); }
void operator delete[](void* p) noexcept { Deallocate(p); }
void operator delete(void* p, size_t) noexcept { Deallocate(p); }
void operator delete[](void* p, size_t) noexcept { Deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { Deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Deallocate(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Deallocate(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { Deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  Deallocate(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  Deallocate(p);
}

namespace lpframe {
namespace {

constexpr size_t kBlock = BlockPool::kDefaultBlockSize;  // 256 KiB
constexpr size_t kSlack = 16 << 10;                      // headers, Cord nodes, ...

// Measures allocations made between construction and Stop().
class AllocationWindow {
 public:
  AllocationWindow() : live_at_start_(g_live_bytes.load()) {
    g_largest = 0;
    g_peak_live = live_at_start_;
  }
  size_t largest() const { return g_largest.load(); }
  int64_t peak_growth() const { return g_peak_live.load() - live_at_start_; }
  int64_t live_growth() const { return g_live_bytes.load() - live_at_start_; }

 private:
  int64_t live_at_start_;
};

std::string Header(uint64_t payload_length, uint32_t envelope_length = 0) {
  FrameHeader h;
  h.payload_length = payload_length;
  h.envelope_length = envelope_length;
  std::string out(kHeaderSize, '\0');
  EncodeFrameHeader(h, &out[0]);
  return out;
}

// The counters see the allocations this test makes.
TEST(AllocationCounterTest, SeesEveryKindOfAllocation) {
  {
    AllocationWindow w;
    char* p = new char[3 << 20];
    p[0] = 1;
    EXPECT_EQ(w.largest(), size_t{3} << 20);
    EXPECT_GE(w.live_growth(), 3 << 20);
    delete[] p;
    EXPECT_LT(w.live_growth(), 1 << 20);
  }
  {
    AllocationWindow w;
    std::string s(5 << 20, 'x');
    EXPECT_GE(w.largest(), size_t{5} << 20);
  }
  {
    struct alignas(64) Aligned {
      char bytes[1 << 20];
    };
    AllocationWindow w;
    Aligned* a = new Aligned;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
    EXPECT_EQ(w.largest(), sizeof(Aligned));
    delete a;
    EXPECT_LT(w.live_growth(), 1 << 20);
  }
  {
    // Pool blocks are mappings: the pool counts them, operator new does not.
    auto pool = BlockPool::Create(kBlock, 0);
    AllocationWindow w;
    char* block = pool->Acquire();
    EXPECT_EQ(pool->mapped_bytes(), kBlock);
    EXPECT_LT(w.largest(), kBlock);
    pool->Release(block);
    EXPECT_EQ(pool->mapped_bytes(), 0u);
  }
}

struct Case {
  const char* name;
  uint64_t max_payload_bytes;
  uint64_t declared;
};

class HugeDeclaredLengthTest : public ::testing::TestWithParam<Case> {};

INSTANTIATE_TEST_SUITE_P(
    Cases, HugeDeclaredLengthTest,
    ::testing::Values(Case{"oneGiBWithLimit2Pow40", uint64_t{1} << 40, uint64_t{1} << 30},
                      Case{"sixtyMiBWithDefaultLimits", FrameLimits::kDefaultMaxPayloadBytes,
                           uint64_t{60} << 20},
                      Case{"justUnderTheDefaultLimit", FrameLimits::kDefaultMaxPayloadBytes,
                           FrameLimits::kDefaultMaxPayloadBytes}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST_P(HugeDeclaredLengthTest, StorageFollowsTheBytesThatArrived) {
  const Case& c = GetParam();
  const std::string payload(1000, 'p');
  for (bool one_feed : {true, false}) {
    SCOPED_TRACE(one_feed ? "header and payload in one Feed" : "fed in 7-byte pieces");
    DecoderOptions options;
    options.limits.max_payload_bytes = c.max_payload_bytes;
    options.pool = BlockPool::Create();  // no cached blocks: every block is allocated
    const std::string bytes = Header(c.declared) + payload;
    AllocationWindow w;
    {
      FrameDecoder decoder(options);
      Message out;
      if (one_feed) {
        decoder.Feed(bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); i += 7) {
          decoder.Feed(bytes.substr(i, 7));
          ASSERT_TRUE(decoder.Next(&out).need_more());
        }
      }
      DecodeStep step = decoder.Next(&out);
      ASSERT_TRUE(step.need_more()) << step.error();
      EXPECT_EQ(step.bytes_needed(), c.declared - payload.size());
      EXPECT_GT(decoder.reserved_bytes(), 0u);
      EXPECT_LE(decoder.reserved_bytes(), kBlock + kSlack);
      EXPECT_LE(w.largest(), kBlock + kSlack);
      EXPECT_LE(w.peak_growth(), static_cast<int64_t>(kBlock + kSlack));
      EXPECT_LE(options.pool->mapped_bytes(), kBlock);
      // And through PrepareRead: the lent span is one block, not the payload.
      absl::Span<char> span = decoder.PrepareRead(1 << 30);
      EXPECT_TRUE(decoder.read_is_direct());
      EXPECT_LE(span.size(), kBlock);
      decoder.CommitRead(0);
      EXPECT_LE(w.largest(), kBlock + kSlack);
      EXPECT_LE(w.peak_growth(), static_cast<int64_t>(kBlock + kSlack));
      EXPECT_LE(options.pool->mapped_bytes(), kBlock);
      const absl::Status finish = decoder.Finish();
      EXPECT_EQ(GetFrameErrorCode(finish), FrameErrorCode::kTruncatedPayload) << finish;
      EXPECT_LE(w.largest(), kBlock + kSlack);
    }
    // Everything is returned once the decoder (and its own pool) is gone.
    options.pool.reset();
    EXPECT_LE(w.live_growth(), static_cast<int64_t>(kSlack));
  }
}

// A declared envelope is buffered as it arrives, not reserved up front.
TEST(HugeDeclaredEnvelopeTest, StorageFollowsTheBytesThatArrived) {
  DecoderOptions options;
  options.limits.max_envelope_bytes = FrameLimits::kMaxEnvelopeLimit;  // 64 MiB
  const std::string bytes = Header(10, FrameLimits::kMaxEnvelopeLimit) + std::string(1000, '\x08');
  AllocationWindow w;
  FrameDecoder decoder(options);
  decoder.Feed(bytes);
  Message out;
  ASSERT_TRUE(decoder.Next(&out).need_more());
  EXPECT_LE(decoder.reserved_bytes(), 64u << 10);
  EXPECT_LE(w.largest(), 64u << 10);
  EXPECT_LE(w.peak_growth(), 64 << 10);
}

// Many 1-byte payload pieces of a large declared payload: growth stays at
// one block, whatever the segmentation.
TEST(HugeDeclaredLengthDribbleTest, OneBlockWhileTheFirstBlockFills) {
  DecoderOptions options;
  options.pool = BlockPool::Create();
  AllocationWindow w;
  FrameDecoder decoder(options);
  decoder.Feed(Header(uint64_t{50} << 20));
  Message out;
  for (int i = 0; i < 5000; ++i) {
    decoder.Feed("x");
    ASSERT_TRUE(decoder.Next(&out).need_more());
  }
  EXPECT_LE(decoder.reserved_bytes(), kBlock + kSlack);
  EXPECT_LE(w.largest(), kBlock + kSlack);
  EXPECT_LE(w.peak_growth(), static_cast<int64_t>(kBlock + kSlack));
  EXPECT_LE(options.pool->mapped_bytes(), kBlock);
}

}  // namespace
}  // namespace lpframe
