/* SPDX-License-Identifier: MIT */
/*
 * metrics - arcproxy's counters, gauges and one latency histogram, rendered in the
 * Prometheus text exposition format 0.0.4; plus the HTTP side (http.c: a request parser
 * and the routes /metrics and /health, no I/O) and its libuv adapter (serve.c).
 *
 * Registry (metrics.c): a fixed set of metrics, one enum constant each (no dynamic
 * registration). Several constants may share one family name with different label
 * values (messages by result, verdicts by chain result ...).
 *
 *   metrics_inc(id)                counter + 1 (any thread)
 *   metrics_add(id, n)             counter + n (any thread)
 *   metrics_gauge_add(id, d)       gauge + d, d may be negative (any thread)
 *   metrics_set(id, v)             counter or gauge := v (collectors: a value kept elsewhere)
 *   metrics_get(id)                current value (tests, logs)
 *   metrics_observe_ms(id, ms)     one observation in the histogram id (any thread)
 *   metrics_add_collector(fn, ctx) fn(ctx) runs at the start of every render, on the
 *                                  rendering thread; it calls metrics_set for values that
 *                                  live elsewhere (DNS cache stats, session counts);
 *                                  at most METRICS_MAX_COLLECTORS; -ARC_ERANGE past it
 *   metrics_remove_collector(fn, ctx)
 *   metrics_render(out)            the whole exposition, appended to out
 *   metrics_reset()                every value to 0 (tests)
 *   metrics_id_verdict(name)       "pass" ... -> M_VERDICT_* (unknown: M_VERDICT_PERMERROR)
 *   metrics_id_reply(text)         an SMTP reply "250 ..." -> M_MSG_DELIVERED/TEMPFAIL/REJECT
 *   metrics_escape_label(out, s)   label value escaping (\\, \", \n)
 *
 * Threads: increments are C11 relaxed atomics, no locks: safe from the loop and from
 * worker threads. A render is not a consistent snapshot across metrics (each value is read
 * once); a histogram's _count is computed from the buckets it printed, so _count always
 * equals the +Inf bucket. Collectors are registered, removed and run on one thread (the
 * loop).
 *
 * Counters only grow (metrics_set on a counter is for collectors mirroring a monotonic
 * source); metrics_reset exists for tests and is never called by the daemon.
 */
#ifndef ARCPROXY_METRICS_H
#define ARCPROXY_METRICS_H

#include <stdint.h>

#include "../util/buf.h"

#define METRICS_MAX_COLLECTORS 8

enum metric_id {
    /* arcproxy_messages_total{result}: one per message, by what the MTA was told */
    M_MSG_DELIVERED, /* downstream's 2xx relayed (proxy mode) */
    M_MSG_QUEUED,    /* 250 after the spool commit (queue mode) */
    M_MSG_TEMPFAIL,  /* a 4xx to the MTA (ours or downstream's) */
    M_MSG_REJECT,    /* a 5xx to the MTA */
    /* arcproxy_seals_total: an ARC set was added */
    M_SEAL_SEALED,
    /* arcproxy_seals_skipped_total{reason}: sealing was asked for and did not happen */
    M_SEAL_SKIP_UNPARSEABLE, /* the engine could not parse the message */
    M_SEAL_SKIP_PERMERROR,   /* the chain is a permerror (or already says cv=fail) */
    M_SEAL_SKIP_TEMPERROR,   /* a key lookup failed for now (on_temperror) */
    M_SEAL_SKIP_NO_KEY,      /* no key for the signing domain */
    M_SEAL_SKIP_POLICY,      /* policy said not to seal this message */
    M_SEAL_SKIP_ERROR,       /* the signer failed */
    /* arcproxy_verdicts_total{result}: chain validation results (modes v, s, sv) */
    M_VERDICT_NONE,
    M_VERDICT_PASS,
    M_VERDICT_FAIL,
    M_VERDICT_TEMPERROR,
    M_VERDICT_PERMERROR,
    /* arcproxy_downstream_failures_total{kind} */
    M_DS_FAIL_CONNECT, /* refused, unreachable, bad greeting or EHLO */
    M_DS_FAIL_TIMEOUT, /* no reply in time */
    M_DS_FAIL_LOST,    /* connection closed or reset inside a transaction */
    /* DNS (filled by the DNS module's collector) */
    M_DNS_QUERIES,    /* arcproxy_dns_queries_total */
    M_DNS_CACHE_HITS, /* arcproxy_dns_cache_hits_total */
    /* sessions */
    M_SESSIONS,       /* arcproxy_sessions (gauge): open SMTP sessions */
    M_SESSIONS_TOTAL, /* arcproxy_sessions_total: connections accepted */
    /* arcproxy_config_reloads_total{result} */
    M_RELOAD_OK,
    M_RELOAD_FAILED,
    /* arcproxy_message_duration_seconds (histogram): MAIL to the final reply */
    M_MSG_LATENCY,
    M__COUNT
};

void metrics_inc(enum metric_id id);
void metrics_add(enum metric_id id, uint64_t n);
void metrics_gauge_add(enum metric_id id, int64_t d);
void metrics_set(enum metric_id id, int64_t v);
int64_t metrics_get(enum metric_id id);
void metrics_observe_ms(enum metric_id id, uint64_t ms);

typedef void (*metrics_collect_fn)(void *ctx);
int metrics_add_collector(metrics_collect_fn fn, void *ctx);
void metrics_remove_collector(metrics_collect_fn fn, void *ctx);

void metrics_render(struct buf *out);
void metrics_reset(void);

enum metric_id metrics_id_verdict(const char *result_name);
enum metric_id metrics_id_reply(const char *reply);
void metrics_escape_label(struct buf *out, const char *s);

/* the histogram's upper bounds in milliseconds (the +Inf bucket is extra) */
#define METRICS_NBUCKETS 14
extern const uint64_t metrics_bucket_ms[METRICS_NBUCKETS];

#endif
