// File: lib/dialect.h
//
// The three framings lpframe speaks (docs/PROTOCOL.md sections 3 and 8):
//
//   kNative    24-byte lpframe header + Envelope + payload [+ checksum]
//   kVarint32  protobuf varint32 length + body: what protobuf's
//              SerializeDelimitedToOstream / writeDelimitedTo and Netty's
//              ProtobufVarint32LengthFieldPrepender produce
//   kU32BE     4-byte big-endian unsigned length + body: Netty's
//              LengthFieldPrepender(4), Thrift's TFramedTransport
//
// The interop dialects carry no envelope: the body is the payload.
#ifndef LPFRAME_LIB_DIALECT_H_
#define LPFRAME_LIB_DIALECT_H_

#include "absl/strings/string_view.h"

namespace lpframe {

enum class Dialect { kNative, kVarint32, kU32BE };

// "native", "varint32", "u32be".
absl::string_view DialectName(Dialect dialect);

// Inverse of DialectName. Returns false for an unknown name.
bool ParseDialect(absl::string_view name, Dialect* dialect);

}  // namespace lpframe

#endif  // LPFRAME_LIB_DIALECT_H_
