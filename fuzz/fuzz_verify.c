/* SPDX-License-Identifier: MIT */
/*
 * fuzz_verify - libFuzzer driver for the whole engine (src/arc/arc.h): a message goes
 * through arc_msg_new (want_seal), arc_msg_feed in two chunks, arc_msg_finish, key
 * supply, arc_msg_verify at a fixed time, and arc_msg_seal.
 *
 * The input is a whole message (header section, empty line, body). A hash of the input
 * picks the point where it is split into two chunks (each copied into a heap buffer of
 * exactly its size so that ASan catches a read past it) and the sealing variants (key
 * type, canonicalizations, h= list, remote-ip, cv from A-R).
 *
 * Keys: every key request gets FUZZ_TEST_RECORD, the public half of a 1024-bit RSA TEST
 * KEY (selector fz, domain example.org; its private half was thrown away after sealing
 * the seeds in fuzz/corpus/verify/, so those seeds validate and the fuzzer starts from
 * passing chains); selector dummy gets the ARC test suite's record (SUITE_RECORD). A
 * few selectors stand for lookup outcomes instead: "missing*", "temp*", "perm*" (the
 * statuses), "revoked*" (empty p=), "bad*" (broken p=). The keys the driver seals with are made by arc_keygen in LLVMFuzzerInitialize (selectors
 * fzseal and fzed, domain seal.example): no private key is stored anywhere.
 *
 * Besides crashes and leaks it checks:
 *   - feed/finish give only 0, -ARC_EINVAL or -ARC_ERANGE; verify gives 0;
 *   - after supplying every requested key no request is left; an unknown key is ENOENT;
 *   - the verdict is consistent (result in range, instances 0..50, none => 0 sets,
 *     oldest_pass 0 or 2..instances on pass, reason NUL-terminated);
 *   - the verdict does not depend on the split: the message fed in one piece gives
 *     the same verdict and reason;
 *   - seal gives ARC_SEALED, ARC_SEAL_SKIPPED (only for cv=fail upstream or 50 sets)
 *     or -ARC_ETEMP (only after temperror); a new set is exactly three fields,
 *     ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results;
 *   - round trip: the sealed message validates again: pass (one more set) when the
 *     chain passed or there was none, fail with cv=fail otherwise (not with cv taken
 *     from Authentication-Results, which may claim anything).
 * Seeds: fuzz/corpus/verify/ (messages sealed by `arcproxy seal`, 1-3 sets, and a few
 * from the ARC test suite).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc/arc.h"
#include "arc/arc_int.h"
#include "arc/key.h"
#include "util/buf.h"
#include "util/err.h"

/* the verification time: 2023-11-14T22:13:20Z (the seeds were sealed with --time at it) */
#define FUZZ_NOW 1700000000

/* TEST KEY, public half only: `arcproxy keygen -d example.org -s fz --bits 1024`. */
#define FUZZ_TEST_RECORD                                                                           \
    "v=DKIM1; k=rsa; "                                                                             \
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDAt4iISYiTJkxYBN3q9KeGY1S3VuycDs1upWjDihP/sTEBHxPkAH" \
    "mbzRkZrta94i6VxuJ2XWLp/1E1qPUPLiTZm6+1iN+xmc0goSBs0iVFA8sEFuUFGlNL3LWTcFQa3Fms3ytrjTQVrPGiGA" \
    "bkuOqGB6F2siqMpZEohcyaWhzOOwIDAQAB"

/* the public key record of the ARC test suite (selector dummy, domain example.org), so
 * that the seeds taken from the suite validate too */
#define SUITE_RECORD                                                                               \
    "v=DKIM1; k=rsa; "                                                                             \
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/" \
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBf" \
    "O2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"

#define SEAL_DOMAIN  "seal.example"
#define SEAL_AUTHSRV "fuzz.example"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sealing keys made at start: [0] RSA 1024 (selector fzseal), [1] ed25519 (fzed) */
static struct arc_privkey *seal_key[2];
static char *seal_record[2];
static const char *const seal_selector[2] = {"fzseal", "fzed"};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const enum arc_alg alg[2] = {ARC_ALG_RSA_SHA256, ARC_ALG_ED25519_SHA256};
    for (int i = 0; i < 2; i++) {
        struct err e;
        char *pem = NULL;
        err_clear(&e);
        if (arc_keygen(alg[i], 1024, &pem, &seal_record[i], &e) < 0 ||
            arc_privkey_load_pem(pem, strlen(pem), &seal_key[i], &e) < 0) {
            fprintf(stderr, "fuzz_verify: cannot make a sealing key: %s\n", e.text);
            abort();
        }
        free(pem);
    }
    return 0;
}

static uint32_t
fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static int
has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* supply_keys - answer every key request; then none may be left. */
static void
supply_keys(struct arc_msg *m)
{
    struct arc_keyreq req[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(m, req, ARC_MAX_KEYREQS);
    if (n > ARC_MAX_KEYREQS)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *s = req[i].selector, *d = req[i].domain;
        enum arc_key_status st = ARC_KEY_FOUND;
        const char *txt = FUZZ_TEST_RECORD;
        if (!s || !d)
            abort();
        if (strcasecmp(d, SEAL_DOMAIN) == 0 && strcasecmp(s, seal_selector[0]) == 0)
            txt = seal_record[0];
        else if (strcasecmp(d, SEAL_DOMAIN) == 0 && strcasecmp(s, seal_selector[1]) == 0)
            txt = seal_record[1];
        else if (strcasecmp(s, "dummy") == 0)
            txt = SUITE_RECORD;
        else if (has_prefix(s, "missing"))
            st = ARC_KEY_MISSING;
        else if (has_prefix(s, "temp"))
            st = ARC_KEY_TEMPFAIL;
        else if (has_prefix(s, "perm"))
            st = ARC_KEY_PERMFAIL;
        else if (has_prefix(s, "revoked"))
            txt = "v=DKIM1; k=rsa; p=";
        else if (has_prefix(s, "bad"))
            txt = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDA";
        size_t tn = st == ARC_KEY_FOUND ? strlen(txt) : 0;
        char *copy = malloc(tn ? tn : 1);
        if (!copy)
            abort();
        memcpy(copy, txt, tn);
        if (arc_msg_key_supply(m, s, d, st, st == ARC_KEY_FOUND ? copy : NULL, tn) != 0)
            abort();
        free(copy);
    }
    if (arc_msg_keyreqs(m, req, ARC_MAX_KEYREQS) != 0)
        abort();
    if (arc_msg_key_supply(m, "no-such-selector-", "no-such-domain-", ARC_KEY_MISSING, NULL, 0) !=
        -ARC_ENOENT)
        abort();
}

static void
check_verdict(const struct arc_verdict *v)
{
    if ((int)v->result < ARC_RESULT_NONE || v->result > ARC_RESULT_PERMERROR)
        abort();
    if (v->instances < 0 || v->instances > ARC_MAX_INSTANCE)
        abort();
    if (v->result == ARC_RESULT_NONE && v->instances != 0)
        abort();
    if (v->result == ARC_RESULT_PASS &&
        (v->oldest_pass == 1 || v->oldest_pass < 0 || v->oldest_pass > v->instances))
        abort();
    if (!memchr(v->reason, '\0', sizeof v->reason))
        abort();
    (void)arc_result_name(v->result);
    (void)arc_cv_name(v->result);
}

/* run - a new arc_msg fed p[0..split) and p[split..n) (exact-size copies), finished, keys
 * supplied and verified. 0 with *mp and *v set, or the feed/finish error. */
static int
run(const char *p, size_t n, size_t split, enum arc_canon seal_bc, struct arc_msg **mp,
    struct arc_verdict *v)
{
    struct arc_opts o;
    arc_opts_default(&o);
    o.want_seal = 1;
    o.seal_body_canon = seal_bc;
    struct arc_msg *m = arc_msg_new(&o);
    char *a = malloc(split ? split : 1), *b = malloc(n - split ? n - split : 1);
    if (!m || !a || !b)
        abort();
    memcpy(a, p, split);
    memcpy(b, p + split, n - split);
    struct err e;
    err_clear(&e);
    int rc = arc_msg_feed(m, a, split, &e);
    if (rc == 0)
        rc = arc_msg_feed(m, b, n - split, &e);
    if (rc == 0)
        rc = arc_msg_finish(m, &e);
    free(a);
    free(b);
    if (rc != 0) {
        if ((rc != -ARC_EINVAL && rc != -ARC_ERANGE) || e.code != -rc)
            abort();
        arc_msg_free(m);
        return rc;
    }
    if (arc_msg_finish(m, &e) != 0) /* a second finish is harmless */
        abort();
    supply_keys(m);
    if (arc_msg_verify(m, FUZZ_NOW, v, &e) != 0)
        abort();
    check_verdict(v);
    *mp = m;
    return 0;
}

static int
same_verdict(const struct arc_verdict *a, const struct arc_verdict *b)
{
    return a->result == b->result && a->instances == b->instances &&
           a->oldest_pass == b->oldest_pass && a->newest_cv_fail == b->newest_cv_fail &&
           a->parse_error == b->parse_error && strcmp(a->reason, b->reason) == 0;
}

/* check_new_set - out holds exactly ARC-Seal, ARC-Message-Signature, ARC-AAR. */
static void
check_new_set(const struct buf *out)
{
    struct arc_field f[4];
    size_t nf = 0;
    if (out->len < 2 || out->data[out->len - 2] != '\r' || out->data[out->len - 1] != '\n')
        abort();
    if (arc_hdr_split(buf_span(out), f, 4, &nf) != 0 || nf != 3)
        abort();
    if (!arc_hdr_name_is(&f[0], "ARC-Seal") || !arc_hdr_name_is(&f[1], "ARC-Message-Signature") ||
        !arc_hdr_name_is(&f[2], "ARC-Authentication-Results"))
        abort();
}

/* round_trip - the new set (LF line ends if the message uses them) on top of the message
 * validates as expected. */
static void
round_trip(const struct buf *set, int lf, const char *p, size_t n, enum arc_canon bc,
           const struct arc_verdict *before)
{
    struct buf msg;
    buf_init(&msg, 0);
    for (size_t i = 0; i < set->len; i++) {
        if (lf && set->data[i] == '\r' && i + 1 < set->len && set->data[i + 1] == '\n')
            continue;
        buf_putc(&msg, set->data[i]);
    }
    buf_append(&msg, p, n);
    struct arc_msg *m = NULL;
    struct arc_verdict v;
    int rc = run(msg.data, msg.len, msg.len, bc, &m, &v);
    if (rc == -ARC_ERANGE) { /* three more fields or bytes may pass a limit */
        buf_free(&msg);
        return;
    }
    if (rc != 0)
        abort();
    if (before->result == ARC_RESULT_PASS || before->result == ARC_RESULT_NONE) {
        if (v.result != ARC_RESULT_PASS || v.instances != before->instances + 1) {
            fprintf(stderr, "round trip: %s -> %s (%s)\n", arc_result_name(before->result),
                    arc_result_name(v.result), v.reason);
            abort();
        }
    } else if (v.result != ARC_RESULT_FAIL || !v.newest_cv_fail) {
        fprintf(stderr, "round trip after %s: %s (%s)\n", arc_result_name(before->result),
                arc_result_name(v.result), v.reason);
        abort();
    }
    arc_msg_free(m);
    buf_free(&msg);
}

/* seal - a new set with variants picked by bits of h; the body canonicalization must be
 * the one the message was opened with (opts.seal_body_canon). */
static void
seal(struct arc_msg *m, uint32_t h, enum arc_canon bc, const char *p, size_t n,
     const struct arc_verdict *v)
{
    static const char *const literal[] = {"From", "To", "Subject", "Date", "From"};
    int k = (h >> 1) & 1;
    struct arc_signer s;
    memset(&s, 0, sizeof s);
    s.domain = SEAL_DOMAIN;
    s.selector = seal_selector[k];
    s.authserv_id = SEAL_AUTHSRV;
    s.key = seal_key[k];
    s.hdr_canon = (h >> 2) & 1 ? ARC_CANON_SIMPLE : ARC_CANON_RELAXED;
    s.body_canon = bc;
    s.timestamp = (h >> 3) & 1 ? FUZZ_NOW : -1;
    s.remote_ip = (h >> 4) & 1 ? "192.0.2.1" : NULL;
    if ((h >> 5) & 1) {
        s.headers = literal;
        s.nheaders = sizeof literal / sizeof *literal;
        s.headers_literal = 1;
    }
    s.cv_from_authres = ((h >> 6) & 3) == 0;
    struct buf out;
    buf_init(&out, 0);
    struct err e;
    err_clear(&e);
    int rc = arc_msg_seal(m, &s, v, &out, &e);
    if (rc == ARC_SEALED) {
        check_new_set(&out);
        if (!s.cv_from_authres)
            round_trip(&out, arc_msg_uses_lf(m), p, n, s.body_canon, v);
    } else if (rc == ARC_SEAL_SKIPPED) {
        if (!v->newest_cv_fail && v->instances < ARC_MAX_INSTANCE)
            abort();
    } else if (rc != -ARC_ETEMP || v->result != ARC_RESULT_TEMPERROR) {
        fprintf(stderr, "seal: %d %s\n", rc, e.text);
        abort();
    }
    buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t h = fnv1a(data, size);
    size_t split = h % (size + 1);
    enum arc_canon bc = h & 1 ? ARC_CANON_SIMPLE : ARC_CANON_RELAXED;
    const char *p = (const char *)data;
    struct arc_msg *m = NULL;
    struct arc_verdict v;
    int rc = run(p, size, split, bc, &m, &v);
    if (split != 0 && split != size) {
        struct arc_msg *whole = NULL;
        struct arc_verdict vw;
        int rcw = run(p, size, size, bc, &whole, &vw);
        if (rcw != rc || (rc == 0 && !same_verdict(&v, &vw))) {
            fprintf(stderr, "split at %zu: %d %s (%s), whole: %d %s (%s)\n", split, rc,
                    rc ? "-" : arc_result_name(v.result), rc ? "" : v.reason, rcw,
                    rcw ? "-" : arc_result_name(vw.result), rcw ? "" : vw.reason);
            abort();
        }
        arc_msg_free(whole);
    }
    if (rc == 0)
        seal(m, h >> 16, bc, p, size, &v);
    arc_msg_free(m);
    return 0;
}
