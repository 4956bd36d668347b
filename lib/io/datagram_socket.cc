#include "lib/io/datagram_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace {

EncoderOptions EncoderOptionsFor(const DatagramOptions& options) {
  EncoderOptions e;
  e.dialect = options.dialect;
  e.limits = options.limits;
  e.checksum = options.checksum;
  return e;
}

DecoderOptions DecoderOptionsFor(const DatagramOptions& options) {
  DecoderOptions d;
  d.dialect = options.dialect;
  d.limits = options.limits;
  d.pool = options.pool;
  return d;
}

absl::Status IoError(int error_number, absl::string_view what) {
  return WithFrameErrorCode(ErrnoStatus(error_number, what), FrameErrorCode::kIoError);
}

// `status` with "<context>: " before its message, keeping code and payloads.
absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// True when a datagram socket is bound to the Unix path of `target`.
// Stale only when nothing listens there (ECONNREFUSED). Any other failure
// (a live stream socket gives EPROTOTYPE, no permission gives EACCES) keeps
// the path: it is never removed unless known to be dead.
bool UnixDatagramPathIsLive(const SocketAddress& target) {
  absl::StatusOr<Socket> probe = Socket::Create(AF_UNIX, SOCK_DGRAM);
  if (!probe.ok()) return true;  // be conservative: do not remove
  if (::connect(probe->fd(), target.get(), target.length()) == 0) return true;
  return errno != ECONNREFUSED;
}

std::string LocalUri(const Socket& socket, const Address& fallback) {
  absl::StatusOr<SocketAddress> local = socket.LocalAddress();
  return local.ok() ? local->ToUri(SOCK_DGRAM) : fallback.ToString();
}

// Binds `socket` to `target` (for `address`), replacing a stale Unix socket
// file. Returns the path to remove later ("" for none).
absl::StatusOr<std::string> BindTo(const Socket& socket, const SocketAddress& target,
                                   const Address& address) {
  int rc = ::bind(socket.fd(), target.get(), target.length());
  if (rc < 0 && errno == EADDRINUSE && address.transport == Transport::kUnixgram) {
    struct stat st;
    const bool is_socket = ::lstat(address.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    if (!is_socket) {
      return absl::AlreadyExistsError(absl::StrCat(
          "cannot bind ", address.ToString(), ": the path exists and is not a socket"));
    }
    if (UnixDatagramPathIsLive(target)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "cannot bind ", address.ToString(), ": a live socket is bound to this path"));
    }
    ::unlink(address.path.c_str());  // a stale socket file: replace it
    rc = ::bind(socket.fd(), target.get(), target.length());
  }
  if (rc < 0) {
    return ErrnoStatus(errno, absl::StrCat("bind to ", target.ToUri(SOCK_DGRAM), " (",
                                           address.ToString(), ")"));
  }
  return address.transport == Transport::kUnixgram ? address.path : std::string();
}

}  // namespace

bool IsBadDatagram(const absl::Status& status) {
  const FrameErrorCode code = GetFrameErrorCode(status);
  return code != FrameErrorCode::kNone && code != FrameErrorCode::kIoError &&
         code != FrameErrorCode::kConnectionClosed;
}

DatagramSocket::DatagramSocket(Socket socket, DatagramOptions options, int family)
    : socket_(std::move(socket)),
      options_(std::move(options)),
      family_(family),
      encoder_(EncoderOptionsFor(options_)) {}

DatagramSocket::DatagramSocket(DatagramSocket&& other) noexcept
    : socket_(std::move(other.socket_)),
      options_(std::move(other.options_)),
      family_(other.family_),
      encoder_(other.encoder_),
      address_(std::move(other.address_)),
      peer_(std::move(other.peer_)),
      unlink_path_(std::exchange(other.unlink_path_, std::string())),
      buffer_(std::move(other.buffer_)),
      decoder_(std::move(other.decoder_)) {}

DatagramSocket& DatagramSocket::operator=(DatagramSocket&& other) noexcept {
  if (this != &other) {
    Close();
    socket_ = std::move(other.socket_);
    options_ = std::move(other.options_);
    family_ = other.family_;
    encoder_ = other.encoder_;
    address_ = std::move(other.address_);
    peer_ = std::move(other.peer_);
    unlink_path_ = std::exchange(other.unlink_path_, std::string());
    buffer_ = std::move(other.buffer_);
    decoder_ = std::move(other.decoder_);
  }
  return *this;
}

DatagramSocket::~DatagramSocket() { Close(); }

void DatagramSocket::RemovePath() {
  if (!unlink_path_.empty()) {
    ::unlink(unlink_path_.c_str());
    unlink_path_.clear();
  }
}

void DatagramSocket::Close() {
  if (socket_.valid()) RemovePath();
  socket_.Close();
}

absl::Status DatagramSocket::Validate(const DatagramOptions& options, int family,
                                      absl::string_view where) {
  absl::Status limits = options.limits.Validate();
  if (!limits.ok()) return WithContext(limits, where);
  size_t ceiling = kMaxConfigurableDatagramSize;
  absl::string_view why = "the largest configurable Unix datagram size";
  if (family == AF_INET) {
    ceiling = kMaxUdp4DatagramSize;
    why = "the largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP header bytes)";
  } else if (family == AF_INET6) {
    ceiling = kMaxUdp6DatagramSize;
    why = "the largest UDP payload over IPv6 without jumbograms (65535 - 8 UDP header bytes)";
  }
  if (options.max_datagram_size == 0 || options.max_datagram_size > ceiling) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": max_datagram_size ", options.max_datagram_size,
                     " is not from 1 to ", ceiling, ", ", why));
  }
  return absl::OkStatus();
}

absl::Status DatagramSocket::Configure() {
  if (family_ == AF_UNIX && options_.max_datagram_size > kDefaultMaxDatagramSize) {
    // Linux refuses a Unix datagram longer than SO_SNDBUF - 32 (EMSGSIZE).
    const int want = static_cast<int>(options_.max_datagram_size + 4096);
    int have = 0;
    socklen_t len = sizeof(have);
    if (getsockopt(socket_.fd(), SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have < want) {
      // Capped by net.core.wmem_max; SendFrame reports EMSGSIZE if too small.
      (void)setsockopt(socket_.fd(), SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    }
  }
  if (family_ == AF_UNIX && options_.receive_credentials) {
    const int one = 1;
    if (setsockopt(socket_.fd(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
      return ErrnoStatus(errno, "setsockopt(SO_PASSCRED)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DatagramSocket> DatagramSocket::Bind(absl::string_view uri,
                                                    DatagramOptions options) {
  absl::StatusOr<Address> address = ParseAddress(uri);
  if (!address.ok()) return address.status();
  return Bind(*address, std::move(options));
}

absl::StatusOr<DatagramSocket> DatagramSocket::Bind(const Address& address,
                                                    DatagramOptions options) {
  absl::StatusOr<std::vector<SocketAddress>> targets = ResolveDatagramAddress(address, true);
  if (!targets.ok()) return targets.status();
  absl::Status last = absl::UnavailableError(
      absl::StrCat("no address to bind for ", address.ToString()));
  for (const SocketAddress& target : *targets) {
    absl::Status valid =
        Validate(options, target.family(), absl::StrCat("binding ", address.ToString()));
    if (!valid.ok()) return valid;
    absl::StatusOr<Socket> s = Socket::Create(target.family(), SOCK_DGRAM);
    if (!s.ok()) {
      last = s.status();
      continue;
    }
    absl::StatusOr<std::string> unlink_path = BindTo(*s, target, address);
    if (!unlink_path.ok()) {
      if (absl::IsAlreadyExists(unlink_path.status()) &&
          address.transport == Transport::kUnixgram) {
        return unlink_path.status();
      }
      last = unlink_path.status();
      continue;
    }
    DatagramSocket out(*std::move(s), options, target.family());
    out.unlink_path_ = *std::move(unlink_path);
    out.address_ = LocalUri(out.socket_, address);
    absl::Status configured = out.Configure();
    if (!configured.ok()) return configured;
    return out;
  }
  return last;
}

absl::StatusOr<DatagramSocket> DatagramSocket::Connect(absl::string_view uri,
                                                       DatagramOptions options) {
  absl::StatusOr<Address> address = ParseAddress(uri);
  if (!address.ok()) return address.status();
  absl::StatusOr<std::vector<SocketAddress>> targets = ResolveDatagramAddress(*address, false);
  if (!targets.ok()) return targets.status();
  std::optional<Address> local;
  std::vector<SocketAddress> local_targets;
  if (!options.local_address.empty()) {
    absl::StatusOr<Address> parsed = ParseAddress(options.local_address);
    if (!parsed.ok()) return WithContext(parsed.status(), "local_address");
    absl::StatusOr<std::vector<SocketAddress>> resolved = ResolveDatagramAddress(*parsed, true);
    if (!resolved.ok()) return WithContext(resolved.status(), "local_address");
    local = *parsed;
    local_targets = *std::move(resolved);
  }
  absl::Status last = absl::UnavailableError(
      absl::StrCat("no address to connect to for ", address->ToString()));
  for (const SocketAddress& target : *targets) {
    absl::Status valid =
        Validate(options, target.family(), absl::StrCat("connecting to ", address->ToString()));
    if (!valid.ok()) return valid;
    absl::StatusOr<Socket> s = Socket::Create(target.family(), SOCK_DGRAM);
    if (!s.ok()) {
      last = s.status();
      continue;
    }
    std::string unlink_path;
    const SocketAddress* own = nullptr;
    for (const SocketAddress& candidate : local_targets) {
      if (candidate.family() == target.family()) {
        own = &candidate;
        break;
      }
    }
    if (local.has_value()) {
      if (own == nullptr) {
        last = absl::InvalidArgumentError(
            absl::StrCat("local_address ", local->ToString(), " has no address of the family of ",
                         target.ToUri(SOCK_DGRAM)));
        continue;
      }
      absl::StatusOr<std::string> bound = BindTo(*s, *own, *local);
      if (!bound.ok()) return WithContext(bound.status(), "local_address");
      unlink_path = *std::move(bound);
    } else if (target.family() == AF_UNIX) {
      // Autobind: only the family gives a unique abstract name.
      sockaddr_un un;
      std::memset(&un, 0, sizeof(un));
      un.sun_family = AF_UNIX;
      if (::bind(s->fd(), reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t)) < 0) {
        return ErrnoStatus(errno, "autobind of a unixgram client socket");
      }
    }
    int rc;
    do {
      rc = ::connect(s->fd(), target.get(), target.length());
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      last = ErrnoStatus(errno, absl::StrCat("connect to ", target.ToUri(SOCK_DGRAM), " (",
                                             address->ToString(), ")"));
      if (!unlink_path.empty()) ::unlink(unlink_path.c_str());
      continue;
    }
    DatagramSocket out(*std::move(s), options, target.family());
    out.unlink_path_ = std::move(unlink_path);
    out.address_ = LocalUri(out.socket_, local.value_or(*address));
    out.peer_ = target.ToUri(SOCK_DGRAM);
    absl::Status configured = out.Configure();
    if (!configured.ok()) return configured;
    return out;
  }
  return last;
}

absl::StatusOr<DatagramSocket> DatagramSocket::Duplicate() const {
  if (!socket_.valid()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed,
                          absl::StrCat("Duplicate() of the closed datagram socket ", address_));
  }
  const int fd = ::fcntl(socket_.fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("dup of ", address_));
  DatagramSocket out(Socket(fd), options_, family_);
  out.address_ = address_;
  out.peer_ = peer_;
  return out;
}

absl::Status DatagramSocket::SendFrame(const Envelope& envelope, absl::Cord payload,
                                       absl::Time deadline) {
  return Send(envelope, std::move(payload), nullptr, deadline);
}

absl::Status DatagramSocket::SendFrame(const Envelope& envelope, absl::Cord payload,
                                       const SocketAddress& to, absl::Time deadline) {
  return Send(envelope, std::move(payload), &to, deadline);
}

absl::Status DatagramSocket::Send(const Envelope& envelope, absl::Cord payload,
                                  const SocketAddress* to, absl::Time deadline) {
  const std::string where =
      to != nullptr ? to->ToUri(SOCK_DGRAM) : (peer_.empty() ? address_ : peer_);
  if (!socket_.valid()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed,
                          absl::StrCat("SendFrame to ", where, " on a closed datagram socket"));
  }
  absl::StatusOr<EncodedFrame> frame = encoder_.Encode(envelope, std::move(payload));
  if (!frame.ok()) return WithContext(frame.status(), absl::StrCat("datagram to ", where));
  const uint64_t size = frame->size();
  if (size > options_.max_datagram_size) {
    return MakeFrameError(
        FrameErrorCode::kDatagramTooLarge,
        absl::StrCat("the frame to ", where, " is ", size, " bytes (", frame->prefix().size(),
                     " header and envelope, ", frame->payload().size(),
                     " payload), more than the maximum datagram size of ",
                     options_.max_datagram_size, " bytes; nothing was sent"));
  }
  std::vector<struct iovec> iov;
  iov.reserve(8);
  frame->AppendIovecs(&iov);
  std::string flat;
  if (iov.size() > IOV_MAX) {  // a payload Cord of many tiny chunks
    flat = frame->ToString();
    iov.assign(1, {flat.data(), flat.size()});
  }
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  if (to != nullptr) {
    msg.msg_name = const_cast<sockaddr*>(to->get());
    msg.msg_namelen = to->length();
  }
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  // Poll's POLLOUT does not track an unconnected Unix peer's full queue, so
  // waits are bounded and back off instead of spinning.
  absl::Duration backoff = absl::Milliseconds(1);
  while (true) {
    const ssize_t n = ::sendmsg(socket_.fd(), &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<uint64_t>(n) != size) {
        return MakeFrameError(FrameErrorCode::kIoError,
                              absl::StrCat("sendmsg to ", where, " sent ", n, " of a ", size,
                                           "-byte datagram"));
      }
      return absl::OkStatus();
    }
    const int error_number = errno;
    if (error_number == EINTR) continue;
    if (error_number == EAGAIN || error_number == EWOULDBLOCK || error_number == ENOBUFS) {
      const absl::Time now = absl::Now();
      if (now >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("deadline passed sending a ", size, "-byte datagram to ", where,
                         ": the socket or the peer's queue is full"));
      }
      pollfd p = {socket_.fd(), POLLOUT, 0};
      const absl::Time until = std::min(deadline, now + backoff);
      if (::poll(&p, 1, PollTimeoutMs(until)) > 0) absl::SleepFor(std::min(backoff, until - now));
      backoff = std::min(backoff * 2, absl::Milliseconds(20));
      continue;
    }
    if (error_number == EMSGSIZE) {
      return MakeFrameError(
          FrameErrorCode::kDatagramTooLarge,
          absl::StrCat("the kernel refused the ", size, "-byte datagram to ", where,
                       " (EMSGSIZE): over the transport's limit or SO_SNDBUF (raise "
                       "net.core.wmem_max or lower max_datagram_size, now ",
                       options_.max_datagram_size, "); nothing was sent"));
    }
    return IoError(error_number, absl::StrCat("sendmsg of a ", size, "-byte datagram to ", where));
  }
}

absl::StatusOr<ReceivedDatagram> DatagramSocket::ReceiveFrame(absl::Time deadline) {
  ReceivedDatagram out;
  absl::Status status = ReceiveFrame(&out, deadline);
  if (!status.ok()) return status;
  return out;
}

absl::Status DatagramSocket::ReceiveFrame(ReceivedDatagram* out, absl::Time deadline) {
  out->message.envelope.Clear();
  out->message.payload.Clear();
  out->sender = SocketAddress();
  out->size = 0;
  out->credentials.reset();
  if (!socket_.valid()) {
    return MakeFrameError(FrameErrorCode::kConnectionClosed,
                          absl::StrCat("ReceiveFrame on the closed datagram socket ", address_));
  }
  const size_t capacity = options_.max_datagram_size;
  if (buffer_ == nullptr) buffer_ = std::make_unique<char[]>(capacity);
  struct iovec iov = {buffer_.get(), capacity};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
  msghdr msg;
  ssize_t n;
  while (true) {
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_name = out->sender.mutable_get();
    msg.msg_namelen = sizeof(sockaddr_storage);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (options_.receive_credentials) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
    }
    // MSG_TRUNC: return the datagram's real length even when it is longer.
    n = ::recvmsg(socket_.fd(), &msg, MSG_TRUNC);
    if (n >= 0) break;
    const int error_number = errno;
    if (error_number == EINTR) continue;
    if (error_number == EAGAIN || error_number == EWOULDBLOCK) {
      pollfd p = {socket_.fd(), POLLIN, 0};
      const int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
      if (rc == 0) {
        return absl::DeadlineExceededError(
            absl::StrCat("no datagram on ", address_, " before the deadline"));
      }
      if (rc < 0 && errno != EINTR) return IoError(errno, "poll()");
      continue;
    }
    return IoError(error_number, absl::StrCat("recvmsg on ", address_));
  }
  *out->sender.mutable_length() = msg.msg_namelen;
  out->size = static_cast<size_t>(n);
  if (options_.receive_credentials) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
        struct ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        out->credentials = PeerCredentials{cred.pid, cred.uid, cred.gid};
      }
    }
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0 || out->size > capacity) {
    return MakeFrameError(
        FrameErrorCode::kDatagramTruncated,
        absl::StrCat("the datagram from ", out->sender_uri(), " to ", address_, " is ",
                     out->size, " bytes, more than the maximum datagram size of ", capacity,
                     " bytes; it was discarded"));
  }
  return Decode(absl::string_view(buffer_.get(), out->size), out);
}

absl::Status DatagramSocket::Decode(absl::string_view bytes, ReceivedDatagram* out) {
  if (bytes.empty()) {
    return MakeFrameError(FrameErrorCode::kDatagramTruncated,
                          absl::StrCat("the datagram from ", out->sender_uri(), " to ", address_,
                                       " is empty; a datagram carries one frame"));
  }
  if (decoder_ == nullptr) decoder_ = std::make_unique<FrameDecoder>(DecoderOptionsFor(options_));
  if (decoder_->bytes_received() == 0 || decoder_->at_frame_boundary()) {
    // Fast path: the decoder kept from the previous good datagram.
    const bool fresh = decoder_->bytes_received() == 0;
    decoder_->Feed(bytes);
    DecodeStep step = decoder_->Next(&out->message);
    if (step.is_message() && decoder_->at_frame_boundary()) return absl::OkStatus();
    decoder_.reset();
    // A bad datagram: a fresh decoder reports its offsets from the
    // datagram's first byte (unless this one already was fresh).
    if (fresh && step.is_error()) {
      return WithContext(step.error(), absl::StrCat("datagram of ", bytes.size(), " bytes from ",
                                                    out->sender_uri()));
    }
  }
  return DecodeFresh(bytes, out);
}

absl::Status DatagramSocket::DecodeFresh(absl::string_view bytes, ReceivedDatagram* out) {
  FrameDecoder decoder(DecoderOptionsFor(options_));
  const std::string from = out->sender_uri();
  decoder.Feed(bytes);
  DecodeStep step = decoder.Next(&out->message);
  absl::Status status;
  if (step.is_error()) {
    status = WithContext(step.error(),
                         absl::StrCat("datagram of ", bytes.size(), " bytes from ", from));
  } else if (step.need_more()) {
    const absl::Status truncated = decoder.Finish();
    status = MakeFrameError(
        FrameErrorCode::kDatagramTruncated,
        absl::StrCat("the datagram from ", from, " to ", address_, " is ", bytes.size(),
                     " bytes and ends inside its frame (", truncated.message(), ")"));
  } else if (!decoder.at_frame_boundary()) {
    status = MakeFrameError(
        FrameErrorCode::kDatagramTrailingBytes,
        absl::StrCat("the datagram from ", from, " to ", address_, " is ", bytes.size(),
                     " bytes and holds bytes after its frame; a datagram carries exactly "
                     "one frame"));
  } else {
    return absl::OkStatus();  // not reached: the fast path accepted it
  }
  out->message.envelope.Clear();
  out->message.payload.Clear();
  return status;
}

}  // namespace lpframe
