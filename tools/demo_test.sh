#!/usr/bin/env bash
# demo_test: tools/demo.sh on the built binary ($1) and the sample ($2) must
# dump every message of the sample and end cleanly.
set -euo pipefail
out="$(tools/demo.sh "$1" "$2")"
echo "$out"
expect() {
  grep -qF -- "$1" <<<"$out" || { echo "FAIL: dump output lacks: $1" >&2; exit 1; }
}
expect "10 messages, 652 bytes, clean end of stream"
expect 'status { code: 5 message: "no user named bob" }'
expect "typed:    google.protobuf.Timestamp { seconds: 1700000000 nanos: 500 }"
expect "flags=0x0001(CHECKSUM) checksum=0x"
