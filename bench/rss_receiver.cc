// rss_receiver: the process transport_bench's Rss/receive_64MiB benchmark
// measures. It does nothing but receive one message with FramedConnection on
// an inherited socket, so its peak RSS (VmHWM) is the library's cost plus
// the smallest process around it (no benchmark library, no bench code).
//
//   rss_receiver <fd> <direct|fixed> <expected payload bytes>
//
// Answers on the same socket with one line (kB): "ok <payload size>
// <hwm_before> <rss_before> <hwm_after> <maxrss> <anon_before> <file_before>
// <anon_after> <file_after>", or "error <text>".
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_payload.h"
#include "lib/io/framed_connection.h"
#include "lib/io/socket.h"

namespace {

long ProcStatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int fd = -1;
  size_t expected = 0;
  if (argc != 4 || !absl::SimpleAtoi(argv[1], &fd) || !absl::SimpleAtoi(argv[3], &expected)) {
    std::fprintf(stderr, "usage: rss_receiver <fd> <direct|fixed> <payload bytes>\n");
    return 2;
  }
  const bool fixed = std::string(argv[2]) == "fixed";
  const long hwm_before = ProcStatusKb("VmHWM");
  const long rss_before = ProcStatusKb("VmRSS");
  const long anon_before = ProcStatusKb("RssAnon");
  const long file_before = ProcStatusKb("RssFile");
  lpframe::ConnectionOptions options;
  options.read_mode = fixed ? lpframe::ReadMode::kFixed : lpframe::ReadMode::kDirect;
  lpframe::FramedConnection conn(lpframe::Socket(fd), options);
  lpframe::Message m;
  absl::Status st = conn.Receive(&m, absl::Now() + absl::Seconds(60));
  const long hwm_after = ProcStatusKb("VmHWM");
  const long anon_after = ProcStatusKb("RssAnon");
  const long file_after = ProcStatusKb("RssFile");
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::string line =
      st.ok() ? absl::StrCat("ok ", m.payload.size(), " ", hwm_before, " ", rss_before, " ",
                             hwm_after, " ", ru.ru_maxrss, " ", anon_before, " ", file_before,
                             " ", anon_after, " ", file_after, "\n")
              : absl::StrCat("error ", st.ToString(), "\n");
  // Checked after the measurement: the comparison's own copy is not counted.
  if (st.ok() && m.payload != lpframe_bench::PayloadBytes(expected)) {
    line = "error payload differs\n";
  }
  (void)conn.socket().WriteAll(line, absl::Now() + absl::Seconds(10));
  return st.ok() ? 0 : 1;
}
