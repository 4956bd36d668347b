#include "conformance/socket_scenarios.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "conformance/echo_runner.h"
#include "conformance/testee_memory.h"
#include "conformance/test_vector.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/socket.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace conformance {
namespace {

std::string EncodeOrDie(uint64_t id, absl::string_view payload) {
  Envelope envelope;
  envelope.set_id(id);
  envelope.set_kind(KIND_MESSAGE);
  absl::StatusOr<EncodedFrame> frame = FrameEncoder().Encode(envelope, absl::Cord(payload));
  if (!frame.ok()) std::abort();
  return frame->ToString();
}

// Closes with a TCP reset (SO_LINGER 0); on AF_UNIX the peer sees EOF or
// ECONNRESET.
void Reset(Socket* socket) {
  struct linger abort_on_close = {1, 0};
  ::setsockopt(socket->fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  socket->Close();
}

ScenarioResult AfterwardsProbe(absl::string_view target, absl::Time deadline,
                               ScenarioResult result) {
  const std::string probe = ProbeTestee(target, deadline);
  result.passed = probe.empty();
  result.detail = result.passed
                      ? absl::StrCat("sent ", result.bytes_sent,
                                     " bytes; the testee then served a new connection")
                      : absl::StrCat("afterwards, ", probe);
  return result;
}

// One connection of RunConnections, checked as its echo arrives.
struct Connection {
  const ConnectionPlan* plan = nullptr;
  Socket socket;
  size_t sent = 0;
  bool write_done = false;
  bool done = false;
  FrameDecoder decoder;
  uint64_t messages = 0;
  bool error_frame = false;
  absl::Status end;
  std::string failure;

  void Check(const Message& message) {
    if (!failure.empty()) return;
    if (plan->tiny_frames > 0) {
      const std::string payload(message.payload);
      if (message.envelope.id() != messages || payload.size() != 1 ||
          static_cast<unsigned char>(payload[0]) != (messages & 0xff)) {
        failure = absl::StrCat("message ", messages, " came back as id ", message.envelope.id(),
                               " with ", payload.size(), " payload byte(s)");
      }
    } else {
      failure = CheckMessage(*plan->expected, messages, message);
    }
  }

  void OnBytes(absl::string_view bytes) {
    decoder.Feed(bytes);
    while (!done) {
      Message message;
      DecodeStep step = decoder.Next(&message);
      if (step.is_error()) {
        end = step.error();
        done = true;
      } else if (!step.is_message()) {
        break;
      } else if (message.envelope.kind() == KIND_ERROR && !error_frame) {
        error_frame = true;
        end = StatusFromErrorFrame(message.envelope);
      } else if (!error_frame) {
        Check(message);
        ++messages;
      }
    }
  }

  // Empty when the echo was what the plan expects.
  std::string Verdict() const {
    if (!failure.empty()) return failure;
    const uint64_t want = plan->tiny_frames > 0 ? plan->tiny_frames
                                                : static_cast<uint64_t>(plan->expected->messages_size());
    const std::string error = plan->expected != nullptr ? plan->expected->error() : "";
    if (messages != want) {
      return absl::StrCat("echoed ", messages, " messages, expected ", want, " (end: ",
                          end.ToString(), ")");
    }
    if (error.empty()) {
      return end.ok() ? "" : absl::StrCat("expected a clean end, got ", end.ToString());
    }
    if (!error_frame) return absl::StrCat("expected a KIND_ERROR frame with ", error);
    const absl::string_view got = FrameErrorCodeName(GetFrameErrorCode(end));
    return got == error ? "" : absl::StrCat("expected error ", error, ", got ", got);
  }
};

// One pass over the connections' ready events; false when poll failed.
bool Pump(std::vector<Connection>& connections, size_t piece, ScenarioResult* result) {
  std::vector<pollfd> fds;
  std::vector<Connection*> owners;
  for (Connection& c : connections) {
    if (c.done) continue;
    short events = POLLIN;
    if (!c.write_done) events |= POLLOUT;
    fds.push_back({c.socket.fd(), events, 0});
    owners.push_back(&c);
  }
  if (::poll(fds.data(), fds.size(), 100) < 0) return errno == EINTR;
  char buffer[64 << 10];
  for (size_t i = 0; i < fds.size(); ++i) {
    Connection& c = *owners[i];
    if ((fds[i].revents & POLLOUT) && !c.write_done) {
      const std::string& input = c.plan->input;
      const size_t n = std::min(piece, input.size() - c.sent);
      const ssize_t w = ::send(c.socket.fd(), input.data() + c.sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        c.sent += static_cast<size_t>(w);
        result->bytes_sent += static_cast<uint64_t>(w);
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        c.write_done = true;  // the testee closed; what it said is read below
      }
      if (c.sent == input.size() && !c.write_done) {
        c.write_done = true;
        (void)c.socket.ShutdownWrite();
      }
    }
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::recv(c.socket.fd(), buffer, sizeof(buffer), MSG_DONTWAIT);
      if (r > 0) {
        c.OnBytes(absl::string_view(buffer, static_cast<size_t>(r)));
      } else if (r == 0) {
        if (!c.error_frame && c.end.ok()) c.end = c.decoder.Finish();
        c.done = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        if (!c.error_frame) c.end = absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
        c.done = true;
      }
    }
  }
  return true;
}

}  // namespace

std::string ProbeTestee(absl::string_view target, absl::Time deadline) {
  absl::StatusOr<Socket> socket = Socket::Connect(target, deadline);
  if (!socket.ok()) return absl::StrCat("the testee refused a new connection: ", socket.status().ToString());
  const std::string frame = EncodeOrDie(424242, "probe");
  absl::Status written = socket->WriteAll(frame, deadline);
  if (written.ok()) written = socket->ShutdownWrite();
  if (!written.ok()) return absl::StrCat("probe write: ", written.ToString());
  std::string echo;
  char buffer[4096];
  while (true) {
    absl::StatusOr<size_t> n = socket->Read(absl::MakeSpan(buffer), deadline);
    if (!n.ok()) return absl::StrCat("probe read: ", n.status().ToString());
    if (*n == 0) break;
    echo.append(buffer, *n);
  }
  return echo == frame ? "" : absl::StrCat("the probe frame came back as ", echo.size(),
                                           " bytes that are not the frame sent");
}

ScenarioResult RunReset(absl::string_view target, const Vector& vector, size_t offset,
                        absl::Time deadline) {
  ScenarioResult result;
  absl::StatusOr<std::string> input = MaterializeInput(vector);
  absl::StatusOr<Socket> socket = Socket::Connect(target, deadline);
  if (!input.ok() || !socket.ok()) {
    result.detail = absl::StrCat("setup: ", input.ok() ? socket.status().ToString()
                                                       : input.status().ToString());
    return result;
  }
  const size_t n = std::min(offset, input->size());
  if (n > 0) (void)socket->WriteAll(absl::string_view(*input).substr(0, n), deadline);
  result.bytes_sent = n;
  absl::SleepFor(absl::Milliseconds(20));  // let the testee read the bytes first
  Reset(&*socket);
  return AfterwardsProbe(target, deadline, result);
}

ScenarioResult RunPeerLeaves(absl::string_view target, absl::Time deadline) {
  ScenarioResult result;
  absl::StatusOr<Socket> socket = Socket::Connect(target, deadline);
  if (!socket.ok()) {
    result.detail = absl::StrCat("connect: ", socket.status().ToString());
    return result;
  }
  const std::string frame = EncodeOrDie(1, PatternBytes(64 << 10, 1));
  const absl::Time give_up = std::min(deadline, absl::Now() + absl::Seconds(2));
  for (int i = 0; i < 128; ++i) {  // until the echo we never read backs up
    if (!socket->WriteAll(frame, give_up).ok()) break;
    result.bytes_sent += frame.size();
  }
  Reset(&*socket);
  return AfterwardsProbe(target, deadline, result);
}

ScenarioResult RunTimeoutScenario(absl::string_view target, bool trickle,
                                  absl::Duration declared_timeout, absl::Time deadline) {
  ScenarioResult result;
  if (declared_timeout == absl::InfiniteDuration()) {
    result.skipped = true;
    result.detail = absl::StrCat("the testee declared no ", trickle ? "stall" : "idle",
                                 " timeout (runner flag --", trickle ? "stall" : "idle",
                                 "_timeout)");
    return result;
  }
  absl::StatusOr<Socket> socket = Socket::Connect(target, deadline);
  if (!socket.ok()) {
    result.detail = absl::StrCat("connect: ", socket.status().ToString());
    return result;
  }
  const std::string frame = EncodeOrDie(1, PatternBytes(1 << 20, 9));
  const absl::Time start = absl::Now();
  const absl::Time limit = std::min(deadline, start + declared_timeout + absl::Seconds(1));
  FrameDecoder decoder;
  std::string said = "no error frame";
  bool closed = false;
  char buffer[4096];
  while (!closed && absl::Now() < limit) {
    pollfd fd = {socket->fd(), POLLIN, 0};
    if (::poll(&fd, 1, 100) > 0) {
      const ssize_t r = ::recv(socket->fd(), buffer, sizeof(buffer), MSG_DONTWAIT);
      if (r > 0) {
        decoder.Feed(absl::string_view(buffer, static_cast<size_t>(r)));
        Message message;
        while (decoder.Next(&message).is_message()) {
          if (message.envelope.kind() == KIND_ERROR) {
            said = absl::StrCat("error frame ", message.envelope.status().message());
          }
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        closed = true;
      }
    } else if (trickle && result.bytes_sent < frame.size()) {
      if (::send(socket->fd(), frame.data() + result.bytes_sent, 1, MSG_NOSIGNAL) == 1) {
        ++result.bytes_sent;
      }
    }
  }
  const absl::Duration after = absl::Now() - start;
  result.passed = closed;
  result.detail = closed ? absl::StrCat("closed after ", absl::FormatDuration(after), " (",
                                        said, "); declared ",
                                        absl::FormatDuration(declared_timeout))
                         : absl::StrCat("still open after ", absl::FormatDuration(after),
                                        "; declared timeout ",
                                        absl::FormatDuration(declared_timeout));
  return result;
}

ScenarioResult RunConnections(const std::vector<ConnectionPlan>& plans, size_t piece,
                              absl::Time deadline) {
  ScenarioResult result;
  std::vector<Connection> connections(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    connections[i].plan = &plans[i];
    absl::StatusOr<Socket> socket = Socket::Connect(plans[i].target, deadline);
    if (!socket.ok()) {
      result.detail = absl::StrCat("connection ", i, ": ", socket.status().ToString());
      return result;
    }
    connections[i].socket = *std::move(socket);
  }
  auto all_done = [&] {
    for (const Connection& c : connections) {
      if (!c.done) return false;
    }
    return true;
  };
  while (!all_done()) {
    if (absl::Now() > deadline) {
      result.detail = "deadline exceeded with connections still open";
      return result;
    }
    if (!Pump(connections, piece, &result)) {
      result.detail = absl::StrCat("poll: ", std::strerror(errno));
      return result;
    }
  }
  int failed = 0;
  for (size_t i = 0; i < connections.size(); ++i) {
    result.messages_echoed += connections[i].messages;
    const std::string verdict = connections[i].Verdict();
    if (verdict.empty()) continue;
    if (failed++ == 0) result.detail = absl::StrCat("connection ", i, ": ", verdict);
  }
  result.passed = failed == 0;
  if (failed > 1) absl::StrAppend(&result.detail, " (and ", failed - 1, " more)");
  if (result.passed) {
    result.detail = absl::StrCat(connections.size(), " connections, ", result.messages_echoed,
                                 " messages echoed");
  }
  return result;
}

std::string TinyFramesInput(uint64_t count) {
  std::string out;
  out.reserve(count * 32);
  for (uint64_t i = 0; i < count; ++i) {
    out += EncodeOrDie(i, std::string(1, static_cast<char>(i & 0xff)));
  }
  return out;
}

ScenarioResult RunAllocationBomb(absl::string_view target, int connections, int testee_pid,
                                 uint64_t max_growth_bytes, absl::Time deadline) {
  ScenarioResult result;
  if (testee_pid <= 0) {
    result.skipped = true;
    result.detail = "needs the testee's process id to measure its memory (--testee_pid)";
    return result;
  }
  PeakWindow memory(testee_pid);
  FrameHeader header;
  header.payload_length = uint64_t{64} << 20;  // exactly the default maximum
  std::string bytes(kHeaderSize, '\0');
  EncodeFrameHeader(header, &bytes[0]);
  bytes += PatternBytes(64 << 10, 4);
  std::vector<Socket> peers;
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<Socket> socket = Socket::Connect(target, deadline);
    if (!socket.ok()) break;  // a connection limit is a fine defence too
    const ssize_t w = ::send(socket->fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) result.bytes_sent += static_cast<uint64_t>(w);
    peers.push_back(*std::move(socket));
  }
  // The peak over a window, not one sample: a testee that allocates the
  // declared length touches its pages at a few hundred MB/s, and several
  // threads may still be at it. VmHWM (reset above) has the exact peak even
  // if the testee frees the memory between samples.
  const absl::Time window_end = std::min(deadline, absl::Now() + absl::Milliseconds(1500));
  uint64_t growth = memory.Growth();
  while (growth <= max_growth_bytes && absl::Now() < window_end) {
    absl::SleepFor(absl::Milliseconds(50));
    growth = memory.Growth();
  }
  for (Socket& peer : peers) Reset(&peer);
  const uint64_t before = memory.start_bytes();
  const uint64_t during = memory.peak_bytes();
  const std::string seen =
      absl::StrCat(peers.size(), " peers each announcing 64 MiB: the testee's RSS grew by ",
                   growth >> 20, " MiB (", before >> 20, " -> ", during >> 20, " MiB; bound ",
                   max_growth_bytes >> 20, " MiB)");
  if (during == 0) {
    result.detail = absl::StrCat("cannot read /proc/", testee_pid, "/status");
    return result;
  }
  if (growth > max_growth_bytes) {
    result.detail = seen;
    return result;
  }
  result = AfterwardsProbe(target, deadline, result);
  if (result.passed) result.detail = seen;
  return result;
}

}  // namespace conformance
}  // namespace lpframe
