#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/crash/run.sh ARCPROXY - crash safety in proxy and queue mode (test_crash.py): load from Python
# clients and Postfix's smtp-source, arcproxy killed with SIGKILL at random moments
# CRASH_ROUNDS (20) times and restarted; every message that got a 250 must be at the sink.
# Exit 77 (skipped) without smtp-source, a failure instead when CI=true; 0 only if all passed.
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy}")
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
skip() {
    echo "$1: skipped"
    if [ "${CI:-}" = true ]; then
        echo "CI=true: the crash test must run here; failing"
        exit 1
    fi
    exit 77
}
[ -f "$here/../smtp/harness/sink.py" ] || skip "tests/smtp/harness/sink.py is missing"
command -v smtp-source >/dev/null 2>&1 ||
    skip "smtp-source is not installed (Debian package postfix; scripts/install-deps.sh)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
timeout 280 /usr/bin/python3 "$here/test_crash.py" "$bin"
rc=$?
[ $rc -eq 124 ] && echo "FAILED  timed out after 280 s"
exit $rc
