/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dnsans - libFuzzer driver for DNS answers to a key lookup: dns_answer_parse
 * (src/dns/answer.c: ldns wire parsing, ID/question matching, CNAME following, TXT
 * choice and joining, negative TTL) for the name sel._domainkey.example.com, then the
 * joined TXT text through arc_pubkey_parse (src/arc/key.c), as the resolver and the
 * engine do with a reply from the network.
 *
 * The ID expected is the input's first two bytes (the reply's own ID field), so that
 * inputs get past ID matching and exercise the rest; the question must still match.
 * Checks, besides crashes and leaks:
 *   - only 0, -ARC_EINVAL or -ARC_ENOENT come back;
 *   - a reply that matches our name does not match another name or another ID;
 *   - FOUND carries text (NUL-free length within 64 KiB), other results carry none
 *     and a reason; a truncated reply is never FOUND;
 *   - the key parser returns one of its documented codes.
 * Seeds: fuzz/corpus/dnsans/ (answers built with ldns: found, 4096-bit key in several
 * strings, NXDOMAIN/NODATA with SOA, SERVFAIL, REFUSED, TC, CNAME, two TXT, revoked).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arc/key.h"
#include "dns/answer.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char qname[] = "sel._domainkey.example.com";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    uint16_t id = size >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
    struct dns_answer a;
    int rc = dns_answer_parse(p, size, id, qname, &a);
    if (rc != 0 && rc != -ARC_EINVAL && rc != -ARC_ENOENT)
        abort();
    if (rc == 0) {
        struct dns_answer b;
        if (dns_answer_parse(p, size, id, "other._domainkey.example.com", &b) != -ARC_ENOENT)
            abort();
        dns_answer_free(&b);
        if (dns_answer_parse(p, size, (uint16_t)(id + 1), qname, &b) != -ARC_ENOENT)
            abort();
        dns_answer_free(&b);
        if (a.truncated && a.status == DNS_FOUND)
            abort();
        if (a.status == DNS_FOUND) {
            if (a.txt.len > 65536 || a.ntxt == 0 || !a.has_ttl)
                abort();
            struct arc_pubkey *pk = NULL;
            struct err e;
            err_clear(&e);
            int kr = arc_pubkey_parse(a.txt.data ? a.txt.data : "", a.txt.len, 1024, &pk, &e);
            if (kr != 0 && kr != -ARC_EINVAL && kr != -ARC_ENOENT && kr != -ARC_ERANGE)
                abort();
            arc_pubkey_free(pk);
        } else if (a.txt.len != 0 || a.why[0] == '\0') {
            abort();
        }
    }
    dns_answer_free(&a);
    free(p);
    return 0;
}
