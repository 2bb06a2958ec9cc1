#!/bin/sh
# SPDX-License-Identifier: MIT
# proxy.sh [--quick] [proxy_bench.py options] - the daemon under load (issue 3 and 4
# performance): builds arcproxy and bench_seal_threads in Release (-O2, no sanitizers) in
# build-bench/ (or $BENCH_BUILD_DIR), then runs bench/proxy_bench.py: Postfix's
# smtp-source -> arcproxy -> smtp-sink beside smtp-source -> smtp-sink, and the other
# sections (see its --help and docs/performance.md). Full run about 12 minutes, --quick
# about 2. Needs postfix (smtp-source, smtp-sink: scripts/install-deps.sh); the dns
# section needs root for unshare -n. Exit 77 when smtp-source/smtp-sink are missing.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build-bench}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DARCPROXY_WERROR=OFF -DARCPROXY_ASAN=OFF -DARCPROXY_UBSAN=OFF -DARCPROXY_TSAN=OFF \
    -DARCPROXY_FUZZ=OFF >/dev/null
cmake --build "$build" --target arcproxy bench_seal_threads -j "${BENCH_JOBS:-2}" >/dev/null

exec /usr/bin/python3 "$src/bench/proxy_bench.py" --bin "$build/arcproxy" \
    --seal-bench "$build/bench/bench_seal_threads" "$@"
