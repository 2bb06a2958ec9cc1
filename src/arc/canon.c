/* SPDX-License-Identifier: MIT */
/*
 * canon - RFC 6376 §3.4 canonicalization: header fields (simple, relaxed) and a
 * streaming body canonicalizer that hashes with SHA-256 as bytes arrive.
 *
 * Bodies with bare LF line ends are read as CRLF (a bare LF is a line end); a bare CR
 * is ordinary content. The body is never held: the canonicalizer keeps a few flags and
 * a 16 KiB staging buffer that goes to SHA-256 in large pieces.
 * The l= limit hashes only the first l canonical octets (§3.5; kept for verification,
 * never produced when signing).
 */
#include <string.h>

#include <openssl/evp.h>

#include "../util/xalloc.h"
#include "arc_int.h"

static int
is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* relaxed_value - §3.4.2: unfold, squeeze WSP runs to one SP, drop WSP at both ends. */
static int
relaxed_value(struct span v, struct buf *out)
{
    int space = 0, started = 0;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c == '\r' || c == '\n')
            continue;
        if (is_wsp(c)) {
            space = 1;
            continue;
        }
        if (space && started && buf_putc(out, ' ') < 0)
            return -ARC_ERANGE;
        space = 0;
        started = 1;
        if (buf_putc(out, c) < 0)
            return -ARC_ERANGE;
    }
    return 0;
}

int
arc_canon_header(enum arc_canon c, const struct arc_field *f, int nocrlf, struct buf *out)
{
    if (c == ARC_CANON_SIMPLE) {
        size_t n = f->raw.n;
        if (nocrlf && n >= 2 && f->raw.p[n - 2] == '\r' && f->raw.p[n - 1] == '\n')
            n -= 2;
        return buf_append(out, f->raw.p, n);
    }
    for (size_t i = 0; i < f->name.n; i++) {
        char ch = f->name.p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (buf_putc(out, ch) < 0)
            return -ARC_ERANGE;
    }
    if (buf_putc(out, ':') < 0 || relaxed_value(f->value, out) < 0)
        return -ARC_ERANGE;
    return nocrlf ? 0 : buf_append(out, "\r\n", 2);
}

/* find_b_value - the span of the b= tag's value inside v (empty span if none). */
static struct span
find_b_value(struct span v)
{
    size_t i = 0;
    while (i < v.n) {
        size_t k = i;
        while (k < v.n && (is_wsp(v.p[k]) || v.p[k] == '\r' || v.p[k] == '\n'))
            k++;
        if (k < v.n && v.p[k] == 'b') {
            size_t e = k + 1;
            while (e < v.n && (is_wsp(v.p[e]) || v.p[e] == '\r' || v.p[e] == '\n'))
                e++;
            if (e < v.n && v.p[e] == '=') {
                size_t end = e + 1;
                while (end < v.n && v.p[end] != ';')
                    end++;
                return (struct span){v.p + e + 1, end - e - 1};
            }
        }
        while (i < v.n && v.p[i] != ';')
            i++;
        i++;
    }
    return (struct span){NULL, 0};
}

int
arc_canon_header_strip_b(enum arc_canon c, const struct arc_field *f, struct buf *out)
{
    struct span b = find_b_value(f->value);
    if (!b.p)
        return arc_canon_header(c, f, 1, out);
    struct buf tmp;
    buf_init(&tmp, 0);
    size_t pre = (size_t)(b.p - f->raw.p);
    buf_append(&tmp, f->raw.p, pre);
    buf_append(&tmp, b.p + b.n, f->raw.n - pre - b.n);
    struct arc_field g;
    size_t vstart = (size_t)(f->value.p - f->raw.p);
    g.raw = buf_span(&tmp);
    g.name = (struct span){tmp.data, f->name.n};
    g.value = (struct span){tmp.data + vstart, f->value.n - b.n};
    int rc = arc_canon_header(c, &g, 1, out);
    buf_free(&tmp);
    return rc;
}

int
arc_sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -ARC_ECRYPTO;
}

/* ---- body ---- */

void
arc_bodyhash_init(struct arc_bodyhash *bh, enum arc_canon canon, int64_t limit)
{
    memset(bh, 0, offsetof(struct arc_bodyhash, stage));
    bh->canon = canon;
    bh->limit = limit;
    bh->md = EVP_MD_CTX_new();
    if (!bh->md || EVP_DigestInit_ex(bh->md, EVP_sha256(), NULL) != 1)
        xmalloc((size_t)-1); /* dies: no recovery from a broken libcrypto */
    bh->nstage = 0;
    bh->done = 0;
}

static void
stage_flush(struct arc_bodyhash *bh)
{
    if (bh->nstage) {
        EVP_DigestUpdate(bh->md, bh->stage, bh->nstage);
        bh->nstage = 0;
    }
}

/* emit - canonical bytes out, honouring l=. */
static void
emit(struct arc_bodyhash *bh, const char *p, size_t n)
{
    if (bh->limit >= 0) {
        uint64_t room = (uint64_t)bh->limit > bh->emitted ? (uint64_t)bh->limit - bh->emitted : 0;
        if (n > room)
            n = (size_t)room;
    }
    bh->emitted += n;
    bh->any = 1;
    if (n >= sizeof bh->stage) {
        stage_flush(bh);
        EVP_DigestUpdate(bh->md, p, n);
        return;
    }
    if (bh->nstage + n > sizeof bh->stage)
        stage_flush(bh);
    memcpy(bh->stage + bh->nstage, p, n);
    bh->nstage += n;
}

static void
emit_pending(struct arc_bodyhash *bh)
{
    for (; bh->pending; bh->pending--)
        emit(bh, "\r\n", 2);
}

static void
line_done(struct arc_bodyhash *bh)
{
    if (bh->line_has_data)
        emit(bh, "\r\n", 2);
    else
        bh->pending++;
    bh->line_has_data = 0;
    bh->pending_wsp = 0;
}

/* content - a run of bytes that are neither CR, LF nor (in relaxed) WSP. */
static void
content(struct arc_bodyhash *bh, const char *p, size_t n)
{
    if (!bh->line_has_data)
        emit_pending(bh);
    if (bh->pending_wsp) {
        emit(bh, " ", 1);
        bh->pending_wsp = 0;
    }
    emit(bh, p, n);
    bh->line_has_data = 1;
}

void
arc_bodyhash_update(struct arc_bodyhash *bh, const char *p, size_t n)
{
    int relaxed = bh->canon == ARC_CANON_RELAXED;
    size_t i = 0;
    while (i < n) {
        if (bh->prev_cr) {
            bh->prev_cr = 0;
            if (p[i] == '\n') {
                line_done(bh);
                i++;
                continue;
            }
            content(bh, "\r", 1); /* a bare CR is content */
        }
        char c = p[i];
        if (c == '\r') {
            bh->prev_cr = 1;
            i++;
            continue;
        }
        if (c == '\n') { /* bare LF: a line end */
            line_done(bh);
            i++;
            continue;
        }
        if (relaxed && (c == ' ' || c == '\t')) {
            bh->pending_wsp = 1;
            i++;
            continue;
        }
        size_t j = i + 1;
        if (relaxed) {
            while (j < n && p[j] != '\r' && p[j] != '\n' && p[j] != '\t' &&
                   !(p[j] == ' ' && (j + 1 >= n || p[j + 1] == ' ' || p[j + 1] == '\t' ||
                                     p[j + 1] == '\r' || p[j + 1] == '\n')))
                j++;
        } else {
            while (j < n && p[j] != '\r' && p[j] != '\n')
                j++;
        }
        content(bh, p + i, j - i);
        i = j;
    }
}

void
arc_bodyhash_final(struct arc_bodyhash *bh)
{
    if (bh->done)
        return;
    if (bh->prev_cr) {
        bh->prev_cr = 0;
        content(bh, "\r", 1);
    }
    if (bh->line_has_data)
        emit(bh, "\r\n", 2); /* no CRLF at the end of the body: add one */
    if (bh->canon == ARC_CANON_SIMPLE && !bh->any)
        emit(bh, "\r\n", 2); /* simple: an empty body is one CRLF */
    stage_flush(bh);
    unsigned int len = 32;
    EVP_DigestFinal_ex(bh->md, bh->digest, &len);
    bh->done = 1;
}

void
arc_bodyhash_free(struct arc_bodyhash *bh)
{
    if (bh)
        EVP_MD_CTX_free(bh->md);
}
