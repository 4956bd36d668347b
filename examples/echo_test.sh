#!/usr/bin/env bash
# echo_test: the example echo server and client end to end, over TCP (port 0)
# and a Unix path, in the reactor and thread models; then graceful shutdown
# of the server by SIGTERM while a client is active, and of the client by
# SIGINT. Arguments: the echo_server and echo_client binaries.
set -euo pipefail
server_bin="$1"
client_bin="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/echo_test.XXXXXX")"
sock_dir="$(mktemp -d /tmp/lpframe-echo.XXXXXX)"  # short path for sockaddr_un
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work" "$sock_dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server LISTEN_URI MODEL: starts the server, sets server_pid and addr.
start_server() {
  rm -f "$work/addr"
  "$server_bin" --listen="$1" --model="$2" --ready_file="$work/addr" \
    --shutdown_grace=3s 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [[ -s "$work/addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "server exited"; }
    sleep 0.05
  done
  [[ -s "$work/addr" ]] || fail "server did not report its address"
  addr="$(cat "$work/addr")"
  echo "server $2 at $addr"
}

# stop_server: SIGTERM, expect exit status 0 within 10 s and the summary.
stop_server() {
  kill -TERM "$server_pid"
  local status=0
  for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$server_pid" 2>/dev/null && fail "server still running 10 s after SIGTERM"
  wait "$server_pid" || status=$?
  server_pid=""
  cat "$work/server.log"
  [[ $status -eq 0 ]] || fail "server exited with status $status after SIGTERM"
  grep -q "stopped (signal 15)" "$work/server.log" || fail "no shutdown summary"
}

run_client() {
  local out
  out="$("$client_bin" --connect="$addr" "$@")" || { echo "$out"; fail "client $*"; }
  echo "$out"
  grep -q "echoed intact" <<<"$out" || fail "client summary missing"
}

for model in reactor threads; do
  for listen in tcp://127.0.0.1:0 "unix:$sock_dir/echo.sock"; do
    start_server "$listen" "$model"
    run_client --connections=4 --count=2000 --size=1000 --window=32
    run_client --connections=1 --count=3 --size=$((16 << 20)) --window=2
    run_client --connections=2 --count=100 --size=0
    one="$("$client_bin" --connect="$addr" --message="hello lpframe")"
    grep -q "hello lpframe" <<<"$one" || fail "one-message round trip: $one"
    stop_server
  done
done

# SIGTERM while a client is active: the server answers what it received,
# tells the client it is shutting down, and exits 0.
start_server tcp://127.0.0.1:0 reactor
"$client_bin" --connect="$addr" --count=100000000 --size=512 >"$work/client.out" \
  2>"$work/client.err" &
client_pid=$!
sleep 0.5
stop_server
client_status=0
wait "$client_pid" || client_status=$?
cat "$work/client.out" "$work/client.err"
[[ $client_status -ne 0 ]] || fail "client did not notice the shutdown"
grep -q "SHUTTING_DOWN" "$work/client.err" || fail "client did not get a SHUTTING_DOWN frame"

# SIGINT to the client: it stops sending, checks what is in flight, exits 0.
start_server tcp://127.0.0.1:0 reactor
"$client_bin" --connect="$addr" --count=100000000 --size=512 >"$work/client.out" &
client_pid=$!
sleep 0.5
kill -INT "$client_pid"
client_status=0
wait "$client_pid" || client_status=$?
cat "$work/client.out"
[[ $client_status -eq 0 ]] || fail "client exited with status $client_status after SIGINT"
grep -q "stopped by a signal" "$work/client.out" || fail "client summary lacks the signal"
stop_server
echo "PASS"
