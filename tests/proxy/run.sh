#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/proxy/run.sh ARCPROXY - the daemon end to end over loopback (test_proxy.py):
# and queue mode (test_queue.py): sink.py as the return port, scripted SMTP as the MTA.
# Exit 0 only if every test passed.
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy}")
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$here/../smtp/harness/sink.py" ]; then
    echo "tests/smtp/harness/sink.py is missing: skipped"
    exit 77
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
rc=0
timeout 600 /usr/bin/python3 "$here/test_proxy.py" "$bin" || rc=1
timeout 600 /usr/bin/python3 "$here/test_queue.py" "$bin" || rc=1
exit $rc
