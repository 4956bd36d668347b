#include "lib/server/response_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/wire_format.h"
#include "proto/envelope.pb.h"

namespace lpframe {

ResponseStream::ResponseStream(Session* session, uint64_t stream_id, ResponseStreamOptions options,
                               absl::Time deadline)
    : session_(session), stream_id_(stream_id), options_(std::move(options)), deadline_(deadline) {
  if (options_.chunk_bytes == 0) options_.chunk_bytes = 256 << 10;
}

void ResponseStream::set_content_type(absl::string_view content_type) {
  options_.content_type = std::string(content_type);
}

void ResponseStream::set_total_size(uint64_t total_size) { total_size_ = total_size; }

absl::Status ResponseStream::Fail(absl::Status status) {
  if (status_.ok()) status_ = status;
  return status;
}

absl::Status ResponseStream::SendChunk(absl::Cord chunk) {
  const absl::Time wait_until = std::min(deadline_, absl::Now() + options_.write_timeout);
  absl::Status space = session_->WaitForOutputSpace(wait_until);
  if (!space.ok()) {
    return Fail(absl::Status(space.code(), absl::StrCat("streamed response ", stream_id_, " after ",
                                                        offset_, " bytes: ", space.message())));
  }
  Envelope envelope;
  envelope.set_id(stream_id_);
  envelope.set_kind(KIND_CHUNK);
  envelope.set_content_type(options_.content_type);
  ChunkInfo* info = envelope.mutable_chunk();
  info->set_index(index_);
  info->set_offset(offset_);
  if (total_size_.has_value()) {
    info->set_total_size(*total_size_);
    info->set_total_size_known(true);
  }
  const uint64_t size = chunk.size();
  digest_.Update(chunk);
  absl::Status sent = session_->Send(envelope, std::move(chunk));
  if (!sent.ok()) return Fail(sent);
  ++index_;
  offset_ += size;
  return absl::OkStatus();
}

absl::Status ResponseStream::Write(absl::Cord data) {
  if (!status_.ok()) return status_;
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ResponseStream::Write after Finish (stream ", stream_id_, ")"));
  }
  if (total_size_.has_value() && offset_ + data.size() > *total_size_) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("streamed response ", stream_id_, " announced ", *total_size_,
                     " bytes; writing ", data.size(), " more after ", offset_, " passes it")));
  }
  while (!data.empty()) {
    absl::Cord chunk;
    if (data.size() <= options_.chunk_bytes) {
      chunk = std::move(data);
      data.Clear();
    } else {
      chunk = data.Subcord(0, options_.chunk_bytes);
      data.RemovePrefix(options_.chunk_bytes);
    }
    absl::Status sent = SendChunk(std::move(chunk));
    if (!sent.ok()) return sent;
  }
  return absl::OkStatus();
}

absl::Status ResponseStream::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ResponseStream::Finish called twice (stream ", stream_id_, ")"));
  }
  finished_ = true;
  if (!status_.ok()) return status_;
  if (total_size_.has_value() && *total_size_ != offset_) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("streamed response ", stream_id_, " promised ", *total_size_, " bytes but ",
                     offset_, " were written")));
  }
  Envelope end;
  end.set_id(stream_id_);
  end.set_kind(KIND_END);
  ChunkInfo* info = end.mutable_chunk();
  info->set_index(index_);
  info->set_offset(offset_);
  info->set_total_size(offset_);
  info->set_total_size_known(true);
  char digest[8];
  StoreBigEndian64(digest_.Digest(), digest);
  info->set_digest(std::string(digest, sizeof(digest)));
  info->set_digest_algorithm("xxh3-64");
  absl::Status sent = session_->Send(end, absl::Cord());
  if (!sent.ok()) return Fail(sent);
  return absl::OkStatus();
}

}  // namespace lpframe
