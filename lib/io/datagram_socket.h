// File: lib/io/datagram_socket.h
//
// DatagramSocket carries lpframe messages over datagrams: UDP
// (udp://host:port, udp://[::1]:port) and Unix datagram sockets
// (unixgram:/path, unixgram-abstract:name). Exactly one frame travels in
// one datagram: header + envelope + payload (+ checksum trailer), sent with
// one sendmsg(2) of iovecs, so a datagram is either delivered whole or not
// at all.
//
//   auto server = DatagramSocket::Bind("udp://127.0.0.1:0");
//   auto client = DatagramSocket::Connect((*server)->address());
//   client->SendFrame(envelope, payload);
//   ReceivedDatagram d;
//   absl::Status s = server->ReceiveFrame(&d, absl::Now() + absl::Seconds(1));
//   server->SendFrame(reply_envelope, reply_payload, d.sender);
//
// Maximum datagram size (`max_datagram_size`, whole frame bytes):
//  - Default 65507 (kDefaultMaxDatagramSize): the largest UDP payload over
//    IPv4, 65535 (IPv4 total length) - 20 (IPv4 header) - 8 (UDP header).
//    Over IPv6 a UDP payload may reach 65527 (65535 - 8: the IPv6 payload
//    length does not count the 40-byte fixed header); jumbograms are not
//    supported. A UDP socket refuses a larger setting at Bind/Connect.
//    Datagrams above the path MTU (1500 bytes on Ethernet, 65536 on
//    loopback) are IP-fragmented; one lost fragment loses the datagram, so
//    keep frames small off-host.
//  - Unix datagrams: the same default, so one configuration works on both
//    kinds. Linux bounds a Unix datagram by the sender's SO_SNDBUF (default
//    net.core.wmem_default, 212992 here; the kernel refuses a datagram
//    longer than SO_SNDBUF - 32 with EMSGSIZE). Above 65507 the socket asks
//    for SO_SNDBUF = max_datagram_size + 4096 (capped by net.core.wmem_max);
//    if the kernel still refuses, SendFrame reports DATAGRAM_TOO_LARGE. At
//    most kMaxConfigurableDatagramSize (16 MiB).
// The limit is enforced on send, before any system call: a frame larger
// than the limit is refused with DATAGRAM_TOO_LARGE naming the frame size
// and the limit; nothing is sent. The codec's FrameLimits apply as well
// (ENVELOPE_TOO_LARGE / PAYLOAD_TOO_LARGE).
//
// Receiving: recvmsg(2) with MSG_TRUNC into a buffer of max_datagram_size
// bytes owned by the socket and reused for every datagram (allocated on the
// first receive). The only per-datagram allocations of a good datagram are
// the payload's storage (from the pool) and the envelope's fields. A
// datagram is then decoded with the codec's FrameDecoder and must hold
// exactly one complete frame:
//   longer than max_datagram_size (MSG_TRUNC)  DATAGRAM_TRUNCATED (real and
//                                              maximum size; rest discarded)
//   empty, or ending inside its frame          DATAGRAM_TRUNCATED (with the
//                                              decoder's TRUNCATED_* detail)
//   bytes after the frame                      DATAGRAM_TRAILING_BYTES
//   a framing error (bad magic, over-limit     the codec's code; messages say
//   declared length, bad envelope, ...)        "stream offset" = datagram offset
// A rejected datagram is consumed; the next ReceiveFrame() reads the next
// one. Nothing about a bad datagram affects later ones.
//
// Client sockets (Connect): the socket is connect(2)ed to the server, so
// SendFrame() needs no address and only the server's datagrams are
// received. A unixgram client must have an address of its own to get
// replies: unless `local_address` names one, Connect() autobinds it (Linux:
// bind with only the address family), which gives it a unique abstract name
// of 5 hex digits ("unixgram-abstract:0001f"); no file is created, nothing
// is left to clean up. A UDP client gets an ephemeral port.
//
// Unix paths: Bind() replaces a stale socket file (nothing bound to it) but
// never a path a live socket holds (kAlreadyExists) nor a non-socket file.
// The socket that bound a path (or a client's `local_address` path) removes
// it when closed or destroyed; Duplicate()s do not.
//
// Every socket is close-on-exec and non-blocking; waits are poll(2) up to
// the caller's deadline. Sends use MSG_NOSIGNAL; the process's SIGPIPE
// disposition is never changed.
//
// Thread-safety: SendFrame() may be called from several threads at once.
// ReceiveFrame() uses the socket's buffer and decoder: one thread at a time.
// For several receiving threads, give each its own Duplicate() (dup(2) of
// the same socket, its own buffer and decoder). Close() and moves must not
// race other calls.
#ifndef LPFRAME_LIB_IO_DATAGRAM_SOCKET_H_
#define LPFRAME_LIB_IO_DATAGRAM_SOCKET_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/block_pool.h"
#include "lib/dialect.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/frame_limits.h"
#include "lib/io/address.h"
#include "lib/io/socket.h"
#include "lib/message.h"

namespace lpframe {

// 65535 - 20 (IPv4 header) - 8 (UDP header).
inline constexpr size_t kMaxUdp4DatagramSize = 65507;
// 65535 - 8 (UDP header); the IPv6 payload length excludes its header.
inline constexpr size_t kMaxUdp6DatagramSize = 65527;
inline constexpr size_t kDefaultMaxDatagramSize = kMaxUdp4DatagramSize;
// Upper bound for Unix datagram sockets (the receive buffer is this big).
inline constexpr size_t kMaxConfigurableDatagramSize = size_t{16} << 20;

struct DatagramOptions {
  Dialect dialect = Dialect::kNative;
  // Both directions: the encoder refuses over-limit frames, the decoder
  // rejects datagrams whose header declares more.
  FrameLimits limits;
  bool checksum = false;  // send frames with the CHECKSUM trailer (native)
  // Largest datagram (whole frame) sent or accepted; see the file comment.
  // 1 to 65507 (UDP over IPv4), 65527 (UDP over IPv6), or
  // kMaxConfigurableDatagramSize (Unix).
  size_t max_datagram_size = kDefaultMaxDatagramSize;
  // Payload storage of received messages; null: BlockPool::Default().
  std::shared_ptr<BlockPool> pool;
  // Unix datagram sockets: SO_PASSCRED, so every received datagram carries
  // the sender's pid/uid/gid (ReceivedDatagram::credentials).
  bool receive_credentials = false;
  // Connect() only: the client's own address (a URI of the same kind as the
  // server's), e.g. "unixgram:/tmp/client.sock". Empty: an ephemeral UDP
  // port, or an autobound abstract Unix name.
  std::string local_address;
};

// One datagram received by ReceiveFrame().
struct ReceivedDatagram {
  Message message;            // valid only when ReceiveFrame() returned OK
  SocketAddress sender;       // who sent it (also set for a bad datagram)
  size_t size = 0;            // the datagram's real length in bytes
  // SCM_CREDENTIALS of the sender (Unix, receive_credentials only).
  std::optional<PeerCredentials> credentials;

  // The sender as a URI: "udp://127.0.0.1:5000", "unixgram:/p",
  // "unixgram-abstract:0001f", "unixgram:" for an unbound sender.
  std::string sender_uri() const { return sender.ToUri(SOCK_DGRAM); }
};

// True when `status` from ReceiveFrame() rejects a datagram (it was read and
// discarded: a FrameErrorCode other than IO_ERROR), as opposed to no
// datagram (kDeadlineExceeded) or a socket failure (IO_ERROR).
bool IsBadDatagram(const absl::Status& status);

class DatagramSocket {
 public:
  DatagramSocket(DatagramSocket&& other) noexcept;
  // The socket assigned over is closed (and its path removed) first.
  DatagramSocket& operator=(DatagramSocket&& other) noexcept;
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;
  ~DatagramSocket();

  // A server socket bound to a datagram URI (port 0: ephemeral; address()
  // tells). Errors: the URI's parse error; InvalidArgument for a stream URI
  // or invalid options (naming the option, its value and the limit);
  // kAlreadyExists for a port in use or a live Unix path; system errors.
  static absl::StatusOr<DatagramSocket> Bind(absl::string_view uri,
                                             DatagramOptions options = {});
  static absl::StatusOr<DatagramSocket> Bind(const Address& address,
                                             DatagramOptions options = {});

  // A client socket connected to a datagram URI (see the file comment for
  // its own address). Errors as Bind(), and kUnavailable when nothing is
  // bound at a Unix address.
  static absl::StatusOr<DatagramSocket> Connect(absl::string_view uri,
                                                DatagramOptions options = {});

  // Another DatagramSocket on the same kernel socket (dup(2)), with its own
  // receive buffer and decoder, for one more receiving thread. It does not
  // remove the Unix path.
  absl::StatusOr<DatagramSocket> Duplicate() const;

  // Encodes one frame and sends it as one datagram: to the connected peer,
  // or to `to`. Waits until `deadline` while the socket buffer is full.
  // Errors: DATAGRAM_TOO_LARGE (frame over max_datagram_size, or the kernel
  // refused its size with EMSGSIZE), the encoder's errors, all before
  // anything is sent; kDeadlineExceeded; IO_ERROR (e.g. ECONNREFUSED after
  // an ICMP port unreachable, ENOENT for a vanished Unix peer).
  absl::Status SendFrame(const Envelope& envelope, absl::Cord payload,
                         absl::Time deadline = absl::InfiniteFuture());
  absl::Status SendFrame(const Envelope& envelope, absl::Cord payload, const SocketAddress& to,
                         absl::Time deadline = absl::InfiniteFuture());
  absl::Status SendMessage(const Message& message, absl::Time deadline = absl::InfiniteFuture()) {
    return SendFrame(message.envelope, message.payload, deadline);
  }

  // Receives one datagram, waiting until `deadline` for one (InfinitePast:
  // only what is already queued). OK: out->message holds its one frame.
  // Otherwise kDeadlineExceeded (no datagram, no FrameErrorCode), a bad
  // datagram (IsBadDatagram(): out->sender and out->size say whose and how
  // big; codes in the file comment), or IO_ERROR.
  absl::Status ReceiveFrame(ReceivedDatagram* out, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<ReceivedDatagram> ReceiveFrame(absl::Time deadline);

  // Waits until a datagram is queued or `deadline` (kDeadlineExceeded).
  absl::Status WaitReadable(absl::Time deadline) const { return socket_.WaitReadable(deadline); }

  // Closes the socket and removes the Unix path it bound. Idempotent.
  void Close();
  bool valid() const { return socket_.valid(); }
  int fd() const { return socket_.fd(); }

  // The local address as a URI ("udp://127.0.0.1:40123", "unixgram:/p",
  // "unixgram-abstract:0001f"); for a client, also see peer().
  const std::string& address() const { return address_; }
  // The connected peer's URI (clients), or empty.
  const std::string& peer() const { return peer_; }
  const DatagramOptions& options() const { return options_; }
  size_t max_datagram_size() const { return options_.max_datagram_size; }
  int family() const { return family_; }

 private:
  DatagramSocket(Socket socket, DatagramOptions options, int family);
  static absl::Status Validate(const DatagramOptions& options, int family,
                               absl::string_view where);
  absl::Status Configure();
  absl::Status Send(const Envelope& envelope, absl::Cord payload, const SocketAddress* to,
                    absl::Time deadline);
  absl::Status Decode(absl::string_view bytes, ReceivedDatagram* out);
  absl::Status DecodeFresh(absl::string_view bytes, ReceivedDatagram* out);
  void RemovePath();

  Socket socket_;
  DatagramOptions options_;
  int family_ = AF_UNSPEC;
  FrameEncoder encoder_;
  std::string address_;
  std::string peer_;
  std::string unlink_path_;  // Unix path to remove on close
  // Receive state: max_datagram_size bytes, allocated on first use; a
  // decoder kept across good datagrams (each leaves it at a frame boundary)
  // and replaced after a bad one.
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<FrameDecoder> decoder_;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_IO_DATAGRAM_SOCKET_H_
