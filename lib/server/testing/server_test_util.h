// File: lib/server/testing/server_test_util.h
//
// Test helpers for the server layer (testonly): handlers, the server's
// models as test parameters, descriptor counts, and checks of the error
// frames a server sends before closing.
#ifndef LPFRAME_LIB_SERVER_TESTING_SERVER_TEST_UTIL_H_
#define LPFRAME_LIB_SERVER_TESTING_SERVER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/io/framed_connection.h"
#include "lib/io/testing/transport_fixture.h"
#include "lib/server/stream_server.h"

namespace lpframe {
namespace servertest {

// Answers every message with the same envelope and payload; with
// `views`, takes small messages as views (StreamHandler::OnMessageView).
class EchoHandler : public StreamHandler {
 public:
  explicit EchoHandler(bool views = true) : views_(views) {}
  absl::Status OnMessage(Session& session, Message message) override {
    return session.Send(std::move(message));
  }
  // Small payloads arrive as views of the server's read buffer; Send()
  // copies them into the answer, with no allocation in between.
  bool TakesMessageViews() const override { return views_; }
  absl::Status OnMessageView(Session& session, const Envelope& envelope,
                             absl::string_view payload) override {
    return session.Send(envelope, payload);
  }

 private:
  bool views_;
};
// EchoHandlers for connections that alternate between taking views and
// not, so that every test served by it covers both ways of delivery.
HandlerFactory EchoFactory();

// The server configurations every behaviour is checked under.
enum class Model { kReactorInline, kReactorWorkers, kTwoReactors, kThreads, kForks };
std::string ModelName(Model model);
std::vector<Model> AllModels();
// `base` with the model's concurrency settings applied.
StreamServerOptions WithModel(Model model, StreamServerOptions base = {});

enum class Net { kTcp, kUnix };
std::string NetName(Net net);
// "tcp://127.0.0.1:0", or a fresh unix:/tmp/... path.
std::string ListenUri(Net net);

// Why the fork model cannot be tested in this build, or "" when it can:
// under AddressSanitizer every fork copies the shadow memory's page tables
// and children start in seconds, beyond the tests' deadlines (the regular
// build covers the model).
std::string ForkModelUntestableReason();

// Open descriptors of this process (/proc/self/fd).
using iotest::CountOpenFds;

// A server running ServeForever() on its own thread; shut down, joined and
// closed when destroyed.
class RunningServer {
 public:
  static std::unique_ptr<RunningServer> Start(const std::string& uri,
                                              StreamServerOptions options,
                                              HandlerFactory factory);
  ~RunningServer();
  StreamServer& server() { return *server_; }
  const std::string& address() const { return server_->address(); }
  // Shutdown() and join; returns ServeForever()'s status and how long the
  // shutdown took.
  absl::Status Stop(absl::Duration* took = nullptr);

 private:
  std::unique_ptr<StreamServer> server_;
  std::thread thread_;
  absl::Status serve_status_;
  bool stopped_ = false;
};

// Dials with a 10 s deadline.
absl::StatusOr<FramedConnection> Dial(const std::string& uri, ConnectionOptions options = {});

// Reads until the server's KIND_ERROR frame and then the end of the
// stream; "" when the error frame's message starts with `code_name`
// (e.g. "CONNECTION_LIMIT") and the connection then ends, else what was
// seen instead. Messages before the error frame are skipped.
std::string ExpectErrorFrameThenClose(FramedConnection& conn, absl::string_view code_name,
                                      absl::Duration timeout = absl::Seconds(10));

// Waits until `predicate` holds (polled every 5 ms) or `timeout`.
template <typename Predicate>
bool WaitFor(Predicate predicate, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!predicate()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace servertest
}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_TESTING_SERVER_TEST_UTIL_H_
