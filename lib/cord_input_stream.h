// File: lib/cord_input_stream.h
//
// A protobuf ZeroCopyInputStream over an absl::Cord, so a payload stored in
// blocks parses without being flattened into one contiguous copy.
//
// Contract (google/protobuf/io/zero_copy_stream.h): Next() hands out the
// Cord's chunks in order, BackUp(n) returns the last n bytes of the most
// recent Next() to the stream, Skip() advances. The Cord must outlive the
// stream and must not change while it is read.
#ifndef LPFRAME_LIB_CORD_INPUT_STREAM_H_
#define LPFRAME_LIB_CORD_INPUT_STREAM_H_

#include <cstdint>

#include "absl/strings/cord.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace lpframe {

class CordInputStream : public google::protobuf::io::ZeroCopyInputStream {
 public:
  explicit CordInputStream(const absl::Cord* cord);

  bool Next(const void** data, int* size) override;
  void BackUp(int count) override;
  bool Skip(int count) override;
  int64_t ByteCount() const override { return position_; }

 private:
  absl::Cord::ChunkIterator it_;
  absl::Cord::ChunkIterator end_;
  absl::string_view current_;  // unread part of the current chunk
  size_t last_returned_ = 0;   // size of the last Next() result
  const char* back_up_base_ = nullptr;  // start of the last Next() result
  int64_t position_ = 0;
};

}  // namespace lpframe

#endif  // LPFRAME_LIB_CORD_INPUT_STREAM_H_
