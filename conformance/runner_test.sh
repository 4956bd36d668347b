#!/usr/bin/env bash
# runner_test: the conformance runner binary against the example echo server
# over TCP (port 0, address from --ready_file): every applicable case passes,
# the reports are written, and the last line has the counts. Then against a
# server that sends no error frames: the runner must fail.
# Arguments: runner, echo_server.
set -euo pipefail
runner="$1"
server="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/runner_test.XXXXXX")"
pid=""
trap '[[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start() {
  rm -f "$work/addr"
  "$server" --listen=tcp://127.0.0.1:0 --ready_file="$work/addr" --quiet "$@" 2>"$work/server.log" &
  pid=$!
  for _ in $(seq 1 200); do [[ -s "$work/addr" ]] && break; sleep 0.05; done
  [[ -s "$work/addr" ]] || fail "echo_server did not start"
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }

start
status=0
# Under bazel test the reports are kept in the undeclared outputs.
report="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/report"
mkdir -p "$report"
"$runner" --target="$(cat "$work/addr")" --report_dir="$report" >"$work/out" 2>&1 || status=$?
stop
tail -3 "$work/out"
[[ $status -eq 0 ]] || { cat "$work/out"; fail "runner exited with $status against echo_server"; }
last="$(tail -1 "$work/out")"
[[ "$last" =~ ^([0-9]+)\ passed,\ 0\ failed,\ ([0-9]+)\ skipped$ ]] || fail "last line: $last"
(( ${BASH_REMATCH[1]} >= 250 )) || fail "only ${BASH_REMATCH[1]} cases passed"
[[ -s "$report/index.json" && -s "$report/report.md" && -s "$report/junit.xml" ]] \
  || fail "reports missing"
python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
n = sum(1 for _ in r.iter("testcase")); sys.exit(0 if n >= 250 else 1)' "$report/junit.xml" \
  || fail "junit.xml is not valid XML with every case"
ls "$report/cases" | grep -q "json$" || fail "no per-case JSON"

# A testee that closes without the KIND_ERROR frame fails the error cases.
start --send_error_frames=false
status=0
"$runner" --target="$(cat "$work/addr")" --report_dir="$work/report2" --filter=native.magic \
  >"$work/out2" 2>&1 || status=$?
stop
tail -1 "$work/out2"
[[ $status -eq 1 ]] || fail "runner exited with $status against a testee without error frames"
tail -1 "$work/out2" | grep -Eq "^0 passed, [1-9][0-9]* failed, 0 skipped$" \
  || fail "expected every magic case to fail: $(tail -1 "$work/out2")"
grep -q "## Failures" "$work/report2/report.md" || fail "report.md lists no failures"
echo PASS
