/* SPDX-License-Identifier: MIT */
/* answer - TXT query building and reply matching/classification with ldns; see answer.h. */
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "answer.h"

#define CNAME_HOPS 8
#define TXT_MAX    65536

const char *
dns_status_name(enum dns_status st)
{
    switch (st) {
    case DNS_FOUND:
        return "found";
    case DNS_NOTFOUND:
        return "notfound";
    case DNS_TEMPFAIL:
        return "tempfail";
    case DNS_PERMFAIL:
        return "permfail";
    }
    return "?";
}

static int
name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int
dns_name_norm(const char *name, char *out, size_t outsz)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    if (n == 0 || n > DNS_NAME_MAX || n + 1 > outsz)
        return -ARC_EINVAL;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return -ARC_EINVAL;
            label = 0;
        } else if (!name_char_ok(c) || ++label > 63) {
            return -ARC_EINVAL;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (label == 0)
        return -ARC_EINVAL;
    out[n] = '\0';
    return 0;
}

int
dns_query_build(const char *name, uint16_t id, unsigned edns_size, struct buf *out, struct err *e)
{
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    if (!dname)
        return err_set(e, ARC_EINVAL, "bad DNS name %s", name);
    ldns_pkt *pkt = ldns_pkt_query_new(dname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    if (!pkt) {
        ldns_rdf_deep_free(dname);
        return err_set(e, ARC_EINVAL, "cannot build a query for %s", name);
    }
    ldns_pkt_set_id(pkt, id);
    if (edns_size > 0)
        ldns_pkt_set_edns_udp_size(pkt, (uint16_t)edns_size);
    uint8_t *wire = NULL;
    size_t size = 0;
    int rc = 0;
    if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK)
        rc = err_set(e, ARC_EINVAL, "cannot encode a query for %s", name);
    else if (buf_append(out, wire, size) < 0)
        rc = err_set(e, ARC_ERANGE, "query for %s too long", name);
    free(wire);
    ldns_pkt_free(pkt);
    return rc;
}

/* txt_join - the character-strings of one TXT RR appended to out. */
static int
txt_join(const ldns_rr *rr, struct buf *out)
{
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *d = ldns_rdf_data(rdf);
        size_t n = ldns_rdf_size(rdf);
        if (n < 1 || (size_t)d[0] + 1 > n)
            return -ARC_EINVAL;
        if (buf_append(out, d + 1, d[0]) < 0)
            return -ARC_ERANGE;
    }
    return 0;
}

/* is_dkim1 - the TXT RR's text begins with "v=DKIM1" (after optional whitespace). */
static int
is_dkim1(const ldns_rr *rr)
{
    struct buf b;
    buf_init(&b, TXT_MAX);
    int ok = 0;
    if (txt_join(rr, &b) == 0) {
        size_t i = 0;
        while (i < b.len && (b.data[i] == ' ' || b.data[i] == '\t'))
            i++;
        ok = b.len - i >= 7 && memcmp(b.data + i, "v=DKIM1", 7) == 0;
    }
    buf_free(&b);
    return ok;
}

/* question_ok - one question, our name, TXT, IN. */
static int
question_ok(const ldns_pkt *pkt, const ldns_rdf *qname)
{
    const ldns_rr_list *q = ldns_pkt_question(pkt);
    if (ldns_pkt_qdcount(pkt) != 1 || !q || ldns_rr_list_rr_count(q) != 1)
        return 0;
    const ldns_rr *rr = ldns_rr_list_rr(q, 0);
    return ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
           ldns_dname_compare(ldns_rr_owner(rr), qname) == 0;
}

/* follow_cnames - the name the TXT RRs should sit at after the CNAME chain in the answer
 * section; *ttl lowered to the smallest CNAME TTL met. */
static const ldns_rdf *
follow_cnames(const ldns_rr_list *ans, const ldns_rdf *qname, uint32_t *ttl)
{
    const ldns_rdf *cur = qname;
    for (int hop = 0; hop < CNAME_HOPS; hop++) {
        const ldns_rr *next = NULL;
        for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
            const ldns_rr *rr = ldns_rr_list_rr(ans, i);
            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1 &&
                ldns_dname_compare(ldns_rr_owner(rr), cur) == 0) {
                next = rr;
                break;
            }
        }
        if (!next)
            return cur;
        if (ldns_rr_ttl(next) < *ttl)
            *ttl = ldns_rr_ttl(next);
        cur = ldns_rr_rdf(next, 0);
    }
    return cur;
}

/* classify_noerror - FOUND with the chosen TXT RR joined, or NODATA. */
static void
classify_noerror(const ldns_pkt *pkt, const ldns_rdf *qname, struct dns_answer *a)
{
    const ldns_rr_list *ans = ldns_pkt_answer(pkt);
    uint32_t ttl = UINT32_MAX;
    const ldns_rdf *owner = follow_cnames(ans, qname, &ttl);
    const ldns_rr *pick = NULL;
    for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
            ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
            continue;
        a->ntxt++;
        if (!pick || (!is_dkim1(pick) && is_dkim1(rr)))
            pick = rr;
    }
    if (!pick) {
        a->status = DNS_NOTFOUND;
        snprintf(a->why, sizeof a->why, "no TXT record (NODATA)");
        return;
    }
    if (txt_join(pick, &a->txt) < 0) {
        a->status = DNS_TEMPFAIL;
        snprintf(a->why, sizeof a->why, "malformed TXT record");
        return;
    }
    a->status = DNS_FOUND;
    a->has_ttl = 1;
    a->ttl = ldns_rr_ttl(pick) < ttl ? ldns_rr_ttl(pick) : ttl;
}

/* negative_ttl - min(SOA TTL, SOA MINIMUM) of the authority section (RFC 2308 §5). */
static void
negative_ttl(const ldns_pkt *pkt, struct dns_answer *a)
{
    const ldns_rr_list *auth = ldns_pkt_authority(pkt);
    for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(auth, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7)
            continue;
        const ldns_rdf *min = ldns_rr_rdf(rr, 6);
        if (ldns_rdf_size(min) != 4)
            continue;
        uint32_t m = ldns_rdf2native_int32(min);
        a->has_ttl = 1;
        a->ttl = m < ldns_rr_ttl(rr) ? m : ldns_rr_ttl(rr);
        return;
    }
}

int
dns_answer_parse(const uint8_t *p, size_t n, uint16_t id, const char *name, struct dns_answer *a)
{
    memset(a, 0, sizeof *a);
    buf_init(&a->txt, TXT_MAX);
    a->status = DNS_TEMPFAIL;
    ldns_pkt *pkt = NULL;
    if (ldns_wire2pkt(&pkt, p, n) != LDNS_STATUS_OK)
        return -ARC_EINVAL;
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    int rc = -ARC_ENOENT;
    if (!qname || !ldns_pkt_qr(pkt) || ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY ||
        ldns_pkt_id(pkt) != id || !question_ok(pkt, qname))
        goto out;
    rc = 0;
    a->rcode = ldns_pkt_get_rcode(pkt);
    if (ldns_pkt_tc(pkt)) {
        a->truncated = 1;
        snprintf(a->why, sizeof a->why, "truncated");
        goto out;
    }
    switch (a->rcode) {
    case LDNS_RCODE_NOERROR:
        classify_noerror(pkt, qname, a);
        if (a->status == DNS_NOTFOUND)
            negative_ttl(pkt, a);
        break;
    case LDNS_RCODE_NXDOMAIN:
        a->status = DNS_NOTFOUND;
        snprintf(a->why, sizeof a->why, "no such name (NXDOMAIN)");
        negative_ttl(pkt, a);
        break;
    default: {
        ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, (int)a->rcode);
        snprintf(a->why, sizeof a->why, "server answered %s", t ? t->name : "an error");
        break;
    }
    }
out:
    ldns_rdf_deep_free(qname);
    ldns_pkt_free(pkt);
    return rc;
}

void
dns_answer_free(struct dns_answer *a)
{
    buf_free(&a->txt);
}
