/* SPDX-License-Identifier: MIT */
/*
 * msg - the public arc_msg calls (arc.h): take a message in pieces, keep its header
 * section (bounded), hash its body as it passes, hand out key requests, take keys.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../util/xalloc.h"
#include "arc_int.h"

void
arc_opts_default(struct arc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_header_bytes = 256 * 1024;
    o->max_header_fields = 1000;
    o->min_rsa_bits = 1024;
    o->seal_body_canon = ARC_CANON_RELAXED;
}

struct arc_msg *
arc_msg_new(const struct arc_opts *opts)
{
    struct arc_msg *m = xcalloc(1, sizeof *m);
    if (opts)
        m->opts = *opts;
    else
        arc_opts_default(&m->opts);
    buf_init(&m->raw, m->opts.max_header_bytes + 2);
    buf_init(&m->hdr, 0);
    return m;
}

struct arc_msg *
arc_msg_free(struct arc_msg *m)
{
    if (!m)
        return NULL;
    buf_free(&m->raw);
    buf_free(&m->hdr);
    free(m->fields);
    free(m->sets);
    for (size_t i = 0; i < m->nbh; i++) {
        arc_bodyhash_free(m->bh[i]);
        free(m->bh[i]);
    }
    for (size_t i = 0; i < m->nkeys; i++) {
        free(m->keys[i].selector);
        free(m->keys[i].domain);
        arc_pubkey_free(m->keys[i].pk);
    }
    free(m->keys);
    free(m);
    return NULL;
}

/* keep_raw - remember how the header section looked as received (arc_msg_header_out):
 * raw[0..end) are the fields, raw[end..body) the empty line. raw itself is kept only
 * when hdr differs from it (bare LF, no final line end). */
static void
keep_raw(struct arc_msg *m, size_t end, size_t body, int differs)
{
    m->hdr_in_len = body;
    m->eoh_len = body - end;
    if (m->eoh_len)
        memcpy(m->eoh, m->raw.data + end, m->eoh_len);
    if (differs && m->raw.data) {
        m->raw.len = body; /* drop the body bytes that came in the same chunk */
        m->raw.data[body] = 0;
        m->raw_kept = 1;
    } else {
        buf_free(&m->raw);
    }
}

/* header_done - the header section is raw[0..end), the body starts at body: normalize,
 * split, find the chain, open the body hashes. */
static int
header_done(struct arc_msg *m, size_t end, size_t body, struct err *e)
{
    const char *p = m->raw.data ? m->raw.data : "";
    size_t i = 0;
    while (i < end) { /* copy line by line; a bare LF becomes CRLF */
        const char *lf = memchr(p + i, '\n', end - i);
        size_t k = lf ? (size_t)(lf - p) : end;
        buf_append(&m->hdr, p + i, k - i);
        if (lf && (k == 0 || p[k - 1] != '\r')) {
            m->lf_only = 1;
            buf_append(&m->hdr, "\r\n", 2);
        } else if (lf) {
            buf_putc(&m->hdr, '\n');
        }
        i = k + 1;
    }
    int no_final_lf = m->hdr.len && m->hdr.data[m->hdr.len - 1] != '\n';
    if (no_final_lf)
        buf_append(&m->hdr, "\r\n", 2); /* header section with no line end at all */
    size_t max = m->opts.max_header_fields;
    size_t lines = 1; /* fields <= lines: allocate what this header can use */
    for (const char *q = m->hdr.data; q && (q = memchr(q, '\n', m->hdr.data + m->hdr.len - q)); q++)
        lines++;
    if (max > lines)
        max = lines;
    m->fields = xcalloc(max ? max : 1, sizeof *m->fields);
    int rc = arc_hdr_split(buf_span(&m->hdr), m->fields, max, &m->nfields);
    if (rc == -ARC_ERANGE)
        return err_set(e, ARC_ERANGE, "more than %zu header fields", max);
    if (rc < 0)
        return err_set(e, ARC_EINVAL, "malformed header section");
    arc_chain_parse(m);
    for (int inst = 1; inst <= m->nsets; inst++) {
        const struct arc_set *set = &m->sets[inst];
        enum arc_canon hc, bc;
        const struct span *l;
        int64_t limit = -1;
        if (!set->ams_ok || arc_ams_parse_canon(arc_tags_get(&set->ams_tags, "c"), &hc, &bc) < 0)
            continue;
        if ((l = arc_tags_get(&set->ams_tags, "l")) && l->n && l->n < 19) {
            limit = 0;
            for (size_t k = 0; k < l->n && l->p[k] >= '0' && l->p[k] <= '9'; k++)
                limit = limit * 10 + (l->p[k] - '0');
        }
        arc_msg_bodyhash(m, bc, limit);
        if (!arc_tags_get(&set->ams_tags, "c")) /* tried both ways: see ams.c */
            arc_msg_bodyhash(m, ARC_CANON_RELAXED, limit);
    }
    if (m->opts.want_seal)
        m->seal_bh = arc_msg_bodyhash(m, m->opts.seal_body_canon, -1);
    keep_raw(m, end, body, m->lf_only || no_final_lf);
    m->state = 1;
    return 0;
}

/* find_eoh - scan raw from m->scan for an empty line; returns its offset and sets
 * *body to the first body byte, or returns -1 (need more). */
static long
find_eoh(struct arc_msg *m, size_t *body)
{
    const char *p = m->raw.data;
    size_t n = m->raw.len, i = m->scan;
    while (i < n) {
        if (p[i] == '\n') {
            *body = i + 1;
            return (long)i;
        }
        if (p[i] == '\r') {
            if (i + 1 >= n)
                return -1;
            if (p[i + 1] == '\n') {
                *body = i + 2;
                return (long)i;
            }
        }
        const char *lf = memchr(p + i, '\n', n - i);
        if (!lf)
            return -1;
        i = (size_t)(lf - p) + 1;
        m->scan = i;
    }
    return -1;
}

static void
body_update(struct arc_msg *m, const char *p, size_t n)
{
    for (size_t i = 0; i < m->nbh; i++)
        arc_bodyhash_update(m->bh[i], p, n);
}

int
arc_msg_feed(struct arc_msg *m, const char *p, size_t n, struct err *e)
{
    if (m->state == 2)
        return err_set(e, ARC_ESTATE, "message already finished");
    /* header section: take it in small steps so that a large first chunk (header and
     * body together) is not held, and the header cap counts only header bytes */
    while (n && m->state == 0) {
        size_t room = m->raw.max - m->raw.len;
        size_t k = n < 4096 ? n : 4096;
        if (k > room)
            k = room;
        if (k == 0 || buf_append(&m->raw, p, k) < 0)
            return err_set(e, ARC_ERANGE, "header section larger than %zu bytes",
                           m->opts.max_header_bytes);
        p += k;
        n -= k;
        size_t body;
        long eoh = find_eoh(m, &body);
        if (eoh < 0)
            continue;
        size_t rest = m->raw.len - body; /* body bytes of this step: p[-rest .. 0) */
        int rc = header_done(m, (size_t)eoh, body, e);
        if (rc < 0)
            return rc;
        body_update(m, p - rest, rest);
    }
    if (n)
        body_update(m, p, n);
    return 0;
}

int
arc_msg_finish(struct arc_msg *m, struct err *e)
{
    if (m->state == 2)
        return 0;
    if (m->state == 0) {
        int rc = header_done(m, m->raw.len, m->raw.len, e);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < m->nbh; i++)
        arc_bodyhash_final(m->bh[i]);
    m->state = 2;
    return 0;
}

int
arc_msg_uses_lf(const struct arc_msg *m)
{
    return m->lf_only;
}

size_t
arc_msg_keyreqs(struct arc_msg *m, struct arc_keyreq *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nkeys && n < max; i++) {
        if (m->keys[i].supplied)
            continue;
        out[n].selector = m->keys[i].selector;
        out[n].domain = m->keys[i].domain;
        n++;
    }
    return n;
}

int
arc_msg_key_supply(struct arc_msg *m, const char *selector, const char *domain,
                   enum arc_key_status st, const char *txt, size_t n)
{
    struct arc_keyent *k = NULL;
    for (size_t i = 0; i < m->nkeys; i++) {
        if (strcasecmp(m->keys[i].selector, selector) == 0 &&
            strcasecmp(m->keys[i].domain, domain) == 0)
            k = &m->keys[i];
    }
    if (!k)
        return -ARC_ENOENT;
    k->supplied = 1;
    k->status = st;
    k->pk = arc_pubkey_free(k->pk);
    if (st != ARC_KEY_FOUND)
        return 0;
    struct err e;
    err_clear(&e);
    k->parse_rc = arc_pubkey_parse(txt, n, m->opts.min_rsa_bits, &k->pk, &e);
    if (k->parse_rc < 0)
        snprintf(k->why, sizeof k->why, "%.180s", e.text[0] ? e.text : "unusable key record");
    return 0;
}

int
arc_msg_verify(struct arc_msg *m, int64_t now, struct arc_verdict *v, struct err *e)
{
    if (m->state != 2)
        return err_set(e, ARC_ESTATE, "arc_msg_verify before arc_msg_finish");
    arc_chain_verify(m, now, v);
    m->verdict = *v;
    m->verified = 1;
    return 0;
}

const char *
arc_result_name(enum arc_result r)
{
    switch (r) {
    case ARC_RESULT_NONE:
        return "none";
    case ARC_RESULT_PASS:
        return "pass";
    case ARC_RESULT_FAIL:
        return "fail";
    case ARC_RESULT_TEMPERROR:
        return "temperror";
    case ARC_RESULT_PERMERROR:
        return "permerror";
    }
    return "permerror";
}

const char *
arc_cv_name(enum arc_result r)
{
    return r == ARC_RESULT_PASS ? "pass" : r == ARC_RESULT_NONE ? "none" : "fail";
}
