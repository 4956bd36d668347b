#include "lib/server/datagram_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/error_envelope.h"
#include "lib/frame_error.h"
#include "lib/server/server_context.h"

namespace lpframe {
namespace {

constexpr int kMaxThreads = 256;

// True when `address` names a socket that can be answered: an unbound
// AF_UNIX sender has only its family.
bool HasReplyAddress(const SocketAddress& address) {
  return address.length() > sizeof(sa_family_t);
}

}  // namespace

// DatagramReply for one datagram: sends to its sender through the socket
// that received it.
class DatagramServer::Reply : public DatagramReply {
 public:
  Reply(DatagramServer* server, DatagramSocket* socket, const SocketAddress* sender,
        const PeerInfo* peer)
      : server_(server), socket_(socket), sender_(sender), peer_(peer) {}

  const PeerInfo& peer() const override { return *peer_; }
  const SocketAddress& sender() const override { return *sender_; }

  absl::Status Send(const Envelope& envelope, absl::Cord payload) override {
    absl::Status status;
    if (!HasReplyAddress(*sender_)) {
      status = absl::FailedPreconditionError(
          absl::StrCat("cannot reply to ", peer_->address,
                       ": the sender is an unbound socket without an address"));
    } else {
      status = socket_->SendFrame(envelope, std::move(payload), *sender_,
                                  absl::Now() + server_->options_.send_timeout);
    }
    if (status.ok()) {
      server_->messages_sent_.fetch_add(1);
    } else {
      server_->send_errors_.fetch_add(1);
      server_->Report(*peer_, status, "write");
    }
    return status;
  }

 private:
  DatagramServer* server_;
  DatagramSocket* socket_;
  const SocketAddress* sender_;
  const PeerInfo* peer_;
};

DatagramServer::DatagramServer(DatagramServerOptions options,
                               std::shared_ptr<DatagramHandler> handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

absl::StatusOr<std::unique_ptr<DatagramServer>> DatagramServer::Create(
    absl::string_view uri, DatagramServerOptions options,
    std::shared_ptr<DatagramHandler> handler) {
  if (handler == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("DatagramServer on ", uri, ": the handler is null"));
  }
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return absl::InvalidArgumentError(absl::StrCat("DatagramServer on ", uri, ": threads ",
                                                   options.threads, " is not from 1 to ",
                                                   kMaxThreads));
  }
  options.datagram.local_address.clear();
  std::unique_ptr<DatagramServer> server(
      new DatagramServer(std::move(options), std::move(handler)));
  server->shutdown_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (server->shutdown_fd_ < 0) return ErrnoStatus(errno, "eventfd()");
  absl::StatusOr<DatagramSocket> socket = DatagramSocket::Bind(uri, server->options_.datagram);
  if (!socket.ok()) return socket.status();
  server->address_ = socket->address();
  server->socket_ = std::make_unique<DatagramSocket>(*std::move(socket));
  return server;
}

DatagramServer::~DatagramServer() {
  Close();
  if (shutdown_fd_ >= 0) ::close(shutdown_fd_);
}

void DatagramServer::Shutdown() {
  shutting_down_.store(true, std::memory_order_release);
  if (shutdown_fd_ >= 0) {
    const uint64_t one = 1;
    // Only write(2): async-signal-safe. The counter is never read, so the
    // descriptor stays readable for every poller.
    ssize_t ignored = ::write(shutdown_fd_, &one, sizeof(one));
    (void)ignored;
  }
}

void DatagramServer::Close() {
  Shutdown();
  absl::MutexLock wait_for_serving(&serve_mu_);
  socket_.reset();  // closes, and removes a unixgram path
}

DatagramStats DatagramServer::stats() const {
  DatagramStats s;
  s.datagrams_received = datagrams_received_.load();
  s.messages_received = messages_received_.load();
  s.messages_sent = messages_sent_.load();
  s.bad_datagrams = bad_datagrams_.load();
  s.refused = refused_.load();
  s.handler_errors = handler_errors_.load();
  s.send_errors = send_errors_.load();
  absl::MutexLock lock(&errors_mu_);
  s.errors = errors_;
  return s;
}

void DatagramServer::Report(const PeerInfo& peer, const absl::Status& status,
                            absl::string_view stage) {
  const FrameErrorCode code = GetFrameErrorCode(status);
  std::string name = code == FrameErrorCode::kNone
                         ? std::string(absl::StatusCodeToString(status.code()))
                         : std::string(FrameErrorCodeName(code));
  {
    absl::MutexLock lock(&errors_mu_);
    ++errors_[name];
  }
  if (options_.on_error) {
    ServerError error;
    error.peer = peer;
    error.status = status;
    error.stage = std::string(stage);
    options_.on_error(error);
  }
}

void DatagramServer::SendError(DatagramSocket& socket, const SocketAddress& to,
                               const absl::Status& status) {
  if (!options_.send_error_datagrams || !HasReplyAddress(to)) return;
  // Best effort, not waiting: a peer that does not read gets nothing.
  (void)socket.SendFrame(ErrorEnvelope(status), absl::Cord(), to, absl::InfinitePast());
}

absl::Status DatagramServer::Wait(const DatagramSocket& socket, absl::Time deadline) {
  pollfd fds[2] = {{socket.fd(), POLLIN, 0}, {shutdown_fd_, POLLIN, 0}};
  while (true) {
    if (shutting_down()) return absl::UnavailableError("the server is shutting down");
    fds[0].revents = fds[1].revents = 0;
    const int rc = ::poll(fds, 2, PollTimeoutMs(deadline));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "poll()");
    }
    if (rc == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("no datagram to ", address_, " before the deadline"));
    }
    if (fds[1].revents != 0) continue;  // shutting down: reported above
    if (fds[0].revents != 0) return absl::OkStatus();
  }
}

bool DatagramServer::ProcessOne(DatagramSocket& socket, ReceivedDatagram& datagram,
                                absl::Status* socket_error) {
  absl::Status received = socket.ReceiveFrame(&datagram, absl::InfinitePast());
  if (absl::IsDeadlineExceeded(received) && GetFrameErrorCode(received) == FrameErrorCode::kNone) {
    return false;  // another thread took it, or nothing was queued
  }
  PeerInfo peer;
  peer.local_address = address_;
  if (!received.ok() && !IsBadDatagram(received)) {
    // The socket failed (rare for a bound datagram socket): report, go on.
    Report(peer, received, "read");
    if (socket_error != nullptr) *socket_error = received;
    absl::SleepFor(absl::Milliseconds(1));  // never spin on a failing socket
    return true;
  }
  datagrams_received_.fetch_add(1);
  peer.address = datagram.sender_uri();
  peer.credentials = datagram.credentials;
  if (options_.verify_peer) {
    absl::Status verdict = options_.verify_peer(peer);
    if (!verdict.ok()) {
      absl::Status refused = MakeFrameError(
          FrameErrorCode::kPeerRefused,
          absl::StrCat("the server ", address_, " refused a ", datagram.size,
                       "-byte datagram from ", peer.address, ": ", verdict.message()));
      refused_.fetch_add(1);
      Report(peer, refused, "verify_peer");
      SendError(socket, datagram.sender, refused);
      return true;
    }
  }
  if (!received.ok()) {
    bad_datagrams_.fetch_add(1);
    Report(peer, received, "datagram");
    SendError(socket, datagram.sender, received);
    return true;
  }
  messages_received_.fetch_add(1);
  Reply reply(this, &socket, &datagram.sender, &peer);
  absl::Status handled = handler_->OnDatagram(reply, std::move(datagram.message));
  if (!handled.ok()) {
    handler_errors_.fetch_add(1);
    absl::Status error = WithFrameErrorCode(handled, FrameErrorCode::kHandlerError);
    Report(peer, error, "handler");
    SendError(socket, datagram.sender, error);
  }
  return true;
}

void DatagramServer::Loop(DatagramSocket& socket) {
  ReceivedDatagram datagram;  // reused: its Message and address storage
  while (true) {
    absl::Status ready = Wait(socket, absl::InfiniteFuture());
    if (!ready.ok()) {
      if (shutting_down()) return;
      Report(PeerInfo{0, "", address_, std::nullopt}, ready, "read");
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    // Drain what is queued, checking for a shutdown between datagrams.
    while (!shutting_down() && ProcessOne(socket, datagram)) {
    }
  }
}

absl::Status DatagramServer::ServeForever() {
  if (!serve_mu_.TryLock()) {
    return absl::FailedPreconditionError("ServeForever(): the server is already serving");
  }
  absl::Status status;
  if (socket_ == nullptr) {
    status = absl::FailedPreconditionError(
        absl::StrCat("ServeForever(): the server on ", address_, " is closed"));
  } else {
    std::vector<DatagramSocket> more;
    for (int i = 1; i < options_.threads && status.ok(); ++i) {
      absl::StatusOr<DatagramSocket> dup = socket_->Duplicate();
      if (dup.ok()) {
        more.push_back(*std::move(dup));
      } else {
        status = dup.status();
      }
    }
    if (status.ok()) {
      std::vector<std::thread> threads;
      threads.reserve(more.size());
      try {
        for (DatagramSocket& socket : more) {
          threads.emplace_back([this, &socket] { Loop(socket); });
        }
      } catch (const std::system_error& e) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("ServeForever(): cannot start receiving thread ", threads.size() + 2,
                         " of ", options_.threads, " on ", address_, ": ", e.what()));
        Shutdown();  // the threads already started return
      }
      if (status.ok()) Loop(*socket_);
      for (std::thread& t : threads) t.join();
    }
  }
  serve_mu_.Unlock();
  return status;
}

absl::Status DatagramServer::HandleOne(absl::Time deadline) {
  if (!serve_mu_.TryLock()) {
    return absl::FailedPreconditionError("HandleOne(): the server is already serving");
  }
  absl::Status status;
  if (socket_ == nullptr) {
    status = absl::FailedPreconditionError(
        absl::StrCat("HandleOne(): the server on ", address_, " is closed"));
  } else {
    ReceivedDatagram datagram;
    while (true) {
      status = Wait(*socket_, deadline);
      if (!status.ok()) break;
      absl::Status socket_error;
      if (ProcessOne(*socket_, datagram, &socket_error)) {
        status = socket_error;  // OK unless the socket itself failed
        break;
      }
      // else raced away: wait again
    }
  }
  serve_mu_.Unlock();
  return status;
}

}  // namespace lpframe
