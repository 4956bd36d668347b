#include "lib/dialect.h"

namespace lpframe {

absl::string_view DialectName(Dialect dialect) {
  switch (dialect) {
    case Dialect::kNative:
      return "native";
    case Dialect::kVarint32:
      return "varint32";
    case Dialect::kU32BE:
      return "u32be";
  }
  return "unknown";
}

bool ParseDialect(absl::string_view name, Dialect* dialect) {
  for (Dialect d : {Dialect::kNative, Dialect::kVarint32, Dialect::kU32BE}) {
    if (DialectName(d) == name) {
      *dialect = d;
      return true;
    }
  }
  return false;
}

}  // namespace lpframe
