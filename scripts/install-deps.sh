#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# install-deps.sh - install what arcproxy needs to build, run and test on Debian 12.
#
# Idempotent: asks dpkg-query what is installed and runs apt-get only for what is
# missing (apt-get update first, no prompts). Then installs the interop oracle
# (tests/interop, mailauth pinned by package-lock.json) with npm ci, only when
# node_modules is missing or older than the lock file.
#
# Needs root (or sudo) only when something has to be installed.
# Environment: ARCPROXY_SKIP_NPM=1 skips the npm step.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'install-deps: %s\n' "$*"; }
die() {
    printf 'install-deps: error: %s\n' "$*" >&2
    exit 1
}

# clang's sanitizer and libFuzzer runtimes live in libclang-rt-N-dev, which the clang
# package does not pull in (Debian 12: N=14). Follow the installed clang if there is one.
clang_major=14
if command -v clang >/dev/null 2>&1; then
    v=$(clang -dumpversion 2>/dev/null || true)
    v=${v%%.*}
    [[ $v =~ ^[0-9]+$ ]] && clang_major=$v
fi

pkgs=(
    build-essential cmake pkg-config
    clang clang-format "libclang-rt-${clang_major}-dev"
    libuv1-dev libssl-dev libldns-dev libyaml-dev
    libpsl-dev
    openssl ca-certificates
    python3 python3-dkim python3-authres
    # libidn12: a library Debian's exim4 binary links to; tests/exim runs that binary
    # unpacked privately (exim4-daemon-light itself conflicts with postfix, never installed)
    libidn12
    # systemd: systemd-analyze, systemd-sysusers, systemd-tmpfiles check deploy/arcproxy.service
    # offline (tests/deploy); nothing is started
    systemd
    # unbound: see below
    unbound
)
# unbound: the DNS server tests/dns and tests/cli start on a private loopback port with
# their own config. The package's system service is not needed (see below).
# postfix: the end-to-end test behind a real Postfix (tests/postfix) runs its own instance
# from a private config directory; the package is installed with debconf's "No
# configuration", so no system Postfix is configured or started. Installing it would
# replace another MTA (they all provide mail-transport-agent): then it is left out and
# that test skips.
other_mta=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
    awk '$1 == "ii" && $2 != "postfix" && /mail-transport-agent/ { print $2 }' | head -n 1)
if [[ -n $other_mta ]]; then
    say "postfix left out: $other_mta is installed as the MTA (tests/postfix will skip)"
else
    pkgs+=(postfix)
fi
# ca-certificates: npm fetches over HTTPS (a minimal Debian may lack it).
# Node.js may come from elsewhere than Debian (with npm bundled): keep whatever is there.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

installed() {
    local st
    st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $st == *" ok installed" ]]
}

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]}"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    postfix_new=0
    unbound_new=0
    [[ " ${missing[*]} " == *" unbound "* ]] && unbound_new=1
    if [[ " ${missing[*]} " == *" postfix "* ]]; then
        postfix_new=1
        # before installing: no questions, and no system Postfix configured or started
        echo "postfix postfix/main_mailer_type select No configuration" |
            "${sudo[@]}" debconf-set-selections
    fi
    apt_opts=(-q -y -o DPkg::Lock::Timeout=300
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update </dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" </dev/null
    for p in "${missing[@]}"; do
        installed "$p" || die "$p is still not installed"
    done
    # "No configuration" leaves /etc/postfix/main.cf absent and Postfix stopped. Should the
    # package have started a system Postfix anyway, stop the one this run installed.
    if ((postfix_new)) && "${sudo[@]}" postfix status >/dev/null 2>&1; then
        say "the postfix package started a system Postfix: stopping it"
        "${sudo[@]}" postfix stop || true
    fi
    # Debian starts a system unbound on port 53 where an init system runs services; the
    # tests never use it. Stop and disable the one this run installed.
    if ((unbound_new)) && command -v systemctl >/dev/null 2>&1 &&
        systemctl is-active --quiet unbound 2>/dev/null; then
        say "the unbound package started a system resolver: stopping and disabling it"
        "${sudo[@]}" systemctl disable --now unbound || true
    fi
else
    say "Debian packages: all present"
fi

# The Python oracle (dkimpy) must be importable by Debian's own python3; another
# python3 earlier on PATH (pyenv, venv) does not see Debian's packages.
/usr/bin/python3 -c 'import dkim, authres' </dev/null ||
    die "/usr/bin/python3 cannot import dkim and authres"

# The Node oracle: mailauth, pinned by tests/interop/package-lock.json.
interop=$root/tests/interop
lock=$interop/package-lock.json
if [[ ${ARCPROXY_SKIP_NPM:-0} == 1 ]]; then
    say "npm: skipped (ARCPROXY_SKIP_NPM=1)"
elif [[ ! -f $lock ]]; then
    say "npm: no tests/interop/package-lock.json yet, skipped"
else
    stamp=$interop/node_modules/.package-lock.json # written by npm ci
    if [[ -f $stamp && ! $lock -nt $stamp ]]; then
        say "npm: tests/interop/node_modules is up to date"
    else
        say "npm: npm ci in tests/interop"
        (cd "$interop" && npm_config_update_notifier=false \
            npm ci --no-audit --no-fund </dev/null)
    fi
fi
say "done"
