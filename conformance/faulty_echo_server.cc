// faulty_echo_server: a test-only echo testee with switchable receiver bugs,
// the ones framing libraries' users keep reporting. With --fault=none it
// follows the echo contract (conformance/README.md) and passes the whole
// catalogue; with any other fault the conformance runner must fail. It is
// how faulty_testee_test proves that the suite catches real bugs.
//
//   faulty_echo_server --listen=tcp://127.0.0.1:0 --fault=lose_carried_header
//
// Faults:
//   none                 correct
//   lose_carried_header  header bytes at the end of a read are dropped
//                        instead of carried over to the next read
//   limit_off_by_one     the payload limit check admits max_payload + 1
//   eof_as_clean         EOF inside a frame closes like a clean end
//                        (no error frame)
//   alloc_declared       allocates (and touches) the declared payload length
//                        as soon as a header arrives (at most 1 GiB at a
//                        time, 2 GiB in all, so the host survives)
//   drop_last            echoes lag one read behind (held until the next
//                        read, or until 100 ms pass without one), and the
//                        held ones are lost at EOF
//
// Model: a thread per connection, 8 KiB reads fed to a FrameDecoder, echoes
// written with a FrameEncoder; idle and stall timeouts like echo_server's.
// Deliberately independent of lib/server, so its bugs are its own.
// SIGTERM's default action ends it.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/error_envelope.h"
#include "lib/frame_decoder.h"
#include "lib/frame_encoder.h"
#include "lib/frame_error.h"
#include "lib/io/listener.h"
#include "lib/io/socket.h"
#include "lib/wire_format.h"

ABSL_FLAG(std::string, listen, "tcp://127.0.0.1:0", "address to serve");
ABSL_FLAG(std::string, ready_file, "", "once listening, write the bound address here");
ABSL_FLAG(std::string, fault, "none",
          "none, lose_carried_header, limit_off_by_one, eof_as_clean, alloc_declared, "
          "drop_last");
ABSL_FLAG(absl::Duration, idle_timeout, absl::InfiniteDuration(),
          "close a connection with no message started for this long");
ABSL_FLAG(absl::Duration, stall_timeout, absl::InfiniteDuration(),
          "close a connection whose message does not complete within this");

namespace lpframe {
namespace {

enum class Fault {
  kNone,
  kLoseCarriedHeader,
  kLimitOffByOne,
  kEofAsClean,
  kAllocDeclared,
  kDropLast,
};

bool ParseFault(const std::string& name, Fault* fault) {
  static const std::pair<const char*, Fault> kNames[] = {
      {"none", Fault::kNone},
      {"lose_carried_header", Fault::kLoseCarriedHeader},
      {"limit_off_by_one", Fault::kLimitOffByOne},
      {"eof_as_clean", Fault::kEofAsClean},
      {"alloc_declared", Fault::kAllocDeclared},
      {"drop_last", Fault::kDropLast},
  };
  for (const auto& [n, f] : kNames) {
    if (name == n) {
      *fault = f;
      return true;
    }
  }
  return false;
}

constexpr size_t kReadSize = 8 << 10;
constexpr uint64_t kMaxBogusAllocation = uint64_t{1} << 30;
constexpr uint64_t kBogusBudget = uint64_t{2} << 30;
std::atomic<uint64_t> bogus_total{0};  // bytes held by alloc_declared, all threads
constexpr absl::Duration kQuietFlush = absl::Milliseconds(100);
constexpr absl::Duration kWriteTimeout = absl::Seconds(30);

// Follows frame boundaries in the raw stream from the headers' length
// fields (no validation: the decoder validates), so faults can act on
// "a header cut by a read" and "a header just arrived".
class BoundaryTracker {
 public:
  // Walks `bytes`; `on_header(payload_length)` runs for each whole header.
  template <typename OnHeader>
  void Walk(absl::string_view bytes, OnHeader on_header) {
    while (!bytes.empty()) {
      if (body_remaining_ > 0) {
        const uint64_t take = std::min<uint64_t>(body_remaining_, bytes.size());
        body_remaining_ -= take;
        bytes.remove_prefix(take);
        continue;
      }
      const size_t take = std::min(kHeaderSize - header_.size(), bytes.size());
      header_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (header_.size() < kHeaderSize) break;
      const uint64_t envelope = LoadBigEndian32(header_.data() + 8);
      const uint64_t payload = LoadBigEndian64(header_.data() + 12);
      const bool checksum = (LoadBigEndian16(header_.data() + 6) & kFlagChecksum) != 0;
      body_remaining_ = payload > (uint64_t{1} << 62)
                            ? ~uint64_t{0}
                            : envelope + payload + (checksum ? kChecksumTrailerSize : 0);
      header_.clear();
      on_header(payload);
    }
  }
  // Bytes of a header that has started but not completed.
  size_t partial_header() const { return header_.size(); }
  void ForgetPartialHeader() { header_.clear(); }

 private:
  std::string header_;
  uint64_t body_remaining_ = 0;
};

class Connection {
 public:
  ~Connection() { ReleaseBogus(); }

  Connection(Socket socket, Fault fault) : socket_(std::move(socket)), fault_(fault) {
    DecoderOptions options;
    if (fault_ == Fault::kLimitOffByOne) options.limits.max_payload_bytes += 1;
    decoder_ = std::make_unique<FrameDecoder>(options);
  }

  void Serve() {
    const absl::Duration idle = absl::GetFlag(FLAGS_idle_timeout);
    const absl::Duration stall = absl::GetFlag(FLAGS_stall_timeout);
    std::vector<char> buffer(kReadSize);
    absl::Time boundary_since = absl::Now();
    absl::Time frame_started = absl::InfiniteFuture();
    while (true) {
      absl::Time deadline = decoder_->at_frame_boundary() ? boundary_since + idle
                                                          : frame_started + stall;
      if (!held_.empty()) deadline = std::min(deadline, absl::Now() + kQuietFlush);
      absl::StatusOr<size_t> n = socket_.Read(absl::MakeSpan(buffer), deadline);
      if (!n.ok()) {
        if (n.status().code() != absl::StatusCode::kDeadlineExceeded) return;  // reset
        if (!held_.empty()) {
          if (!Flush()) return;
          continue;
        }
        const bool at_boundary = decoder_->at_frame_boundary();
        Fail(MakeFrameError(
            at_boundary ? FrameErrorCode::kIdleTimeout : FrameErrorCode::kStallTimeout,
            at_boundary ? absl::StrCat("no message started within ", absl::FormatDuration(idle))
                        : absl::StrCat("message not complete within ",
                                       absl::FormatDuration(stall), ": ",
                                       decoder_->DescribeState())));
        return;
      }
      if (*n == 0) {
        OnEof();
        return;
      }
      if (fault_ == Fault::kDropLast && !Flush()) return;
      absl::string_view bytes(buffer.data(), *n);
      tracker_.Walk(bytes, [this](uint64_t payload_length) { OnHeader(payload_length); });
      if (fault_ == Fault::kLoseCarriedHeader && tracker_.partial_header() > 0) {
        bytes.remove_suffix(std::min(bytes.size(), tracker_.partial_header()));
        tracker_.ForgetPartialHeader();
      }
      const bool was_at_boundary = decoder_->at_frame_boundary();
      const uint64_t decoded_before = decoder_->messages_decoded();  // Feed may complete some
      decoder_->Feed(bytes);
      Message message;
      DecodeStep step = decoder_->Next(&message);
      for (; step.is_message(); step = decoder_->Next(&message)) {
        if (fault_ == Fault::kDropLast) {
          held_.push_back(std::move(message));
        } else if (!Echo(message)) {
          return;
        }
        ReleaseBogus();
      }
      if (step.is_error()) {
        if (Flush()) Fail(step.error());
        return;
      }
      const absl::Time now = absl::Now();
      if (decoder_->at_frame_boundary()) {
        boundary_since = now;
        frame_started = absl::InfiniteFuture();
      } else if (was_at_boundary || decoder_->messages_decoded() != decoded_before) {
        frame_started = now;
      }
    }
  }

 private:
  void OnHeader(uint64_t payload_length) {
    if (fault_ != Fault::kAllocDeclared) return;
    // The bug: trusting the declared length before the limit check and
    // before the bytes arrive. value-initialised, so every page is touched.
    ReleaseBogus();
    const uint64_t size = std::min(payload_length, kMaxBogusAllocation);
    if (bogus_total.fetch_add(size) + size > kBogusBudget) {
      bogus_total.fetch_sub(size);
      return;
    }
    bogus_ = std::vector<char>(size);
  }

  void ReleaseBogus() {
    bogus_total.fetch_sub(bogus_.size());
    bogus_.clear();
    bogus_.shrink_to_fit();
  }

  void OnEof() {
    const absl::Status end = decoder_->Finish();
    if (fault_ == Fault::kDropLast) {
      held_.clear();  // the bug: the batch not yet flushed is lost
    }
    if (end.ok() || fault_ == Fault::kEofAsClean) {
      socket_.ShutdownWrite().IgnoreError();
      return;
    }
    if (Flush()) Fail(end);
  }

  bool Echo(const Message& message) {
    absl::StatusOr<EncodedFrame> frame = encoder_.Encode(message);
    if (!frame.ok()) return false;
    return socket_.WriteAll(frame->ToString(), absl::Now() + kWriteTimeout).ok();
  }

  bool Flush() {
    for (const Message& message : held_) {
      if (!Echo(message)) return false;
    }
    held_.clear();
    return true;
  }

  // The echo contract on an error: a KIND_ERROR frame, then close.
  void Fail(const absl::Status& status) {
    absl::StatusOr<EncodedFrame> frame = encoder_.Encode(ErrorEnvelope(status), absl::Cord());
    if (frame.ok()) {
      socket_.WriteAll(frame->ToString(), absl::Now() + absl::Seconds(1)).IgnoreError();
    }
    socket_.ShutdownWrite().IgnoreError();
    Linger();
  }

  // Reads and drops the peer's input until it ends (at most 1 s): closing
  // with unread input would send a reset that can overtake the error frame.
  void Linger() {
    const absl::Time deadline = absl::Now() + absl::Seconds(1);
    char discard[4096];
    while (true) {
      absl::StatusOr<size_t> n = socket_.Read(absl::MakeSpan(discard), deadline);
      if (!n.ok() || *n == 0) return;
    }
  }

  Socket socket_;
  const Fault fault_;
  std::unique_ptr<FrameDecoder> decoder_;
  FrameEncoder encoder_;
  BoundaryTracker tracker_;
  std::vector<Message> held_;
  std::vector<char> bogus_;
};

absl::Status Run() {
  Fault fault;
  const std::string fault_name = absl::GetFlag(FLAGS_fault);
  if (!ParseFault(fault_name, &fault)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown --fault=", fault_name));
  }
  absl::StatusOr<Listener> listener = Listener::Listen(absl::GetFlag(FLAGS_listen));
  if (!listener.ok()) return listener.status();
  std::cerr << "faulty_echo_server: serving " << listener->address() << " with fault "
            << fault_name << std::endl;
  const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
  if (!ready_file.empty()) {
    const std::string temp = ready_file + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << listener->address() << "\n";
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", temp));
    }
    if (std::rename(temp.c_str(), ready_file.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot rename ", temp));
    }
  }
  while (true) {
    absl::StatusOr<Socket> socket = listener->Accept(absl::InfiniteFuture());
    if (!socket.ok()) {
      std::cerr << "faulty_echo_server: accept: " << socket.status() << std::endl;
      absl::SleepFor(absl::Milliseconds(10));  // e.g. EMFILE: do not spin
      continue;
    }
    auto connection = std::make_shared<Connection>(*std::move(socket), fault);
    std::thread([connection] { connection->Serve(); }).detach();
  }
}

}  // namespace
}  // namespace lpframe

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("test-only echo testee with switchable framing bugs");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = lpframe::Run();
  std::cerr << "faulty_echo_server: " << status << std::endl;
  return 1;
}
