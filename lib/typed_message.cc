#include "lib/typed_message.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/cord_input_stream.h"

namespace lpframe {

std::string ContentTypeForTypeName(absl::string_view type_name) {
  return absl::StrCat(kTypeUrlPrefix, type_name);
}

absl::string_view TypeNameFromContentType(absl::string_view content_type) {
  if (!absl::StartsWith(content_type, kTypeUrlPrefix)) return {};
  return content_type.substr(kTypeUrlPrefix.size());
}

Message PackTypedMessage(const google::protobuf::MessageLite& payload, Envelope envelope) {
  Message message;
  message.envelope = std::move(envelope);
  message.envelope.set_content_type(ContentTypeForTypeName(payload.GetTypeName()));
  message.payload = absl::Cord(payload.SerializeAsString());
  return message;
}

absl::Status UnpackTypedMessage(const Message& message,
                                google::protobuf::MessageLite* out) {
  const std::string& content_type = message.envelope.content_type();
  const std::string expected = out->GetTypeName();
  if (!content_type.empty()) {
    absl::string_view type_name = TypeNameFromContentType(content_type);
    if (type_name != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("payload has content type \"", content_type,
                       "\"; the caller expected the protobuf type ", expected, " (",
                       ContentTypeForTypeName(expected), ")"));
    }
  }
  CordInputStream input(&message.payload);
  if (!out->ParseFromZeroCopyStream(&input)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", message.payload.size(), "-byte payload is not a valid ",
                     expected, " (message id ", message.envelope.id(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace lpframe
