/* SPDX-License-Identifier: MIT */
/*
 * resolver - non-blocking TXT lookups on the caller's libuv loop, with a cache: how the
 * daemon (and the CLI, through dns_txt_sync) fetches DKIM/ARC key records.
 *
 *   dns_res_opts_default(&o)                 defaults (see struct dns_res_opts)
 *   dns_res_new(loop, &o, &r, e)             a resolver on loop; servers from o, or
 *                                            /etc/resolv.conf when o.nservers == 0
 *   dns_res_txt(r, name, cb, arg, &req)      start a lookup; cb(arg, status, txt, n, why)
 *   dns_req_cancel(req)                      the callback will not be called
 *   dns_res_get_stats(r, &st)                counters since dns_res_new
 *   dns_res_close(r)                         pending callbacks get DNS_TEMPFAIL
 *                                            ("shutting down"), then the handles close;
 *                                            run the loop until they have
 *   dns_txt_sync(o, name, out, e)            one lookup on a private loop (CLI): 1 found
 *                                            (appended to out), 0 not found, -ARC_ETEMP,
 *                                            -ARC_EINVAL bad name
 *   dns_res_opts_from_config(cfg, zone, &o, e)  the dns.* keys into o (resolver_config.c)
 *
 * Transport: each try sends one query from a new UDP socket bound to port 0 (a fresh
 * kernel-chosen source port per try) with a random 16-bit ID from OpenSSL's CSPRNG and an
 * EDNS0 OPT advertising o.edns_size. A reply counts only if it comes from the server's
 * address and port and answer.h's dns_answer_parse matches ID and question; anything else
 * is dropped and counted (stats.dropped_answers) and the try goes on waiting. TC=1 makes
 * the same server be asked over TCP (2-byte length framing, one query per connection,
 * reply up to 65535 bytes) within the same try time. A try ends with a reply, a timeout
 * (o.timeout_ms), or a send/connect error; SERVFAIL/REFUSED/other error rcodes and
 * timeouts move to the next server (rotation; the starting server also rotates per lookup).
 * At most o.attempts tries per server, and the whole lookup - queue wait included - within
 * o.total_ms; then DNS_TEMPFAIL.
 *
 * Cache (o.cache_max entries, 0 = off; LRU eviction): FOUND for the record's TTL clamped
 * to [ttl_min_s, ttl_max_s]; NOTFOUND (NXDOMAIN/NODATA) for min(SOA TTL, SOA MINIMUM),
 * clamped to [neg_ttl_min_s, neg_ttl_max_s] (neg_ttl_min_s when there is no SOA).
 * Temporary failures are never cached. Names are cached lowercase, without the final dot.
 * In-flight de-duplication: requests for a name that is being looked up join that lookup
 * (stats.coalesced); all their callbacks fire, in request order. At most o.max_inflight
 * lookups use the network at a time; more wait in a FIFO queue (their total_ms runs).
 *
 * Zone source: with o.zone set, nothing goes to the network: lookups answer from the zone
 * (FOUND or NOTFOUND) through the same asynchronous callback; no cache.
 *
 * Callbacks: always from the loop, never from inside dns_res_txt (cache hits, zone
 * answers and bad names are delivered on the next loop turn). txt is NUL-terminated, NULL
 * unless FOUND, and lives only during the callback. why is a short reason (never NULL).
 * After the callback, or after dns_req_cancel, the request handle is gone (cancelling a
 * request inside its own callback does nothing). Callbacks may start new lookups, cancel
 * other requests and close the resolver.
 *
 * Errors: dns_res_new -ARC_EINVAL (bad options), -ARC_EIO (no servers: resolv.conf
 * unreadable or empty is not an error, 127.0.0.1:53 is used as the C library does).
 * dns_res_txt returns 0 (the callback will fire) or -ARC_ESTATE after dns_res_close (it
 * will not). A bad name is DNS_PERMFAIL through the callback.
 *
 * Threads: one resolver belongs to one loop and its thread. dns_txt_sync may run on any
 * thread (its own loop).
 *
 * Known gaps: no DNSSEC validation (we trust the resolver, as DKIM does); no 0x20 case
 * randomization; resolv.conf options (timeout:, attempts:, rotate, search) are ignored;
 * TCP connections are not reused.
 */
#ifndef ARCPROXY_DNS_RESOLVER_H
#define ARCPROXY_DNS_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "answer.h"

#define DNS_RES_MAX_SERVERS 8

struct dns_zone;
struct dns_res;
struct dns_req;
struct arcp_config;

struct dns_res_opts {
    struct sockaddr_storage servers[DNS_RES_MAX_SERVERS]; /* IPv4/IPv6 with port */
    size_t nservers;                                      /* 0: the nameservers of resolv_conf */
    const char *resolv_conf;                              /* NULL: /etc/resolv.conf */
    unsigned timeout_ms;                                  /* one try; default 5000 */
    unsigned attempts;                                    /* tries per server; default 2 */
    unsigned total_ms;                                    /* whole lookup; default 10000 */
    unsigned edns_size;                    /* EDNS0 UDP size; 0: no EDNS (512); default 1232 */
    size_t cache_max;                      /* entries; 0: no cache; default 10000 */
    uint32_t ttl_min_s, ttl_max_s;         /* positive clamp; default 10, 3600 */
    uint32_t neg_ttl_min_s, neg_ttl_max_s; /* negative clamp; default 5, 300 */
    unsigned max_inflight;                 /* lookups on the network at once; default 1000 */
    const struct dns_zone *zone;           /* NULL: DNS; else answer from this zone (borrowed) */
};

struct dns_res_stats {
    uint64_t queries_sent; /* UDP and TCP queries written */
    uint64_t cache_hits, cache_misses;
    uint64_t coalesced; /* requests that joined a lookup in flight */
    uint64_t timeouts;  /* tries that timed out */
    uint64_t tcp_fallbacks;
    uint64_t dropped_answers; /* replies that did not match (source, ID, question) */
};

typedef void (*dns_txt_cb)(void *arg, enum dns_status st, const char *txt, size_t n,
                           const char *why);

void dns_res_opts_default(struct dns_res_opts *o);
int dns_res_new(uv_loop_t *loop, const struct dns_res_opts *o, struct dns_res **rp, struct err *e);
int dns_res_txt(struct dns_res *r, const char *name, dns_txt_cb cb, void *arg,
                struct dns_req **reqp);
void dns_req_cancel(struct dns_req *q);
void dns_res_get_stats(const struct dns_res *r, struct dns_res_stats *st);
void dns_res_close(struct dns_res *r);

int dns_txt_sync(const struct dns_res_opts *o, const char *name, struct buf *out, struct err *e);

/* dns_res_parse_server - "IP", "IP:PORT", "[IPv6]:PORT" (port 53 when omitted). */
int dns_res_parse_server(const char *s, struct sockaddr_storage *ss, struct err *e);

/* dns_res_opts_from_config - dns.servers, dns.timeout, dns.attempts, dns.lookup_timeout,
 * dns.edns_size, dns.cache_size, dns.cache_min_ttl, dns.cache_max_ttl,
 * dns.negative_min_ttl, dns.negative_max_ttl into o (starting from the defaults); zone
 * is the loaded dns.zone_file or NULL (the caller loads it: it owns its lifetime). */
int dns_res_opts_from_config(const struct arcp_config *c, const struct dns_zone *zone,
                             struct dns_res_opts *o, struct err *e);

#endif
