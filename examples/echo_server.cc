// echo_server: an lpframe StreamServer that sends every message back
// unchanged on the connection it came from (the conformance suite's echo
// contract), and closes a connection on a framing error with a KIND_ERROR
// frame.
//
//   echo_server --listen=tcp://127.0.0.1:7000
//   echo_server --listen=unix:/tmp/echo.sock --model=threads
//   echo_server --listen=tcp://127.0.0.1:0 --ready_file=/tmp/addr   # port 0
//   echo_server --listen=unix:/tmp/echo.sock --dialect=varint32  # interop framing
//
// SIGTERM or SIGINT shut it down gracefully: it stops accepting, answers
// the messages already received, closes every connection at a frame
// boundary (within --shutdown_grace), prints its counters and exits 0.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/dialect.h"
#include "lib/server/shutdown_signals.h"
#include "lib/server/stream_server.h"

ABSL_FLAG(std::string, listen, "tcp://127.0.0.1:7000",
          "address to serve: tcp://HOST:PORT, tcp://[::1]:PORT, unix:/PATH, unix-abstract:NAME");
ABSL_FLAG(std::string, model, "reactor", "concurrency model: reactor, threads or forks");
ABSL_FLAG(int, reactors, 1, "reactor model: event loops (SO_REUSEPORT listeners for TCP)");
ABSL_FLAG(int, workers, 0, "reactor model: handler threads (0: handlers run on the loop)");
ABSL_FLAG(int, max_connections, 4096, "connections served at once; more are refused");
ABSL_FLAG(std::string, dialect, "native",
          "framing: native (lpframe v1), or an interop dialect: varint32 (protobuf "
          "writeDelimitedTo), u32be (4-byte big-endian length); the dialects carry no "
          "envelope, so errors close the connection without an error frame");
ABSL_FLAG(uint64_t, max_payload, 64 << 20, "largest payload accepted, in bytes");
ABSL_FLAG(absl::Duration, idle_timeout, absl::InfiniteDuration(),
          "close a connection with no message started for this long");
ABSL_FLAG(absl::Duration, stall_timeout, absl::InfiniteDuration(),
          "close a connection whose message does not complete within this");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "on SIGTERM/SIGINT: how long in-flight messages may take");
ABSL_FLAG(std::string, ready_file, "",
          "once listening, write the bound address (URI) to this file");
ABSL_FLAG(bool, quiet, false, "do not log connection errors");
ABSL_FLAG(bool, send_error_frames, true,
          "send a KIND_ERROR frame before closing on an error (false breaks the conformance "
          "suite's echo contract: for testing the suite)");

namespace {

class EchoHandler : public lpframe::StreamHandler {
 public:
  absl::Status OnMessage(lpframe::Session& session, lpframe::Message message) override {
    return session.Send(std::move(message));
  }
  // Small payloads arrive as views of the server's read buffer; Send()
  // copies them into the answer, with no allocation in between.
  bool TakesMessageViews() const override { return true; }
  absl::Status OnMessageView(lpframe::Session& session, const lpframe::Envelope& envelope,
                             absl::string_view payload) override {
    return session.Send(envelope, payload);
  }
};

absl::Status Run() {
  lpframe::StreamServerOptions options;
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model == "reactor") {
    options.model = lpframe::ConcurrencyModel::kReactor;
  } else if (model == "threads") {
    options.model = lpframe::ConcurrencyModel::kThreadPerConnection;
  } else if (model == "forks") {
    options.model = lpframe::ConcurrencyModel::kForkPerConnection;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--model=", model, " is not one of reactor, threads, forks"));
  }
  options.reactor_threads = absl::GetFlag(FLAGS_reactors);
  options.worker_threads = absl::GetFlag(FLAGS_workers);
  options.max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  if (!lpframe::ParseDialect(absl::GetFlag(FLAGS_dialect), &options.connection.dialect)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dialect=", absl::GetFlag(FLAGS_dialect), " is not one of native, varint32, u32be"));
  }
  options.connection.limits.max_payload_bytes = absl::GetFlag(FLAGS_max_payload);
  options.connection.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  options.connection.stall_timeout = absl::GetFlag(FLAGS_stall_timeout);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (absl::GetFlag(FLAGS_quiet)) options.on_error = nullptr;
  options.send_error_frames = absl::GetFlag(FLAGS_send_error_frames);

  absl::StatusOr<std::unique_ptr<lpframe::StreamServer>> server =
      lpframe::StreamServer::Create(absl::GetFlag(FLAGS_listen), options,
                                    [] { return std::make_unique<EchoHandler>(); });
  if (!server.ok()) return server.status();

  lpframe::ShutdownOnSignals signals;
  if (!signals.status().ok()) return signals.status();
  absl::Status added = signals.Add(server->get());
  if (!added.ok()) return added;

  std::cerr << "echo_server: serving " << (*server)->address() << " (" << model << ")"
            << std::endl;
  const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
  if (!ready_file.empty()) {
    // Written whole under a temporary name, then renamed: readers never
    // see a partial address.
    const std::string temp = ready_file + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << (*server)->address() << "\n";
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", temp));
    }
    if (std::rename(temp.c_str(), ready_file.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot rename ", temp, " to ", ready_file));
    }
  }

  absl::Status served = (*server)->ServeForever();
  (*server)->Close();
  const lpframe::ServerStats stats = (*server)->stats();
  std::cerr << "echo_server: stopped (signal " << lpframe::ShutdownOnSignals::last_signal()
            << "): " << stats.accepted << " connections, " << stats.refused << " refused, "
            << stats.messages_received << " messages received, " << stats.messages_sent
            << " sent";
  for (const auto& [name, count] : stats.errors) std::cerr << ", " << name << "=" << count;
  std::cerr << std::endl;
  return served;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("lpframe echo server: sends every message back unchanged");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << "echo_server: " << status << std::endl;
    return 1;
  }
  return 0;
}
