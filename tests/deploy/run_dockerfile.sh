#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/deploy/run_dockerfile.sh ARCPROXY - what can be checked of deploy/Dockerfile without
# a container engine (there is none where this was written): both stages start from
# Debian 12; the runtime stage installs the Debian package of every shared library ARCPROXY
# links to (ldd + dpkg -S on this Debian 12 host), so a new library dependency cannot be
# forgotten there; the build stage installs the -dev packages that scripts/install-deps.sh
# lists for building; the runtime stage runs as a non-root user. It does NOT build the
# image. Exit 77 (skipped) without ldd/dpkg (not Debian).
set -u
bin=$(readlink -f "${1:?usage: run_dockerfile.sh path/to/arcproxy}")
root=$(cd "$(dirname "$0")/../.." && pwd)
df=$root/deploy/Dockerfile
if ! command -v ldd >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "no ldd/dpkg: skipped"
    exit 77
fi
pass=0
fail=0
check() {
    if [ "$2" -eq 0 ]; then
        echo "ok      $1"
        pass=$((pass + 1))
    else
        echo "FAILED  $1${3:+: $3}"
        fail=$((fail + 1))
    fi
}
# the package lists of the build and runtime stages (the apt-get install lines)
stage_pkgs() { # N: the Nth "apt-get install" command in the Dockerfile
    awk -v n="$1" '
        /apt-get install/ { k++; on = (k == n) }
        on { for (i = 1; i <= NF; i++) if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/) print $i }
        on && !/\\$/ { on = 0 }' "$df" | grep -v -x -E 'apt-get|install|rm|DEBIAN_FRONTEND.*'
}
build_pkgs=$(stage_pkgs 1 | tr '\n' ' ')
run_pkgs=$(stage_pkgs 2 | tr '\n' ' ')
[ "$(grep -c '^FROM debian:12' "$df")" -eq 2 ]
check "two stages, both FROM debian:12" $?

missing=""
for lib in $(ldd "$bin" | awk '$2 == "=>" { print $3 }'); do
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1)
    case $pkg in
    # in every Debian image (libc6; libgcc-s1 and libstdc++6 come with apt)
    libc6 | libc6-dev | libgcc-s1 | libstdc++6 | "") continue ;;
    # sanitizer runtimes of an ASan/UBSan/TSan build: not in a release image
    libasan* | libubsan* | libtsan* | liblsan*) continue ;;
    esac
    [[ " $run_pkgs " == *" $pkg "* ]] || missing="$missing $lib($pkg)"
done
[ -z "$missing" ]
check "runtime stage installs every linked library's package ($run_pkgs)" $? "missing:$missing"

missing=""
for p in $(grep -o -E 'lib[a-z0-9.-]+-dev' "$root/scripts/install-deps.sh" | sort -u); do
    case $p in libclang-rt-*) continue ;; esac # sanitizer runtimes: not for a release build
    [[ " $build_pkgs " == *" $p "* ]] || missing="$missing $p"
done
[ -z "$missing" ]
check "build stage installs install-deps.sh's -dev packages" $? "missing:$missing"

grep -q '^USER arcproxy$' "$df" && ! grep -q '^USER root' "$df"
check "runtime stage runs as the user arcproxy" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
