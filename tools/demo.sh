#!/usr/bin/env bash
# The lpframe "main job" demo: encodes examples/sample_stream.txt into a
# framed stream (native dialect, with checksums) and dumps it frame by frame.
#
#   tools/demo.sh                     # builds //tools:lpframe first
#   tools/demo.sh LPFRAME [SAMPLE]    # uses a built binary (demo_test does)
#
# Exits with the dump's status: 0 for a clean end of stream.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lpframe="${1:-}"
sample="${2:-$root/examples/sample_stream.txt}"
if [[ -z "$lpframe" ]]; then
  cd "$root"
  bazel build //tools:lpframe
  # Not the bazel-bin symlink: a concurrent build with other options moves it.
  lpframe="$(bazel info bazel-bin)/tools/lpframe"
fi

echo "== lpframe encode --checksum $(basename "$sample") | lpframe dump"
"$lpframe" encode --checksum "$sample" | "$lpframe" dump
