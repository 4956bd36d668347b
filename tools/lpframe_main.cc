// lpframe: encode and inspect lpframe streams from the command line.
//
//   lpframe encode [--dialect=D] [--checksum] [--output=FILE|-] [INPUT|-]
//   lpframe dump [--dialect=D] [--max_payload_bytes=N] [--max_envelope_bytes=N]
//                [--payload_preview=32] [FILE|-]
//
// The work is done by tools/stream_encode.h and tools/stream_dump.h; this
// file parses flags, opens files and maps outcomes to exit codes:
// 0 success (dump: clean end of stream), 1 invalid data (dump: framing
// error; encode: a bad input line or a refused frame), 2 usage or I/O error.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/dialect.h"
#include "lib/frame_limits.h"
#include "tools/stream_dump.h"
#include "tools/stream_encode.h"

ABSL_FLAG(std::string, dialect, "native", "framing: native, varint32 or u32be");
ABSL_FLAG(uint64_t, max_payload_bytes, lpframe::FrameLimits::kDefaultMaxPayloadBytes,
          "payload size limit (dump and encode)");
ABSL_FLAG(uint32_t, max_envelope_bytes, lpframe::FrameLimits::kDefaultMaxEnvelopeBytes,
          "envelope size limit (dump and encode)");
ABSL_FLAG(uint64_t, payload_preview, 32, "dump: payload bytes shown per frame (0: none)");
ABSL_FLAG(bool, checksum, false, "encode: append XXH3-64 checksum trailers (native only)");
ABSL_FLAG(std::string, output, "-", "encode: output file, - for stdout");

namespace {

constexpr char kUsage[] = R"(encodes and inspects lpframe streams.

Usage:
  lpframe encode [--dialect=native|varint32|u32be] [--checksum] [--output=FILE|-] [INPUT|-]
      Turns the text description INPUT (default stdin) into a framed stream.
  lpframe dump [--dialect=native|varint32|u32be] [--max_payload_bytes=N]
               [--max_envelope_bytes=N] [--payload_preview=32] [FILE|-]
      Decodes a framed stream (default stdin) and prints each frame.

Exit status: 0 success (dump: clean end of stream); 1 invalid data (dump: a
framing error; encode: a bad input line or a refused frame; frames of the
lines before it were written); 2 usage or I/O error.

)";

// absl::ParseCommandLine exits with status 1 on a bad flag and after --help;
// here 1 means "invalid data", so exits during flag parsing become 2 (0 for
// help).
bool parsing_flags = false;
bool help_requested = false;

void ExitDuringFlagParsing() {
  if (!parsing_flags) return;
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(help_requested ? 0 : 2);
}

std::vector<char*> ParseFlags(int argc, char** argv) {
  for (int i = 1; i < argc && std::string(argv[i]) != "--"; ++i) {
    help_requested |= absl::StartsWith(argv[i], "-help") || absl::StartsWith(argv[i], "--help");
  }
  std::atexit(ExitDuringFlagParsing);
  parsing_flags = true;
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  parsing_flags = false;
  return args;
}

int UsageError(const std::string& message) {
  std::cerr << "lpframe: " << message << "\nTry 'lpframe --help'.\n";
  return 2;
}

int RunDump(const std::string& input, const lpframe::DumpOptions& options) {
  int fd = STDIN_FILENO;
  if (input != "-" && (fd = open(input.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
    std::cerr << "lpframe dump: cannot open '" << input << "': " << std::strerror(errno) << "\n";
    return 2;
  }
  absl::StatusOr<lpframe::DumpSummary> summary = lpframe::DumpFd(fd, options, &std::cout);
  if (fd != STDIN_FILENO) close(fd);
  std::cout.flush();
  if (!summary.ok()) {
    std::cerr << "lpframe dump: " << input << ": " << summary.status().message() << "\n";
    return 2;
  }
  return summary->exit_code();
}

int RunEncode(const std::string& input, const std::string& output,
              const lpframe::EncoderOptions& options) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (input != "-") {
    file.open(input);
    if (!file) {
      std::cerr << "lpframe encode: cannot open '" << input << "': " << std::strerror(errno)
                << "\n";
      return 2;
    }
    in = &file;
  }
  std::FILE* out = stdout;
  if (output != "-" && (out = std::fopen(output.c_str(), "wb")) == nullptr) {
    std::cerr << "lpframe encode: cannot create '" << output << "': " << std::strerror(errno)
              << "\n";
    return 2;
  }
  const absl::Status status = lpframe::EncodeTextToFile(*in, options, out);
  bool io_failed = in->bad() || std::ferror(out) != 0;
  io_failed |= (out == stdout ? std::fflush(out) : std::fclose(out)) != 0;
  if (!status.ok()) {
    std::cerr << "lpframe encode: " << (input == "-" ? "<stdin>" : input) << ": "
              << status.message() << "\n";
  } else if (io_failed) {
    std::cerr << "lpframe encode: writing '" << output << "': " << std::strerror(errno) << "\n";
  }
  return io_failed ? 2 : status.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(absl::StrCat(kUsage, lpframe::kStreamTextFormatHelp));
  const std::vector<char*> args = ParseFlags(argc, argv);
  // Under `bazel run`, relative paths are the user's, not the runfiles'.
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY"); dir != nullptr && chdir(dir) != 0) {
    std::cerr << "lpframe: cannot enter " << dir << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  if (args.size() < 2) return UsageError("missing subcommand: encode or dump");
  if (args.size() > 3) return UsageError("expected at most one input file");
  const std::string command = args[1];
  const std::string input = args.size() == 3 ? args[2] : "-";

  lpframe::Dialect dialect;
  if (!lpframe::ParseDialect(absl::GetFlag(FLAGS_dialect), &dialect)) {
    return UsageError(absl::StrCat("unknown --dialect '", absl::GetFlag(FLAGS_dialect),
                                   "' (native, varint32 or u32be)"));
  }
  lpframe::FrameLimits limits;
  limits.max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  limits.max_envelope_bytes = absl::GetFlag(FLAGS_max_envelope_bytes);
  if (absl::Status valid = limits.Validate(); !valid.ok()) {
    return UsageError(std::string(valid.message()));
  }
  const bool checksum = absl::GetFlag(FLAGS_checksum);
  const std::string output = absl::GetFlag(FLAGS_output);

  if (command == "dump") {
    if (checksum || output != "-") return UsageError("--checksum and --output are for encode");
    lpframe::DumpOptions options;
    options.decoder.dialect = dialect;
    options.decoder.limits = limits;
    options.payload_preview = absl::GetFlag(FLAGS_payload_preview);
    return RunDump(input, options);
  }
  if (command == "encode") {
    if (checksum && dialect != lpframe::Dialect::kNative) {
      return UsageError("--checksum needs --dialect=native");
    }
    lpframe::EncoderOptions options;
    options.dialect = dialect;
    options.limits = limits;
    options.checksum = checksum;
    return RunEncode(input, output, options);
  }
  return UsageError(absl::StrCat("unknown subcommand '", command, "': encode or dump"));
}
