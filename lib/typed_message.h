// File: lib/typed_message.h
//
// Sending any protobuf message as a payload, and parsing it back.
//
//   Message m = PackTypedMessage(my_request, envelope);  // content_type set
//   ...
//   MyRequest req;
//   absl::Status s = UnpackTypedMessage(received, &req);
//
// The envelope's content_type is "type.googleapis.com/<full.Name>" (the type
// URL form of google.protobuf.Any). Parsing reads the payload's chunks in
// place through CordInputStream: no contiguous copy of a large payload.
#ifndef LPFRAME_LIB_TYPED_MESSAGE_H_
#define LPFRAME_LIB_TYPED_MESSAGE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "lib/message.h"

namespace lpframe {

inline constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com/";

// "type.googleapis.com/" + type_name.
std::string ContentTypeForTypeName(absl::string_view type_name);

// The protobuf type name in a content type written by ContentTypeFor*, or
// an empty view when `content_type` is not a type URL.
absl::string_view TypeNameFromContentType(absl::string_view content_type);

// A Message whose payload is `payload` serialized and whose envelope is
// `envelope` with content_type set to the payload's type URL.
Message PackTypedMessage(const google::protobuf::MessageLite& payload,
                         Envelope envelope = Envelope());

// Parses `message`'s payload into *out.
// Errors: InvalidArgument when the content type names another type (the
// message says which) or when the payload is not a valid serialization of
// out's type. An empty content_type is accepted (interop dialects carry no
// envelope; the caller knows the type).
absl::Status UnpackTypedMessage(const Message& message,
                                google::protobuf::MessageLite* out);

}  // namespace lpframe

#endif  // LPFRAME_LIB_TYPED_MESSAGE_H_
