#include "lib/server/server_hooks.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace lpframe {

void LogServerError(const ServerError& error) {
  const std::string line =
      absl::StrCat("lpframe server: ", error.stage, " error on connection ",
                   error.peer.connection_id, " (", error.peer.address, "): ",
                   error.status.ToString(), "\n");
  std::fputs(line.c_str(), stderr);
}

}  // namespace lpframe
