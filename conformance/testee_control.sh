# testee_control.sh: starting and stopping testee servers in the conformance
# shell tests (sourced). The caller sets $work (a scratch directory) and
# $sock (a Unix socket path to remove at exit) before sourcing.
#
#   launch NAME COMMAND...   runs COMMAND --ready_file=$work/NAME.addr in the
#                            background, waits for the address; sets $addr
#                            and $pid. stderr goes to $work/NAME.log.
#   halt SIGNAL PID          signals PID, reaps it and forgets it.
# Every process still running at exit is killed.

pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$work" "$sock"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

launch() {
  local name="$1"
  shift
  rm -f "$work/$name.addr"
  "$@" --ready_file="$work/$name.addr" 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 200); do [[ -s "$work/$name.addr" ]] && break; sleep 0.05; done
  [[ -s "$work/$name.addr" ]] || fail "$name ($1) did not start"
  addr="$(cat "$work/$name.addr")"
}

halt() {
  kill -"$1" "$2" 2>/dev/null || true
  wait "$2" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [[ "$p" == "$2" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
}
