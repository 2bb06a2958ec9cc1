/* SPDX-License-Identifier: MIT */
/*
 * test_chain - chain structure and validation cases the conformance suite does not
 * cover (its SOURCE.md lists them): 50/51 sets, gaps, duplicates, reordered sets,
 * cv=fail chains, revoked and too-small keys, DNS temperror, ed25519, LF-only
 * messages, "ARC-Seal:i=2;" with no space, what a new set looks like.
 * Chains are built at test time with our own sealer and keys made by arc_keygen; the
 * key "DNS" is a table in this file (a fake is fine inside a unit test of one module).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc/arc.h"
#include "arc/key.h"
#include "test.h"
#include "util/buf.h"

#define NOW 1700000000

struct tkey {
    const char *sel, *dom;
    struct arc_privkey *k;
    char *record;
};

static struct tkey keys[4];
static size_t nkeys;
static const char *override_record; /* when set, every lookup returns this */
static enum arc_key_status override_status = ARC_KEY_FOUND;
static int use_override_status;
static unsigned min_bits = 1024;

static struct tkey *
key_make(const char *sel, const char *dom, enum arc_alg alg, unsigned bits)
{
    char *pem;
    struct err e;
    struct tkey *t = &keys[nkeys++];
    t->sel = sel;
    t->dom = dom;
    ASSERT_EQ_INT(arc_keygen(alg, bits, &pem, &t->record, &e), 0);
    ASSERT_EQ_INT(arc_privkey_load_pem(pem, strlen(pem), &t->k, &e), 0);
    free(pem);
    return t;
}

static void
supply_keys(struct arc_msg *m)
{
    struct arc_keyreq reqs[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(m, reqs, ARC_MAX_KEYREQS);
    for (size_t i = 0; i < n; i++) {
        const char *rec = override_record;
        enum arc_key_status st = use_override_status ? override_status : ARC_KEY_MISSING;
        for (size_t k = 0; !rec && k < nkeys; k++) {
            if (strcmp(keys[k].sel, reqs[i].selector) == 0 &&
                strcmp(keys[k].dom, reqs[i].domain) == 0)
                rec = keys[k].record;
        }
        if (rec && !use_override_status)
            st = ARC_KEY_FOUND;
        arc_msg_key_supply(m, reqs[i].selector, reqs[i].domain, st, rec ? rec : "",
                           rec ? strlen(rec) : 0);
    }
}

static struct arc_msg *
load(const char *msg, size_t n, int want_seal, struct arc_verdict *v)
{
    struct arc_opts o;
    struct err e;
    arc_opts_default(&o);
    o.want_seal = want_seal;
    o.min_rsa_bits = min_bits;
    struct arc_msg *m = arc_msg_new(&o);
    ASSERT_EQ_INT(arc_msg_feed(m, msg, n, &e), 0);
    ASSERT_EQ_INT(arc_msg_finish(m, &e), 0);
    supply_keys(m);
    ASSERT_EQ_INT(arc_msg_verify(m, NOW, v, &e), 0);
    return m;
}

static enum arc_result
verify(const char *msg, struct arc_verdict *v)
{
    struct arc_verdict tmp;
    if (!v)
        v = &tmp;
    arc_msg_free(load(msg, strlen(msg), 0, v));
    return v->result;
}

/* seal - a new message: the new set on top of msg; returns seal's code in *rcp. */
static int trust_authres; /* seal with cv from our Authentication-Results arc= */

static char *
seal_rc(const char *msg, const struct tkey *k, int *rcp)
{
    struct arc_verdict v;
    struct arc_msg *m = load(msg, strlen(msg), 1, &v);
    struct arc_signer s;
    memset(&s, 0, sizeof s);
    s.domain = k->dom;
    s.selector = k->sel;
    s.authserv_id = "mx.test.example";
    s.key = k->k;
    s.hdr_canon = s.body_canon = ARC_CANON_RELAXED;
    s.timestamp = NOW;
    s.remote_ip = "192.0.2.7";
    s.cv_from_authres = trust_authres;
    struct buf out;
    struct err e;
    buf_init(&out, 0);
    err_clear(&e);
    *rcp = arc_msg_seal(m, &s, &v, &out, &e);
    buf_puts(&out, msg);
    arc_msg_free(m);
    return buf_take(&out, NULL);
}

static char *
seal(const char *msg, const struct tkey *k)
{
    int rc;
    char *r = seal_rc(msg, k, &rc);
    ASSERT_EQ_INT(rc, ARC_SEALED);
    return r;
}

static const char base_msg[] = "From: Alice <alice@a.example>\r\n"
                               "To: list@l.example\r\n"
                               "Subject: hello\r\n"
                               "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                               "Message-ID: <1@a.example>\r\n"
                               "\r\n"
                               "Body line one.\r\n"
                               "Body line two.\r\n";

/* chain - n hops by the first key. */
static char *
chain(int n)
{
    char *m = strdup(base_msg);
    for (int i = 0; i < n; i++) {
        char *next = seal(m, &keys[0]);
        free(m);
        m = next;
    }
    return m;
}

static void
setup(void)
{
    key_make("s1", "one.example", ARC_ALG_RSA_SHA256, 1024);
    key_make("s2", "two.example", ARC_ALG_RSA_SHA256, 2048);
}

/* find_set - [start, end) of the field "Name: ...i=N;" (with its folded lines). */
static int
find_field(const char *msg, const char *name, int inst, size_t *start, size_t *end)
{
    char want[32];
    snprintf(want, sizeof want, "i=%d;", inst);
    size_t pos = 0, len = strlen(msg);
    while (pos < len) {
        const char *eol = strstr(msg + pos, "\r\n");
        size_t fend = eol ? (size_t)(eol - msg) + 2 : len;
        while (fend < len && (msg[fend] == ' ' || msg[fend] == '\t')) {
            eol = strstr(msg + fend, "\r\n");
            fend = eol ? (size_t)(eol - msg) + 2 : len;
        }
        if (msg[pos] == '\r')
            return 0;
        if (strncmp(msg + pos, name, strlen(name)) == 0 && msg[pos + strlen(name)] == ':') {
            char *field = strndup(msg + pos, fend - pos);
            char *squeezed = malloc(strlen(field) + 1), *q = squeezed;
            for (char *p = field; *p; p++)
                if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                    *q++ = *p;
            *q = 0;
            int hit = strstr(squeezed, want) != NULL &&
                      (strstr(squeezed, want)[-1] == ':' || strstr(squeezed, want)[-1] == ';');
            free(field);
            free(squeezed);
            if (hit) {
                *start = pos;
                *end = fend;
                return 1;
            }
        }
        pos = fend;
    }
    return 0;
}

static char *
cut(const char *msg, size_t start, size_t end)
{
    size_t len = strlen(msg);
    char *r = malloc(len - (end - start) + 1);
    memcpy(r, msg, start);
    memcpy(r + start, msg + end, len - end + 1);
    return r;
}

static void
one_hop_passes(void)
{
    setup();
    char *m = chain(1);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_PASS);
    ASSERT_EQ_INT(v.instances, 1);
    ASSERT_EQ_INT(v.oldest_pass, 0);
    ASSERT(strstr(m, "cv=none;") != NULL);
    free(m);
}

static void
no_chain_is_none(void)
{
    setup();
    ASSERT_EQ_INT(verify(base_msg, NULL), ARC_RESULT_NONE);
}

static void
new_set_is_on_top_in_order(void)
{
    setup();
    char *m = chain(1);
    ASSERT(strncmp(m, "ARC-Seal:", 9) == 0);
    char *ams = strstr(m, "\r\nARC-Message-Signature:");
    char *aar = strstr(m, "\r\nARC-Authentication-Results:");
    char *from = strstr(m, "\r\nFrom:");
    ASSERT(ams && aar && (!from || aar < from) && ams < aar);
    ASSERT(strstr(m, "arc=none smtp.remote-ip=192.0.2.7") != NULL);
    ASSERT(strstr(m, "c=relaxed/relaxed;") != NULL);
    ASSERT(strstr(m, "t=1700000000") != NULL);
    /* every line within 78 columns except the AMS b= line */
    const char *p = m, *end = strstr(m, "\r\nFrom:");
    while (p < end) {
        const char *eol = strstr(p, "\r\n");
        if (strncmp(p, " b=", 3) != 0 || !strstr(p, ";\r\n") || eol - p < 100)
            ASSERT((size_t)(eol - p) <= 78 || strncmp(p, " b=", 3) == 0);
        p = eol + 2;
    }
    free(m);
}

static void
three_hops_pass(void)
{
    setup();
    char *m = chain(3);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_PASS);
    ASSERT_EQ_INT(v.instances, 3);
    ASSERT_EQ_INT(v.oldest_pass, 0);
    ASSERT(strstr(m, "i=3;") != NULL);
    free(m);
}

static void
mixed_keys_and_ed25519_pass(void)
{
    setup();
    const struct tkey *ed = key_make("ed", "ed.example", ARC_ALG_ED25519_SHA256, 0);
    char *a = seal(base_msg, &keys[0]);
    char *b = seal(a, ed);
    char *c = seal(b, &keys[1]);
    ASSERT(strstr(b, "a=ed25519-sha256;") != NULL);
    ASSERT_EQ_INT(verify(c, NULL), ARC_RESULT_PASS);
    free(a), free(b), free(c);
}

static void
forwarder_edit_keeps_chain_with_oldest_pass(void)
{
    setup();
    char *a = seal(base_msg, &keys[0]);
    /* the list's MTA verifies what it received (pass) and records it; then the list
     * rewrites the subject, adds a footer, and seals on the strength of that record */
    ASSERT_EQ_INT(verify(a, NULL), ARC_RESULT_PASS);
    char *s = strstr(a, "Subject: hello");
    ASSERT(s);
    size_t len = strlen(a);
    char *ed = malloc(len + 128);
    strcpy(ed, "Authentication-Results: mx.test.example; arc=pass\r\n");
    size_t at = strlen(ed);
    memcpy(ed + at, a, (size_t)(s - a));
    strcpy(ed + at + (s - a), "Subject: [list] hello");
    strcat(ed, s + strlen("Subject: hello"));
    strcat(ed, "-- \r\nlist footer\r\n");
    trust_authres = 1;
    char *b = seal(ed, &keys[1]);
    ASSERT(strstr(b, "cv=pass;") != NULL);
    struct arc_verdict v;
    verify(b, &v);
    if (v.result != ARC_RESULT_PASS)
        TEST_FAIL("got %d: %s\n%s", v.result, v.reason, b);
    ASSERT_EQ_INT(v.oldest_pass, 2);
    free(a), free(ed), free(b);
}

static void
tamper_after_last_seal_fails(void)
{
    setup();
    char *m = chain(2);
    char *p = strstr(m, "Body line two.");
    p[0] = 'b';
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "AMS i=2") != NULL);
    free(m);
}

static void
tampered_seal_fails(void)
{
    setup();
    char *m = chain(2);
    size_t s, e;
    ASSERT(find_field(m, "ARC-Authentication-Results", 1, &s, &e));
    char *x = strstr(m + s, "mx.test.example");
    x[0] = 'M'; /* relaxed canonicalization keeps case in values */
    ASSERT_EQ_INT(verify(m, NULL), ARC_RESULT_FAIL);
    free(m);
}

static void
gap_fails(void)
{
    setup();
    char *m = chain(3);
    /* drop the whole set i=2 */
    const char *names[] = {"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"};
    for (int k = 0; k < 3; k++) {
        size_t s, e;
        ASSERT(find_field(m, names[k], 2, &s, &e));
        char *n = cut(m, s, e);
        free(m);
        m = n;
    }
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "i=2") != NULL);
    free(m);
}

static void
duplicate_set_member_fails(void)
{
    setup();
    char *m = chain(2);
    size_t s, e;
    ASSERT(find_field(m, "ARC-Message-Signature", 1, &s, &e));
    size_t len = strlen(m);
    char *d = malloc(len + (e - s) + 1);
    memcpy(d, m, e);
    memcpy(d + e, m + s, e - s);
    memcpy(d + e + (e - s), m + e, len - e + 1);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(d, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "more than one") != NULL);
    free(m), free(d);
}

static void
reordered_sets_still_pass(void)
{
    setup();
    char *m = chain(3);
    /* move every field of set 3 to just above the body's blank line */
    const char *names[] = {"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"};
    for (int k = 0; k < 3; k++) {
        size_t s, e;
        ASSERT(find_field(m, names[k], 3, &s, &e));
        char *field = strndup(m + s, e - s);
        char *n = cut(m, s, e);
        char *blank = strstr(n, "\r\n\r\n");
        size_t at = (size_t)(blank - n) + 2, len = strlen(n);
        char *r = malloc(len + strlen(field) + 1);
        memcpy(r, n, at);
        strcpy(r + at, field);
        strcat(r, n + at);
        free(m), free(n), free(field);
        m = r;
    }
    ASSERT(strncmp(m, "ARC-Seal:", 9) == 0); /* set 2 is on top now */
    ASSERT_EQ_INT(verify(m, NULL), ARC_RESULT_PASS);
    free(m);
}

static void
fifty_sets_pass_and_are_not_sealed_again(void)
{
    setup();
    char *m = chain(50);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_PASS);
    ASSERT_EQ_INT(v.instances, 50);
    int rc;
    char *again = seal_rc(m, &keys[0], &rc);
    ASSERT_EQ_INT(rc, ARC_SEAL_SKIPPED);
    ASSERT_EQ_INT(strcmp(again, m), 0);
    free(m), free(again);
}

static void
fifty_one_sets_fail(void)
{
    setup();
    char *m = chain(50);
    /* add a copy of set 50 claiming i=51 */
    const char *names[] = {"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"};
    struct buf b;
    buf_init(&b, 0);
    for (int k = 0; k < 3; k++) {
        size_t s, e;
        ASSERT(find_field(m, names[k], 50, &s, &e));
        char *f = strndup(m + s, e - s);
        char *i = strstr(f, "i=50;");
        i[2] = '5', i[3] = '1';
        buf_puts(&b, f);
        free(f);
    }
    buf_puts(&b, m);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(b.data, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "more than 50") != NULL);
    free(m);
    buf_free(&b);
}

static void
cv_fail_chain_fails_and_is_not_sealed(void)
{
    setup();
    char *a = chain(1);
    size_t s, e;
    ASSERT(find_field(a, "ARC-Authentication-Results", 1, &s, &e));
    strstr(a + s, "mx.test.example")[0] = 'M'; /* seal 1 no longer verifies */
    int rc;
    char *b = seal_rc(a, &keys[1], &rc);
    ASSERT_EQ_INT(rc, ARC_SEALED);
    ASSERT(strstr(b, "cv=fail;") != NULL);
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(b, &v), ARC_RESULT_FAIL);
    ASSERT_EQ_INT(v.newest_cv_fail, 1);
    char *c = seal_rc(b, &keys[0], &rc);
    ASSERT_EQ_INT(rc, ARC_SEAL_SKIPPED);
    free(a), free(b), free(c);
}

static void
revoked_key_fails(void)
{
    setup();
    char *m = chain(1);
    override_record = "v=DKIM1; k=rsa; p=";
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "revoked") != NULL);
    free(m);
}

static void
key_below_minimum_fails(void)
{
    setup();
    char *m = chain(1); /* sealed with a 1024-bit key */
    min_bits = 2048;
    struct arc_verdict v;
    ASSERT_EQ_INT(verify(m, &v), ARC_RESULT_FAIL);
    ASSERT(strstr(v.reason, "bits") != NULL);
    free(m);
}

static void
missing_key_fails(void)
{
    setup();
    char *m = chain(1);
    use_override_status = 1;
    override_status = ARC_KEY_MISSING;
    ASSERT_EQ_INT(verify(m, NULL), ARC_RESULT_FAIL);
    free(m);
}

static void
dns_temperror_is_temperror_not_fail(void)
{
    setup();
    char *m = chain(2);
    use_override_status = 1;
    override_status = ARC_KEY_TEMPFAIL;
    ASSERT_EQ_INT(verify(m, NULL), ARC_RESULT_TEMPERROR);
    int rc;
    char *again = seal_rc(m, &keys[0], &rc);
    ASSERT_EQ_INT(rc, -ARC_ETEMP);
    free(m), free(again);
}

static void
no_space_after_colon_passes(void)
{
    setup();
    char *m = chain(2);
    char *p = strstr(m, "ARC-Seal: ");
    memmove(p + 9, p + 10, strlen(p + 10) + 1); /* "ARC-Seal:a=..." */
    ASSERT(strncmp(m, "ARC-Seal:a=", 11) == 0);
    ASSERT_EQ_INT(verify(m, NULL), ARC_RESULT_PASS);
    free(m);
}

static void
lf_only_message_verifies(void)
{
    setup();
    char *m = chain(2);
    char *lf = malloc(strlen(m) + 1), *q = lf;
    for (char *p = m; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            *q++ = *p;
    *q = 0;
    ASSERT_EQ_INT(verify(lf, NULL), ARC_RESULT_PASS);
    free(m), free(lf);
}

static void
eight_bit_header_and_body_pass(void)
{
    setup();
    static const char msg[] = "From: J\xc3\xbcrgen <j@a.example>\r\n"
                              "Subject: caf\xe9 \xff\xfe\r\n"
                              "\r\n"
                              "Gr\xfc\xdf"
                              "e\r\n\xc3\xa9t\xc3\xa9\r\n";
    char *a = seal(msg, &keys[0]);
    char *b = seal(a, &keys[1]);
    ASSERT_EQ_INT(verify(b, NULL), ARC_RESULT_PASS);
    free(a), free(b);
}

static void
empty_body_and_no_final_crlf_pass(void)
{
    setup();
    const char *msgs[] = {"From: a@a.example\r\nSubject: x\r\n\r\n",
                          "From: a@a.example\r\nSubject: x\r\n",
                          "From: a@a.example\r\n\r\nno final line end"};
    for (size_t i = 0; i < 3; i++) {
        char *a = seal(msgs[i], &keys[0]);
        char *b = seal(a, &keys[1]);
        ASSERT_EQ_INT(verify(b, NULL), ARC_RESULT_PASS);
        free(a), free(b);
    }
}

static void
aar_merges_our_authres(void)
{
    setup();
    static const char msg[] = "Authentication-Results: mx.test.example; spf=pass "
                              "smtp.mailfrom=a.example;\r\n dkim=pass header.d=a.example\r\n"
                              "Authentication-Results: other.example; spf=fail\r\n"
                              "From: a@a.example\r\n\r\nhi\r\n";
    char *a = seal(msg, &keys[0]);
    char *aar = strstr(a, "ARC-Authentication-Results:");
    char *end = strstr(aar, "\r\nAuthentication-Results:");
    *end = 0;
    ASSERT(strstr(aar, "spf=pass smtp.mailfrom=a.example") != NULL);
    ASSERT(strstr(aar, "dkim=pass header.d=a.example") != NULL);
    ASSERT(strstr(aar, "spf=fail") == NULL);
    ASSERT(strstr(aar, "arc=none") != NULL);
    free(a);
}

static void
header_limit_is_an_error(void)
{
    struct arc_opts o;
    struct err e;
    arc_opts_default(&o);
    o.max_header_bytes = 64;
    struct arc_msg *m = arc_msg_new(&o);
    char big[200];
    memset(big, 'x', sizeof big);
    memcpy(big, "Subject: ", 9);
    ASSERT_EQ_INT(arc_msg_feed(m, big, sizeof big, &e), -ARC_ERANGE);
    arc_msg_free(m);
    /* a small header with a big body in one chunk is fine */
    m = arc_msg_new(&o);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "From: a@a.example\r\n\r\n");
    for (int i = 0; i < 10000; i++)
        buf_puts(&b, "body body body\r\n");
    ASSERT_EQ_INT(arc_msg_feed(m, b.data, b.len, &e), 0);
    ASSERT_EQ_INT(arc_msg_finish(m, &e), 0);
    arc_msg_free(m);
    buf_free(&b);
}

static const struct test_case cases[] = {
    {"no_chain_is_none", no_chain_is_none},
    {"one_hop_passes", one_hop_passes},
    {"new_set_is_on_top_in_order", new_set_is_on_top_in_order},
    {"three_hops_pass", three_hops_pass},
    {"mixed_keys_and_ed25519_pass", mixed_keys_and_ed25519_pass},
    {"forwarder_edit_keeps_chain_with_oldest_pass", forwarder_edit_keeps_chain_with_oldest_pass},
    {"tamper_after_last_seal_fails", tamper_after_last_seal_fails},
    {"tampered_seal_fails", tampered_seal_fails},
    {"gap_fails", gap_fails},
    {"duplicate_set_member_fails", duplicate_set_member_fails},
    {"reordered_sets_still_pass", reordered_sets_still_pass},
    {"fifty_sets_pass_and_are_not_sealed_again", fifty_sets_pass_and_are_not_sealed_again},
    {"fifty_one_sets_fail", fifty_one_sets_fail},
    {"cv_fail_chain_fails_and_is_not_sealed", cv_fail_chain_fails_and_is_not_sealed},
    {"revoked_key_fails", revoked_key_fails},
    {"key_below_minimum_fails", key_below_minimum_fails},
    {"missing_key_fails", missing_key_fails},
    {"dns_temperror_is_temperror_not_fail", dns_temperror_is_temperror_not_fail},
    {"no_space_after_colon_passes", no_space_after_colon_passes},
    {"lf_only_message_verifies", lf_only_message_verifies},
    {"eight_bit_header_and_body_pass", eight_bit_header_and_body_pass},
    {"empty_body_and_no_final_crlf_pass", empty_body_and_no_final_crlf_pass},
    {"aar_merges_our_authres", aar_merges_our_authres},
    {"header_limit_is_an_error", header_limit_is_an_error},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
