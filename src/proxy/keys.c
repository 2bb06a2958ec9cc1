/* SPDX-License-Identifier: MIT */
/*
 * keys - the key records of a message's ARC chain, looked up on the loop with the
 * non-blocking resolver (src/dns/resolver.h) between the two worker runs of a JOB_END.
 *
 *   keys_res_open(px, o, e)   make px->res (and register the metrics collector)
 *   keys_res_close(px)        close px->res (pending lookups get DNS_TEMPFAIL) and drop
 *                             the collector; px->res NULL is fine
 *   keys_start(s, j)          the first run of j listed j->keys: look each one up; when
 *                             all are answered, job_resume(s, j) runs the second half
 *   keys_cancel(s)            the session goes away: cancel its lookups, resume at once
 *                             (the second half sees keys_cancelled and does no ARC work)
 *   keys_free(j)              the job's key list (job_free)
 *
 * Results: DNS_FOUND -> ARC_KEY_FOUND (the text copied: it lives only during the
 * callback), DNS_NOTFOUND -> ARC_KEY_MISSING, DNS_TEMPFAIL -> ARC_KEY_TEMPFAIL,
 * DNS_PERMFAIL -> ARC_KEY_PERMFAIL. A resolver that is gone or refuses the request is a
 * temporary failure.
 *
 * Threads: loop thread only. While a job waits here its session keeps job_busy set, so
 * no other job of the session runs, the session is not freed, and a reload waits (at
 * most dns.lookup_timeout).
 *
 * Metrics: arcproxy_dns_queries_total and arcproxy_dns_cache_hits_total are the
 * resolver's queries_sent and cache_hits, summed over the resolvers this process made
 * (a reload that changes dns.* makes a new one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "proxy_int.h"
#include "util/log.h"
#include "util/xalloc.h"

static uint64_t g_queries_base, g_hits_base; /* closed resolvers' counts (loop thread) */

static void
collect(void *ctx)
{
    struct proxy *px = ctx;
    struct dns_res_stats st;
    memset(&st, 0, sizeof st);
    if (px->res)
        dns_res_get_stats(px->res, &st);
    metrics_set(M_DNS_QUERIES, (int64_t)(g_queries_base + st.queries_sent));
    metrics_set(M_DNS_CACHE_HITS, (int64_t)(g_hits_base + st.cache_hits));
}

int
keys_res_open(struct proxy *px, const struct dns_res_opts *o, struct err *e)
{
    int rc = dns_res_new(px->loop, o, &px->res, e);
    if (rc < 0) {
        px->res = NULL;
        return rc;
    }
    px->res_opts = *o;
    metrics_add_collector(collect, px);
    return 0;
}

void
keys_res_close(struct proxy *px)
{
    if (!px->res)
        return;
    struct dns_res_stats st;
    dns_res_get_stats(px->res, &st);
    g_queries_base += st.queries_sent;
    g_hits_base += st.cache_hits;
    metrics_remove_collector(collect, px);
    dns_res_close(px->res);
    px->res = NULL;
    metrics_set(M_DNS_QUERIES, (int64_t)g_queries_base);
    metrics_set(M_DNS_CACHE_HITS, (int64_t)g_hits_base);
}

static void
key_done(struct sess *s, struct job *j)
{
    if (--j->nkeys_left > 0)
        return;
    s->kjob = NULL;
    job_resume(s, j);
}

static void
key_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    struct keyq *k = arg;
    struct job *j = k->j;
    k->req = NULL;
    k->st = st == DNS_FOUND      ? ARC_KEY_FOUND
            : st == DNS_NOTFOUND ? ARC_KEY_MISSING
            : st == DNS_PERMFAIL ? ARC_KEY_PERMFAIL
                                 : ARC_KEY_TEMPFAIL;
    if (st == DNS_FOUND) {
        k->txt = xmalloc(n + 1);
        memcpy(k->txt, txt, n);
        k->txt[n] = '\0';
        k->n = n;
    }
    if (st != DNS_FOUND)
        log_debug("%s: key %s._domainkey.%s: %s", j->s->id, k->selector, k->domain, why);
    key_done(j->s, j);
}

void
keys_start(struct sess *s, struct job *j)
{
    struct proxy *px = s->px;
    s->kjob = j;
    j->nkeys_left = j->nkeys + 1; /* held until every request is out */
    for (size_t i = 0; i < j->nkeys; i++) {
        struct keyq *k = &j->keys[i];
        char name[600];
        k->j = j;
        k->st = ARC_KEY_TEMPFAIL;
        snprintf(name, sizeof name, "%s._domainkey.%s", k->selector, k->domain);
        if (!px->res || dns_res_txt(px->res, name, key_cb, k, &k->req) < 0) {
            k->req = NULL;
            j->nkeys_left--;
        }
    }
    key_done(s, j);
}

void
keys_cancel(struct sess *s)
{
    struct job *j = s->kjob;
    if (!j)
        return;
    s->kjob = NULL;
    for (size_t i = 0; i < j->nkeys; i++) {
        if (j->keys[i].req) {
            dns_req_cancel(j->keys[i].req);
            j->keys[i].req = NULL;
        }
    }
    j->keys_cancelled = 1;
    j->nkeys_left = 0;
    job_resume(s, j);
}

void
keys_free(struct job *j)
{
    for (size_t i = 0; j->keys && i < j->nkeys; i++)
        free(j->keys[i].txt);
    free(j->keys);
    j->keys = NULL;
    j->nkeys = 0;
}
