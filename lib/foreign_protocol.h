// File: lib/foreign_protocol.h
//
// Recognizes bytes of other protocols arriving where a frame header was
// expected, so the error can say "the peer is speaking HTTP" instead of
// "declared length 1195725856 exceeds the limit".
#ifndef LPFRAME_LIB_FOREIGN_PROTOCOL_H_
#define LPFRAME_LIB_FOREIGN_PROTOCOL_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace lpframe {

// A phrase naming the protocol `bytes` starts with ("an HTTP/1.x request",
// "a TLS handshake record", ...), or an empty view when none is recognized.
absl::string_view DescribeForeignProtocol(absl::string_view bytes);

// True when `bytes` is a proper prefix of a recognized signature: more
// bytes could still make DescribeForeignProtocol recognize it.
bool IsForeignProtocolPrefix(absl::string_view bytes);

// Up to `max_bytes` of `bytes` shown as printable ASCII with \xNN escapes,
// for error messages.
std::string EscapeBytesForMessage(absl::string_view bytes, size_t max_bytes);

}  // namespace lpframe

#endif  // LPFRAME_LIB_FOREIGN_PROTOCOL_H_
