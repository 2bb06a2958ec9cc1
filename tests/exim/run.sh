#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/exim/run.sh ARCPROXY - arcproxy behind a real Exim (test_exim.py), wired with the
# files of deploy/exim/. Debian's exim4-daemon-light conflicts with the postfix package
# (both are the system MTA), so Exim is not installed: its .deb is fetched with
# `apt-get download` into a cache next to ARCPROXY (BUILD/exim-debs, kept between runs) and
# unpacked with `dpkg -x` into a private directory, from where it runs with its own
# configuration (-C). Never touches a system MTA or port 25.
#
# Debian's binary looks up the user "Debian-exim" by name before it reads any
# configuration. If that user does not exist, the test runs in a private mount namespace
# (unshare) in which /etc/passwd and /etc/group carry it: nothing on the host changes.
#
# Exit 77 (skipped) without root, without the .deb (no network), without the libraries
# Exim needs (scripts/install-deps.sh installs them) or without a way to provide the user;
# under CI=true each of these is a failure. 0 only if every check passed.
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy}")
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
skip() {
    echo "$1: skipped"
    if [ "${CI:-}" = true ]; then
        echo "CI=true: the Exim end-to-end test must run here; failing"
        exit 1
    fi
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root: the private Exim daemon is started as root"
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    skip "no dpkg/apt-get (not Debian)"
fi

cache=$(dirname "$bin")/exim-debs
mkdir -p "$cache" || exit 1
deb=$(ls "$cache"/exim4-daemon-light_*.deb 2>/dev/null | tail -n 1)
if [ -z "$deb" ]; then
    echo "fetching exim4-daemon-light into $cache"
    # as root apt-get downloads unsandboxed into a directory _apt cannot write: say nothing
    (cd "$cache" && timeout 120 apt-get -q download exim4-daemon-light) 2>&1 |
        grep -v "unsandboxed as root" | tail -n 3
    deb=$(ls "$cache"/exim4-daemon-light_*.deb 2>/dev/null | tail -n 1)
    [ -n "$deb" ] || skip "could not download exim4-daemon-light (no network to the Debian mirror?)"
fi

work=$(mktemp -d /tmp/arcproxy-exim.XXXXXX) || exit 1
cleanup() {
    # fallback: the driver stops its Exim daemon itself; this covers a driver killed by timeout
    if [ -f "$work/exim/exim.pid" ]; then
        pid=$(tr -d ' \n' <"$work/exim/exim.pid")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
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
chmod 755 "$work" # Exim's deliveries run as the Exim user and re-read the configuration

dpkg -x "$deb" "$work/root" || skip "dpkg -x $deb failed"
exim=$work/root/usr/sbin/exim4
[ -x "$exim" ] || skip "no usr/sbin/exim4 in $deb"
missing=$(ldd "$exim" 2>/dev/null | awk '/not found/ { print $1 }' | tr '\n' ' ')
[ -z "$missing" ] || skip "Exim needs $missing(scripts/install-deps.sh installs libidn12)"
echo "exim: $(basename "$deb")"

runner=()
if ! getent passwd Debian-exim >/dev/null || ! getent group Debian-exim >/dev/null; then
    command -v unshare >/dev/null 2>&1 || skip "no user Debian-exim and no unshare"
    id=""
    for n in $(seq 999 -1 900); do
        if ! getent passwd "$n" >/dev/null && ! getent group "$n" >/dev/null; then
            id=$n
            break
        fi
    done
    [ -n "$id" ] || skip "no free system uid/gid for Debian-exim"
    mkdir -p "$work/etc"
    cp /etc/passwd "$work/etc/passwd" && cp /etc/group "$work/etc/group" || exit 1
    getent passwd Debian-exim >/dev/null ||
        echo "Debian-exim:x:$id:$id:Exim (arcproxy test):/nonexistent:/usr/sbin/nologin" \
            >>"$work/etc/passwd"
    getent group Debian-exim >/dev/null || echo "Debian-exim:x:$id:" >>"$work/etc/group"
    chmod 644 "$work/etc/passwd" "$work/etc/group"
    runner=(unshare --mount --propagation private sh -c
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"'
        sh "$work/etc/passwd" "$work/etc/group")
    "${runner[@]}" getent passwd Debian-exim >/dev/null 2>&1 ||
        skip "no user Debian-exim, and a private mount namespace (unshare) is not allowed here"
    echo "user Debian-exim ($id) provided in a private mount namespace"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
timeout 200 "${runner[@]}" /usr/bin/python3 "$here/test_exim.py" "$bin" "$work" "$exim"
rc=$?
[ $rc -eq 124 ] && echo "FAILED  timed out after 200 s"
exit $rc
