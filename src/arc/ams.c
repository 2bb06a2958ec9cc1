/* SPDX-License-Identifier: MIT */
/*
 * ams - ARC-Message-Signature (RFC 8617 §4.1.2): header selection and hashing
 * (RFC 6376 §5.4.2, bottom-up), verification, and the signature check shared with
 * ARC-Seal (key lookup result -> verdict).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../util/xalloc.h"
#include "b64.h"
#include "arc_int.h"

int
arc_why(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    return 0;
}

int
arc_is_domain(struct span s)
{
    if (s.n == 0 || s.n > 253)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_';
        if (!ok || ++label > 63)
            return 0;
    }
    return label > 0;
}

struct arc_bodyhash *
arc_msg_bodyhash(struct arc_msg *m, enum arc_canon c, int64_t limit)
{
    for (size_t i = 0; i < m->nbh; i++) {
        if (m->bh[i]->canon == c && m->bh[i]->limit == limit)
            return m->bh[i];
    }
    if (m->nbh == ARC_MAX_BODYHASH)
        return NULL;
    struct arc_bodyhash *bh = xmalloc(sizeof *bh);
    arc_bodyhash_init(bh, c, limit);
    m->bh[m->nbh++] = bh;
    return bh;
}

static int
parse_canon1(struct span s, enum arc_canon *c)
{
    if (span_eq(s, SPAN_LIT("simple")))
        *c = ARC_CANON_SIMPLE;
    else if (span_eq(s, SPAN_LIT("relaxed")))
        *c = ARC_CANON_RELAXED;
    else
        return -ARC_EINVAL;
    return 0;
}

/* arc_ams_parse_canon - c= of an AMS, RFC 6376: absent means simple/simple, a c= with
 * only the header part means a simple body. An AMS without c= is also tried as
 * relaxed/relaxed (see arc_ams_verify): the ARC implementations in use (dkimpy, mailauth)
 * and the ARC conformance suite (ams_fields_c_na) seal and read it so. */
int
arc_ams_parse_canon(const struct span *c, enum arc_canon *hc, enum arc_canon *bc)
{
    *hc = *bc = ARC_CANON_SIMPLE;
    if (!c)
        return 0;
    const char *slash = memchr(c->p, '/', c->n);
    if (!slash)
        return parse_canon1(*c, hc);
    size_t k = (size_t)(slash - c->p);
    if (parse_canon1((struct span){c->p, k}, hc) < 0)
        return -ARC_EINVAL;
    return parse_canon1((struct span){slash + 1, c->n - k - 1}, bc);
}

/* parse_uint - 1*DIGIT into *out (saturating at INT64_MAX); -1 if not digits. */
static int
parse_uint(struct span s, int64_t *out)
{
    if (s.n == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        int d = s.p[i] - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

/* next_hname - the next name of an h= list (FWS around ':' allowed). */
static int
next_hname(struct span *list, struct span *name)
{
    while (list->n && (list->p[0] == ':' || list->p[0] == ' ' || list->p[0] == '\t' ||
                       list->p[0] == '\r' || list->p[0] == '\n')) {
        list->p++;
        list->n--;
    }
    if (!list->n)
        return 0;
    size_t k = 0;
    while (k < list->n && list->p[k] != ':')
        k++;
    *name = span_trim((struct span){list->p, k});
    list->p += k;
    list->n -= k;
    return 1;
}

int
arc_hash_headers(const struct arc_field *const *fields, size_t n, enum arc_canon c,
                 struct span hlist, EVP_MD_CTX *md, struct buf *scratch)
{
    unsigned char usedmap[1024];
    unsigned char *used = n <= sizeof usedmap ? usedmap : xcalloc(n, 1);
    memset(used, 0, n <= sizeof usedmap ? n : 0);
    struct span name;
    int rc = 0;
    while (next_hname(&hlist, &name)) {
        for (size_t i = n; i-- > 0;) {
            if (used[i] || !span_caseeq(fields[i]->name, name))
                continue;
            used[i] = 1;
            buf_reset(scratch);
            if ((rc = arc_canon_header(c, fields[i], 0, scratch)) < 0)
                goto out;
            EVP_DigestUpdate(md, scratch->data, scratch->len);
            break;
        }
    }
out:
    if (used != usedmap)
        free(used);
    return rc;
}

static int
parse_alg(struct span a, enum arc_alg *alg)
{
    if (span_eq(a, SPAN_LIT("rsa-sha256")))
        *alg = ARC_ALG_RSA_SHA256;
    else if (span_eq(a, SPAN_LIT("ed25519-sha256")))
        *alg = ARC_ALG_ED25519_SHA256;
    else
        return -ARC_EINVAL;
    return 0;
}

int
arc_sig_check(struct arc_msg *m, struct span s, struct span d, struct span a, struct span b,
              const unsigned char digest[32], char *why, size_t whysz)
{
    enum arc_alg alg;
    if (parse_alg(a, &alg) < 0)
        return arc_why(why, whysz, "unsupported algorithm a=%.*s", (int)a.n, a.p);
    struct arc_keyent *k = arc_msg_key(m, s, d);
    if (!k || !k->supplied) {
        arc_why(why, whysz, "key %.*s._domainkey.%.*s not looked up", (int)s.n, s.p, (int)d.n, d.p);
        return -ARC_ETEMP;
    }
    switch (k->status) {
    case ARC_KEY_TEMPFAIL:
        snprintf(why, whysz, "key lookup %s._domainkey.%s failed temporarily", k->selector,
                 k->domain);
        return -ARC_ETEMP;
    case ARC_KEY_MISSING:
        return arc_why(why, whysz, "no key record %s._domainkey.%s", k->selector, k->domain);
    case ARC_KEY_PERMFAIL:
        return arc_why(why, whysz, "key lookup %s._domainkey.%s failed", k->selector, k->domain);
    case ARC_KEY_FOUND:
        break;
    }
    if (!k->pk)
        return arc_why(why, whysz, "key %s._domainkey.%s: %s", k->selector, k->domain, k->why);
    if (arc_pubkey_alg(k->pk) != alg)
        return arc_why(why, whysz, "key type does not match a=%.*s", (int)a.n, a.p);
    struct buf sig;
    buf_init(&sig, 2048);
    int ok = 0;
    if (arc_b64_decode(b, &sig) < 0 || sig.len == 0)
        snprintf(why, whysz, "b= is not base64");
    else if (!(ok = arc_pubkey_verify(k->pk, alg, digest, (unsigned char *)sig.data, sig.len)))
        snprintf(why, whysz, "signature does not verify");
    buf_free(&sig);
    return ok;
}

/* ams_tags_check - required tags and their syntax; fills canon, limit, bh. */
static int
ams_tags_check(const struct arc_tags *t, int64_t now, enum arc_canon *hc, enum arc_canon *bc,
               int64_t *limit, char *why, size_t whysz)
{
    /* h= must be present but may be empty (conformance suite ams_fields_h_empty) */
    static const char *required[] = {"a", "b", "bh", "d", "h", "i", "s"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        const struct span *v = arc_tags_get(t, required[i]);
        if (!v || (v->n == 0 && strcmp(required[i], "h") != 0))
            return arc_why(why, whysz, "missing or empty %s=", required[i]);
    }
    if (arc_ams_parse_canon(arc_tags_get(t, "c"), hc, bc) < 0)
        return arc_why(why, whysz, "bad c=");
    if (!arc_is_domain(*arc_tags_get(t, "d")) || !arc_is_domain(*arc_tags_get(t, "s")))
        return arc_why(why, whysz, "bad d= or s=");
    const struct span *v;
    int64_t x;
    *limit = -1;
    if ((v = arc_tags_get(t, "l")) && parse_uint(*v, limit) < 0)
        return arc_why(why, whysz, "bad l=");
    if ((v = arc_tags_get(t, "t")) && parse_uint(*v, &x) < 0)
        return arc_why(why, whysz, "bad t=");
    if ((v = arc_tags_get(t, "x")) && (parse_uint(*v, &x) < 0 || x < now))
        return arc_why(why, whysz, "signature expired (x=)");
    struct span h = *arc_tags_get(t, "h"), name;
    while (next_hname(&h, &name)) {
        if (span_caseeq_str(name, "arc-seal"))
            return arc_why(why, whysz, "h= includes ARC-Seal");
    }
    return 1;
}

/* ams_verify_canon - the AMS of set under one canonicalization: 1, 0 or -ARC_ETEMP. */
static int
ams_verify_canon(struct arc_msg *m, const struct arc_set *set, enum arc_canon hc, enum arc_canon bc,
                 int64_t limit, char *why, size_t whysz)
{
    const struct arc_tags *t = &set->ams_tags;
    struct arc_bodyhash *bh = arc_msg_bodyhash(m, bc, limit);
    struct buf want;
    buf_init(&want, 256);
    int bad = !bh || !bh->done || arc_b64_decode(*arc_tags_get(t, "bh"), &want) < 0 ||
              want.len != 32 || memcmp(want.data, bh->digest, 32) != 0;
    buf_free(&want);
    if (bad)
        return arc_why(why, whysz, "body hash does not match");

    /* every field but this AMS is selectable */
    const struct arc_field **sel = xcalloc(m->nfields ? m->nfields : 1, sizeof *sel);
    size_t n = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        if (&m->fields[i] != set->ams)
            sel[n++] = &m->fields[i];
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    struct buf scratch;
    buf_init(&scratch, 0);
    unsigned char digest[32];
    unsigned int dlen = 32;
    int rc = md && EVP_DigestInit_ex(md, arc_sha256_md(), NULL) == 1 ? 0 : -ARC_ECRYPTO;
    if (rc == 0)
        rc = arc_hash_headers(sel, n, hc, *arc_tags_get(t, "h"), md, &scratch);
    if (rc == 0) {
        buf_reset(&scratch);
        rc = arc_canon_header_strip_b(hc, set->ams, &scratch);
    }
    if (rc == 0) {
        EVP_DigestUpdate(md, scratch.data, scratch.len);
        EVP_DigestFinal_ex(md, digest, &dlen);
        rc = arc_sig_check(m, *arc_tags_get(t, "s"), *arc_tags_get(t, "d"), *arc_tags_get(t, "a"),
                           *arc_tags_get(t, "b"), digest, why, whysz);
    } else {
        rc = arc_why(why, whysz, "cannot hash header fields");
    }
    EVP_MD_CTX_free(md);
    buf_free(&scratch);
    free(sel);
    return rc;
}

int
arc_ams_verify(struct arc_msg *m, int inst, int64_t now, char *why, size_t whysz)
{
    const struct arc_set *set = &m->sets[inst];
    enum arc_canon hc, bc;
    int64_t limit = -1;
    if (!ams_tags_check(&set->ams_tags, now, &hc, &bc, &limit, why, whysz))
        return 0;
    int rc = ams_verify_canon(m, set, hc, bc, limit, why, whysz);
    if (rc == 0 && !arc_tags_get(&set->ams_tags, "c"))
        rc = ams_verify_canon(m, set, ARC_CANON_RELAXED, ARC_CANON_RELAXED, limit, why, whysz);
    return rc;
}
