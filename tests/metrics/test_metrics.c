/* SPDX-License-Identifier: MIT */
/*
 * test_metrics - the registry (counters, gauge, histogram, collectors), the text format
 * parsed back line by line, concurrent increments from two threads, and the HTTP parser
 * and routes of the metrics port (src/metrics). The libuv server itself is exercised by
 * tests/metrics/test_metrics.py against the real daemon.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/http.h"
#include "metrics/metrics.h"
#include "test.h"
#include "util/buf.h"

static char *
render(void)
{
    struct buf b;
    buf_init(&b, 0);
    metrics_render(&b);
    return buf_take(&b, NULL);
}

/* sample - the value of the sample line "name{labels} value" (exact name+labels), or -1. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        if (!e)
            TEST_FAIL("last line without LF");
        if ((size_t)(e - l) > n && strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
        l = e + 1;
    }
    return -1;
}

/* well_formed - every line is a HELP, a TYPE or "name[{k="v",...}] number"; each family
 * has HELP then TYPE before its samples, once. Returns the number of samples. */
static int
well_formed(const char *text)
{
    int samples = 0;
    char families[64][80];
    int nfam = 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        ASSERT(e);
        char line[512];
        size_t len = (size_t)(e - l);
        ASSERT(len < sizeof line);
        memcpy(line, l, len);
        line[len] = '\0';
        l = e + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            char fam[80];
            ASSERT(sscanf(line + 7, "%79s", fam) == 1);
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], fam) == 0)
                    TEST_FAIL("family %s described twice", fam);
            ASSERT(nfam < 64);
            snprintf(families[nfam++], sizeof families[0], "%s", fam);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char fam[80], type[20];
            ASSERT(sscanf(line + 7, "%79s %19s", fam, type) == 2);
            ASSERT(nfam > 0 && strcmp(fam, families[nfam - 1]) == 0);
            ASSERT(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                   strcmp(type, "histogram") == 0);
            continue;
        }
        ASSERT(line[0] != '#' && line[0]);
        char *sp = strrchr(line, ' ');
        ASSERT(sp);
        char *end;
        strtod(sp + 1, &end);
        if (*end)
            TEST_FAIL("bad value in: %s", line);
        *sp = '\0';
        ASSERT(nfam > 0 && strncmp(line, families[nfam - 1], strlen(families[nfam - 1])) == 0);
        char *brace = strchr(line, '{');
        if (brace)
            ASSERT(line[strlen(line) - 1] == '}' && strchr(brace, '=') && strchr(brace, '"'));
        samples++;
    }
    return samples;
}

static void
render_is_well_formed_and_complete(void)
{
    metrics_reset();
    char *t = render();
    int n = well_formed(t);
    /* every non-histogram id is one sample; the histogram is 15 buckets + sum + count */
    ASSERT_EQ_INT(n, (M__COUNT - 1) + METRICS_NBUCKETS + 1 + 2);
    ASSERT(strstr(t, "# TYPE arcproxy_messages_total counter\n"));
    ASSERT(strstr(t, "# TYPE arcproxy_sessions gauge\n"));
    ASSERT(strstr(t, "# TYPE arcproxy_message_duration_seconds histogram\n"));
    ASSERT_EQ_INT(sample(t, "arcproxy_messages_total{result=\"delivered\"}"), 0);
    free(t);
}

static void
counters_and_gauge_show_in_render(void)
{
    metrics_reset();
    metrics_inc(M_MSG_DELIVERED);
    metrics_inc(M_MSG_DELIVERED);
    metrics_add(M_MSG_TEMPFAIL, 5);
    metrics_inc(metrics_id_verdict("pass"));
    metrics_inc(metrics_id_verdict("bogus"));
    metrics_gauge_add(M_SESSIONS, 3);
    metrics_gauge_add(M_SESSIONS, -1);
    char *t = render();
    ASSERT_EQ_INT(sample(t, "arcproxy_messages_total{result=\"delivered\"}"), 2);
    ASSERT_EQ_INT(sample(t, "arcproxy_messages_total{result=\"tempfail\"}"), 5);
    ASSERT_EQ_INT(sample(t, "arcproxy_verdicts_total{result=\"pass\"}"), 1);
    ASSERT_EQ_INT(sample(t, "arcproxy_verdicts_total{result=\"permerror\"}"), 1);
    ASSERT_EQ_INT(sample(t, "arcproxy_sessions"), 2);
    ASSERT_EQ_INT(metrics_get(M_SESSIONS), 2);
    free(t);
}

static void
reply_and_verdict_ids(void)
{
    ASSERT_EQ_INT(metrics_id_reply("250 2.0.0 Ok"), M_MSG_DELIVERED);
    ASSERT_EQ_INT(metrics_id_reply("451 4.4.2 lost"), M_MSG_TEMPFAIL);
    ASSERT_EQ_INT(metrics_id_reply("554 5.7.1 no"), M_MSG_REJECT);
    ASSERT_EQ_INT(metrics_id_reply(""), M_MSG_TEMPFAIL);
    ASSERT_EQ_INT(metrics_id_verdict("none"), M_VERDICT_NONE);
    ASSERT_EQ_INT(metrics_id_verdict("fail"), M_VERDICT_FAIL);
    ASSERT_EQ_INT(metrics_id_verdict("temperror"), M_VERDICT_TEMPERROR);
}

static void
histogram_buckets_are_cumulative(void)
{
    metrics_reset();
    metrics_observe_ms(M_MSG_LATENCY, 0);      /* le 0.005 */
    metrics_observe_ms(M_MSG_LATENCY, 5);      /* le 0.005: bounds are inclusive */
    metrics_observe_ms(M_MSG_LATENCY, 6);      /* le 0.010 */
    metrics_observe_ms(M_MSG_LATENCY, 1500);   /* le 2.5 */
    metrics_observe_ms(M_MSG_LATENCY, 999999); /* +Inf only */
    metrics_observe_ms(M_MSG_DELIVERED, 10);   /* not a histogram: ignored */
    char *t = render();
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"0.005\"}"), 2);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"0.010\"}"), 3);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"1.000\"}"), 3);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"2.500\"}"), 4);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"300.000\"}"), 4);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_bucket{le=\"+Inf\"}"), 5);
    ASSERT_EQ_INT(sample(t, "arcproxy_message_duration_seconds_count"), 5);
    ASSERT(sample(t, "arcproxy_message_duration_seconds_sum") == 1001.510);
    ASSERT_EQ_INT(metrics_get(M_MSG_LATENCY), 5);
    ASSERT_EQ_INT(metrics_get(M_MSG_DELIVERED), 0);
    /* bucket bounds grow strictly */
    for (size_t i = 1; i < METRICS_NBUCKETS; i++)
        ASSERT(metrics_bucket_ms[i] > metrics_bucket_ms[i - 1]);
    free(t);
}

#define PER_THREAD 200000

static void *
hammer(void *arg)
{
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_inc(M_MSG_DELIVERED);
        metrics_gauge_add(M_SESSIONS, 1);
        metrics_gauge_add(M_SESSIONS, -1);
        metrics_observe_ms(M_MSG_LATENCY, (uint64_t)(i % 100));
    }
    return arg;
}

static void
two_threads_sum_right(void)
{
    metrics_reset();
    pthread_t a, b;
    ASSERT(pthread_create(&a, NULL, hammer, NULL) == 0);
    ASSERT(pthread_create(&b, NULL, hammer, NULL) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ASSERT_EQ_INT(metrics_get(M_MSG_DELIVERED), 2 * PER_THREAD);
    ASSERT_EQ_INT(metrics_get(M_SESSIONS), 0);
    ASSERT_EQ_INT(metrics_get(M_MSG_LATENCY), 2 * PER_THREAD);
    char *t = render();
    /* sum of i%100 over PER_THREAD values, twice, in ms */
    double want = 2.0 * (PER_THREAD / 100) * 4950 / 1000;
    ASSERT(sample(t, "arcproxy_message_duration_seconds_sum") == want);
    free(t);
}

static int collected;

static void
collect(void *ctx)
{
    collected++;
    metrics_set(M_DNS_QUERIES, *(int64_t *)ctx);
}

static void
collectors_run_at_render(void)
{
    static int64_t q = 42;
    metrics_reset();
    ASSERT_EQ_INT(metrics_add_collector(collect, &q), 0);
    char *t = render();
    ASSERT_EQ_INT(collected, 1);
    ASSERT_EQ_INT(sample(t, "arcproxy_dns_queries_total"), 42);
    free(t);
    metrics_remove_collector(collect, &q);
    q = 7;
    t = render();
    ASSERT_EQ_INT(collected, 1);
    ASSERT_EQ_INT(sample(t, "arcproxy_dns_queries_total"), 42);
    free(t);
    for (int i = 0; i < METRICS_MAX_COLLECTORS; i++)
        ASSERT_EQ_INT(metrics_add_collector(collect, &q), 0);
    ASSERT(metrics_add_collector(collect, &q) < 0);
}

static void
label_values_are_escaped(void)
{
    struct buf b;
    buf_init(&b, 0);
    metrics_escape_label(&b, "a\\b\"c\nd");
    ASSERT_EQ_STR(b.data, "a\\\\b\\\"c\\nd");
    buf_free(&b);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static int
parse(const char *s, struct http_req *r)
{
    return http_parse(s, strlen(s), r);
}

static void
http_parse_complete_requests(void)
{
    struct http_req r;
    const char *s = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    ASSERT_EQ_INT(parse(s, &r), (int)strlen(s));
    ASSERT(span_eq(r.method, SPAN_LIT("GET")));
    ASSERT(span_eq(r.target, SPAN_LIT("/metrics")));
    ASSERT_EQ_INT(r.minor, 1);
    ASSERT_EQ_INT(parse("GET /health HTTP/1.0\n\nextra", &r), 22);
    ASSERT_EQ_INT(r.minor, 0);
}

static void
http_parse_incomplete_is_zero(void)
{
    struct http_req r;
    const char *s = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t n = 0; n < strlen(s); n++)
        ASSERT_EQ_INT(http_parse(s, n, &r), 0);
}

static void
http_parse_malformed_is_minus_one(void)
{
    static const char *const bad[] = {
        "GET\r\n\r\n",
        "GET /x\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "GET /x HTTP/1.1 \r\n\r\n",
        " GET /x HTTP/1.1\r\n\r\n",
        "G\x01T /x HTTP/1.1\r\n\r\n",
        "GET /a\x7f HTTP/1.1\r\n\r\n",
        "GET  /x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET /x HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: b\x01\r\n\r\n",
        "\r\n\r\n",
        "\x16\x03\x01\x02\x05\x01\x03\x01\xfc\x03\x03\n",
    };
    struct http_req r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &r) != -1)
            TEST_FAIL("case %zu parsed: %s", i, bad[i]);
    }
    /* a request line with no LF that can no longer be valid */
    char longline[3000];
    memset(longline, 'A', sizeof longline);
    ASSERT_EQ_INT(http_parse(longline, sizeof longline, &r), -1);
}

static int
route(const char *req, int draining, char **body)
{
    struct http_req r;
    struct buf out;
    ASSERT(parse(req, &r) > 0);
    buf_init(&out, 0);
    int st = http_route(&r, draining, &out);
    ASSERT(strstr(out.data, "\r\nConnection: close\r\n"));
    char *sep = strstr(out.data, "\r\n\r\n");
    ASSERT(sep);
    char *cl = strstr(out.data, "Content-Length: ");
    ASSERT(cl && cl < sep);
    ASSERT_EQ_INT(strtoul(cl + 16, NULL, 10), out.len - (size_t)(sep + 4 - out.data));
    char want[40];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", st);
    ASSERT(strncmp(out.data, want, strlen(want)) == 0);
    *body = strdup(sep + 4);
    buf_free(&out);
    return st;
}

static void
http_routes(void)
{
    char *b;
    metrics_reset();
    ASSERT_EQ_INT(route("GET /health HTTP/1.1\r\n\r\n", 0, &b), 200);
    ASSERT_EQ_STR(b, "ok\n");
    free(b);
    ASSERT_EQ_INT(route("GET /health HTTP/1.1\r\n\r\n", 1, &b), 503);
    ASSERT_EQ_STR(b, "draining\n");
    free(b);
    ASSERT_EQ_INT(route("GET /metrics?x=1 HTTP/1.1\r\n\r\n", 0, &b), 200);
    ASSERT(strstr(b, "# TYPE arcproxy_messages_total counter\n"));
    free(b);
    ASSERT_EQ_INT(route("GET /metricsx HTTP/1.1\r\n\r\n", 0, &b), 404);
    free(b);
    ASSERT_EQ_INT(route("GET / HTTP/1.1\r\n\r\n", 0, &b), 404);
    free(b);
    ASSERT_EQ_INT(route("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 0, &b), 405);
    free(b);
    ASSERT_EQ_INT(route("get /metrics HTTP/1.1\r\n\r\n", 0, &b), 405);
    free(b);
}

static void
http_errors(void)
{
    struct buf out;
    buf_init(&out, 0);
    http_error(431, &out);
    ASSERT(strncmp(out.data, "HTTP/1.1 431 ", 13) == 0);
    buf_reset(&out);
    http_error(408, &out);
    ASSERT(strncmp(out.data, "HTTP/1.1 408 ", 13) == 0);
    buf_free(&out);
}

static const struct test_case cases[] = {
    {"render_is_well_formed_and_complete", render_is_well_formed_and_complete},
    {"counters_and_gauge_show_in_render", counters_and_gauge_show_in_render},
    {"reply_and_verdict_ids", reply_and_verdict_ids},
    {"histogram_buckets_are_cumulative", histogram_buckets_are_cumulative},
    {"two_threads_sum_right", two_threads_sum_right},
    {"collectors_run_at_render", collectors_run_at_render},
    {"label_values_are_escaped", label_values_are_escaped},
    {"http_parse_complete_requests", http_parse_complete_requests},
    {"http_parse_incomplete_is_zero", http_parse_incomplete_is_zero},
    {"http_parse_malformed_is_minus_one", http_parse_malformed_is_minus_one},
    {"http_routes", http_routes},
    {"http_errors", http_errors},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
