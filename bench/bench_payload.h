// File: bench/bench_payload.h
//
// Payload bytes shared by the benchmark binaries: a deterministic xorshift
// pattern per size, built once and cached for the whole run (thread-safe).
#ifndef LPFRAME_BENCH_BENCH_PAYLOAD_H_
#define LPFRAME_BENCH_BENCH_PAYLOAD_H_

#include <cstddef>
#include <string>

#include "absl/strings/cord.h"

namespace lpframe_bench {

// `size` pattern bytes; the reference stays valid for the whole run.
const std::string& PayloadBytes(size_t size);

// The same bytes as a Cord: up to 4 KiB a flat copy (as the decoder makes
// small payloads), larger ones referencing PayloadBytes() without a copy (as
// an application sends its own buffer).
absl::Cord PayloadCord(size_t size);

// The name of a payload size in benchmark names: "64B", "1KiB", "16MiB" (the
// largest unit that divides it).
std::string SizeName(size_t size);

}  // namespace lpframe_bench

#endif  // LPFRAME_BENCH_BENCH_PAYLOAD_H_
