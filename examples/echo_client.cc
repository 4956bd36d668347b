// echo_client: sends messages to an echo server and checks that each comes
// back intact and in order.
//
//   echo_client --connect=tcp://127.0.0.1:7000 --count=10000 --size=1024
//   echo_client --connect=unix:/tmp/echo.sock --connections=8 --size=16777216
//   echo_client --connect=tcp://127.0.0.1:7000 --message="hello"   # one round trip
//
// Each connection keeps --window messages (at most 1 MiB) in flight. Payload bytes depend
// on (connection, message, offset), so a lost, duplicated, reordered or
// corrupted message is detected. Prints a summary (messages, bytes/s,
// round-trip p50/p99) and exits 0 only when every message came back.
//
// SIGTERM or SIGINT stop sending; the messages in flight are still
// received and checked before the summary.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/frame_error.h"
#include "lib/io/framed_connection.h"

ABSL_FLAG(std::string, connect, "tcp://127.0.0.1:7000", "echo server address (URI)");
ABSL_FLAG(std::string, message, "", "send this one message, print the answer, exit");
ABSL_FLAG(int, connections, 1, "connections, each on its own thread");
ABSL_FLAG(uint64_t, count, 1000, "messages per connection");
ABSL_FLAG(uint64_t, size, 64, "payload bytes per message");
ABSL_FLAG(int, window, 16,
          "messages in flight per connection, at most 1 MiB of them (at least one message): "
          "a server stops reading a client that does not read its answers, and this client "
          "does not read while it writes");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "deadline for each answer");

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// Deterministic payload of message `index` on connection `conn`.
// Eight bytes per xorshift step, so multi-MB payloads are cheap to make and
// to check.
absl::Cord Payload(int conn, uint64_t index, uint64_t size) {
  std::string bytes(size, '\0');
  uint64_t x = (static_cast<uint64_t>(conn) << 40) ^ (index * 0x9E3779B97F4A7C15ull) ^ size ^ 1;
  for (uint64_t i = 0; i < size; i += sizeof(x)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&bytes[i], &x, std::min<uint64_t>(sizeof(x), size - i));
  }
  return absl::Cord(std::move(bytes));
}

struct ConnectionResult {
  uint64_t echoed = 0;
  std::vector<absl::Duration> latencies;
  std::string problem;
};

void RunConnection(int conn_index, ConnectionResult* result) {
  const uint64_t count = absl::GetFlag(FLAGS_count);
  const uint64_t size = absl::GetFlag(FLAGS_size);
  const uint64_t window =
      std::max<uint64_t>(1, std::min<uint64_t>(std::max(1, absl::GetFlag(FLAGS_window)),
                                               (uint64_t{1} << 20) / std::max<uint64_t>(size, 1)));
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  absl::StatusOr<lpframe::FramedConnection> conn = lpframe::FramedConnection::Dial(
      absl::GetFlag(FLAGS_connect), {}, absl::Now() + timeout);
  if (!conn.ok()) {
    result->problem = absl::StrCat("connect: ", conn.status().ToString());
    return;
  }
  std::vector<absl::Time> sent_at(window);
  uint64_t sent = 0;
  while (result->echoed < sent || (sent < count && !g_stop.load())) {
    while (sent < count && sent < result->echoed + window && !g_stop.load()) {
      lpframe::Envelope envelope;
      envelope.set_id(sent);
      sent_at[sent % window] = absl::Now();
      absl::Status queued = conn->Queue(envelope, Payload(conn_index, sent, size));
      if (!queued.ok()) {
        result->problem = absl::StrCat("send #", sent, ": ", queued.ToString());
        return;
      }
      ++sent;
    }
    absl::StatusOr<lpframe::Message> m = conn->Receive(absl::Now() + timeout);
    if (!m.ok()) {
      result->problem = absl::StrCat("answer #", result->echoed, ": ", m.status().ToString());
      return;
    }
    if (m->envelope.kind() == lpframe::KIND_ERROR) {
      result->problem = absl::StrCat("the server sent an error: ",
                                     m->envelope.status().ShortDebugString());
      return;
    }
    if (m->envelope.id() != result->echoed ||
        m->payload != Payload(conn_index, result->echoed, size)) {
      result->problem = absl::StrCat("answer #", result->echoed, " differs from the message sent",
                                     " (id ", m->envelope.id(), ", ", m->payload.size(),
                                     " bytes)");
      return;
    }
    result->latencies.push_back(absl::Now() - sent_at[result->echoed % window]);
    ++result->echoed;
  }
}

int OneMessage() {
  absl::StatusOr<lpframe::FramedConnection> conn = lpframe::FramedConnection::Dial(
      absl::GetFlag(FLAGS_connect), {}, absl::Now() + absl::GetFlag(FLAGS_timeout));
  if (!conn.ok()) {
    std::cerr << "echo_client: " << conn.status() << std::endl;
    return 1;
  }
  lpframe::Envelope envelope;
  envelope.set_id(1);
  absl::Status sent = conn->Send(envelope, absl::Cord(absl::GetFlag(FLAGS_message)));
  absl::StatusOr<lpframe::Message> m =
      sent.ok() ? conn->Receive(absl::Now() + absl::GetFlag(FLAGS_timeout))
                : absl::StatusOr<lpframe::Message>(sent);
  if (!m.ok()) {
    std::cerr << "echo_client: " << m.status() << std::endl;
    return 1;
  }
  std::cout << m->envelope.ShortDebugString() << " " << std::string(m->payload) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("lpframe echo client: sends messages, checks the echoes");
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_message).empty()) return OneMessage();

  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  const int connections = std::max(1, absl::GetFlag(FLAGS_connections));
  std::vector<ConnectionResult> results(connections);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back(RunConnection, c, &results[c]);
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;

  uint64_t echoed = 0;
  std::vector<absl::Duration> latencies;
  int failed = 0;
  for (int c = 0; c < connections; ++c) {
    echoed += results[c].echoed;
    latencies.insert(latencies.end(), results[c].latencies.begin(), results[c].latencies.end());
    if (!results[c].problem.empty()) {
      ++failed;
      std::cerr << "echo_client: connection " << c << ": " << results[c].problem << std::endl;
    }
  }
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) {
    if (latencies.empty()) return absl::ZeroDuration();
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(p * static_cast<double>(latencies.size())))];
  };
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-9);
  const uint64_t size = absl::GetFlag(FLAGS_size);
  std::cout << absl::StrFormat(
                   "%d messages echoed intact on %d connection(s) in %s: %.0f msg/s, %.1f MB/s "
                   "each way, round trip p50 %s p99 %s%s",
                   echoed, connections, absl::FormatDuration(elapsed), echoed / seconds,
                   static_cast<double>(echoed * size) / seconds / 1e6,
                   absl::FormatDuration(percentile(0.5)), absl::FormatDuration(percentile(0.99)),
                   g_stop.load() ? " (stopped by a signal)" : "")
            << std::endl;
  if (failed > 0) return 1;
  if (!g_stop.load() && echoed != absl::GetFlag(FLAGS_count) * connections) return 1;
  return 0;
}
