#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - build bench_arc in Release (-O2) in its own build directory, run
# `openssl speed` for RSA-2048 and SHA-256 (1 MiB blocks), then bench_arc with those
# figures so that they are printed beside ours. Extra arguments go to bench_arc
# (e.g. -t 2 for 2 s per figure). See docs/performance.md.
#   BENCH_BUILD_DIR   build directory (default: build-bench at the top of the tree)
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build-bench}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DARCPROXY_WERROR=OFF -DARCPROXY_ASAN=OFF -DARCPROXY_UBSAN=OFF -DARCPROXY_TSAN=OFF \
    -DARCPROXY_FUZZ=OFF >/dev/null
cmake --build "$build" --target bench_arc -j "$(nproc)" >/dev/null

cpu() { sed -n "s/^$1[[:space:]]*: //p" /proc/cpuinfo | head -n 1; }
echo "machine: $(nproc) CPU(s), $(cpu 'model name') (family $(cpu 'cpu family') model $(cpu model))"
echo "flags: sha_ni=$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)" \
    "avx2=$(grep -qw avx2 /proc/cpuinfo && echo yes || echo no)"

# openssl speed prints "rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>" and
# "sha256 <N>k" (thousands of bytes per second).
sign=$(openssl speed -seconds 1 rsa2048 2>/dev/null | awk '$1 == "rsa" && $2 == "2048" { print $6 }')
sha=$(openssl speed -seconds 1 -bytes 1048576 sha256 2>/dev/null |
    awk '$1 == "sha256" { v = $2; sub(/k$/, "", v); print v / 1000 }')
echo "openssl speed -seconds 1 rsa2048: ${sign:-?} sign/s"
echo "openssl speed -seconds 1 -bytes 1048576 sha256: ${sha:-?} MB/s"
echo

exec "$build/bench/bench_arc" ${sign:+-s "$sign"} ${sha:+-m "$sha"} "$@"
