/* SPDX-License-Identifier: MIT */
/*
 * metrics - the registry and the Prometheus text rendering (metrics.h).
 *
 * One table (defs[]) names every metric: family, type, help text and at most one label.
 * Rows of one family are adjacent; the renderer prints HELP and TYPE once per family.
 * Values are C11 atomics updated with relaxed ordering: a counter needs no ordering
 * with anything else, and a scrape tolerates values read a moment apart.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "metrics.h"

enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct mdef {
    const char *family;
    enum mtype type;
    const char *help;
    const char *label; /* NULL: no label */
    const char *value;
};

/* clang-format off */
static const struct mdef defs[M__COUNT] = {
    [M_MSG_DELIVERED] = {"arcproxy_messages_total", MT_COUNTER, "Messages by the reply the MTA got for them.", "result", "delivered"},
    [M_MSG_QUEUED]    = {"arcproxy_messages_total", MT_COUNTER, NULL, "result", "queued"},
    [M_MSG_TEMPFAIL]  = {"arcproxy_messages_total", MT_COUNTER, NULL, "result", "tempfail"},
    [M_MSG_REJECT]    = {"arcproxy_messages_total", MT_COUNTER, NULL, "result", "reject"},
    [M_SEAL_SEALED]   = {"arcproxy_seals_total", MT_COUNTER, "Messages that got an ARC set.", NULL, NULL},
    [M_SEAL_SKIP_UNPARSEABLE] = {"arcproxy_seals_skipped_total", MT_COUNTER, "Messages not sealed although sealing was asked for, by reason.", "reason", "unparseable"},
    [M_SEAL_SKIP_PERMERROR]   = {"arcproxy_seals_skipped_total", MT_COUNTER, NULL, "reason", "permerror"},
    [M_SEAL_SKIP_TEMPERROR]   = {"arcproxy_seals_skipped_total", MT_COUNTER, NULL, "reason", "temperror"},
    [M_SEAL_SKIP_NO_KEY]      = {"arcproxy_seals_skipped_total", MT_COUNTER, NULL, "reason", "no_key"},
    [M_SEAL_SKIP_POLICY]      = {"arcproxy_seals_skipped_total", MT_COUNTER, NULL, "reason", "policy"},
    [M_SEAL_SKIP_ERROR]       = {"arcproxy_seals_skipped_total", MT_COUNTER, NULL, "reason", "error"},
    [M_VERDICT_NONE]      = {"arcproxy_verdicts_total", MT_COUNTER, "ARC chain validation results.", "result", "none"},
    [M_VERDICT_PASS]      = {"arcproxy_verdicts_total", MT_COUNTER, NULL, "result", "pass"},
    [M_VERDICT_FAIL]      = {"arcproxy_verdicts_total", MT_COUNTER, NULL, "result", "fail"},
    [M_VERDICT_TEMPERROR] = {"arcproxy_verdicts_total", MT_COUNTER, NULL, "result", "temperror"},
    [M_VERDICT_PERMERROR] = {"arcproxy_verdicts_total", MT_COUNTER, NULL, "result", "permerror"},
    [M_DS_FAIL_CONNECT] = {"arcproxy_downstream_failures_total", MT_COUNTER, "Failures talking to downstream (the MTA's return port), by kind.", "kind", "connect"},
    [M_DS_FAIL_TIMEOUT] = {"arcproxy_downstream_failures_total", MT_COUNTER, NULL, "kind", "timeout"},
    [M_DS_FAIL_LOST]    = {"arcproxy_downstream_failures_total", MT_COUNTER, NULL, "kind", "lost"},
    [M_DNS_QUERIES]    = {"arcproxy_dns_queries_total", MT_COUNTER, "DNS queries sent for ARC keys.", NULL, NULL},
    [M_DNS_CACHE_HITS] = {"arcproxy_dns_cache_hits_total", MT_COUNTER, "ARC key lookups answered from the cache.", NULL, NULL},
    [M_SESSIONS]       = {"arcproxy_sessions", MT_GAUGE, "Open SMTP sessions from the MTA.", NULL, NULL},
    [M_SESSIONS_TOTAL] = {"arcproxy_sessions_total", MT_COUNTER, "Connections accepted on the filter port (those refused with 421 included).", NULL, NULL},
    [M_RELOAD_OK]     = {"arcproxy_config_reloads_total", MT_COUNTER, "Configuration reloads (SIGHUP), by result.", "result", "ok"},
    [M_RELOAD_FAILED] = {"arcproxy_config_reloads_total", MT_COUNTER, NULL, "result", "failed"},
    [M_MSG_LATENCY] = {"arcproxy_message_duration_seconds", MT_HISTOGRAM, "Time from MAIL to the reply to the end of data.", NULL, NULL},
};
/* clang-format on */

const uint64_t metrics_bucket_ms[METRICS_NBUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000};

static _Atomic int64_t vals[M__COUNT];

struct hist {
    _Atomic uint64_t bucket[METRICS_NBUCKETS + 1]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t sum_ms;
};
static struct hist latency;

static struct {
    metrics_collect_fn fn;
    void *ctx;
} collectors[METRICS_MAX_COLLECTORS];

void
metrics_inc(enum metric_id id)
{
    atomic_fetch_add_explicit(&vals[id], 1, memory_order_relaxed);
}

void
metrics_add(enum metric_id id, uint64_t n)
{
    atomic_fetch_add_explicit(&vals[id], (int64_t)n, memory_order_relaxed);
}

void
metrics_gauge_add(enum metric_id id, int64_t d)
{
    atomic_fetch_add_explicit(&vals[id], d, memory_order_relaxed);
}

void
metrics_set(enum metric_id id, int64_t v)
{
    atomic_store_explicit(&vals[id], v, memory_order_relaxed);
}

int64_t
metrics_get(enum metric_id id)
{
    if (defs[id].type == MT_HISTOGRAM) {
        uint64_t n = 0;
        for (size_t i = 0; i <= METRICS_NBUCKETS; i++)
            n += atomic_load_explicit(&latency.bucket[i], memory_order_relaxed);
        return (int64_t)n;
    }
    return atomic_load_explicit(&vals[id], memory_order_relaxed);
}

void
metrics_observe_ms(enum metric_id id, uint64_t ms)
{
    size_t i = 0;
    if (defs[id].type != MT_HISTOGRAM)
        return;
    while (i < METRICS_NBUCKETS && ms > metrics_bucket_ms[i])
        i++;
    atomic_fetch_add_explicit(&latency.bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency.sum_ms, ms, memory_order_relaxed);
}

int
metrics_add_collector(metrics_collect_fn fn, void *ctx)
{
    for (size_t i = 0; i < METRICS_MAX_COLLECTORS; i++) {
        if (!collectors[i].fn) {
            collectors[i].fn = fn;
            collectors[i].ctx = ctx;
            return 0;
        }
    }
    return -ARC_ERANGE;
}

void
metrics_remove_collector(metrics_collect_fn fn, void *ctx)
{
    for (size_t i = 0; i < METRICS_MAX_COLLECTORS; i++) {
        if (collectors[i].fn == fn && collectors[i].ctx == ctx)
            collectors[i].fn = NULL;
    }
}

void
metrics_reset(void)
{
    for (size_t i = 0; i < M__COUNT; i++)
        atomic_store(&vals[i], 0);
    for (size_t i = 0; i <= METRICS_NBUCKETS; i++)
        atomic_store(&latency.bucket[i], 0);
    atomic_store(&latency.sum_ms, 0);
}

void
metrics_escape_label(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '"')
            buf_puts(out, "\\\"");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *s);
    }
}

/* help_escape - HELP text escaping: backslash and newline only. */
static void
help_escape(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *s);
    }
}

/* ms_as_seconds - "0.005", "12.345": milliseconds printed as decimal seconds. */
static void
ms_as_seconds(struct buf *out, uint64_t ms)
{
    buf_printf(out, "%llu.%03llu", (unsigned long long)(ms / 1000),
               (unsigned long long)(ms % 1000));
}

static void
render_histogram(struct buf *out, const struct mdef *d)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= METRICS_NBUCKETS; i++) {
        cum += atomic_load_explicit(&latency.bucket[i], memory_order_relaxed);
        buf_printf(out, "%s_bucket{le=\"", d->family);
        if (i < METRICS_NBUCKETS)
            ms_as_seconds(out, metrics_bucket_ms[i]);
        else
            buf_puts(out, "+Inf");
        buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
    }
    buf_printf(out, "%s_sum ", d->family);
    ms_as_seconds(out, atomic_load_explicit(&latency.sum_ms, memory_order_relaxed));
    buf_printf(out, "\n%s_count %llu\n", d->family, (unsigned long long)cum);
}

void
metrics_render(struct buf *out)
{
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < METRICS_MAX_COLLECTORS; i++) {
        if (collectors[i].fn)
            collectors[i].fn(collectors[i].ctx);
    }
    for (size_t i = 0; i < M__COUNT; i++) {
        const struct mdef *d = &defs[i];
        if (i == 0 || strcmp(defs[i - 1].family, d->family) != 0) {
            buf_printf(out, "# HELP %s ", d->family);
            help_escape(out, d->help ? d->help : "");
            buf_printf(out, "\n# TYPE %s %s\n", d->family, tnames[d->type]);
        }
        if (d->type == MT_HISTOGRAM) {
            render_histogram(out, d);
            continue;
        }
        buf_puts(out, d->family);
        if (d->label) {
            buf_printf(out, "{%s=\"", d->label);
            metrics_escape_label(out, d->value);
            buf_puts(out, "\"}");
        }
        buf_printf(out, " %lld\n", (long long)atomic_load_explicit(&vals[i], memory_order_relaxed));
    }
}

enum metric_id
metrics_id_verdict(const char *name)
{
    static const char *const names[] = {"none", "pass", "fail", "temperror", "permerror"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0)
            return (enum metric_id)(M_VERDICT_NONE + i);
    }
    return M_VERDICT_PERMERROR;
}

enum metric_id
metrics_id_reply(const char *reply)
{
    if (reply[0] == '2')
        return M_MSG_DELIVERED;
    if (reply[0] == '5')
        return M_MSG_REJECT;
    return M_MSG_TEMPFAIL;
}
