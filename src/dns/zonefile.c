/* SPDX-License-Identifier: MIT */
/*
 * zonefile - TXT records of a DNS master file, read with ldns; see zonefile.h.
 *
 * The zone is kept as an array of (owner, text) sorted by owner name: owner names are
 * lowercased ASCII without the trailing dot, text is the rdata's character-strings
 * joined with no separator (RFC 6376 §3.6.2.2). When a name has several TXT RRs only
 * the first in file order is kept, as zonefile.h promises. Read-only after load, so
 * lookups may run from several threads.
 *
 * Reading: ldns parses record by record (ldns_rr_new_frm_fp_l, the loop inside
 * ldns_zone_new_frm_fp_l, which we do not call because it leaks on a parse error);
 * only TXT RRs are kept. A parse error names the first line of the failing record.
 *
 * Limits: owner names are compared byte-wise after ASCII lowercasing; a label holding a
 * literal "." or non-ASCII bytes is kept unescaped. $INCLUDE is refused (ldns does not
 * implement it). A file without $ORIGIN keeps relative names as written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "../util/xalloc.h"
#include "zonefile.h"

struct zone_txt {
    char *name; /* lowercase, no trailing dot, NUL-terminated */
    size_t namelen;
    char *txt; /* joined character-strings, NUL-terminated */
    size_t txtlen;
    size_t seq; /* position in the file: ties sort first-come */
};

struct dns_zone {
    struct zone_txt *rec;
    size_t n;
};

/* lower - ASCII lowercase of one byte; DNS names compare case-insensitively only for
 * ASCII letters (RFC 4343). */
static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* name_cmp - order of two owner names (already lowercase) of given lengths. */
static int
name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

static int
rec_cmp(const void *pa, const void *pb)
{
    const struct zone_txt *a = pa, *b = pb;
    int c = name_cmp(a->name, a->namelen, b->name, b->namelen);
    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* owner_text - wire-format dname -> dotted lowercase text without the trailing dot
 * (the root is the empty string). Relative names (no root label) work the same. */
static char *
owner_text(const ldns_rdf *owner, size_t *lenp)
{
    const uint8_t *p = ldns_rdf_data(owner);
    size_t size = ldns_rdf_size(owner);
    char *s = xmalloc(size + 1);
    size_t len = 0;
    for (size_t i = 0; i < size && p[i] != 0;) {
        size_t lab = p[i++];
        if (lab > size - i)
            lab = size - i;
        if (len)
            s[len++] = '.';
        for (size_t k = 0; k < lab; k++)
            s[len++] = lower((char)p[i + k]);
        i += lab;
    }
    s[len] = '\0';
    *lenp = len;
    return s;
}

/* txt_text - the character-strings of a TXT RR joined; each rdf is <len><bytes>. */
static char *
txt_text(const ldns_rr *rr, size_t *lenp)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *p = ldns_rdf_data(rdf);
        size_t size = ldns_rdf_size(rdf);
        if (size == 0)
            continue;
        size_t n = p[0] < size - 1 ? p[0] : size - 1;
        buf_append(&b, p + 1, n); /* unbounded buffer: cannot fail */
    }
    return buf_take(&b, lenp);
}

/* zone_add - keep a copy of a TXT RR's owner and text. */
static void
zone_add(struct dns_zone *z, size_t *cap, const ldns_rr *rr)
{
    if (z->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        z->rec = xrealloc(z->rec, *cap * sizeof *z->rec);
    }
    struct zone_txt *r = &z->rec[z->n];
    r->name = owner_text(ldns_rr_owner(rr), &r->namelen);
    r->txt = txt_text(rr, &r->txtlen);
    r->seq = z->n++;
}

/* zone_index - sort by name and keep only the first RR (in file order) of each name. */
static void
zone_index(struct dns_zone *z)
{
    if (z->n == 0)
        return; /* rec may be NULL: qsort must not see it */
    qsort(z->rec, z->n, sizeof *z->rec, rec_cmp);
    size_t out = 0;
    for (size_t i = 0; i < z->n; i++) {
        if (out && name_cmp(z->rec[out - 1].name, z->rec[out - 1].namelen, z->rec[i].name,
                            z->rec[i].namelen) == 0) {
            free(z->rec[i].name);
            free(z->rec[i].txt);
            continue;
        }
        z->rec[out++] = z->rec[i];
    }
    z->n = out;
}

/* zone_read - every RR of f, TXT kept. This is ldns_zone_new_frm_fp_l's loop without
 * the zone: that function leaks the RRs read so far when it fails (ldns 1.8.3 frees the
 * zone shallowly), and we want neither the leak nor the other RRs in memory. *line is
 * the first line of the record that failed. */
static ldns_status
zone_read(FILE *f, struct dns_zone *z, int *line)
{
    ldns_rdf *origin = NULL, *prev = NULL;
    uint32_t ttl = 3600;
    size_t cap = 0;
    int nr = 0; /* ldns counts the newlines it has consumed */
    ldns_status st = LDNS_STATUS_OK;
    while (!feof(f)) {
        *line = nr + 1;
        ldns_rr *rr = NULL;
        st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &nr);
        if (st == LDNS_STATUS_OK) {
            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT)
                zone_add(z, &cap, rr);
            ldns_rr_free(rr);
        } else if (st == LDNS_STATUS_SYNTAX_INCLUDE) {
            st = LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL;
            break;
        } else if (st != LDNS_STATUS_SYNTAX_EMPTY && st != LDNS_STATUS_SYNTAX_TTL &&
                   st != LDNS_STATUS_SYNTAX_ORIGIN) {
            break;
        }
        st = LDNS_STATUS_OK;
    }
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
    return st;
}

int
dns_zone_load(const char *path, struct dns_zone **z, struct err *e)
{
    *z = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, ARC_EIO, "%s: %s", path, strerror(errno));
    struct dns_zone *zone = xcalloc(1, sizeof *zone);
    int line = 0;
    ldns_status st = zone_read(f, zone, &line);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        dns_zone_free(zone);
        return err_set(e, ARC_EIO, "%s: read error", path);
    }
    if (st != LDNS_STATUS_OK) {
        dns_zone_free(zone);
        return err_set(e, ARC_EINVAL, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(st));
    }
    zone_index(zone);
    *z = zone;
    return 0;
}

int
dns_zone_lookup(const struct dns_zone *z, const char *name, struct buf *out)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    char *key = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        key[i] = lower(name[i]);
    key[n] = '\0';
    size_t lo = 0, hi = z->n;
    int found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(key, n, z->rec[mid].name, z->rec[mid].namelen);
        if (c == 0) {
            found = 1;
            lo = mid;
            break;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    free(key);
    if (!found)
        return 0;
    int rc = buf_append(out, z->rec[lo].txt, z->rec[lo].txtlen);
    return rc < 0 ? rc : 1;
}

struct dns_zone *
dns_zone_free(struct dns_zone *z)
{
    if (z) {
        for (size_t i = 0; i < z->n; i++) {
            free(z->rec[i].name);
            free(z->rec[i].txt);
        }
        free(z->rec);
        free(z);
    }
    return NULL;
}
