#!/usr/bin/env bash
# Installs what lpframe needs to build and test, from Debian's archive only.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap      # Bazel 4.2.3
  g++
  protobuf-compiler    # protoc 3.21
  libprotobuf-dev
  libabsl-dev          # Abseil 20220623
  libgtest-dev
  libgmock-dev
  libbenchmark-dev     # Google Benchmark 1.7
  libxxhash-dev        # XXH3 checksums
  python3              # .ci/run reads Bazel's test.xml files
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "tools/setup.sh: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
