#!/usr/bin/env bash
# runner_test: the conformance runner binary against the example echo server,
# the default testee.
#  1. The whole catalogue over TCP (the Unix server as --second_target), then
#     over a Unix path (the TCP server as second): every case passes, none is
#     skipped, the reports are complete, the last line has the counts.
#  2. A testee that sends no error frames fails the error cases; with those
#     cases in a known-failure list the run passes; a stale entry (a case that
#     passes, or an id that matches nothing) fails it.
#  3. The dialect catalogues against echo_server --dialect: varint32 over
#     TCP, u32be over Unix, all pass; a testee of another dialect fails.
# Arguments: runner, echo_server, testee_control.sh.
set -euo pipefail
runner="$1"
server="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/runner_test.XXXXXX")"
sock="/tmp/lpframe_runner_test_$$.sock"
# shellcheck source=conformance/testee_control.sh
source "$3"

# start NAME LISTEN [flags...]: starts an echo server, sets $addr and $pid.
start() {
  local name="$1" listen="$2"
  shift 2
  launch "$name" "$server" --listen="$listen" --quiet "$@"
}
stop() { halt TERM "$1"; }

# The timeouts the runner is told about are the ones the servers have. The
# stall timeout counts from a frame's first byte, so it must leave room for
# the 64 MiB cases on a loaded 2-core machine (1 s failed there once).
timeouts=(--stall_timeout=4s --idle_timeout=5s)
start tcp tcp://127.0.0.1:0 "${timeouts[@]}"
tcp_addr="$addr"; tcp_pid="$pid"
start unix "unix:$sock" "${timeouts[@]}"
unix_addr="$addr"; unix_pid="$pid"

report_root="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"
run_full() {  # run_full NAME TARGET PID SECOND
  local name="$1" status=0
  "$runner" --target="$2" --testee_pid="$3" --second_target="$4" "${timeouts[@]}" \
    --report_dir="$report_root/$name" >"$work/$name.out" 2>&1 || status=$?
  tail -1 "$work/$name.out"
  [[ $status -eq 0 ]] || { cat "$work/$name.out"; fail "$name: runner exited with $status"; }
  local last
  last="$(tail -1 "$work/$name.out")"
  [[ "$last" =~ ^([0-9]+)\ passed,\ 0\ failed,\ 0\ skipped$ ]] || fail "$name: last line: $last"
  (( BASH_REMATCH[1] >= 900 )) || fail "$name: only ${BASH_REMATCH[1]} cases passed"
  local dir="$report_root/$name"
  for f in index.json report.md report.html junit.xml; do
    [[ -s "$dir/$f" ]] || fail "$name: $f missing"
  done
  python3 - "$dir" <<'EOF' || fail "$name: reports are inconsistent"
import json, os, sys, xml.etree.ElementTree as E
d = sys.argv[1]
index = json.load(open(os.path.join(d, "index.json")))
cases = index["cases"]
classes = {c["class"] for c in cases}
assert len(cases) >= 900 and len(classes) >= 30, (len(cases), len(classes))
for c in cases:
    for key in ("id", "spec", "level", "plan", "expected", "result", "detail",
                "duration_ms", "bytes_sent", "segments_written", "reads_seen"):
        assert key in c, (c["id"], key)
    assert os.path.exists(os.path.join(d, "cases", c["id"] + ".json")), c["id"]
junit = E.parse(os.path.join(d, "junit.xml")).getroot()
assert sum(1 for _ in junit.iter("testcase")) == len(cases)
assert "<table>" in open(os.path.join(d, "report.html")).read()
EOF
}
run_full tcp "$tcp_addr" "$tcp_pid" "$unix_addr"
run_full unix "$unix_addr" "$unix_pid" "$tcp_addr"
stop "$tcp_pid"
stop "$unix_pid"

# A testee without error frames: the magic cases fail ...
start noerr tcp://127.0.0.1:0 --send_error_frames=false
status=0
"$runner" --target="$addr" --report_dir="$work/noerr" --filter=magic. >"$work/noerr.out" 2>&1 \
  || status=$?
tail -1 "$work/noerr.out"
[[ $status -eq 1 ]] || fail "runner exited with $status against a testee without error frames"
tail -1 "$work/noerr.out" | grep -Eq "^0 passed, [1-9][0-9]* failed, 0 skipped$" \
  || fail "expected every magic case to fail: $(tail -1 "$work/noerr.out")"
grep -q "## Failures" "$work/noerr/report.md" || fail "report.md lists no failures"

# ... a known-failure list makes the run pass, counting them as skipped ...
printf '# no error frames in this testee\nmagic.*\n' >"$work/known.txt"
status=0
"$runner" --target="$addr" --report_dir="$work/known" --filter=magic. \
  --known_failures="$work/known.txt" >"$work/known.out" 2>&1 || status=$?
tail -1 "$work/known.out"
[[ $status -eq 0 ]] || { cat "$work/known.out"; fail "known failures did not make the run pass"; }
tail -1 "$work/known.out" | grep -Eq "^0 passed, 0 failed, [1-9][0-9]* skipped$" \
  || fail "known failures not counted as skipped"

# ... and stale entries fail it: a case that passes, an id that matches nothing.
printf 'magic.*\nzero_length.frame_empty.0\nmagic.renamed.0\n' >"$work/stale.txt"
status=0
"$runner" --target="$addr" --report_dir="$work/stale" --filter=magic.,zero_length.frame_empty.0 \
  --known_failures="$work/stale.txt" >"$work/stale.out" 2>&1 || status=$?
tail -1 "$work/stale.out"
[[ $status -eq 1 ]] || fail "stale known failures did not fail the run"
grep -q "stale.txt:2: zero_length.frame_empty.0 is listed as failing" "$work/stale.out" \
  || fail "passing case in the list not reported stale"
grep -q "stale.txt:3: magic.renamed.0 matches no case" "$work/stale.out" \
  || fail "unknown id in the list not reported stale"
stop "$pid"

# The interop dialects: varint32 over TCP, u32be over Unix, each testee
# speaking its dialect passes all of that dialect's cases; a testee speaking
# another dialect fails them.
run_dialect() {  # run_dialect DIALECT LISTEN
  local dialect="$1" status=0
  rm -f "$sock"
  start "$dialect" "$2" --dialect="$dialect"
  "$runner" --dialect="$dialect" --target="$addr" --report_dir="$report_root/$dialect" \
    >"$work/$dialect.out" 2>&1 || status=$?
  stop "$pid"
  local last
  last="$(tail -1 "$work/$dialect.out")"
  echo "$dialect: $last"
  [[ $status -eq 0 ]] || { cat "$work/$dialect.out"; fail "$dialect: runner exited with $status"; }
  [[ "$last" =~ ^([0-9]+)\ passed,\ 0\ failed,\ 0\ skipped$ ]] || fail "$dialect: $last"
  (( BASH_REMATCH[1] >= 400 )) || fail "$dialect: only ${BASH_REMATCH[1]} cases passed"
}
run_dialect varint32 tcp://127.0.0.1:0
run_dialect u32be "unix:$sock"
start mismatch tcp://127.0.0.1:0 --dialect=u32be
status=0
"$runner" --dialect=varint32 --target="$addr" --report_dir="$work/mismatch" \
  --filter=varint32_split_offset. >"$work/mismatch.out" 2>&1 || status=$?
stop "$pid"
[[ $status -eq 1 ]] || fail "a u32be testee passed the varint32 cases"
grep -q "^FAILED varint32_split_offset\." "$work/mismatch.out" \
  || fail "no varint32_split_offset case failed against a u32be testee"

# A testee that copies bytes back without framing passes the clean dialect
# cases (their echo is the same bytes) but fails the error cases: its echo
# of a bad length is not a well-framed stream.
python3 - "$work/bytes.addr" <<'PYEOF' &
import socket, sys, threading
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("tcp://127.0.0.1:%d\n" % server.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def serve(conn):
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PYEOF
pid=$!
pids+=("$pid")
for _ in $(seq 1 200); do [[ -s "$work/bytes.addr" ]] && break; sleep 0.05; done
[[ -s "$work/bytes.addr" ]] || fail "byte echo did not start"
status=0
"$runner" --dialect=varint32 --target="$(cat "$work/bytes.addr")" --report_dir="$work/bytes" \
  --filter=varint32_limit_over.,varint32_prefix.,varint32_split_offset.at.1 \
  >"$work/bytes.out" 2>&1 || status=$?
stop "$pid"
tail -1 "$work/bytes.out"
[[ $status -eq 1 ]] || fail "a byte echo passed the varint32 error cases"
grep -q "^FAILED varint32_limit_over\." "$work/bytes.out" || fail "byte echo passed limit_over"
grep -q "^FAILED varint32_split_offset" "$work/bytes.out" && fail "byte echo failed a clean case"
echo PASS
