#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/cli/run.sh ARCPROXY - the offline subcommands as a user runs them: keygen,
# seal, verify; their output formats and exit codes (docs/cli.md).
set -u
bin=$(readlink -f "${1:?usage: run.sh path/to/arcproxy}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
