/* SPDX-License-Identifier: MIT */
/*
 * seal - ARC-Seal verification (RFC 8617 §4.1.3, §5.2 step 6) and sealing a new ARC
 * set (§5.1): ARC-Authentication-Results, ARC-Message-Signature and ARC-Seal.
 *
 * The new set is written top to bottom as ARC-Seal, ARC-Message-Signature,
 * ARC-Authentication-Results (some receivers reject other orders). Tags are written in
 * one stable order, alphabetical (the ARC test suite's "standardized" form):
 *   AS:  a= b= cv= d= i= s= t=
 *   AMS: a= b= bh= c= d= h= i= s= t=
 * b= comes second so that the fields after it fold the same whether b= is empty (while
 * hashing) or filled: the signed text and the written text differ only inside b=.
 *
 * Fields dropped by edit.c do not exist here (not selected, counted or copied). After
 * arc_msg_drop_arc_sets the new set starts a chain: i=1, cv=none, whatever the verdict.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../util/xalloc.h"
#include "authres.h"
#include "b64.h"
#include "arc_int.h"

/* as_hash - relaxed AAR, AMS, AS of instances 1..to; the AS of `to` with b= empty and
 * no CRLF (RFC 8617 §5.1.1). */
static int
as_hash(const struct arc_set *sets, int to, unsigned char digest[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    struct buf scratch;
    buf_init(&scratch, 0);
    int rc = md && EVP_DigestInit_ex(md, arc_sha256_md(), NULL) == 1 ? 0 : -ARC_ECRYPTO;
    for (int i = 1; rc == 0 && i <= to; i++) {
        buf_reset(&scratch);
        rc = arc_canon_header(ARC_CANON_RELAXED, sets[i].aar, 0, &scratch);
        if (rc == 0)
            rc = arc_canon_header(ARC_CANON_RELAXED, sets[i].ams, 0, &scratch);
        if (rc == 0)
            rc = i == to ? arc_canon_header_strip_b(ARC_CANON_RELAXED, sets[i].as, &scratch)
                         : arc_canon_header(ARC_CANON_RELAXED, sets[i].as, 0, &scratch);
        if (rc == 0)
            EVP_DigestUpdate(md, scratch.data, scratch.len);
    }
    unsigned int len = 32;
    if (rc == 0 && EVP_DigestFinal_ex(md, digest, &len) != 1)
        rc = -ARC_ECRYPTO;
    EVP_MD_CTX_free(md);
    buf_free(&scratch);
    return rc;
}

int
arc_as_verify(struct arc_msg *m, int inst, char *why, size_t whysz)
{
    const struct arc_tags *t = &m->sets[inst].as_tags;
    static const char *required[] = {"a", "b", "cv", "d", "i", "s"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        const struct span *v = arc_tags_get(t, required[i]);
        if (!v || v->n == 0)
            return arc_why(why, whysz, "missing or empty %s=", required[i]);
    }
    if (arc_tags_get(t, "h"))
        return arc_why(why, whysz, "ARC-Seal must not have h=");
    if (!arc_is_domain(*arc_tags_get(t, "d")) || !arc_is_domain(*arc_tags_get(t, "s")))
        return arc_why(why, whysz, "bad d= or s=");
    const struct span *tv = arc_tags_get(t, "t");
    for (size_t i = 0; tv && i < tv->n; i++) {
        if (tv->p[i] < '0' || tv->p[i] > '9')
            return arc_why(why, whysz, "bad t=");
    }
    if (tv && tv->n == 0)
        return arc_why(why, whysz, "bad t=");
    unsigned char digest[32];
    if (as_hash(m->sets, inst, digest) < 0)
        return arc_why(why, whysz, "cannot hash the ARC sets");
    return arc_sig_check(m, *arc_tags_get(t, "s"), *arc_tags_get(t, "d"), *arc_tags_get(t, "a"),
                         *arc_tags_get(t, "b"), digest, why, whysz);
}

/* ---- sealing ---- */

static const char *const default_headers[] = {
    "from",         "to",
    "cc",           "subject",
    "date",         "message-id",
    "reply-to",     "in-reply-to",
    "references",   "mime-version",
    "content-type", "content-transfer-encoding",
    "list-id",      "list-unsubscribe",
    "list-post",    "list-help",
    "sender",       "dkim-signature",
};
/* names signed once more than they occur, so that adding one breaks the AMS */
static const char *const oversign_headers[] = {"from", "subject", "to", "cc", "date", "reply-to"};

/* build_hlist - the AMS h= value. */
static void
build_hlist(const struct arc_msg *m, const struct arc_signer *s, struct buf *h)
{
    const char *const *names = s->headers ? s->headers : default_headers;
    size_t n = s->headers ? s->nheaders : sizeof default_headers / sizeof *default_headers;
    for (size_t i = 0; i < n; i++) {
        size_t times = 1;
        if (!s->headers_literal) {
            times = arc_msg_field_count(m, names[i]);
            for (size_t k = 0; k < sizeof oversign_headers / sizeof *oversign_headers; k++) {
                if (times && strcasecmp(names[i], oversign_headers[k]) == 0)
                    times++;
            }
        }
        for (size_t k = 0; k < times; k++) {
            if (h->len)
                buf_putc(h, ':');
            for (const char *p = names[i]; *p; p++)
                buf_putc(h, (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        }
    }
}

/* our_results - Authentication-Results fields whose authserv-id is ours, top to bottom:
 * results appended to res (one struct span per result); *arc set from the first arc=
 * result (left alone when there is none). */
static size_t
our_results(const struct arc_msg *m, const char *authserv_id, struct span *res, size_t max,
            enum arc_result *arc)
{
    size_t n = 0;
    struct arc_authres ar;
    for (size_t i = 0; i < m->nfields; i++) {
        const struct arc_field *f = &m->fields[i];
        if (f->dropped || !arc_hdr_name_is(f, "Authentication-Results"))
            continue;
        if (arc_authres_parse(f->value.p, f->value.n, &ar, NULL) < 0)
            continue;
        if (!span_caseeq_str(ar.authserv_id, authserv_id)) {
            arc_authres_reset(&ar);
            continue;
        }
        for (size_t k = 0; k < ar.nresults && n < max; k++) {
            const struct arc_authres_result *r = &ar.results[k];
            res[n++] = r->text;
            if (span_caseeq_str(r->method, "arc") && *arc == ARC_RESULT_TEMPERROR) {
                if (span_caseeq_str(r->result, "pass"))
                    *arc = ARC_RESULT_PASS;
                else if (span_caseeq_str(r->result, "none"))
                    *arc = ARC_RESULT_NONE;
                else
                    *arc = ARC_RESULT_FAIL;
            }
        }
        arc_authres_reset(&ar);
    }
    return n;
}

/* field_from - describe a field we wrote (in b) as a struct arc_field. */
static void
field_from(struct arc_field *f, const struct buf *b, size_t namelen)
{
    f->raw = buf_span(b);
    f->name = (struct span){b->data, namelen};
    f->value = (struct span){b->data + namelen + 1, b->len - namelen - 3};
    f->dropped = 0;
}

/* write_aar - arc is the arc= result to record when add_arc (none of our results is one). */
static void
write_aar(struct buf *out, int inst, const char *authserv_id, const char *arc, int add_arc,
          const char *remote_ip, const struct span *res, size_t nres)
{
    struct arc_fold f;
    char word[512];
    arc_fold_begin(&f, out, "ARC-Authentication-Results");
    snprintf(word, sizeof word, "i=%d;", inst);
    arc_fold_word(&f, word, strlen(word), 1);
    snprintf(word, sizeof word, "%s;", authserv_id);
    arc_fold_word(&f, word, strlen(word) - (nres || add_arc ? 0 : 1), 1);
    if (!nres && !add_arc)
        arc_fold_word(&f, "none", 4, 1);
    if (add_arc) {
        snprintf(word, sizeof word, "arc=%s%s%s%s", arc, remote_ip ? " smtp.remote-ip=" : "",
                 remote_ip ? remote_ip : "", nres ? ";" : "");
        arc_fold_word(&f, word, strlen(word), 1);
    }
    for (size_t i = 0; i < nres; i++) {
        /* one result per line, as written upstream */
        buf_append(out, "\r\n ", 3);
        f.col = 1;
        arc_fold_word(&f, res[i].p, res[i].n, 0);
        if (i + 1 < nres)
            arc_fold_word(&f, ";", 1, 0);
    }
    arc_fold_end(&f);
}

/* write_sig - "Name: a=ALG;\r\n b=SIG;\r\n rest..." The ARC-Seal's b= is folded; the
 * AMS's b= stays on one line: the ARC-Seal signs the AMS text, and the sealers the ARC
 * conformance suite was made with signed it unbroken (its sign tests pass only so).
 * b= starts its own line so that the text around it is the same empty or filled. */
static void
write_sig(struct buf *out, const char *name, const char *alg, const struct buf *sig, int break_b,
          const char *const *rest, size_t nrest)
{
    struct arc_fold f;
    char word[64];
    arc_fold_begin(&f, out, name);
    snprintf(word, sizeof word, "a=%s;", alg);
    arc_fold_word(&f, word, strlen(word), 1);
    buf_append(out, "\r\n b=", 5);
    f.col = 3;
    if (sig && sig->len && break_b)
        arc_fold_b64(&f, sig->data, sig->len);
    else if (sig && sig->len)
        buf_append(out, sig->data, sig->len);
    buf_append(out, ";\r\n", 3);
    f.col = 0;
    for (size_t i = 0; i < nrest; i++)
        arc_fold_word(&f, rest[i], strlen(rest[i]), 1);
    arc_fold_end(&f);
}

static int
sign_digest(const struct arc_signer *s, const unsigned char digest[32], struct buf *b64,
            struct err *e)
{
    struct buf sig;
    buf_init(&sig, 0);
    int rc = arc_privkey_sign(s->key, digest, &sig, e);
    if (rc == 0)
        rc = arc_b64_encode(sig.data, sig.len, b64);
    buf_free(&sig);
    return rc;
}

/* tag list of a new field, each entry one word "x=value;" (no ';' on the last). */
struct seal_tags {
    char *tag[9];
    size_t n;
};

static void __attribute__((format(printf, 2, 3))) tag_add(struct seal_tags *t, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    t->tag[t->n++] = buf_take(&b, NULL);
}

/* tags_tail - d= i= s= [t=], shared by AS and AMS. */
static void
tags_tail(struct seal_tags *t, const struct arc_signer *s, int inst)
{
    tag_add(t, "d=%s;", s->domain);
    tag_add(t, "i=%d;", inst);
    if (s->timestamp < 0) {
        tag_add(t, "s=%s", s->selector);
        return;
    }
    tag_add(t, "s=%s;", s->selector);
    tag_add(t, "t=%lld", (long long)s->timestamp);
}

static void
tags_free(struct seal_tags *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->tag[i]);
    t->n = 0;
}

/* sign_field - write name's field with b= empty, hash it (after what md holds already,
 * relaxed or simple with b= stripped), sign, write it again with b= filled. *f then
 * describes the final field in out. */
static int
sign_field(EVP_MD_CTX *md, enum arc_canon c, const struct arc_signer *s, const char *name,
           const struct seal_tags *t, int break_b, struct buf *out, struct arc_field *f,
           struct err *e)
{
    const char *alg =
        arc_privkey_alg(s->key) == ARC_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
    struct buf scratch, b64;
    unsigned char digest[32];
    unsigned int dlen = 32;
    buf_init(&scratch, 0);
    buf_init(&b64, 0);
    buf_reset(out);
    write_sig(out, name, alg, NULL, break_b, (const char *const *)t->tag, t->n);
    field_from(f, out, strlen(name));
    int rc = arc_canon_header_strip_b(c, f, &scratch);
    if (rc == 0) {
        EVP_DigestUpdate(md, scratch.data, scratch.len);
        rc = EVP_DigestFinal_ex(md, digest, &dlen) == 1 ? 0 : -ARC_ECRYPTO;
    }
    if (rc == 0)
        rc = sign_digest(s, digest, &b64, e);
    if (rc == 0) {
        buf_reset(out);
        write_sig(out, name, alg, &b64, break_b, (const char *const *)t->tag, t->n);
        field_from(f, out, strlen(name));
    }
    buf_free(&scratch);
    buf_free(&b64);
    return rc;
}

static EVP_MD_CTX *
sha256_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestInit_ex(md, arc_sha256_md(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    return md;
}

/* seal_ams - the new AMS, over the header as the verifier will see it (our AAR on top). */
static int
seal_ams(const struct arc_msg *m, const struct arc_signer *s, int inst,
         const struct arc_field *aarf, struct buf *out, struct arc_field *amsf, struct err *e)
{
    struct seal_tags t = {{0}, 0};
    struct buf hlist, scratch;
    buf_init(&hlist, 0);
    buf_init(&scratch, 0);
    build_hlist(m, s, &hlist);
    arc_b64_encode(m->seal_bh->digest, 32, &scratch);
    tag_add(&t, "bh=%s;", scratch.data);
    tag_add(&t, "c=%s/%s;", s->hdr_canon == ARC_CANON_SIMPLE ? "simple" : "relaxed",
            s->body_canon == ARC_CANON_SIMPLE ? "simple" : "relaxed");
    tag_add(&t, "d=%s;", s->domain);
    tag_add(&t, "h=%s;", hlist.len ? hlist.data : "");
    tag_add(&t, "i=%d;", inst);
    if (s->timestamp < 0) {
        tag_add(&t, "s=%s", s->selector);
    } else {
        tag_add(&t, "s=%s;", s->selector);
        tag_add(&t, "t=%lld", (long long)s->timestamp);
    }
    const struct arc_field **sel = xcalloc(m->nfields + 1, sizeof *sel);
    size_t nsel = 0;
    sel[nsel++] = aarf;
    for (size_t i = 0; i < m->nfields; i++) {
        if (!m->fields[i].dropped)
            sel[nsel++] = &m->fields[i];
    }
    EVP_MD_CTX *md = sha256_new();
    int rc = md ? 0 : -ARC_ECRYPTO;
    if (rc == 0)
        rc = arc_hash_headers(sel, nsel, s->hdr_canon, buf_span(&hlist), md, &scratch);
    if (rc == 0)
        rc = sign_field(md, s->hdr_canon, s, "ARC-Message-Signature", &t, 0, out, amsf, e);
    EVP_MD_CTX_free(md);
    free(sel);
    tags_free(&t);
    buf_free(&hlist);
    buf_free(&scratch);
    return rc;
}

/* seal_as - the new AS: over every set, or only our own when the chain failed (§5.1.2). */
static int
seal_as(const struct arc_msg *m, const struct arc_signer *s, int inst, int cv,
        const struct arc_field *aarf, const struct arc_field *amsf, struct buf *out, struct err *e)
{
    struct seal_tags t = {{0}, 0};
    tag_add(&t, "cv=%s;", arc_cv_name((enum arc_result)cv));
    tags_tail(&t, s, inst);
    EVP_MD_CTX *md = sha256_new();
    int rc = md ? 0 : -ARC_ECRYPTO;
    struct buf scratch;
    buf_init(&scratch, 0);
    for (int i = cv == ARC_RESULT_FAIL ? inst : 1; rc == 0 && i <= inst; i++) {
        buf_reset(&scratch);
        if (i == inst) {
            rc = arc_canon_header(ARC_CANON_RELAXED, aarf, 0, &scratch) ||
                 arc_canon_header(ARC_CANON_RELAXED, amsf, 0, &scratch);
        } else {
            const struct arc_set *set = &m->sets[i];
            rc = arc_canon_header(ARC_CANON_RELAXED, set->aar, 0, &scratch) ||
                 arc_canon_header(ARC_CANON_RELAXED, set->ams, 0, &scratch) ||
                 arc_canon_header(ARC_CANON_RELAXED, set->as, 0, &scratch);
        }
        rc = rc ? -ARC_ERANGE : 0;
        EVP_DigestUpdate(md, scratch.data, scratch.len);
    }
    struct arc_field asf;
    if (rc == 0)
        rc = sign_field(md, ARC_CANON_RELAXED, s, "ARC-Seal", &t, 1, out, &asf, e);
    EVP_MD_CTX_free(md);
    buf_free(&scratch);
    tags_free(&t);
    return rc;
}

/* seal_cv - the cv= of the new seal (ARC_RESULT_*), or -ARC_E* with detail in e.
 * upstream is the arc= result of our own Authentication-Results, ARC_RESULT_TEMPERROR
 * when there is none. */
static int
seal_cv(const struct arc_msg *m, const struct arc_signer *s, const struct arc_verdict *v,
        enum arc_result upstream, struct err *e)
{
    if (m->struct_fail)
        return ARC_RESULT_FAIL; /* a broken chain cannot be covered whatever upstream says */
    if (s->cv_from_authres && upstream != ARC_RESULT_TEMPERROR)
        return (int)upstream;
    if (!v)
        return err_set(e, ARC_ESTATE, "no verdict to take cv from");
    switch (v->result) {
    case ARC_RESULT_NONE:
        return m->any_arc ? ARC_RESULT_FAIL : ARC_RESULT_NONE;
    case ARC_RESULT_PASS:
        return ARC_RESULT_PASS;
    case ARC_RESULT_TEMPERROR:
        return err_set(e, ARC_ETEMP, "chain validation ended in temperror");
    default:
        return ARC_RESULT_FAIL;
    }
}

int
arc_msg_seal(struct arc_msg *m, const struct arc_signer *s, const struct arc_verdict *v,
             struct buf *out, struct err *e)
{
    if (m->state != 2 || !m->seal_bh)
        return err_set(e, ARC_ESTATE, "message not finished or not opened for sealing");
    if (s->body_canon != m->seal_bh->canon)
        return err_set(e, ARC_EINVAL, "signer's body canonicalization differs from opts");
    m->sealed = 1;
    /* after arc_msg_drop_arc_sets the old chain is gone: a new one starts (restart) */
    int restart = m->arc_dropped;
    if (!restart && v && v->newest_cv_fail)
        return err_set(e, ARC_OK, "newest ARC-Seal says cv=fail: not sealing"), ARC_SEAL_SKIPPED;
    int inst = restart ? 1 : m->nsets + 1;
    if (inst > ARC_MAX_INSTANCE)
        return err_set(e, ARC_OK, "chain has %d sets already: not sealing", m->nsets),
               ARC_SEAL_SKIPPED;
    struct span res[ARC_AUTHRES_MAX_RESULTS];
    enum arc_result upstream = ARC_RESULT_TEMPERROR;
    size_t nres = our_results(m, s->authserv_id, res, ARC_AUTHRES_MAX_RESULTS, &upstream);
    int cv = restart ? ARC_RESULT_NONE : seal_cv(m, s, v, upstream, e);
    if (cv < 0)
        return cv;
    /* the AAR records what we found, also when a restart seals with cv=none */
    const char *arc = !restart ? arc_cv_name((enum arc_result)cv)
                      : v      ? arc_result_name(v->result)
                               : "none";
    struct buf aar, ams, as;
    buf_init(&aar, 0);
    buf_init(&ams, 0);
    buf_init(&as, 0);
    write_aar(&aar, inst, s->authserv_id, arc, upstream == ARC_RESULT_TEMPERROR, s->remote_ip, res,
              nres);
    struct arc_field aarf, amsf;
    field_from(&aarf, &aar, strlen("ARC-Authentication-Results"));
    int rc = seal_ams(m, s, inst, &aarf, &ams, &amsf, e);
    if (rc == 0)
        rc = seal_as(m, s, inst, cv, &aarf, &amsf, &as, e);
    if (rc == 0) {
        buf_append(out, as.data, as.len);
        buf_append(out, ams.data, ams.len);
        buf_append(out, aar.data, aar.len);
    } else if (e && !e->code) {
        err_set(e, -rc, "sealing failed");
    }
    buf_free(&aar);
    buf_free(&ams);
    buf_free(&as);
    return rc;
}
