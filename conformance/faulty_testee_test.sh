#!/usr/bin/env bash
# faulty_testee_test: proves the suite catches real receiver bugs.
#  1. faulty_echo_server --fault=none (TCP, with its Unix twin as second
#     target) passes the whole catalogue: nothing failed, nothing skipped.
#  2. Each fault fails the runner (exit 1, at least one failed case) on the
#     classes that exercise it, and the failures name those classes; with
#     --testee_pid, alloc_declared also fails the REJECT memory bound.
# Arguments: runner, faulty_echo_server, testee_control.sh.
set -euo pipefail
runner="$1"
server="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/faulty_testee_test.XXXXXX")"
sock="/tmp/lpframe_faulty_testee_$$.sock"
# shellcheck source=conformance/testee_control.sh
source "$3"

timeouts=(--stall_timeout=4s --idle_timeout=5s)

# start NAME LISTEN FAULT: starts a testee, sets $addr and $pid.
start() {
  launch "$1" "$server" --listen="$2" --fault="$3" "${timeouts[@]}"
}
stop() { halt KILL "$1"; }

report_root="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"

# 1. No fault: the whole catalogue passes.
start none_tcp tcp://127.0.0.1:0 none
tcp_addr="$addr"; tcp_pid="$pid"
start none_unix "unix:$sock" none
unix_addr="$addr"; unix_pid="$pid"
status=0
"$runner" --target="$tcp_addr" --second_target="$unix_addr" --testee_pid="$tcp_pid" \
  "${timeouts[@]}" --report_dir="$report_root/none" >"$work/none.out" 2>&1 || status=$?
last="$(tail -1 "$work/none.out")"
echo "none: $last"
[[ $status -eq 0 ]] || { cat "$work/none.out"; fail "fault=none: runner exited with $status"; }
[[ "$last" =~ ^([0-9]+)\ passed,\ 0\ failed,\ 0\ skipped$ ]] || fail "fault=none: $last"
(( BASH_REMATCH[1] >= 900 )) || fail "fault=none: only ${BASH_REMATCH[1]} cases passed"
stop "$tcp_pid"; stop "$unix_pid"

# 2. Each fault: FAULT FILTER CLASS [runner flags...]; CLASS must fail.
check_fault() {
  local fault="$1" filter="$2" class="$3"
  shift 3
  start "$fault" tcp://127.0.0.1:0 "$fault"
  local status=0
  "$runner" --target="$addr" --filter="$filter" "${timeouts[@]}" "$@" \
    --report_dir="$report_root/$fault" >"$work/$fault.out" 2>&1 || status=$?
  stop "$pid"
  local last
  last="$(tail -1 "$work/$fault.out")"
  echo "$fault: $last"
  [[ $status -eq 1 ]] || { cat "$work/$fault.out"; fail "fault=$fault: runner exited with $status"; }
  [[ "$last" =~ ^[0-9]+\ passed,\ ([0-9]+)\ failed ]] || fail "fault=$fault: last line: $last"
  (( BASH_REMATCH[1] >= 1 )) || fail "fault=$fault: no case failed"
  grep -q "^FAILED $class\." "$work/$fault.out" || {
    cat "$work/$fault.out"
    fail "fault=$fault: no $class case failed"
  }
  # The same cases pass against the correct testee.
  start "$fault.none" tcp://127.0.0.1:0 none
  status=0
  "$runner" --target="$addr" --filter="$filter" "${timeouts[@]}" "$@" \
    --testee_pid="$pid" --report_dir="$work/$fault.none" >"$work/$fault.none.out" 2>&1 \
    || status=$?
  stop "$pid"
  [[ $status -eq 0 ]] || { cat "$work/$fault.none.out"; fail "fault=none on $filter failed"; }
}

check_fault lose_carried_header header_cuts.,dribble. header_cuts
check_fault limit_off_by_one limit_over.,limit_exact. limit_over
check_fault eof_as_clean eof_inside.,eof_boundary. eof_inside
check_fault drop_last zero_length.,coalesced.,size_boundary. size_boundary
# The allocation bomb measures the testee's resident memory: 8 peers
# announcing 64 MiB make the faulty testee touch 512 MiB (bound: 128 MiB).
start alloc_declared tcp://127.0.0.1:0 alloc_declared
status=0
"$runner" --target="$addr" --filter=alloc_bomb. --testee_pid="$pid" --bomb_connections=8 \
  --report_dir="$report_root/alloc_declared" >"$work/alloc.out" 2>&1 || status=$?
stop "$pid"
echo "alloc_declared: $(tail -1 "$work/alloc.out")"
[[ $status -eq 1 ]] || { cat "$work/alloc.out"; fail "fault=alloc_declared: runner exited with $status"; }
grep -q "^FAILED alloc_bomb\." "$work/alloc.out" || fail "fault=alloc_declared: alloc_bomb passed"
# Each REJECT case holds the testee's peak memory to a bound: a header one
# over the limit costs the faulty testee 64 MiB.
start alloc_reject tcp://127.0.0.1:0 alloc_declared
status=0
"$runner" --target="$addr" --filter=limit_over.payload --testee_pid="$pid" \
  --report_dir="$report_root/alloc_reject" >"$work/alloc_reject.out" 2>&1 || status=$?
stop "$pid"
echo "alloc_declared (REJECT memory bound): $(tail -1 "$work/alloc_reject.out")"
[[ $status -eq 1 ]] || { cat "$work/alloc_reject.out"; fail "alloc_declared passed limit_over"; }
grep -q "^FAILED limit_over\..*testee peak RSS" "$work/alloc_reject.out" \
  || { cat "$work/alloc_reject.out"; fail "no limit_over case failed on memory"; }
start alloc_none tcp://127.0.0.1:0 none
status=0
"$runner" --target="$addr" --filter=alloc_bomb. --testee_pid="$pid" --bomb_connections=8 \
  --report_dir="$work/alloc_none" >"$work/alloc_none.out" 2>&1 || status=$?
stop "$pid"
[[ $status -eq 0 ]] || { cat "$work/alloc_none.out"; fail "fault=none failed the allocation bomb"; }
echo "PASS"
