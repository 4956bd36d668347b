// File: lib/server/datagram_server.h
//
// DatagramServer serves lpframe messages carried one frame per datagram, on
// UDP (udp://host:port, udp://[::1]:port) or Unix datagram sockets
// (unixgram:/path, unixgram-abstract:name), in the shape of Python's
// socketserver.UDPServer:
//
//   class Echo : public DatagramHandler {
//     absl::Status OnDatagram(DatagramReply& reply, Message m) override {
//       return reply.Send(m);
//     }
//   };
//   auto server = DatagramServer::Create("udp://127.0.0.1:0", {},
//                                        std::make_shared<Echo>());
//   std::thread t([&] { (*server)->ServeForever(); });
//   ...
//   (*server)->Shutdown();   // any thread, or a signal handler
//   t.join();
//
// Create() binds at once: address() reports the real port for port 0.
//
// Every datagram is processed alone; nothing about one affects another:
//  1. VerifyPeer (options.verify_peer) sees the sender; a refusal drops the
//     datagram (PEER_REFUSED, counted in `refused`, stage "verify_peer").
//  2. A bad datagram -- longer than max_datagram_size (MSG_TRUNC:
//     DATAGRAM_TRUNCATED), empty or ending inside its frame
//     (DATAGRAM_TRUNCATED), bytes after its frame (DATAGRAM_TRAILING_BYTES),
//     or a framing error such as BAD_MAGIC or PAYLOAD_TOO_LARGE -- is
//     dropped, counted in `bad_datagrams` and by code, and reported (stage
//     "datagram").
//  3. Otherwise the handler gets the message; a non-OK status is counted
//     (HANDLER_ERROR) and reported (stage "handler").
// With send_error_datagrams (off by default: reflection risk, see the
// options) the sender of 1-3 gets a KIND_ERROR datagram.
//
// Threads: `threads` receiving threads share the socket through dup(2)ed
// descriptors (the first is the one calling ServeForever()). SO_REUSEPORT
// is not used: it works for UDP only, and would pin each peer to one
// thread by hash, which a few busy peers defeat.
//
// Shutdown(): async-signal-safe (an atomic flag and a write(2) to an
// eventfd every receiving thread polls), thread-safe and idempotent. Each
// thread finishes the datagram it is handling; datagrams still queued in the
// socket are not handled. Once shut down, a server stays shut down.
// ShutdownOnSignals (shutdown_signals.h) accepts a DatagramServer.
//
// Thread-safety: ServeForever() or HandleOne() on one thread at a time;
// Shutdown(), address(), stats() from any thread.
#ifndef LPFRAME_LIB_SERVER_DATAGRAM_SERVER_H_
#define LPFRAME_LIB_SERVER_DATAGRAM_SERVER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/io/datagram_socket.h"
#include "lib/server/datagram_handler.h"
#include "lib/server/datagram_server_options.h"
#include "lib/server/peer_info.h"

namespace lpframe {

// A snapshot of a datagram server's counters.
struct DatagramStats {
  uint64_t datagrams_received = 0;  // every datagram read: good, bad, refused
  uint64_t messages_received = 0;   // good datagrams given to the handler
  uint64_t messages_sent = 0;       // reply datagrams sent (DatagramReply)
  uint64_t bad_datagrams = 0;       // rejected: truncated, malformed, limits
  uint64_t refused = 0;             // VerifyPeer refusals
  uint64_t handler_errors = 0;      // handler returned non-OK
  uint64_t send_errors = 0;         // replies that could not be sent
  // Every error above (and socket errors) by FrameErrorCode name
  // ("DATAGRAM_TRUNCATED", "BAD_MAGIC", "PEER_REFUSED", "HANDLER_ERROR",
  // ...), or the canonical code's name when there is none.
  std::map<std::string, uint64_t> errors;
};

class DatagramServer {
 public:
  // Binds `uri` (lib/io/address.h). Errors: the address's parse error;
  // InvalidArgument for a stream URI, a null handler, `threads` outside 1 to
  // 256 or invalid datagram options; kAlreadyExists for a port or live Unix
  // path in use; system errors.
  static absl::StatusOr<std::unique_ptr<DatagramServer>> Create(
      absl::string_view uri, DatagramServerOptions options,
      std::shared_ptr<DatagramHandler> handler);

  // Shuts down, waits for ServeForever()/HandleOne() on other threads to
  // return, and closes.
  ~DatagramServer();
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;

  // Serves until Shutdown(), on this thread and threads-1 more (joined
  // before it returns). OK after a shutdown. Errors: FAILED_PRECONDITION if
  // already serving or closed; dup(2) or thread failures.
  absl::Status ServeForever();

  // Processes one datagram that arrives before `deadline` (socketserver's
  // handle_request), on this thread: OK once one was read -- handled,
  // rejected or refused alike (errors went to the hook). DeadlineExceeded
  // if none came; UNAVAILABLE once shut down; FAILED_PRECONDITION if
  // serving elsewhere or closed; the socket's error if reading failed.
  absl::Status HandleOne(absl::Time deadline);

  // Async-signal-safe, thread-safe, idempotent.
  void Shutdown();

  // Shuts down, waits for ServeForever()/HandleOne() to return, closes the
  // socket and removes a unixgram path. Idempotent. The shutdown eventfd
  // stays open until destruction, so that Shutdown() stays safe to call
  // (e.g. from a signal handler) on a closed server.
  void Close();

  // The bound address as a URI, e.g. "udp://127.0.0.1:40123".
  const std::string& address() const { return address_; }
  DatagramStats stats() const;
  const DatagramServerOptions& options() const { return options_; }

 private:
  class Reply;

  DatagramServer(DatagramServerOptions options, std::shared_ptr<DatagramHandler> handler);
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  // Serves on `socket` until shutdown.
  void Loop(DatagramSocket& socket);
  // Waits until `socket` is readable (OK), shutdown (UNAVAILABLE) or
  // `deadline` (DeadlineExceeded).
  absl::Status Wait(const DatagramSocket& socket, absl::Time deadline);
  // Reads and processes one queued datagram; false when none was queued.
  // A failure of the socket itself is reported, and stored in
  // *socket_error when given.
  bool ProcessOne(DatagramSocket& socket, ReceivedDatagram& datagram,
                  absl::Status* socket_error = nullptr);
  void Report(const PeerInfo& peer, const absl::Status& status, absl::string_view stage);
  void SendError(DatagramSocket& socket, const SocketAddress& to, const absl::Status& status);

  DatagramServerOptions options_;
  std::shared_ptr<DatagramHandler> handler_;
  std::unique_ptr<DatagramSocket> socket_;  // null once closed
  std::string address_;
  int shutdown_fd_ = -1;
  std::atomic<bool> shutting_down_{false};
  absl::Mutex serve_mu_;  // held while ServeForever()/HandleOne() runs

  std::atomic<uint64_t> datagrams_received_{0};
  std::atomic<uint64_t> messages_received_{0};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> bad_datagrams_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> handler_errors_{0};
  std::atomic<uint64_t> send_errors_{0};
  mutable absl::Mutex errors_mu_;
  std::map<std::string, uint64_t> errors_ ABSL_GUARDED_BY(errors_mu_);
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_DATAGRAM_SERVER_H_
