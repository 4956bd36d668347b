// File: lib/error_envelope.h
//
// The wire form of a failure (PROTOCOL.md §9): a KIND_ERROR envelope whose
// `status` carries the absl::Status's canonical code and message. Used by
// every sender of error frames (servers, the service router, test testees).
//
// Thread-safe (a pure function).
#ifndef LPFRAME_LIB_ERROR_ENVELOPE_H_
#define LPFRAME_LIB_ERROR_ENVELOPE_H_

#include "absl/status/status.h"
#include "proto/envelope.pb.h"

namespace lpframe {

// A KIND_ERROR envelope carrying `status` (code and message); id 0.
Envelope ErrorEnvelope(const absl::Status& status);

}  // namespace lpframe

#endif  // LPFRAME_LIB_ERROR_ENVELOPE_H_
