/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hdr - libFuzzer driver for the header section splitter arc_hdr_split
 * (src/arc/hdr.c) and header canonicalization arc_canon_header /
 * arc_canon_header_strip_b (src/arc/canon.c).
 *
 * The input is a header section as msg.c hands it over (normally CRLF-normalized; the
 * splitter must survive anything), copied into a heap buffer of exactly its size so
 * that ASan catches a read past n. Besides crashes it checks:
 *   - only 0, -ARC_EINVAL or -ARC_ERANGE come back; never more than max fields;
 *   - on success the fields tile the input: each raw span starts where the previous
 *     ended and the last ends at the end of the input;
 *   - name and value lie inside raw; the name is non-empty printable ASCII without ':';
 *   - simple canonicalization is the raw field (without its CRLF when asked);
 *   - relaxed canonicalization is the lowercased name, ':', then a value with no CR, LF
 *     or HTAB, no SP at either end and no two SPs in a row, then CRLF.
 * Seeds: fuzz/corpus/hdr/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arc/arc_int.h"
#include "util/buf.h"
#include "util/err.h"

#define FUZZ_MAX_FIELDS 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* span_inside - s lies within p[0..n). */
static int
span_inside(struct span s, const char *p, size_t n)
{
    if (!s.p)
        return s.n == 0;
    return s.p >= p && s.n <= n && (size_t)(s.p - p) <= n - s.n;
}

static void
check_simple(const struct arc_field *f, struct buf *out)
{
    buf_reset(out);
    if (arc_canon_header(ARC_CANON_SIMPLE, f, 0, out) != 0)
        abort();
    if (out->len != f->raw.n || memcmp(out->data, f->raw.p, f->raw.n) != 0)
        abort();
    buf_reset(out);
    if (arc_canon_header(ARC_CANON_SIMPLE, f, 1, out) != 0)
        abort();
    size_t want = f->raw.n;
    if (want >= 2 && f->raw.p[want - 2] == '\r' && f->raw.p[want - 1] == '\n')
        want -= 2;
    if (out->len != want || memcmp(out->data, f->raw.p, want) != 0)
        abort();
}

static void
check_relaxed(const struct arc_field *f, struct buf *out)
{
    buf_reset(out);
    if (arc_canon_header(ARC_CANON_RELAXED, f, 0, out) != 0)
        abort();
    const char *p = out->data;
    size_t n = out->len;
    if (n < f->name.n + 3 || p[n - 2] != '\r' || p[n - 1] != '\n' || p[f->name.n] != ':')
        abort();
    for (size_t i = 0; i < f->name.n; i++) {
        char c = f->name.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (p[i] != c)
            abort();
    }
    const char *v = p + f->name.n + 1;
    size_t vn = n - f->name.n - 3;
    if (vn && (v[0] == ' ' || v[vn - 1] == ' '))
        abort();
    for (size_t i = 0; i < vn; i++) {
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\t')
            abort();
        if (v[i] == ' ' && i + 1 < vn && v[i + 1] == ' ')
            abort();
    }
    /* without CRLF: the same bytes minus the last two */
    size_t full = n;
    if (arc_canon_header(ARC_CANON_RELAXED, f, 1, out) != 0 || out->len != full + full - 2 ||
        memcmp(out->data, out->data + full, full - 2) != 0)
        abort();
}

static void
check_field(const struct arc_field *f, const char *p, size_t n, struct buf *out)
{
    if (!span_inside(f->raw, p, n) || !span_inside(f->name, f->raw.p, f->raw.n) ||
        !span_inside(f->value, f->raw.p, f->raw.n) || f->name.p != f->raw.p || f->name.n == 0)
        abort();
    for (size_t i = 0; i < f->name.n; i++) {
        unsigned char c = (unsigned char)f->name.p[i];
        if (c < 33 || c > 126 || c == ':')
            abort();
    }
    check_simple(f, out);
    check_relaxed(f, out);
    buf_reset(out);
    if (arc_canon_header_strip_b(ARC_CANON_RELAXED, f, out) != 0)
        abort();
    buf_reset(out);
    if (arc_canon_header_strip_b(ARC_CANON_SIMPLE, f, out) != 0)
        abort();
    (void)arc_hdr_name_is(f, "ARC-Seal");
    (void)arc_hdr_name_is(f, "ARC-Message-Signature");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    struct arc_field *fields = calloc(FUZZ_MAX_FIELDS, sizeof *fields);
    if (!p || !fields)
        abort();
    if (size)
        memcpy(p, data, size);
    size_t nfields = 0;
    int rc = arc_hdr_split((struct span){p, size}, fields, FUZZ_MAX_FIELDS, &nfields);
    if (rc != 0 && rc != -ARC_EINVAL && rc != -ARC_ERANGE)
        abort();
    if (rc == 0) {
        if (nfields > FUZZ_MAX_FIELDS)
            abort();
        struct buf out;
        buf_init(&out, 0);
        const char *at = p;
        for (size_t i = 0; i < nfields; i++) {
            if (fields[i].raw.p != at)
                abort();
            at += fields[i].raw.n;
            check_field(&fields[i], p, size, &out);
        }
        if (at != p + size)
            abort();
        buf_free(&out);
    }
    free(fields);
    free(p);
    return 0;
}
