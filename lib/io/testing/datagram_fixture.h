// File: lib/io/testing/datagram_fixture.h
//
// Test helpers for datagram transports (testonly): the four kinds as a
// gtest parameter (UDP over 127.0.0.1 and [::1], a Unix datagram path, an
// abstract name), a fixture that skips [::1] on hosts without IPv6, and
// small helpers shared by the datagram socket and server tests.
#ifndef LPFRAME_LIB_IO_TESTING_DATAGRAM_FIXTURE_H_
#define LPFRAME_LIB_IO_TESTING_DATAGRAM_FIXTURE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "lib/frame_encoder.h"
#include "lib/io/datagram_socket.h"

namespace lpframe {
namespace iotest {

enum class DatagramKind { kUdp4, kUdp6, kUnixgramPath, kUnixgramAbstract };

std::vector<DatagramKind> AllDatagramKinds();
// "udp4", "udp6", "unixgram_path", "unixgram_abstract".
std::string DatagramKindName(const ::testing::TestParamInfo<DatagramKind>& info);

// True when a UDP socket can be bound to [::1] (probed once).
bool HostHasUdp6Loopback();

// "/tmp/<what>-<pid>-<random>.sock": short enough for sockaddr_un.
std::string UniqueSocketPath(absl::string_view what);

// Base fixture: skips kUdp6 without an IPv6 loopback; ListenUri() is a
// fresh address of the kind to bind (port 0, a new path or name).
class DatagramKindTest : public ::testing::TestWithParam<DatagramKind> {
 protected:
  void SetUp() override;
  std::string ListenUri() const;
};

bool PathExists(const std::string& path);

// A native frame (envelope {id, KIND_MESSAGE}) as bytes.
std::string FrameBytes(uint64_t id, const std::string& payload, EncoderOptions options = {});

// Sends `bytes` as one datagram on a connected socket, bypassing the codec.
void SendRaw(const DatagramSocket& client, absl::string_view bytes);

}  // namespace iotest
}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_TESTING_DATAGRAM_FIXTURE_H_
