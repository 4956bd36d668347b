#include "conformance/testee_memory.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace lpframe {
namespace conformance {

uint64_t ProcStatusBytes(int pid, absl::string_view field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  const std::string prefix = absl::StrCat(field, ":");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::strtoull(line.c_str() + prefix.size(), nullptr, 10) << 10;
    }
  }
  return 0;
}

bool ResetPeakResident(int pid) {
  std::ofstream clear(absl::StrCat("/proc/", pid, "/clear_refs"));
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

PeakWindow::PeakWindow(int pid)
    : pid_(pid), start_(ResidentBytes(pid)), peak_(start_), exact_(ResetPeakResident(pid)) {}

void PeakWindow::Sample() {
  peak_ = std::max(peak_, ResidentBytes(pid_));
  if (exact_) peak_ = std::max(peak_, ProcStatusBytes(pid_, "VmHWM"));
}

uint64_t PeakWindow::Growth() {
  Sample();
  return peak_ > start_ ? peak_ - start_ : 0;
}

}  // namespace conformance
}  // namespace lpframe
