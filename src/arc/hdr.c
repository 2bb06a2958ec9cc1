/* SPDX-License-Identifier: MIT */
/*
 * hdr - split a header section into fields, keeping the raw bytes.
 *
 * The section given is CRLF-normalized (msg.c turns bare LF into CRLF) and ends with
 * the CRLF of its last field (or is empty). A field is a line starting with a non-WSP
 * byte plus every following line starting with WSP (folding, obs-fold). Field names are
 * ftext (RFC 5322 §3.6.8); obsolete WSP before the colon is accepted and not part of the
 * name. 8-bit and non-UTF-8 bytes in values are kept as they are.
 * Errors: -ARC_EINVAL for a line with no colon or a continuation with no field before
 * it; -ARC_ERANGE for more than max fields.
 */
#include <string.h>
#include <strings.h>

#include "arc_int.h"

/* line_end - offset just past the CRLF ending the line starting at i (or n). */
static size_t
line_end(struct span s, size_t i)
{
    const char *lf = memchr(s.p + i, '\n', s.n - i);
    return lf ? (size_t)(lf - s.p) + 1 : s.n;
}

static int
hdr_field(struct span raw, struct arc_field *f)
{
    size_t i = 0;
    while (i < raw.n && raw.p[i] != ':') {
        unsigned char c = (unsigned char)raw.p[i];
        if (c < 33 || c > 126) {
            /* only WSP between the name and the colon (obs-optional) */
            size_t k = i;
            while (k < raw.n && (raw.p[k] == ' ' || raw.p[k] == '\t'))
                k++;
            if (k == i || k >= raw.n || raw.p[k] != ':')
                return -ARC_EINVAL;
            f->name = (struct span){raw.p, i};
            i = k;
            goto colon;
        }
        i++;
    }
    if (i == 0 || i >= raw.n)
        return -ARC_EINVAL;
    f->name = (struct span){raw.p, i};
colon:
    f->raw = raw;
    size_t vend = raw.n;
    if (vend >= 2 && raw.p[vend - 2] == '\r' && raw.p[vend - 1] == '\n')
        vend -= 2;
    f->value = (struct span){raw.p + i + 1, vend - i - 1};
    return 0;
}

int
arc_hdr_split(struct span s, struct arc_field *fields, size_t max, size_t *nfields)
{
    size_t n = 0, i = 0;
    while (i < s.n) {
        if (s.p[i] == ' ' || s.p[i] == '\t')
            return -ARC_EINVAL;
        size_t start = i;
        i = line_end(s, i);
        while (i < s.n && (s.p[i] == ' ' || s.p[i] == '\t'))
            i = line_end(s, i);
        if (n == max)
            return -ARC_ERANGE;
        int rc = hdr_field((struct span){s.p + start, i - start}, &fields[n]);
        if (rc < 0)
            return rc;
        n++;
    }
    *nfields = n;
    return 0;
}

int
arc_hdr_name_is(const struct arc_field *f, const char *name)
{
    size_t len = strlen(name);
    return f->name.n == len && strncasecmp(f->name.p, name, len) == 0;
}
