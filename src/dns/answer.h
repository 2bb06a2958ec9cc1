/* SPDX-License-Identifier: MIT */
/*
 * answer - the DNS wire format of one TXT lookup, with ldns: the query we send and the
 * checks and classification of what comes back. Pure: no sockets, no clock, no loop
 * (the resolver, the fuzzer and the unit tests call it alike).
 *
 *   dns_name_norm(name, out, outsz)   key for cache and matching: lowercase, no trailing
 *                                     dot; 0, or -ARC_EINVAL for a name we never query
 *   dns_query_build(name, id, edns, out, e)  TXT/IN query with RD, EDNS0 OPT when edns>0
 *   dns_answer_parse(p, n, id, name, a)      match and classify one reply
 *   dns_answer_free(a)                       release a->txt
 *   dns_status_name(st)                      "found", "notfound", "tempfail", "permfail"
 *
 * Matching (dns_answer_parse returns -ARC_ENOENT, the reply is dropped): QR must be set,
 * opcode QUERY, ID equal, exactly one question whose name equals ours (case-insensitive,
 * RFC 4343), type TXT, class IN. The caller checks the server address and port.
 * Unparseable bytes give -ARC_EINVAL (also dropped).
 *
 * Classification of a matching reply (0 returned, a filled):
 *   TC=1                     a->truncated: ask again over TCP, nothing else is valid
 *   NOERROR + TXT at name    DNS_FOUND; CNAMEs in the answer are followed (8 hops)
 *   NOERROR, no TXT (NODATA) DNS_NOTFOUND
 *   NXDOMAIN                 DNS_NOTFOUND
 *   SERVFAIL, REFUSED, other DNS_TEMPFAIL
 * Several TXT RRs at the name (RFC 6376 §3.6.2.2: "the results are undefined"; §6.1.2
 * lets the verifier choose one): the first whose text starts with "v=DKIM1" is taken,
 * else the first; a->ntxt says how many there were. The strings of the chosen RR are joined without separator (§3.6.2.2).
 * TTL: FOUND, the smallest TTL of the chosen TXT RR and the CNAMEs followed; NOTFOUND,
 * min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308 §5), or a->has_ttl = 0
 * when there is no SOA. The resolver clamps both.
 *
 * Limits: names up to 253 bytes of letters, digits, '-', '_' and '.'; labels 1..63. Joined
 * text up to 64 KiB (a DNS message cannot carry more).
 */
#ifndef ARCPROXY_DNS_ANSWER_H
#define ARCPROXY_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

#define DNS_NAME_MAX 253

enum dns_status {
    DNS_FOUND,
    DNS_NOTFOUND, /* NXDOMAIN or no TXT record: the key is missing */
    DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, bad answer: try later */
    DNS_PERMFAIL, /* bad name: never looked up */
};

struct dns_answer {
    enum dns_status status;
    int truncated;  /* TC=1: retry over TCP */
    unsigned rcode; /* as received */
    int has_ttl;    /* ttl is valid */
    uint32_t ttl;   /* seconds (see above) */
    size_t ntxt;    /* TXT RRs at the name */
    struct buf txt; /* FOUND: the chosen record's strings joined */
    char why[96];   /* not FOUND: a short reason for logs */
};

int dns_name_norm(const char *name, char *out, size_t outsz);
int dns_query_build(const char *name, uint16_t id, unsigned edns_size, struct buf *out,
                    struct err *e);
int dns_answer_parse(const uint8_t *p, size_t n, uint16_t id, const char *name,
                     struct dns_answer *a);
void dns_answer_free(struct dns_answer *a);
const char *dns_status_name(enum dns_status st);

#endif
