#include "lib/foreign_protocol.h"

#include "absl/strings/str_format.h"

namespace lpframe {
namespace {

struct Signature {
  absl::string_view prefix;
  absl::string_view description;
};

// TLS records start 16 03 0x (x = 0..4); handled separately below.
constexpr Signature kSignatures[] = {
    // Four bytes each: enough to judge a 4-byte magic or length prefix.
    {"GET ", "an HTTP request (GET)"},
    {"POST", "an HTTP request (POST)"},
    {"PUT ", "an HTTP request (PUT)"},
    {"HEAD", "an HTTP request (HEAD)"},
    {"DELE", "an HTTP request (DELETE)"},
    {"OPTI", "an HTTP request (OPTIONS)"},
    {"PATC", "an HTTP request (PATCH)"},
    {"CONN", "an HTTP request (CONNECT)"},
    {"TRAC", "an HTTP request (TRACE)"},
    {"HTTP", "an HTTP response"},
    {"PRI ", "the HTTP/2 connection preface"},
    {"SSH-", "an SSH version banner"},
};

bool IsTlsRecord(absl::string_view b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0x16 &&
         static_cast<unsigned char>(b[1]) == 0x03 &&
         static_cast<unsigned char>(b[2]) <= 0x04;
}

}  // namespace

absl::string_view DescribeForeignProtocol(absl::string_view bytes) {
  if (IsTlsRecord(bytes)) {
    return "a TLS handshake record (the peer is using TLS; lpframe v1 runs over "
           "plain streams)";
  }
  for (const Signature& s : kSignatures) {
    if (bytes.size() >= s.prefix.size() && bytes.substr(0, s.prefix.size()) == s.prefix) {
      return s.description;
    }
  }
  return {};
}

bool IsForeignProtocolPrefix(absl::string_view bytes) {
  if (bytes.empty()) return true;
  if (bytes.size() < 3) {
    const absl::string_view tls("\x16\x03", 2);
    if (tls.substr(0, bytes.size()) == bytes) return true;
  }
  for (const Signature& s : kSignatures) {
    if (bytes.size() < s.prefix.size() && s.prefix.substr(0, bytes.size()) == bytes) {
      return true;
    }
  }
  return false;
}

std::string EscapeBytesForMessage(absl::string_view bytes, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

}  // namespace lpframe
