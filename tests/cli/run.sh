#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/cli/run.sh ARCPROXY - the offline subcommands as a user runs them: keygen,
# seal, verify; their output formats and exit codes (docs/cli.md). The keys come from a
# zone file (--dns-zone) and, in the last part, from a real DNS server (unbound on a
# free loopback port, --dns-server) for verify, seal and keygen --check. Without
# unbound that part is skipped (a failure under CI=true).
# Not covered: the system resolver path (no --dns-server/--dns-zone) reads
# /etc/resolv.conf, which a test cannot point at a private server.
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy}")
work=$(mktemp -d)
ubpid=
trap '[ -n "$ubpid" ] && kill "$ubpid" 2>/dev/null && wait "$ubpid" 2>/dev/null; rm -rf "$work"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok      $1"; }
bad() { fail=$((fail + 1)); echo "FAILED  $1: $2"; }
# expect NAME WANT_RC CMD... - run CMD, compare its exit code
expect() {
    local name=$1 want=$2; shift 2
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name"; else bad "$name" "exit $rc, want $want ($(head -c 300 "$work/err"))"; fi
}

crlf() { sed 's/$/\r/'; }

cd "$work" || exit 1
mkdir keys
"$bin" keygen -d one.example -s s1 --bits 1024 --out keys >z1 2>/dev/null
"$bin" keygen -d two.example -s s2 --out keys >z2 2>/dev/null
"$bin" keygen -d ed.example -s e1 --type ed25519 --out keys >z3 2>/dev/null
cat z1 z2 z3 >zone

# keygen
[ -f keys/s1.private ] && [ "$(stat -c %a keys/s1.private)" = 600 ] && ok keygen_writes_0600_key ||
    bad keygen_writes_0600_key "$(ls -l keys)"
grep -q '^s2._domainkey.two.example. IN TXT ( "v=DKIM1; k=rsa; " "p=' z2 && ok keygen_prints_zone_line ||
    bad keygen_prints_zone_line "$(cat z2)"
awk '{ while (match($0, /"[^"]*"/)) { if (RLENGTH - 2 > 255) bad = 1; $0 = substr($0, RSTART + RLENGTH) } } END { exit bad }' z2 &&
    ok keygen_strings_within_255 || bad keygen_strings_within_255 "a string is longer than 255"
expect keygen_refuses_overwrite 73 "$bin" keygen -d one.example -s s1 --out keys
expect keygen_usage_missing_selector 64 "$bin" keygen -d one.example
expect keygen_usage_bad_type 64 "$bin" keygen -d one.example -s x --type dsa

printf 'From: Alice <alice@a.example>\nTo: list@l.example\nSubject: test\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nHello.\n.leading dot\n' | crlf >msg.eml

# verify with no chain
expect verify_no_chain_is_none 0 "$bin" verify --dns-zone zone msg.eml
[ "$(head -1 out)" = "arc=none" ] && ok verify_first_line_none || bad verify_first_line_none "$(head -1 out)"

# seal: new set on top, message byte-exact below it
expect seal_one_hop 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone --time 1700000000 msg.eml
cp out hop1.eml
head -1 hop1.eml | grep -q '^ARC-Seal: a=rsa-sha256;' && ok seal_puts_arc_seal_first || bad seal_puts_arc_seal_first "$(head -1 hop1.eml)"
tail -c "$(stat -c %s msg.eml)" hop1.eml | cmp -s - msg.eml && ok seal_keeps_message_byte_exact ||
    bad seal_keeps_message_byte_exact "message differs"
grep -q 't=1700000000' hop1.eml && ok seal_time_option || bad seal_time_option "no t="

expect verify_one_hop_pass 0 "$bin" verify --dns-zone zone hop1.eml
[ "$(head -1 out)" = "arc=pass" ] && grep -q '^oldest-pass: 0$' out && grep -q '^instances: 1$' out &&
    ok verify_output_lines || bad verify_output_lines "$(cat out)"

# stdin works for both
"$bin" seal -d two.example -s s2 -k keys/s2.private --authserv-id mx.two.example --dns-zone zone <hop1.eml >hop2.eml 2>/dev/null
expect verify_stdin_two_hops 0 sh -c "\"$bin\" verify --dns-zone zone < hop2.eml"
grep -q '^instances: 2$' out && ok verify_counts_instances || bad verify_counts_instances "$(cat out)"

# ed25519 hop
expect seal_ed25519 0 "$bin" seal -d ed.example -s e1 -k keys/e1.private --authserv-id mx.ed.example --dns-zone zone hop2.eml
cp out hop3.eml
grep -q 'a=ed25519-sha256;' hop3.eml && ok seal_ed25519_alg || bad seal_ed25519_alg "no ed25519 a="
expect verify_ed25519_chain 0 "$bin" verify --dns-zone zone hop3.eml

# tampering after the last seal
sed 's/^Hello\./Hullo./' hop2.eml >tampered.eml
expect verify_tampered_fails 1 "$bin" verify --dns-zone zone tampered.eml
[ "$(head -1 out)" = "arc=fail" ] && ok verify_first_line_fail || bad verify_first_line_fail "$(head -1 out)"

# a key missing from the zone: fail, not temperror
grep -v '^s1\._domainkey' zone >zone-missing
expect verify_missing_key_fails 1 "$bin" verify --dns-zone zone-missing hop1.eml

# sealing over a failed chain: cv=fail; then never again
expect seal_over_failed_chain 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone tampered.eml
cp out cvfail.eml
head -6 cvfail.eml | tr -d '\r\n ' | grep -q 'cv=fail;' && ok seal_writes_cv_fail || bad seal_writes_cv_fail "$(head -6 cvfail.eml)"
expect seal_after_cv_fail_unchanged 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone cvfail.eml
cmp -s out cvfail.eml && grep -q 'cv=fail' err && ok seal_after_cv_fail_warns || bad seal_after_cv_fail_warns "$(cat err)"

# --headers literal and --cv-from-authres
{ printf 'Authentication-Results: mx.one.example; arc=pass (trusted upstream)\r\n'; cat msg.eml; } >ar.eml
expect seal_literal_headers 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone --headers from:subject:subject --cv-from-authres ar.eml
tr -d '\r\n ' <out | grep -q 'h=from:subject:subject;' && ok seal_h_is_literal || bad seal_h_is_literal "$(head -12 out)"
tr -d '\r\n ' <out | grep -q 'cv=pass;' && ok seal_cv_from_authres || bad seal_cv_from_authres "$(head -5 out)"

# LF-only messages: sealed with LF, and verify
tr -d '\r' <msg.eml >lf.eml
expect seal_lf_message 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone lf.eml
cp out lf-sealed.eml
grep -q $'\r' lf-sealed.eml && bad seal_lf_keeps_lf "CR found" || ok seal_lf_keeps_lf
expect verify_lf_message 0 "$bin" verify --dns-zone zone lf-sealed.eml

# 50 sets: the 51st seal is refused, message unchanged
cp msg.eml chain.eml
for i in $(seq 1 50); do
    "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone chain.eml >next.eml 2>/dev/null || break
    mv next.eml chain.eml
done
expect verify_fifty_sets_pass 0 "$bin" verify --dns-zone zone chain.eml
grep -q '^instances: 50$' out && ok verify_fifty_instances || bad verify_fifty_instances "$(cat out)"
expect seal_fifty_first_unchanged 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-zone zone chain.eml
cmp -s out chain.eml && grep -q '50 sets' err && ok seal_fifty_warns_unchanged || bad seal_fifty_warns_unchanged "$(cat err)"

# usage and input errors
expect verify_usage 64 "$bin" verify --bogus
expect verify_missing_file 66 "$bin" verify --dns-zone zone no-such-file.eml
expect verify_missing_zone 66 "$bin" verify --dns-zone no-such-zone msg.eml
expect seal_usage_missing_key 64 "$bin" seal -d one.example -s s1 --authserv-id x msg.eml
expect seal_unreadable_key 66 "$bin" seal -d one.example -s s1 -k no-such-key --authserv-id x msg.eml
printf 'this is not a header\r\n\r\nbody\r\n' >garbage.eml
expect verify_garbage_permerror 1 "$bin" verify --dns-zone zone garbage.eml
[ "$(head -1 out)" = "arc=permerror" ] && ok verify_first_line_permerror || bad verify_first_line_permerror "$(head -1 out)"
expect seal_garbage_not_sealed 65 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id x --dns-zone zone garbage.eml

# ---- keys from a real DNS server: unbound serving the keygen records ----
unbound=$(command -v unbound || echo /usr/sbin/unbound)
if [ ! -x "$unbound" ]; then
    if [ "${CI:-}" = true ]; then bad dns_server_tests "unbound not installed"; else echo "skip    dns_server_tests (unbound not installed)"; fi
else
    mkdir dns
    port=$(python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()')
    # one auth-zone per key domain: SOA, NS and the line keygen printed
    "$bin" keygen -d wrong.example -s s1 --bits 1024 --out dns >zw 2>/dev/null
    sed 's/^s1\._domainkey\.wrong\.example\./s1._domainkey.three.example./' zw >z4 # another key under three.example
    printf 'x._domainkey.four.example. IN TXT "v=DKIM1; k=rsa; p="\n' >z5 # revoked
    zones=""
    for pair in one.example:z1 two.example:z2 ed.example:z3 three.example:z4 four.example:z5; do
        d=${pair%%:*} f=${pair#*:}
        { printf '$TTL 300\n%s. IN SOA ns.%s. admin.%s. 1 7200 900 1209600 60\n%s. IN NS ns.%s.\n' "$d" "$d" "$d" "$d" "$d"; cat "$f"; } >"dns/$d.zone"
        zones="$zones
auth-zone:
  name: \"$d.\"
  zonefile: \"$work/dns/$d.zone\"
  for-downstream: yes
  for-upstream: no"
    done
    cat >dns/unbound.conf <<EOF2
server:
  interface: 127.0.0.1
  port: $port
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$work/dns"
  pidfile: ""
  logfile: "$work/dns/unbound.log"
  use-syslog: no
  log-queries: yes
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "example." nodefault
  local-zone: "refused.example." always_refuse
$zones
EOF2
    "$unbound" -d -c dns/unbound.conf >dns/unbound.out 2>&1 &
    ubpid=$!
    srv=127.0.0.1:$port
    for _ in $(seq 1 100); do
        "$bin" verify --dns-server "$srv" hop1.eml >/dev/null 2>&1 && break
        kill -0 "$ubpid" 2>/dev/null || break
        sleep 0.05
    done
    expect dns_verify_one_hop_pass 0 "$bin" verify --dns-server "$srv" hop1.eml
    [ "$(head -1 out)" = "arc=pass" ] && ok dns_verify_first_line_pass || bad dns_verify_first_line_pass "$(cat out; tail -3 dns/unbound.out)"
    expect dns_verify_three_hops_pass 0 "$bin" verify --dns-server "$srv" hop3.eml
    grep -q '^instances: 3$' out && ok dns_verify_counts_instances || bad dns_verify_counts_instances "$(cat out)"
    expect dns_verify_tampered_fails 1 "$bin" verify --dns-server "$srv" tampered.eml
    expect dns_seal_over_chain 0 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id mx.one.example --dns-server "$srv" hop3.eml
    cp out hop4.eml
    expect dns_verify_sealed_by_dns_keys 0 "$bin" verify --dns-server "$srv" hop4.eml
    grep -q '^instances: 4$' out && ok dns_verify_four_instances || bad dns_verify_four_instances "$(cat out)"
    # a key whose record is gone: NXDOMAIN is a missing key, fail (not temperror)
    sed 's/s=s1;/s=gone;/' hop1.eml >gone.eml
    expect dns_nxdomain_key_fails 1 "$bin" verify --dns-server "$srv" gone.eml
    # a server that refuses: temperror, exit 75, for verify and for seal (nothing written)
    sed 's/d=one\.example;/d=refused.example;/' hop1.eml >refused.eml
    expect dns_refused_is_temperror 75 "$bin" verify --dns-server "$srv" refused.eml
    [ "$(head -1 out)" = "arc=temperror" ] && ok dns_refused_first_line || bad dns_refused_first_line "$(cat out)"
    expect dns_seal_temperror_writes_nothing 75 "$bin" seal -d one.example -s s1 -k keys/s1.private --authserv-id x --dns-server "$srv" refused.eml
    [ ! -s out ] && ok dns_seal_temperror_empty_stdout || bad dns_seal_temperror_empty_stdout "$(head -3 out)"
    # a silent port: temperror after the timeouts
    silent=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    expect dns_no_server_is_temperror 75 "$bin" verify --dns-server "127.0.0.1:$silent" hop1.eml
    expect dns_server_and_zone_exclusive 64 "$bin" verify --dns-server "$srv" --dns-zone zone hop1.eml
    expect dns_server_bad_address 64 "$bin" verify --dns-server not-an-ip hop1.eml
    # one query per key, even for a chain sealed 3 times by 3 keys
    n_before=$(grep -c 's1._domainkey.one.example. TXT IN' dns/unbound.log)
    "$bin" verify --dns-server "$srv" hop2.eml >/dev/null 2>&1
    n_after=$(grep -c 's1._domainkey.one.example. TXT IN' dns/unbound.log)
    [ $((n_after - n_before)) -eq 1 ] && ok dns_one_query_per_key || bad dns_one_query_per_key "$((n_after - n_before)) queries"

    # keygen --check
    expect keygen_check_match 0 "$bin" keygen --check -d one.example -s s1 --out keys --dns-server "$srv"
    grep -q '^match: s1._domainkey.one.example' out && ok keygen_check_prints_match || bad keygen_check_prints_match "$(cat out)"
    expect keygen_check_ed25519_match 0 "$bin" keygen --check -d ed.example -s e1 -k keys/e1.private --dns-server "$srv"
    expect keygen_check_other_key 1 "$bin" keygen --check -d three.example -s s1 -k keys/s1.private --dns-server "$srv"
    grep -q '^mismatch:' out && ok keygen_check_prints_mismatch || bad keygen_check_prints_mismatch "$(cat out)"
    expect keygen_check_other_alg 1 "$bin" keygen --check -d ed.example -s e1 -k keys/s1.private --dns-server "$srv"
    expect keygen_check_revoked 1 "$bin" keygen --check -d four.example -s x -k keys/s1.private --dns-server "$srv"
    expect keygen_check_no_record 68 "$bin" keygen --check -d one.example -s nope -k keys/s1.private --dns-server "$srv"
    expect keygen_check_refused 75 "$bin" keygen --check -d refused.example -s s1 -k keys/s1.private --dns-server "$srv"
    expect keygen_check_zone_file 0 "$bin" keygen --check -d two.example -s s2 -k keys/s2.private --dns-zone zone
    expect keygen_check_missing_key_file 66 "$bin" keygen --check -d one.example -s s1 -k no-such.private --dns-server "$srv"
    expect keygen_check_usage_bits 64 "$bin" keygen --check -d one.example -s s1 --bits 2048
    expect keygen_server_needs_check 64 "$bin" keygen -d one.example -s s9 --dns-server "$srv"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
