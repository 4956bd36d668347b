// File: lib/message.h
//
// One decoded (or to-be-encoded) message: the Envelope's metadata and the
// raw payload bytes. In the interop dialects the envelope is empty and the
// payload is the whole frame body.
#ifndef LPFRAME_LIB_MESSAGE_H_
#define LPFRAME_LIB_MESSAGE_H_

#include "absl/strings/cord.h"
#include "proto/envelope.pb.h"

namespace lpframe {

struct Message {
  Envelope envelope;
  // Chunked storage; a multi-MB payload is a chain of blocks, never one
  // contiguous copy. Use payload.Chunks() or a CordInputStream to read it.
  absl::Cord payload;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_MESSAGE_H_
