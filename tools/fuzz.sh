#!/usr/bin/env bash
# Runs lpframe's FrameDecoder fuzz target (lib/fuzz/frame_decoder_fuzzer.cc)
# under libFuzzer with AddressSanitizer and UBSan, built by clang outside
# Bazel (Bazel's toolchain here is gcc, which has no libFuzzer).
#
#   tools/fuzz.sh [seconds]        default 60; the corpus persists between runs
#
# The seed corpus comes from //lib/fuzz:frame_decoder_fuzz_test (valid and
# mutated streams of every dialect). A crash leaves crash-* in the work
# directory; replay it with `$WORK/frame_decoder_fuzzer <file>`.
# Installs clang and libFuzzer from Debian's archive when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
WORK="${LPFRAME_FUZZ_WORK:-/tmp/lpframe-fuzz}"

bash tools/setup.sh
missing=()
for pkg in clang-14 libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

mkdir -p "$WORK/corpus"
# The generated envelope code, and a seed corpus once.
bazel build //proto:envelope_cc_proto >/dev/null 2>&1 || bazel build //proto:envelope_cc_proto
if [ -z "$(ls -A "$WORK/corpus")" ]; then
  bazel run //lib/fuzz:frame_decoder_fuzz_test --run_under="env LPFRAME_FUZZ_SEED_DIR=$WORK/corpus" \
    >/dev/null 2>&1
  echo "tools/fuzz.sh: seed corpus of $(ls "$WORK/corpus" | wc -l) inputs" >&2
fi

ABSL_LIBS=$(sed -n '/name = "absl"/,/^)/p' third_party/system.BUILD | grep -o '"-labsl_[a-z0-9_]*"' | tr -d '"' | tr '\n' ' ')
SOURCES=(
  lib/fuzz/frame_decoder_fuzzer.cc lib/testing/server_style_read.cc lib/frame_decoder.cc lib/payload_writer.cc lib/block_pool.cc
  lib/byte_buffer.cc lib/compact_envelope.cc lib/dialect.cc lib/foreign_protocol.cc
  lib/frame_error.cc lib/frame_limits.cc lib/wire_format.cc lib/xxh3_digest.cc
  bazel-bin/proto/envelope.pb.cc
)
clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. -Ibazel-bin "${SOURCES[@]}" -o "$WORK/frame_decoder_fuzzer" \
  -lprotobuf $ABSL_LIBS -lxxhash -lpthread
cd "$WORK"
./frame_decoder_fuzzer -max_total_time="$SECONDS_TO_RUN" -max_len=70000 -print_final_stats=1 corpus
