#include "lib/io/body_stream.h"

#include <errno.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/io/socket.h"
#include "lib/wire_format.h"

namespace lpframe {
namespace {

std::string DigestBytes(uint64_t digest) {
  char bytes[8];
  StoreBigEndian64(digest, bytes);
  return std::string(bytes, sizeof(bytes));
}

}  // namespace

BodyWriter::BodyWriter(FramedConnection* connection, uint64_t stream_id, BodyOptions options)
    : connection_(connection), stream_id_(stream_id), options_(std::move(options)) {
  if (options_.chunk_bytes == 0) options_.chunk_bytes = 256 << 10;
}

absl::Status BodyWriter::SendChunk(absl::Cord chunk, absl::Time deadline) {
  Envelope envelope;
  envelope.set_id(stream_id_);
  envelope.set_kind(KIND_CHUNK);
  envelope.set_content_type(options_.content_type);
  ChunkInfo* info = envelope.mutable_chunk();
  info->set_index(index_);
  info->set_offset(offset_);
  if (options_.total_size.has_value()) {
    info->set_total_size(*options_.total_size);
    info->set_total_size_known(true);
  }
  digest_.Update(chunk);
  const uint64_t size = chunk.size();
  absl::Status queued = connection_->Queue(envelope, std::move(chunk), deadline);
  if (!queued.ok()) return queued;
  ++index_;
  offset_ += size;
  return absl::OkStatus();
}

absl::Status BodyWriter::Write(absl::Cord data, absl::Time deadline) {
  if (finished_) return absl::FailedPreconditionError("BodyWriter::Write after Finish");
  pending_.Append(std::move(data));
  while (pending_.size() >= options_.chunk_bytes) {
    absl::Cord chunk = pending_.Subcord(0, options_.chunk_bytes);
    pending_.RemovePrefix(options_.chunk_bytes);
    absl::Status sent = SendChunk(std::move(chunk), deadline);
    if (!sent.ok()) return sent;
  }
  return absl::OkStatus();
}

absl::Status BodyWriter::Finish(absl::Time deadline) {
  if (finished_) return absl::FailedPreconditionError("BodyWriter::Finish called twice");
  finished_ = true;
  if (!pending_.empty()) {
    absl::Status sent = SendChunk(std::move(pending_), deadline);
    pending_.Clear();
    if (!sent.ok()) return sent;
  }
  if (options_.total_size.has_value() && *options_.total_size != offset_) {
    return absl::FailedPreconditionError(
        absl::StrCat("body of stream ", stream_id_, " promised ", *options_.total_size,
                     " bytes but ", offset_, " were written"));
  }
  Envelope end;
  end.set_id(stream_id_);
  end.set_kind(KIND_END);
  end.mutable_chunk()->set_index(index_);
  end.mutable_chunk()->set_offset(offset_);
  end.mutable_chunk()->set_total_size(offset_);
  end.mutable_chunk()->set_total_size_known(true);
  end.mutable_chunk()->set_digest(DigestBytes(digest_.Digest()));
  end.mutable_chunk()->set_digest_algorithm(std::string(kBodyDigestAlgorithm));
  absl::Status queued = connection_->Queue(end, absl::Cord(), deadline);
  if (!queued.ok()) return queued;
  return connection_->Flush(deadline);
}

absl::Status CordBodySink::Write(const absl::Cord& chunk) {
  body_.Append(chunk);
  return absl::OkStatus();
}

absl::Status FdBodySink::Write(const absl::Cord& chunk) {
  for (absl::string_view piece : chunk.Chunks()) {
    while (!piece.empty()) {
      const ssize_t n = ::write(fd_, piece.data(), piece.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrCat("writing a body chunk to fd ", fd_));
      }
      piece.remove_prefix(static_cast<size_t>(n));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ReceiveBody(FramedConnection& connection, uint64_t stream_id,
                                     BodySink& sink, const BodyProgress& progress,
                                     absl::Time deadline, const Message* first) {
  Xxh3Digest digest;
  uint64_t received = 0;
  uint64_t index = 0;
  Message message;
  bool use_first = first != nullptr;
  while (true) {
    const Message* m = &message;
    if (use_first) {
      m = first;
      use_first = false;
    } else {
      absl::Status status = connection.Receive(&message, deadline);
      if (!status.ok()) return status;
    }
    const Envelope& e = m->envelope;
    if (e.id() != stream_id || (e.kind() != KIND_CHUNK && e.kind() != KIND_END)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "while receiving the body of stream ", stream_id, " after ", received,
          " bytes: got a frame {", e.ShortDebugString(), "} that is not part of it"));
    }
    const ChunkInfo& info = e.chunk();
    if (e.kind() == KIND_END) {
      if (info.total_size() != received) {
        return absl::DataLossError(absl::StrCat("body of stream ", stream_id, ": KIND_END says ",
                                                info.total_size(), " bytes, received ",
                                                received));
      }
      if (info.digest_algorithm() != kBodyDigestAlgorithm) {
        return absl::DataLossError(absl::StrCat("body of stream ", stream_id,
                                                ": unknown digest algorithm \"",
                                                info.digest_algorithm(), "\""));
      }
      const std::string expected = DigestBytes(digest.Digest());
      if (info.digest() != expected) {
        return absl::DataLossError(absl::StrFormat(
            "body of stream %d: digest mismatch over %d bytes (sender 0x%s, received 0x%s)",
            stream_id, received, absl::BytesToHexString(info.digest()),
            absl::BytesToHexString(expected)));
      }
      absl::Status finished = sink.Finish();
      if (!finished.ok()) return finished;
      return received;
    }
    if (info.index() != index || info.offset() != received) {
      return absl::DataLossError(absl::StrCat(
          "body of stream ", stream_id, ": expected chunk ", index, " at offset ", received,
          ", got chunk ", info.index(), " at offset ", info.offset()));
    }
    if (info.total_size_known() && received + m->payload.size() > info.total_size()) {
      return absl::DataLossError(absl::StrCat("body of stream ", stream_id, ": chunk ", index,
                                              " overruns the announced total of ",
                                              info.total_size(), " bytes"));
    }
    digest.Update(m->payload);
    absl::Status written = sink.Write(m->payload);
    if (!written.ok()) return written;
    received += m->payload.size();
    ++index;
    if (progress) {
      progress(received, info.total_size_known() ? absl::optional<uint64_t>(info.total_size())
                                                 : absl::nullopt);
    }
  }
}

}  // namespace lpframe
