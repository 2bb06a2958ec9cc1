#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ARC interop tests: arcproxy against dkimpy and mailauth (docs/interop.md).
#
#   bash tests/interop/run.sh path/to/arcproxy [interop.py options: --only A1,B2 -v --keep]
#
# Needs: Debian's python3-dkim and python3-authres (run with /usr/bin/python3), node >= 18,
# openssl, and `npm ci` done in tests/interop (mailauth 4.6.9, pinned by package-lock.json).
# Exit 77 (CTest: skipped) when one of them is missing, unless INTEROP_REQUIRED=1, which
# turns a missing dependency into a failure (exit 1) for CI.
# Set NODE=/path/to/node to test with another Node.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:-}
[ $# -gt 0 ] && shift
py=/usr/bin/python3
node=${NODE:-node}

skip() {
    echo "skip: $*"
    if [ "${INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    exit 77
}

if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "usage: run.sh ARCPROXY-BINARY [interop.py options]" >&2
    exit 64
fi
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac

[ -x "$py" ] || skip "no $py (Debian's python3)"
"$py" -c 'import dkim' 2>/dev/null ||
    skip "python3-dkim is not installed (apt-get install python3-dkim)"
"$py" -c 'import authres' 2>/dev/null ||
    skip "python3-authres is not installed (apt-get install python3-authres)"
command -v openssl >/dev/null || skip "openssl is not installed"
command -v "$node" >/dev/null || skip "node is not installed (apt-get install nodejs)"
major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 18 ] 2>/dev/null || skip "node $("$node" --version 2>/dev/null) is older than 18"
[ -f "$here/node_modules/mailauth/package.json" ] ||
    skip "mailauth is not installed: run (cd tests/interop && npm ci)"
have=$("$node" -p "require('$here/node_modules/mailauth/package.json').version" 2>/dev/null)
want=$("$node" -p "require('$here/package.json').dependencies.mailauth" 2>/dev/null)
if [ "$have" != "$want" ]; then
    skip "node_modules has mailauth $have, package.json pins $want:" \
        "run (cd tests/interop && npm ci)"
fi

export NODE="$node"
exec "$py" "$here/interop.py" --arcproxy "$bin" --node "$node" "$@"
