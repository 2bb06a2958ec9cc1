#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/postfix/run.sh ARCPROXY [DRIVER] - arcproxy behind a real Postfix: DRIVER is
# test_postfix.py (the default: after-queue, deploy/postfix-master.cf.snippet) or
# test_postfix_bq.py (before-queue, deploy/postfix-before-queue.snippet). Postfix runs
# from a private config and queue directory (postfix -c DIR) on free loopback ports,
# relaying to tests/smtp/harness/sink.py. Never
# touches a system MTA or port 25. Exit 77 (skipped) without postfix or without root
# (Postfix's master must be started by root); 0 only if every check passed.
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy [test_postfix.py|test_postfix_bq.py]}")
here=$(cd "$(dirname "$0")" && pwd)
driver=${2:-test_postfix.py}
[ -f "$here/$driver" ] || { echo "no $here/$driver"; exit 2; }
PATH=$PATH:/usr/sbin:/sbin
# In CI (CI=true) scripts/install-deps.sh installs Postfix, so a skip there would hide a
# missing install step: it is a failure instead.
skip() {
    echo "$1: skipped"
    if [ "${CI:-}" = true ]; then
        echo "CI=true: the Postfix end-to-end test must run here; failing"
        exit 1
    fi
    exit 77
}
if ! command -v postfix >/dev/null 2>&1 || ! command -v postconf >/dev/null 2>&1 ||
    [ ! -x "$(postconf -d -h daemon_directory 2>/dev/null)/master" ]; then
    skip "postfix is not installed (Debian package postfix; scripts/install-deps.sh)"
fi
if [ "$(id -u)" -ne 0 ]; then
    skip "not root: Postfix's master must be started by root"
fi
if ! getent passwd postfix >/dev/null || ! getent group postdrop >/dev/null; then
    skip "no postfix user or postdrop group (package not configured)"
fi
work=$(mktemp -d /tmp/arcproxy-postfix.XXXXXX) || exit 1
cleanup() {
    # fallback: the driver stops Postfix itself; this covers a driver killed by timeout
    if [ -f "$work/queue/pid/master.pid" ]; then
        pid=$(tr -d ' \n' <"$work/queue/pid/master.pid")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            timeout 30 postfix -c "$work/conf" stop >/dev/null 2>&1
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [ "${ARCPROXY_KEEP_TEST_DIR:-0}" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
timeout 150 /usr/bin/python3 "$here/$driver" "$bin" "$work"
rc=$?
[ $rc -eq 124 ] && echo "FAILED  timed out after 150 s"
exit $rc
