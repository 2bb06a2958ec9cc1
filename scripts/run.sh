#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - install what is missing, build arcproxy (RelWithDebInfo, in build/) and run
# the proxy in the foreground on config/arcproxy.yaml. Extra arguments go to arcproxy.
#
# Environment: ARCPROXY_CONFIG (default config/arcproxy.yaml), ARCPROXY_JOBS (default:
# the number of CPUs), ARCPROXY_SKIP_NPM=1 (see install-deps.sh; the proxy itself
# does not need the interop oracle).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh"

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$root/build" --target arcproxy -j "${ARCPROXY_JOBS:-$(nproc)}"

config=${ARCPROXY_CONFIG:-config/arcproxy.yaml}
printf 'run.sh: exec build/arcproxy -c %s %s\n' "$config" "$*"
exec "$root/build/arcproxy" -c "$config" "$@"
