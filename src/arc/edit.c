/* SPDX-License-Identifier: MIT */
/*
 * edit - header fields a sealer leaves out of what it passes on (RFC 8601 §5: forged
 * Authentication-Results with our authserv-id; seal_on_broken_chain=restart: every ARC
 * set), and the header section as it is then sent.
 *
 *   arc_msg_field_count(m, name)        fields of that name, dropped ones not counted
 *   arc_msg_field_values(m, name, out, max)  their values, top to bottom
 *   arc_msg_sealer(m, inst)             d= of the ARC-Seal of instance inst
 *   arc_msg_drop_authres(m, id)         drop A-R fields whose authserv-id is id
 *   arc_msg_drop_arc_sets(m)            drop every AAR, AMS and AS (next seal: i=1, cv=none)
 *   arc_msg_header_len(m)               bytes of the header section as received
 *   arc_msg_header_out(m, out)          that section minus the dropped fields
 *
 * A dropped field stays in m->fields (verification already saw the message as received)
 * with its dropped flag set; seal.c skips such fields, header_out leaves out their lines.
 * Drops are allowed between arc_msg_verify and arc_msg_seal only (-ARC_ESTATE otherwise).
 */
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "arc_int.h"

size_t
arc_msg_field_count(const struct arc_msg *m, const char *name)
{
    size_t c = 0;
    if (m->state == 0 || !name)
        return 0;
    for (size_t i = 0; i < m->nfields; i++)
        c += !m->fields[i].dropped && arc_hdr_name_is(&m->fields[i], name);
    return c;
}

size_t
arc_msg_field_values(const struct arc_msg *m, const char *name, struct span *out, size_t max)
{
    size_t c = 0;
    if (m->state == 0 || !name)
        return 0;
    for (size_t i = 0; i < m->nfields; i++) {
        if (m->fields[i].dropped || !arc_hdr_name_is(&m->fields[i], name))
            continue;
        if (c < max)
            out[c] = m->fields[i].value;
        c++;
    }
    return c;
}

struct span
arc_msg_sealer(const struct arc_msg *m, int inst)
{
    struct span none = {NULL, 0};
    if (m->state == 0 || !m->sets || inst < 1 || inst > m->nsets || !m->sets[inst].as_ok)
        return none;
    const struct span *d = arc_tags_get(&m->sets[inst].as_tags, "d");
    return d ? *d : none;
}

static int
drop_allowed(const struct arc_msg *m, struct err *e)
{
    if (!m->verified || m->state != 2)
        return err_set(e, ARC_ESTATE, "fields can be dropped only after arc_msg_verify");
    if (m->sealed)
        return err_set(e, ARC_ESTATE, "fields can be dropped only before arc_msg_seal");
    return 0;
}

/* leading_token - the first run of non-CFWS, non-';' bytes of an A-R value (used when
 * the value does not parse: a field we cannot read may still claim our id). */
static struct span
leading_token(struct span v)
{
    size_t i = 0;
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
        i++;
    size_t start = i;
    while (i < v.n && v.p[i] != ' ' && v.p[i] != '\t' && v.p[i] != '\r' && v.p[i] != '\n' &&
           v.p[i] != ';' && v.p[i] != '(')
        i++;
    return (struct span){v.p + start, i - start};
}

/* claims_id - the A-R field's authserv-id is id (case-insensitive). */
static int
claims_id(const struct arc_field *f, const char *id)
{
    struct arc_authres ar;
    int mine;
    if (arc_authres_parse(f->value.p, f->value.n, &ar, NULL) == 0)
        mine = span_caseeq_str(ar.authserv_id, id);
    else
        mine = span_caseeq_str(leading_token(f->value), id);
    arc_authres_reset(&ar);
    return mine;
}

int
arc_msg_drop_authres(struct arc_msg *m, const char *authserv_id)
{
    int rc = drop_allowed(m, NULL);
    if (rc < 0)
        return rc;
    if (!authserv_id || !*authserv_id)
        return -ARC_EINVAL;
    int n = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        struct arc_field *f = &m->fields[i];
        if (f->dropped || !arc_hdr_name_is(f, "Authentication-Results"))
            continue;
        if (claims_id(f, authserv_id)) {
            f->dropped = 1;
            n++;
        }
    }
    return n;
}

int
arc_msg_drop_arc_sets(struct arc_msg *m)
{
    int rc = drop_allowed(m, NULL);
    if (rc < 0)
        return rc;
    int n = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        struct arc_field *f = &m->fields[i];
        if (!f->dropped &&
            (arc_hdr_name_is(f, "ARC-Seal") || arc_hdr_name_is(f, "ARC-Message-Signature") ||
             arc_hdr_name_is(f, "ARC-Authentication-Results"))) {
            f->dropped = 1;
            n++;
        }
    }
    m->arc_dropped = 1;
    return n;
}

size_t
arc_msg_header_len(const struct arc_msg *m)
{
    return m->state == 0 ? 0 : m->hdr_in_len;
}

/* next_line - length of the line at p[i..n), its LF included (the last may lack one). */
static size_t
next_line(const char *p, size_t n, size_t i)
{
    const char *lf = memchr(p + i, '\n', n - i);
    return lf ? (size_t)(lf - (p + i)) + 1 : n - i;
}

int
arc_msg_header_out(const struct arc_msg *m, struct buf *out)
{
    if (m->state == 0)
        return -ARC_ESTATE;
    /* The section as received: raw when it differs from hdr, else hdr is it. Both
     * have the same lines (msg.c normalizes line by line), so each field's line count
     * in hdr says how many lines of the source are that field. */
    const struct buf *src = m->raw_kept ? &m->raw : &m->hdr;
    const char *p = src->data ? src->data : "";
    size_t n = m->raw_kept ? m->hdr_in_len - m->eoh_len : src->len, pos = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const struct arc_field *f = &m->fields[i];
        size_t lines = 0, start = pos;
        for (size_t k = 0; k < f->raw.n; k++)
            lines += f->raw.p[k] == '\n';
        for (size_t k = 0; k < lines && pos < n; k++)
            pos += next_line(p, n, pos);
        if (!f->dropped && buf_append(out, p + start, pos - start) < 0)
            return -ARC_ERANGE;
    }
    if (m->eoh_len && buf_append(out, m->eoh, m->eoh_len) < 0)
        return -ARC_ERANGE;
    return 0;
}
