#include "conformance/echo_runner.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "conformance/segment_relay.h"
#include "conformance/test_vector.h"
#include "lib/frame_decoder.h"
#include "lib/frame_error.h"
#include "lib/io/socket.h"

namespace lpframe {
namespace conformance {
namespace {

// What the reading side saw of the echo stream.
struct EchoStream {
  absl::Mutex mu;
  std::vector<Message> messages ABSL_GUARDED_BY(mu);
  bool error_frame = false ABSL_GUARDED_BY(mu);
  Envelope error_envelope ABSL_GUARDED_BY(mu);
  absl::Time error_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  absl::Status end ABSL_GUARDED_BY(mu);  // how the stream ended
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Time done_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  std::vector<size_t> reads ABSL_GUARDED_BY(mu);  // sizes of the reads of the echo
};

void ReadEcho(Socket* socket, Dialect dialect, absl::Time deadline, EchoStream* stream) {
  DecoderOptions options;
  options.dialect = dialect;
  FrameDecoder decoder(options);
  std::vector<char> buffer(64 << 10);
  absl::Status end;
  while (true) {
    absl::StatusOr<size_t> n = socket->Read(absl::MakeSpan(buffer), deadline);
    if (!n.ok()) {
      end = n.status();
      break;
    }
    if (*n == 0) {
      end = decoder.Finish();
      break;
    }
    decoder.Feed(absl::string_view(buffer.data(), *n));
    {
      absl::MutexLock lock(&stream->mu);
      stream->reads.push_back(*n);
    }
    bool stop = false;
    while (true) {
      Message message;
      DecodeStep step = decoder.Next(&message);
      if (step.is_error()) {
        end = step.error();  // the testee's own output is not framed right
        stop = true;
        break;
      }
      if (!step.is_message()) break;
      absl::MutexLock lock(&stream->mu);
      if (dialect == Dialect::kNative && message.envelope.kind() == KIND_ERROR &&
          !stream->error_frame) {
        stream->error_frame = true;
        stream->error_envelope = message.envelope;
        stream->error_at = absl::Now();
      } else if (!stream->error_frame) {
        stream->messages.push_back(std::move(message));
      }
    }
    if (stop) break;
  }
  absl::MutexLock lock(&stream->mu);
  stream->end = end;
  stream->done = true;
  stream->done_at = absl::Now();
}

// The dialect verdict on an error vector: the messages before the bad frame
// came back, then the testee ended the stream (in time when the error must
// surface before end of stream). Empty when it holds.
std::string CheckDialectRejection(const Vector& vector, const std::vector<Message>& messages,
                                  const absl::Status& end, bool ended_before_half_close) {
  if (end.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::StrCat("expected error ", vector.error(),
                        ": the testee did not close the connection (", end.ToString(), ")");
  }
  // A close at a frame boundary of the echo, or a reset; not an echo that
  // is itself misframed or cut inside a frame (bytes copied back unframed).
  if (!end.ok() && end.code() != absl::StatusCode::kUnavailable) {
    return absl::StrCat("expected error ", vector.error(),
                        ": the echo stream itself is not well framed: ", end.ToString());
  }
  if (messages.size() != static_cast<size_t>(vector.messages_size())) {
    return absl::StrCat("expected ", vector.messages_size(), " message(s) before the error ",
                        vector.error(), ", got ", messages.size());
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string difference = CheckMessage(vector, i, messages[i]);
    if (!difference.empty()) return difference;
  }
  if (vector.error_before_eof() && !ended_before_half_close) {
    return absl::StrCat("expected error ", vector.error(),
                        " as soon as the bad bytes arrived: the testee closed only after our "
                        "end of stream");
  }
  return "";
}

// Where the relay in front of `target_uri` listens: the same family, on
// this host.
std::string RelayListenUri(absl::string_view target_uri) {
  static std::atomic<int> counter{0};
  if (absl::StartsWith(target_uri, "unix")) {
    return absl::StrCat("unix-abstract:lpframe-relay-", ::getpid(), "-", counter++);
  }
  return "tcp://127.0.0.1:0";
}

}  // namespace

absl::Status StatusFromErrorFrame(const Envelope& envelope) {
  const std::string& text = envelope.status().message();
  const absl::string_view name = absl::string_view(text).substr(0, text.find(':'));
  absl::Status status(static_cast<absl::StatusCode>(envelope.status().code()), text);
  FrameErrorCode code;
  if (ParseFrameErrorCode(name, &code)) status = WithFrameErrorCode(status, code);
  return status;
}

CaseReport RunVectorOverSocket(absl::string_view target_uri, const Vector& vector,
                               const SegmentPlan& plan, const RunOptions& options) {
  CaseReport report;
  report.plan = plan.Name();
  report.id = absl::StrCat(vector.id(), "/", report.plan);
  report.spec = vector.spec();
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.timeout;
  auto finish = [&](std::string detail) {
    report.detail = std::move(detail);
    report.passed = report.detail.empty();
    report.duration = absl::Now() - start;
    return report;
  };

  absl::StatusOr<std::string> input = MaterializeInput(vector);
  if (!input.ok()) return finish(absl::StrCat("bad vector: ", input.status().ToString()));
  // The relay cuts the stream as planned on its way to the testee.
  const std::vector<size_t> cuts = plan.Cuts(input->size());
  const bool paced = input->size() <= options.paced_input_bytes && !cuts.empty() &&
                     options.pause > absl::ZeroDuration();
  RelayDirection upstream;
  // The cuts inside this input: the relay passes the tail on as it comes
  // instead of holding it for a cut past the end.
  upstream.segments = SegmentPlan::Offsets(cuts);
  if (paced) upstream.pause = options.pause;
  upstream.stall_at = options.stall_at;
  upstream.stall = options.stall;
  absl::StatusOr<std::unique_ptr<SegmentRelay>> relay =
      SegmentRelay::Start(RelayListenUri(target_uri), target_uri, upstream);
  if (!relay.ok()) return finish(absl::StrCat("relay: ", relay.status().ToString()));
  absl::StatusOr<Socket> dialed = Socket::Connect((*relay)->address(), deadline);
  if (!dialed.ok()) return finish(absl::StrCat("connect: ", dialed.status().ToString()));
  Socket socket = *std::move(dialed);

  EchoStream stream;
  std::thread reader([&] { ReadEcho(&socket, options.dialect, deadline, &stream); });
  // The testee may close early on an error: a failed write is judged below.
  absl::Status write_status = socket.WriteAll(*input, deadline);
  if (write_status.ok()) report.bytes_sent = input->size();
  if (vector.error_before_eof()) {
    // The error must come without our end of stream: give it time first.
    absl::MutexLock lock(&stream.mu);
    stream.mu.AwaitWithDeadline(
        absl::Condition(+[](EchoStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
                          return s->error_frame || s->done;
                        },
                        &stream),
        std::min(deadline, absl::Now() + options.error_wait +
                               (paced ? options.pause * static_cast<double>(cuts.size())
                                      : absl::ZeroDuration())));
  }
  const absl::Time half_closed_at = absl::Now();
  (void)socket.ShutdownWrite();
  reader.join();
  absl::StatusOr<std::pair<RelayRecord, RelayRecord>> records = (*relay)->Wait(0, deadline);
  if (records.ok()) {
    report.segments = std::move(records->first.writes);
    report.writes = report.segments.size();
  }

  DecodeOutcome outcome;
  {
    absl::MutexLock lock(&stream.mu);
    outcome.messages = std::move(stream.messages);
    report.messages_echoed = outcome.messages.size();
    report.reads = std::move(stream.reads);
    if (options.dialect != Dialect::kNative && !vector.error().empty()) {
      return finish(CheckDialectRejection(vector, outcome.messages, stream.end,
                                          stream.done_at < half_closed_at));
    }
    if (stream.error_frame) {
      outcome.end = StatusFromErrorFrame(stream.error_envelope);
      outcome.error_before_eof = stream.error_at < half_closed_at;
      if (!stream.end.ok()) {
        return finish(absl::StrCat("after its error frame the testee did not end the stream "
                                   "cleanly: ", stream.end.ToString()));
      }
    } else {
      outcome.end = stream.end;
      if (!vector.error().empty() && stream.end.ok()) {
        return finish(absl::StrCat("expected error ", vector.error(),
                                   ": the testee echoed ", outcome.messages.size(),
                                   " message(s) and closed cleanly without an error frame"));
      }
      if (!vector.error().empty()) {
        return finish(absl::StrCat("expected error ", vector.error(), " in a KIND_ERROR frame; "
                                   "the stream ended with ", stream.end.ToString(),
                                   " (write: ", write_status.ToString(), ")"));
      }
    }
  }
  if (vector.error().empty() && !write_status.ok()) {
    return finish(absl::StrCat("writing the input failed: ", write_status.ToString()));
  }
  return finish(CheckOutcome(vector, outcome));
}

}  // namespace conformance
}  // namespace lpframe
