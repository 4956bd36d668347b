#!/usr/bin/env bash
# Runs one small benchmark of each bench binary (unoptimized, 1 repetition) and
# checks that it completes: the binaries verify the bytes they move, report a
# failure as a skipped run under "### Errors", and print their summary's
# "### Targets" section last. Timing figures are not checked here.
#
# Args: codec_bench transport_bench echo_bench paired_bench
set -euo pipefail

codec_bench="$1"
transport_bench="$2"
echo_bench="$3"
paired_bench="$4"
out="${TEST_TMPDIR:-/tmp}/bench_smoke.out"
failures=0

# run NAME EXPECTED_LINE BINARY ARGS...
run() {
  local name="$1" expected="$2"
  shift 2
  echo "=== ${name}: $*"
  local status=0
  "$@" --benchmark_repetitions=1 >"${out}" 2>&1 || status=$?
  if [[ "${status}" -ne 0 ]]; then
    echo "FAIL ${name}: exit status ${status}"; cat "${out}"; failures=$((failures + 1)); return
  fi
  if grep -q '^### Errors' "${out}"; then
    echo "FAIL ${name}: the run reported errors"; sed -n '/^### Errors/,$p' "${out}"
    failures=$((failures + 1)); return
  fi
  if ! grep -q -- "${expected}" "${out}"; then
    echo "FAIL ${name}: no line matching '${expected}'"; cat "${out}"
    failures=$((failures + 1)); return
  fi
  grep -- "${expected}" "${out}"
}

run codec "Decode64B" "${codec_bench}" --benchmark_filter='^Decode64B'
run transport_stream "unix 64KiB lp_direct >= 0.90x raw_direct" "${transport_bench}" \
  --benchmark_filter='^Stream/unix/64KiB/(raw_direct|lp_direct)/'
run transport_rss "peak RSS .* direct mode" "${transport_bench}" \
  --benchmark_filter='^Rss/receive_64MiB/direct'
run echo "unix 64B 1c: req/s" "${echo_bench}" \
  --benchmark_filter='^Echo/unix/64B/1c/(raw|lp_reactor)/'
run echo_whole "tcp 64KiB 16c: req/s" "${echo_bench}" \
  --benchmark_filter='^Echo/tcp/64KiB/16c/(raw|raw_whole|lp_reactor)/'
run echo_paired_spin "paired, client spins, unix 64B 16c" "${echo_bench}" \
  --benchmark_filter='^EchoPairedSpin/unix/64B/16c'
run paired_ping_pong "unix ping-pong 64B lp p50" "${paired_bench}" \
  --benchmark_filter='^PairedPingPong/unix/64B/lp/'
run paired_busy_poll "unix ping-pong 64B lp_busy_poll p50" "${paired_bench}" \
  --benchmark_filter='^PairedPingPong/unix/64B/(lp_busy_poll|raw_busy_poll)/'
run paired_stream "unix 64KiB fixed >= 0.95x raw" "${paired_bench}" \
  --benchmark_filter='^PairedStream/unix/64KiB/fixed'

if [[ "${failures}" -ne 0 ]]; then
  echo "${failures} benchmark smoke run(s) failed"
  exit 1
fi
echo "all benchmark smoke runs completed"
