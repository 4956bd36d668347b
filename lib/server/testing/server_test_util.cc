#include "lib/server/testing/server_test_util.h"

#include <unistd.h>

#include <atomic>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/frame_error.h"

namespace lpframe {
namespace servertest {

HandlerFactory EchoFactory() {
  auto connections = std::make_shared<std::atomic<uint64_t>>(0);
  return [connections] {
    return std::make_unique<EchoHandler>(/*views=*/connections->fetch_add(1) % 2 == 0);
  };
}

std::string ModelName(Model model) {
  switch (model) {
    case Model::kReactorInline: return "ReactorInline";
    case Model::kReactorWorkers: return "ReactorWorkers";
    case Model::kTwoReactors: return "TwoReactors";
    case Model::kThreads: return "Threads";
    case Model::kForks: return "Forks";
  }
  return "?";
}

std::vector<Model> AllModels() {
  return {Model::kReactorInline, Model::kReactorWorkers, Model::kTwoReactors, Model::kThreads,
          Model::kForks};
}

StreamServerOptions WithModel(Model model, StreamServerOptions base) {
  switch (model) {
    case Model::kReactorInline:
      base.model = ConcurrencyModel::kReactor;
      break;
    case Model::kReactorWorkers:
      base.model = ConcurrencyModel::kReactor;
      base.worker_threads = 2;
      break;
    case Model::kTwoReactors:
      base.model = ConcurrencyModel::kReactor;
      base.reactor_threads = 2;
      base.worker_threads = 2;
      break;
    case Model::kThreads:
      base.model = ConcurrencyModel::kThreadPerConnection;
      break;
    case Model::kForks:
      base.model = ConcurrencyModel::kForkPerConnection;
      base.max_children = 256;
      break;
  }
  return base;
}

std::string NetName(Net net) { return net == Net::kTcp ? "Tcp" : "Unix"; }

std::string ListenUri(Net net) {
  if (net == Net::kTcp) return "tcp://127.0.0.1:0";
  static std::atomic<int> counter{0};
  return absl::StrCat("unix:/tmp/lpframe-srvtest-", getpid(), "-", counter.fetch_add(1),
                      ".sock");
}

std::string ForkModelUntestableReason() {
#if defined(__SANITIZE_ADDRESS__)
  return "fork per connection is not tested under AddressSanitizer: each fork copies the "
         "shadow memory's page tables, so children start too slowly for the deadlines";
#else
  return "";
#endif
}

std::unique_ptr<RunningServer> RunningServer::Start(const std::string& uri,
                                                    StreamServerOptions options,
                                                    HandlerFactory factory) {
  absl::StatusOr<std::unique_ptr<StreamServer>> server =
      StreamServer::Create(uri, std::move(options), std::move(factory));
  if (!server.ok()) {
    ADD_FAILURE() << "StreamServer::Create(" << uri << "): " << server.status();
    return nullptr;
  }
  auto running = std::unique_ptr<RunningServer>(new RunningServer());
  running->server_ = *std::move(server);
  RunningServer* raw = running.get();
  running->thread_ = std::thread([raw] { raw->serve_status_ = raw->server_->ServeForever(); });
  return running;
}

absl::Status RunningServer::Stop(absl::Duration* took) {
  if (stopped_) return serve_status_;
  stopped_ = true;
  const absl::Time start = absl::Now();
  server_->Shutdown();
  thread_.join();
  if (took != nullptr) *took = absl::Now() - start;
  server_->Close();
  return serve_status_;
}

RunningServer::~RunningServer() { (void)Stop(); }

absl::StatusOr<FramedConnection> Dial(const std::string& uri, ConnectionOptions options) {
  return FramedConnection::Dial(uri, std::move(options), absl::Now() + absl::Seconds(10));
}

std::string ExpectErrorFrameThenClose(FramedConnection& conn, absl::string_view code_name,
                                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<Message> m = conn.Receive(deadline);
    if (!m.ok()) {
      return absl::StrCat("expected a KIND_ERROR frame starting with ", code_name, ", got ",
                          m.status().ToString());
    }
    if (m->envelope.kind() != KIND_ERROR) continue;
    const std::string& text = m->envelope.status().message();
    if (!absl::StartsWith(text, code_name)) {
      return absl::StrCat("expected an error frame starting with ", code_name, ", got: ", text);
    }
    absl::StatusOr<Message> after = conn.Receive(deadline);
    if (after.ok()) {
      return absl::StrCat("expected the end of the stream after the error frame, got ",
                          after->envelope.ShortDebugString());
    }
    if (GetFrameErrorCode(after.status()) != FrameErrorCode::kEndOfStream) {
      return absl::StrCat("expected a clean end after the error frame, got ",
                          after.status().ToString());
    }
    return "";
  }
}

}  // namespace servertest
}  // namespace lpframe
