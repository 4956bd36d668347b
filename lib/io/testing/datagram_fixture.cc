#include "lib/io/testing/datagram_fixture.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "lib/io/testing/transport_fixture.h"

namespace lpframe {
namespace iotest {

std::vector<DatagramKind> AllDatagramKinds() {
  return {DatagramKind::kUdp4, DatagramKind::kUdp6, DatagramKind::kUnixgramPath,
          DatagramKind::kUnixgramAbstract};
}

std::string DatagramKindName(const ::testing::TestParamInfo<DatagramKind>& info) {
  switch (info.param) {
    case DatagramKind::kUdp4: return "udp4";
    case DatagramKind::kUdp6: return "udp6";
    case DatagramKind::kUnixgramPath: return "unixgram_path";
    case DatagramKind::kUnixgramAbstract: return "unixgram_abstract";
  }
  return "unknown";
}

bool HostHasUdp6Loopback() {
  static const bool has = DatagramSocket::Bind("udp://[::1]:0").ok();
  return has;
}

std::string UniqueSocketPath(absl::string_view what) {
  return absl::StrCat("/tmp/", UniqueName(absl::StrCat("lpframe-", what)), ".sock");
}

void DatagramKindTest::SetUp() {
  if (GetParam() == DatagramKind::kUdp6 && !HostHasUdp6Loopback()) {
    GTEST_SKIP() << "no IPv6 loopback on this host: cannot bind udp://[::1]:0";
  }
}

std::string DatagramKindTest::ListenUri() const {
  switch (GetParam()) {
    case DatagramKind::kUdp4: return "udp://127.0.0.1:0";
    case DatagramKind::kUdp6: return "udp://[::1]:0";
    case DatagramKind::kUnixgramPath: return "unixgram:" + UniqueSocketPath("srv");
    case DatagramKind::kUnixgramAbstract:
      return "unixgram-abstract:" + UniqueName("lpframe-srv");
  }
  return "";
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string FrameBytes(uint64_t id, const std::string& payload, EncoderOptions options) {
  Envelope envelope;
  envelope.set_id(id);
  envelope.set_kind(KIND_MESSAGE);
  absl::StatusOr<EncodedFrame> frame = FrameEncoder(options).Encode(envelope, absl::Cord(payload));
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? frame->ToString() : std::string();
}

void SendRaw(const DatagramSocket& client, absl::string_view bytes) {
  ASSERT_EQ(::send(client.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()))
      << std::strerror(errno);
}

}  // namespace iotest
}  // namespace lpframe
