#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/deploy/run_systemd.sh ARCPROXY - checks deploy/arcproxy.service and its
# sysusers/tmpfiles files with systemd's own tools, offline (no running systemd needed;
# this works in a container whose PID 1 is not systemd):
#   - systemd-analyze verify accepts the unit and prints nothing. systemd 252 exits 0 even
#     for unknown keys and bad values (it only warns), so any output is a failure; a
#     deliberately broken copy must produce output (proof that the check can fail).
#     The shipped ExecStart names the installed binary (/usr/local/sbin/arcproxy, the CMake
#     install destination); verify wants an executable there, so the copy under test runs
#     ARCPROXY instead: the one line that differs.
#   - systemd-analyze security --offline: exposure at most 2.0 ("OK"); a copy without the
#     hardening must score worse.
#   - systemd-sysusers and systemd-tmpfiles, into a private --root: the user arcproxy and
#     the spool /var/spool/arcproxy, mode 0700, owned by it.
# Exit 77 (skipped) without systemd-analyze (Debian package systemd; install-deps installs
# it); under CI=true that is a failure.
set -u
bin=$(readlink -f "${1:?usage: run_systemd.sh path/to/arcproxy}")
root=$(cd "$(dirname "$0")/../.." && pwd)
unit=$root/deploy/arcproxy.service
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found (Debian package systemd): skipped"
    [ "${CI:-}" = true ] && { echo "CI=true: must run here; failing"; exit 1; }
    exit 77
fi
work=$(mktemp -d /tmp/arcproxy-systemd.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
check() { # NAME CONDITION-EXIT-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then
        echo "ok      $1"
        pass=$((pass + 1))
    else
        echo "FAILED  $1${3:+: $3}"
        fail=$((fail + 1))
    fi
}
systemd-analyze --version | head -n 1

grep -q '^ExecStart=/usr/local/sbin/arcproxy -c /etc/arcproxy/arcproxy.yaml$' "$unit"
check "ExecStart runs the installed binary with -c /etc/arcproxy/arcproxy.yaml" $?
grep -q 'RUNTIME DESTINATION sbin' "$root/CMakeLists.txt"
check "CMake installs arcproxy to PREFIX/sbin (default /usr/local/sbin)" $?

mkdir -p "$work/units"
sed "s|^ExecStart=/usr/local/sbin/arcproxy |ExecStart=$bin |" "$unit" >"$work/units/arcproxy.service"
out=$(cd "$work/units" && systemd-analyze verify --man=no ./arcproxy.service 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ]
check "systemd-analyze verify: accepted, no warnings" $? "rc=$rc $out"

# the check can fail: one misspelt key and one bad value
sed -e 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' -e 's/^ProtectSystem=strict/ProtectSystem=bogus/' \
    "$work/units/arcproxy.service" >"$work/units/broken.service"
out=$(cd "$work/units" && systemd-analyze verify --man=no ./broken.service 2>&1)
echo "$out" | grep -q "NoNewPrivilege" && echo "$out" | grep -q "bogus"
check "systemd-analyze verify reports a broken copy (control)" $? "$out"

out=$(cd "$work/units" && systemd-analyze security --offline=yes --threshold=20 \
    ./arcproxy.service 2>&1)
rc=$?
check "systemd-analyze security: $(echo "$out" | grep -o 'exposure level.*' | head -n 1)" $rc \
    "$(echo "$out" | grep '✗' | head -n 20)"
grep -v -E '^(Protect|Private|Restrict|SystemCall|Capability|NoNewPrivileges|MemoryDeny|LockPersonality|RemoveIPC|UMask)' \
    "$work/units/arcproxy.service" >"$work/units/weak.service"
if (cd "$work/units" && systemd-analyze security --offline=yes --threshold=20 ./weak.service \
    >/dev/null 2>&1); then weak_rc=1; else weak_rc=0; fi
check "systemd-analyze security fails an unhardened copy (control)" $weak_rc

mkdir -p "$work/root/etc"
out=$(systemd-sysusers --root="$work/root" "$root/deploy/arcproxy.sysusers.conf" 2>&1)
rc=$?
uid=$(awk -F: '$1 == "arcproxy" { print $3 }' "$work/root/etc/passwd" 2>/dev/null)
[ $rc -eq 0 ] && [ -n "$uid" ]
check "systemd-sysusers (private root) creates the user arcproxy (uid $uid)" $? "$out"
out=$(systemd-tmpfiles --root="$work/root" --create "$root/deploy/arcproxy.tmpfiles.conf" 2>&1)
rc=$?
st=$(stat -c '%a %u' "$work/root/var/spool/arcproxy" 2>/dev/null)
[ $rc -eq 0 ] && [ "$st" = "700 $uid" ]
check "systemd-tmpfiles (private root) creates /var/spool/arcproxy 0700 arcproxy" $? \
    "rc=$rc stat=$st $out"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
