/* SPDX-License-Identifier: MIT */
/*
 * test_resolver - src/dns/resolver.c against a real DNS server: unbound from Debian, started
 * by main() on a free loopback port with a private config, serving tests/dns/data/
 * example.test.zone as an auth-zone, with UDP answers capped at 512 bytes (max-udp-size)
 * so the 4096-bit key record comes truncated and is fetched over TCP. SERVFAIL comes from
 * a forward-zone to a loopback address unbound refuses to use, REFUSED from an
 * always_refuse local-zone. Every query unbound receives is logged (log-queries), so the
 * tests count queries at the server as well as in dns_res_stats.
 *
 * Cases that need behaviour unbound cannot show use a fake server on the same loop: a
 * silent UDP port (timeouts while the loop keeps serving others) and a server that sends
 * spoofed replies (wrong source port, wrong ID, wrong question) before the real one.
 *
 * Without unbound the test skips (exit 77), or fails under CI=true.
 * Not covered: reading /etc/resolv.conf (it has no port syntax), IPv6 servers, rotation across several real servers, TCP-only failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "arc/key.h"
#include "dns/answer.h"
#include "dns/resolver.h"
#include "dns/zonefile.h"
#include "test.h"

static char g_dir[64];
static int g_port;
static pid_t g_pid;

/* ---------- helpers ---------- */

struct result {
    int done;
    enum dns_status st;
    char txt[4096];
    size_t n;
    char why[96];
    int order;
    int in_call; /* set around dns_res_txt: a callback from inside it is a bug */
};

static int g_order;
static int g_in_txt_call;

static void
result_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    struct result *r = arg;
    if (g_in_txt_call)
        TEST_FAIL("callback ran inside dns_res_txt");
    r->done++;
    r->st = st;
    r->n = n;
    if (txt) {
        ASSERT(n < sizeof r->txt);
        memcpy(r->txt, txt, n);
        r->txt[n] = '\0';
        ASSERT(txt[n] == '\0');
    } else {
        r->txt[0] = '\0';
    }
    ASSERT(why != NULL);
    snprintf(r->why, sizeof r->why, "%s", why);
    r->order = ++g_order;
}

static void
start(struct dns_res *r, const char *name, struct result *res)
{
    g_in_txt_call = 1;
    int rc = dns_res_txt(r, name, result_cb, res, NULL);
    g_in_txt_call = 0;
    ASSERT_EQ_INT(rc, 0);
}

static int g_guard_fired;

static void
guard_cb(uv_timer_t *t)
{
    g_guard_fired = 1;
}

/* run_until - run the loop until *counter reaches want; fail after max_ms. */
static void
run_until(uv_loop_t *loop, const int *counter, int want, unsigned max_ms)
{
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    g_guard_fired = 0;
    uv_timer_start(&guard, guard_cb, max_ms, 0);
    while (*counter < want && !g_guard_fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (*counter < want)
        TEST_FAIL("gave up after %u ms: %d of %d done", max_ms, *counter, want);
}

static void
sleep_loop(uv_loop_t *loop, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    g_guard_fired = 0;
    uv_timer_start(&t, guard_cb, ms, 0);
    while (!g_guard_fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void
opts_server(struct dns_res_opts *o, int port)
{
    dns_res_opts_default(o);
    char s[32];
    snprintf(s, sizeof s, "127.0.0.1:%d", port);
    ASSERT_EQ_INT(dns_res_parse_server(s, &o->servers[0], NULL), 0);
    o->nservers = 1;
    o->timeout_ms = 1000;
    o->total_ms = 5000;
}

static struct dns_res *
res_new(uv_loop_t *loop, const struct dns_res_opts *o)
{
    struct dns_res *r = NULL;
    struct err e;
    err_clear(&e);
    if (dns_res_new(loop, o, &r, &e) != 0)
        TEST_FAIL("dns_res_new: %s", e.text);
    return r;
}

/* finish_loop - close the resolver, run the loop dry, and check no handle is left. */
static void
finish_loop(uv_loop_t *loop, struct dns_res *r)
{
    dns_res_close(r);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(uv_loop_close(loop), 0);
}

/* server_count - queries for name (no trailing dot) in unbound's log. */
static int
server_count(const char *name)
{
    char path[128], needle[300];
    snprintf(path, sizeof path, "%s/unbound.log", g_dir);
    snprintf(needle, sizeof needle, " %s. TXT IN", name);
    char *log = test_read_file(path, NULL);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* lookup1 - one lookup on a fresh loop and resolver with default options. */
static void
lookup1(const char *name, struct result *res, struct dns_res_stats *st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    struct dns_res *r = res_new(&loop, &o);
    memset(res, 0, sizeof *res);
    start(r, name, res);
    run_until(&loop, &res->done, 1, 10000);
    if (st)
        dns_res_get_stats(r, st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(res->done, 1);
}

/* ---------- cases against unbound ---------- */

static void
found_joins_strings(void)
{
    struct result res;
    lookup1("s1._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT(strncmp(res.txt, "v=DKIM1; k=rsa; p=MIGf", 22) == 0);
    ASSERT_EQ_INT(strlen(res.txt), res.n);
    struct arc_pubkey *pk = NULL;
    struct err e;
    err_clear(&e);
    if (arc_pubkey_parse(res.txt, res.n, 1024, &pk, &e) != 0)
        TEST_FAIL("key does not parse: %s", e.text);
    arc_pubkey_free(pk);
}

static void
name_case_and_trailing_dot(void)
{
    struct result res;
    lookup1("S1._DomainKey.Example.TEST.", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT(strncmp(res.txt, "v=DKIM1; k=rsa; p=MIGf", 22) == 0);
}

static void
big_key_truncated_then_tcp(void)
{
    struct result res;
    struct dns_res_stats st;
    lookup1("big._domainkey.example.test", &res, &st);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT(res.n > 512);
    ASSERT_EQ_INT(st.tcp_fallbacks, 1);
    ASSERT_EQ_INT(st.queries_sent, 2);
    struct arc_pubkey *pk = NULL;
    struct err e;
    err_clear(&e);
    if (arc_pubkey_parse(res.txt, res.n, 4096, &pk, &e) != 0)
        TEST_FAIL("4096-bit key does not parse: %s", e.text);
    arc_pubkey_free(pk);
}

static void
revoked_key_is_found_and_refused_by_parser(void)
{
    struct result res;
    lookup1("revoked._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT_EQ_STR(res.txt, "v=DKIM1; k=rsa; p=");
    struct arc_pubkey *pk = NULL;
    ASSERT_EQ_INT(arc_pubkey_parse(res.txt, res.n, 1024, &pk, NULL), -ARC_ENOENT);
}

static void
nxdomain_is_notfound(void)
{
    struct result res;
    lookup1("nx._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_NOTFOUND);
    ASSERT(strstr(res.why, "NXDOMAIN") != NULL);
}

static void
nodata_is_notfound(void)
{
    struct result res;
    lookup1("nodata._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_NOTFOUND);
    ASSERT(strstr(res.why, "NODATA") != NULL);
}

static void
servfail_is_tempfail(void)
{
    struct result res;
    lookup1("key._domainkey.servfail.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_TEMPFAIL);
    ASSERT(strstr(res.why, "SERVFAIL") != NULL);
}

static void
refused_is_tempfail(void)
{
    struct result res;
    lookup1("key._domainkey.refused.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_TEMPFAIL);
    ASSERT(strstr(res.why, "REFUSED") != NULL);
}

static void
cname_is_followed(void)
{
    struct result res;
    lookup1("alias._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT(strncmp(res.txt, "v=DKIM1; k=rsa; p=MIGf", 22) == 0);
}

static void
two_records_pick_the_key(void)
{
    struct result res;
    lookup1("two._domainkey.example.test", &res, NULL);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT(strncmp(res.txt, "v=DKIM1;", 8) == 0);
}

static void
hundred_lookups_one_query(void)
{
    const char *name = "hundred.w.example.test";
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    struct dns_res *r = res_new(&loop, &o);
    static struct result res[200];
    memset(res, 0, sizeof res);
    int done = 0;
    for (int i = 0; i < 100; i++)
        start(r, name, &res[i]);
    for (int t = 0; t < 10000 && done < 100; t++) {
        uv_run(&loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < 100; i++)
            done += res[i].done;
    }
    ASSERT_EQ_INT(done, 100);
    /* and 100 more from the cache */
    for (int i = 100; i < 200; i++)
        start(r, name, &res[i]);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 200; i++) {
        ASSERT_EQ_INT(res[i].done, 1);
        ASSERT_EQ_INT(res[i].st, DNS_FOUND);
        if (i > 0)
            ASSERT(res[i].order > res[i - 1].order); /* callbacks in request order */
    }
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(st.queries_sent, 1);
    ASSERT_EQ_INT(st.coalesced, 99);
    ASSERT_EQ_INT(st.cache_hits, 100);
    ASSERT_EQ_INT(server_count(name), 1);
}

static void
ttl_expiry_asks_again(void)
{
    const char *name = "short._domainkey.example.test";
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.ttl_min_s = 0;
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0}, c = {0};
    start(r, name, &a);
    run_until(&loop, &a.done, 1, 5000);
    start(r, name, &b);
    run_until(&loop, &b.done, 1, 5000);
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    ASSERT_EQ_INT(st.queries_sent, 1);
    ASSERT_EQ_INT(st.cache_hits, 1);
    sleep_loop(&loop, 1300); /* TTL is 1 s */
    start(r, name, &c);
    run_until(&loop, &c.done, 1, 5000);
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(c.st, DNS_FOUND);
    ASSERT_EQ_INT(st.queries_sent, 2);
    ASSERT_EQ_INT(server_count(name), 2);
}

static void
negative_cached_for_soa_minimum(void)
{
    const char *name = "negative._domainkey.example.test";
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.neg_ttl_min_s = 0;
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0}, c = {0};
    start(r, name, &a);
    run_until(&loop, &a.done, 1, 5000);
    start(r, name, &b);
    run_until(&loop, &b.done, 1, 5000);
    ASSERT_EQ_INT(b.st, DNS_NOTFOUND);
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    ASSERT_EQ_INT(st.queries_sent, 1);
    sleep_loop(&loop, 1300); /* SOA MINIMUM is 1 s */
    start(r, name, &c);
    run_until(&loop, &c.done, 1, 5000);
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(c.st, DNS_NOTFOUND);
    ASSERT_EQ_INT(st.queries_sent, 2);
    ASSERT_EQ_INT(server_count(name), 2);
}

static void
tempfail_not_cached(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.attempts = 1;
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0};
    start(r, "k1._domainkey.refused.test", &a);
    run_until(&loop, &a.done, 1, 5000);
    start(r, "k1._domainkey.refused.test", &b);
    run_until(&loop, &b.done, 1, 5000);
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(b.st, DNS_TEMPFAIL);
    ASSERT_EQ_INT(st.queries_sent, 2);
    ASSERT_EQ_INT(st.cache_hits, 0);
}

static void
lru_evicts_least_recent(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.cache_max = 2;
    struct dns_res *r = res_new(&loop, &o);
    const char *names[] = {"lru-a.w.example.test", "lru-b.w.example.test", "lru-a.w.example.test",
                           "lru-c.w.example.test", "lru-a.w.example.test", "lru-b.w.example.test"};
    /* a b | a (hit, a most recent) | c evicts b | a hit | b asks again */
    struct result res[6];
    memset(res, 0, sizeof res);
    for (int i = 0; i < 6; i++) {
        start(r, names[i], &res[i]);
        run_until(&loop, &res[i].done, 1, 5000);
        ASSERT_EQ_INT(res[i].st, DNS_FOUND);
    }
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(st.cache_hits, 2);
    ASSERT_EQ_INT(st.queries_sent, 4);
    ASSERT_EQ_INT(server_count("lru-b.w.example.test"), 2);
    ASSERT_EQ_INT(server_count("lru-a.w.example.test"), 1);
}

static void
inflight_bound_queues(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.max_inflight = 3;
    struct dns_res *r = res_new(&loop, &o);
    static struct result res[50];
    memset(res, 0, sizeof res);
    static int done;
    done = 0;
    for (int i = 0; i < 50; i++) {
        char name[64];
        snprintf(name, sizeof name, "q%d.w.example.test", i);
        start(r, name, &res[i]);
    }
    for (int t = 0; t < 100000 && done < 50; t++) {
        uv_run(&loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < 50; i++)
            done += res[i].done;
    }
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(done, 50);
    for (int i = 0; i < 50; i++)
        ASSERT_EQ_INT(res[i].st, DNS_FOUND);
    ASSERT_EQ_INT(st.queries_sent, 50);
}

/* ---------- fake servers on the loop ---------- */

struct fake {
    uv_udp_t sock;  /* the "server" */
    uv_udp_t other; /* another port, for spoofs */
    int queries;
    int spoof; /* 1: send spoofs, then the answer */
    char buf[4096];
};

static void
fake_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    struct fake *f = h->data;
    *b = uv_buf_init(f->buf, sizeof f->buf);
}

/* reply - wire bytes answering q with id and one TXT RR (owner qname_text). */
static uint8_t *
reply(const ldns_pkt *q, uint16_t id, const char *qname_text, const char *txt, size_t *len)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_pkt_set_id(p, id);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, true);
    ldns_pkt_set_ra(p, true);
    char rrtext[512];
    snprintf(rrtext, sizeof rrtext, "%s. 60 IN TXT \"%s\"", qname_text, txt);
    ldns_rr *qrr = ldns_rr_new_frm_type(LDNS_RR_TYPE_TXT);
    ldns_rr_set_question(qrr, true);
    ldns_rr_set_owner(qrr, ldns_dname_new_frm_str(qname_text));
    ldns_rr_set_class(qrr, LDNS_RR_CLASS_IN);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, qrr);
    ldns_rr *arr = NULL;
    ASSERT(ldns_rr_new_frm_str(&arr, rrtext, 0, NULL, NULL) == LDNS_STATUS_OK);
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, arr);
    uint8_t *wire = NULL;
    ASSERT(ldns_pkt2wire(&wire, p, len) == LDNS_STATUS_OK);
    ldns_pkt_free(p);
    (void)q;
    return wire;
}

static void
send_to(uv_udp_t *s, const struct sockaddr *to, uint8_t *wire, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)wire, (unsigned)len);
    ASSERT_EQ_INT(uv_udp_try_send(s, &b, 1, to), (long long)len);
    free(wire);
}

static void
fake_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from, unsigned fl)
{
    struct fake *f = h->data;
    if (n <= 0 || !from)
        return;
    f->queries++;
    if (!f->spoof)
        return; /* silent */
    ldns_pkt *q = NULL;
    ASSERT(ldns_wire2pkt(&q, (const uint8_t *)b->base, (size_t)n) == LDNS_STATUS_OK);
    uint16_t id = ldns_pkt_id(q);
    char *qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
    qn[strlen(qn) - 1] = '\0'; /* trailing dot */
    size_t len;
    uint8_t *w;
    /* 1: right ID and question, wrong source port */
    w = reply(q, id, qn, "v=DKIM1; p=spoof-port", &len);
    send_to(&f->other, from, w, len);
    /* 2: wrong ID */
    w = reply(q, (uint16_t)(id + 1), qn, "v=DKIM1; p=spoof-id", &len);
    send_to(&f->sock, from, w, len);
    /* 3: wrong question */
    w = reply(q, id, "other._domainkey.example.test", "v=DKIM1; p=spoof-q", &len);
    send_to(&f->sock, from, w, len);
    /* 4: garbage */
    uv_buf_t junk = uv_buf_init("\x01\x02junk", 6);
    ASSERT_EQ_INT(uv_udp_try_send(&f->sock, &junk, 1, from), 6);
    /* 5: the answer */
    w = reply(q, id, qn, "v=DKIM1; p=good", &len);
    send_to(&f->sock, from, w, len);
    free(qn);
    ldns_pkt_free(q);
}

/* fake_start - bind the fake server on 127.0.0.1:0; returns its port. */
static int
fake_start(uv_loop_t *loop, struct fake *f, int spoof)
{
    memset(f, 0, sizeof *f);
    f->spoof = spoof;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_udp_t *socks[2] = {&f->sock, &f->other};
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ_INT(uv_udp_init(loop, socks[i]), 0);
        socks[i]->data = f;
        ASSERT_EQ_INT(uv_udp_bind(socks[i], (const struct sockaddr *)&a, 0), 0);
    }
    ASSERT_EQ_INT(uv_udp_recv_start(&f->sock, fake_alloc, fake_recv), 0);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    uv_udp_getsockname(&f->sock, (struct sockaddr *)&ss, &sl);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
fake_stop(struct fake *f)
{
    uv_close((uv_handle_t *)&f->sock, NULL);
    uv_close((uv_handle_t *)&f->other, NULL);
}

static int g_timer_fired_order;

static void
mark_timer(uv_timer_t *t)
{
    g_timer_fired_order = ++g_order;
}

static void
silent_server_times_out_loop_stays_responsive(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake f;
    int port = fake_start(&loop, &f, 0);
    struct dns_res_opts o;
    opts_server(&o, port);
    o.timeout_ms = 300;
    o.attempts = 2;
    o.total_ms = 5000;
    struct dns_res *silent = res_new(&loop, &o);
    opts_server(&o, g_port);
    struct dns_res *good = res_new(&loop, &o);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, mark_timer, 50, 0);
    struct result hang = {0}, other = {0};
    uint64_t t0 = uv_now(&loop);
    start(silent, "s1._domainkey.example.test", &hang);
    start(good, "s1._domainkey.example.test", &other);
    run_until(&loop, &hang.done, 1, 10000);
    uint64_t elapsed = uv_now(&loop) - t0;
    struct dns_res_stats st;
    dns_res_get_stats(silent, &st);
    uv_close((uv_handle_t *)&t, NULL);
    fake_stop(&f);
    dns_res_close(good);
    finish_loop(&loop, silent);
    ASSERT_EQ_INT(hang.st, DNS_TEMPFAIL);
    ASSERT(strstr(hang.why, "timed out") != NULL);
    ASSERT_EQ_INT(other.st, DNS_FOUND);
    /* the other lookup and the timer completed while the first one hung */
    ASSERT(other.order < hang.order);
    ASSERT(g_timer_fired_order > 0 && g_timer_fired_order < hang.order);
    ASSERT_EQ_INT(f.queries, 2);
    ASSERT_EQ_INT(st.timeouts, 2);
    ASSERT(elapsed >= 600); /* it did not give up before its two tries had timed out */
}

static void
total_timeout_bounds_the_lookup(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake f;
    int port = fake_start(&loop, &f, 0);
    struct dns_res_opts o;
    opts_server(&o, port);
    o.timeout_ms = 1000;
    o.attempts = 10;
    o.total_ms = 400;
    struct dns_res *r = res_new(&loop, &o);
    struct result hang = {0};
    start(r, "s1._domainkey.example.test", &hang);
    run_until(&loop, &hang.done, 1, 10000);
    fake_stop(&f);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(hang.st, DNS_TEMPFAIL);
    ASSERT_EQ_INT(f.queries, 1); /* the deadline came before the first try ended */
}

static void
spoofed_answers_are_dropped(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake f;
    int port = fake_start(&loop, &f, 1);
    struct dns_res_opts o;
    opts_server(&o, port);
    struct dns_res *r = res_new(&loop, &o);
    struct result res = {0};
    start(r, "sp._domainkey.example.test", &res);
    run_until(&loop, &res.done, 1, 5000);
    struct dns_res_stats st;
    dns_res_get_stats(r, &st);
    fake_stop(&f);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(res.st, DNS_FOUND);
    ASSERT_EQ_STR(res.txt, "v=DKIM1; p=good");
    ASSERT_EQ_INT(st.dropped_answers, 4);
}

static void
cancel_means_no_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0}, c = {0}, d = {0};
    struct dns_req *qa, *qc;
    ASSERT_EQ_INT(dns_res_txt(r, "cancel.w.example.test", result_cb, &a, &qa), 0);
    start(r, "cancel.w.example.test", &b);
    dns_req_cancel(qa);
    run_until(&loop, &b.done, 1, 5000);
    /* a cached answer waiting for delivery can be cancelled too */
    ASSERT_EQ_INT(dns_res_txt(r, "cancel.w.example.test", result_cb, &c, &qc), 0);
    start(r, "cancel.w.example.test", &d);
    dns_req_cancel(qc);
    run_until(&loop, &d.done, 1, 5000);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(a.done, 0);
    ASSERT_EQ_INT(b.done, 1);
    ASSERT_EQ_INT(c.done, 0);
    ASSERT_EQ_INT(d.done, 1);
}

static struct dns_req *g_self_req;
static struct dns_req *g_other_req;

/* self_cancel_cb - cancels its own request (a no-op) and a sibling's (no callback). */
static void
self_cancel_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    dns_req_cancel(g_self_req);
    dns_req_cancel(g_other_req);
    result_cb(arg, st, txt, n, why);
}

static void
cancel_inside_callbacks(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0}, c = {0};
    ASSERT_EQ_INT(dns_res_txt(r, "selfc.w.example.test", self_cancel_cb, &a, &g_self_req), 0);
    ASSERT_EQ_INT(dns_res_txt(r, "selfc.w.example.test", result_cb, &b, &g_other_req), 0);
    start(r, "selfc.w.example.test", &c);
    run_until(&loop, &c.done, 1, 5000);
    finish_loop(&loop, r);
    ASSERT_EQ_INT(a.done, 1);
    ASSERT_EQ_INT(b.done, 0);
    ASSERT_EQ_INT(c.done, 1);
}

static struct dns_res *g_res;

static void
closing_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    result_cb(arg, st, txt, n, why);
    dns_res_close(g_res);
}

static void
close_inside_a_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake f;
    int port = fake_start(&loop, &f, 0);
    struct dns_res_opts o;
    opts_server(&o, g_port);
    char silent[32];
    snprintf(silent, sizeof silent, "127.0.0.1:%d", port);
    ASSERT_EQ_INT(dns_res_parse_server(silent, &o.servers[1], NULL), 0);
    o.nservers = 2;
    g_res = res_new(&loop, &o);
    struct result a = {0}, b = {0}, c = {0};
    /* lookups start at rotating servers: the first goes to unbound, the second to the
     * silent one and is still pending when the first one's callback closes r */
    ASSERT_EQ_INT(dns_res_txt(g_res, "closing.w.example.test", closing_cb, &a, NULL), 0);
    start(g_res, "closing.w.example.test", &b);
    start(g_res, "hang.w.example.test", &c);
    run_until(&loop, &a.done, 1, 5000);
    fake_stop(&f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    ASSERT_EQ_INT(a.st, DNS_FOUND);
    ASSERT_EQ_INT(b.done, 1);
    ASSERT_EQ_INT(b.st, DNS_FOUND); /* its result was known: delivered */
    ASSERT_EQ_INT(c.done, 1);
    ASSERT_EQ_INT(c.st, DNS_TEMPFAIL);
    ASSERT_EQ_STR(c.why, "shutting down");
}

static void
close_tempfails_pending(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake f;
    int port = fake_start(&loop, &f, 0);
    struct dns_res_opts o;
    opts_server(&o, port);
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0};
    start(r, "s1._domainkey.example.test", &a);
    start(r, "bad name!", &b); /* on the ready list */
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(b.done, 1); /* the bad name was delivered on the first turn */
    ASSERT_EQ_INT(b.st, DNS_PERMFAIL);
    ASSERT_EQ_INT(a.done, 0);
    dns_res_close(r);
    ASSERT_EQ_INT(a.done, 1);
    ASSERT_EQ_INT(a.st, DNS_TEMPFAIL);
    ASSERT_EQ_STR(a.why, "shutting down");
    ASSERT_EQ_INT(dns_res_txt(r, "x.example.test", result_cb, &a, NULL), -ARC_ESTATE);
    fake_stop(&f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static void
zone_source_answers_async(void)
{
    struct dns_zone *z = NULL;
    ASSERT_EQ_INT(dns_zone_load(test_data_path("dns/data/example.test.zone"), &z, NULL), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    dns_res_opts_default(&o);
    o.zone = z;
    struct dns_res *r = res_new(&loop, &o);
    struct result a = {0}, b = {0};
    start(r, "big._domainkey.example.test", &a);
    start(r, "nx._domainkey.example.test", &b);
    ASSERT_EQ_INT(a.done, 0);
    run_until(&loop, &b.done, 1, 5000);
    finish_loop(&loop, r);
    dns_zone_free(z);
    ASSERT_EQ_INT(a.st, DNS_FOUND);
    ASSERT(a.n > 512);
    ASSERT_EQ_INT(b.st, DNS_NOTFOUND);
}

static void
sync_wrapper(void)
{
    struct dns_res_opts o;
    opts_server(&o, g_port);
    struct buf b;
    buf_init(&b, 0);
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_txt_sync(&o, "big._domainkey.example.test", &b, &e), 1);
    ASSERT(b.len > 512);
    buf_reset(&b);
    ASSERT_EQ_INT(dns_txt_sync(&o, "nx._domainkey.example.test", &b, &e), 0);
    ASSERT_EQ_INT(dns_txt_sync(&o, "x._domainkey.servfail.test", &b, &e), -ARC_ETEMP);
    ASSERT_EQ_INT(dns_txt_sync(&o, "bad name", &b, &e), -ARC_EINVAL);
    buf_free(&b);
}

/* ---------- pure parts ---------- */

static void
answer_matching(void)
{
    struct buf q;
    buf_init(&q, 0);
    ASSERT_EQ_INT(dns_query_build("a.example.test", 0x1234, 1232, &q, NULL), 0);
    ldns_pkt *qp = NULL;
    ASSERT(ldns_wire2pkt(&qp, (const uint8_t *)q.data, q.len) == LDNS_STATUS_OK);
    ASSERT_EQ_INT(ldns_pkt_id(qp), 0x1234);
    ASSERT(ldns_pkt_rd(qp));
    ASSERT_EQ_INT(ldns_pkt_edns_udp_size(qp), 1232);
    size_t len;
    uint8_t *w = reply(qp, 0x1234, "A.Example.TEST", "v=DKIM1; p=x", &len);
    struct dns_answer a;
    ASSERT_EQ_INT(dns_answer_parse(w, len, 0x1234, "a.example.test", &a), 0);
    ASSERT_EQ_INT(a.status, DNS_FOUND);
    ASSERT_EQ_INT(a.ttl, 60);
    dns_answer_free(&a);
    ASSERT_EQ_INT(dns_answer_parse(w, len, 0x1235, "a.example.test", &a), -ARC_ENOENT);
    dns_answer_free(&a);
    ASSERT_EQ_INT(dns_answer_parse(w, len, 0x1234, "b.example.test", &a), -ARC_ENOENT);
    dns_answer_free(&a);
    ASSERT_EQ_INT(
        dns_answer_parse(q.data ? (const uint8_t *)q.data : w, q.len, 0x1234, "a.example.test", &a),
        -ARC_ENOENT); /* our own query: QR=0 */
    dns_answer_free(&a);
    ASSERT_EQ_INT(dns_answer_parse(w, 5, 0x1234, "a.example.test", &a), -ARC_EINVAL);
    dns_answer_free(&a);
    free(w);
    ldns_pkt_free(qp);
    buf_free(&q);
}

static void
name_rules(void)
{
    char out[DNS_NAME_MAX + 1];
    ASSERT_EQ_INT(dns_name_norm("Sel._DomainKey.Example.ORG.", out, sizeof out), 0);
    ASSERT_EQ_STR(out, "sel._domainkey.example.org");
    ASSERT_EQ_INT(dns_name_norm("", out, sizeof out), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_name_norm(".", out, sizeof out), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_name_norm("a..b", out, sizeof out), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_name_norm("a b", out, sizeof out), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_name_norm("a\\.b", out, sizeof out), -ARC_EINVAL);
    char label[80];
    memset(label, 'x', 64);
    label[64] = '\0';
    ASSERT_EQ_INT(dns_name_norm(label, out, sizeof out), -ARC_EINVAL);
}

static void
server_address_forms(void)
{
    struct sockaddr_storage ss;
    ASSERT_EQ_INT(dns_res_parse_server("127.0.0.1", &ss, NULL), 0);
    ASSERT_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 53);
    ASSERT_EQ_INT(dns_res_parse_server("127.0.0.1:5353", &ss, NULL), 0);
    ASSERT_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5353);
    ASSERT_EQ_INT(dns_res_parse_server("[::1]:5353", &ss, NULL), 0);
    ASSERT_EQ_INT(ss.ss_family, AF_INET6);
    ASSERT_EQ_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5353);
    ASSERT_EQ_INT(dns_res_parse_server("::1", &ss, NULL), 0);
    ASSERT_EQ_INT(dns_res_parse_server("localhost", &ss, NULL), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_res_parse_server("127.0.0.1:0", &ss, NULL), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_res_parse_server("127.0.0.1:70000", &ss, NULL), -ARC_EINVAL);
    ASSERT_EQ_INT(dns_res_parse_server("[::1", &ss, NULL), -ARC_EINVAL);
}

static void
bad_options_refused(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dns_res_opts o;
    struct dns_res *r = NULL;
    dns_res_opts_default(&o);
    o.edns_size = 100;
    ASSERT_EQ_INT(dns_res_new(&loop, &o, &r, NULL), -ARC_EINVAL);
    dns_res_opts_default(&o);
    o.ttl_min_s = 10;
    o.ttl_max_s = 5;
    ASSERT_EQ_INT(dns_res_new(&loop, &o, &r, NULL), -ARC_EINVAL);
    dns_res_opts_default(&o);
    o.attempts = 0;
    ASSERT_EQ_INT(dns_res_new(&loop, &o, &r, NULL), -ARC_EINVAL);
    ASSERT(r == NULL);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static const struct test_case cases[] = {
    {"found_joins_strings", found_joins_strings},
    {"name_case_and_trailing_dot", name_case_and_trailing_dot},
    {"big_key_truncated_then_tcp", big_key_truncated_then_tcp},
    {"revoked_key_is_found_and_refused_by_parser", revoked_key_is_found_and_refused_by_parser},
    {"nxdomain_is_notfound", nxdomain_is_notfound},
    {"nodata_is_notfound", nodata_is_notfound},
    {"servfail_is_tempfail", servfail_is_tempfail},
    {"refused_is_tempfail", refused_is_tempfail},
    {"cname_is_followed", cname_is_followed},
    {"two_records_pick_the_key", two_records_pick_the_key},
    {"hundred_lookups_one_query", hundred_lookups_one_query},
    {"ttl_expiry_asks_again", ttl_expiry_asks_again},
    {"negative_cached_for_soa_minimum", negative_cached_for_soa_minimum},
    {"tempfail_not_cached", tempfail_not_cached},
    {"lru_evicts_least_recent", lru_evicts_least_recent},
    {"inflight_bound_queues", inflight_bound_queues},
    {"silent_server_times_out_loop_stays_responsive",
     silent_server_times_out_loop_stays_responsive},
    {"total_timeout_bounds_the_lookup", total_timeout_bounds_the_lookup},
    {"spoofed_answers_are_dropped", spoofed_answers_are_dropped},
    {"cancel_means_no_callback", cancel_means_no_callback},
    {"cancel_inside_callbacks", cancel_inside_callbacks},
    {"close_inside_a_callback", close_inside_a_callback},
    {"close_tempfails_pending", close_tempfails_pending},
    {"zone_source_answers_async", zone_source_answers_async},
    {"sync_wrapper", sync_wrapper},
    {"answer_matching", answer_matching},
    {"name_rules", name_rules},
    {"server_address_forms", server_address_forms},
    {"bad_options_refused", bad_options_refused},
    {NULL, NULL},
};

/* ---------- the server ---------- */

static const char *
find_unbound(void)
{
    static const char *const paths[] = {"/usr/sbin/unbound", "/usr/local/sbin/unbound", NULL};
    const char *env = getenv("ARCPROXY_UNBOUND");
    if (env && access(env, X_OK) == 0)
        return env;
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* free_port - a port free for both UDP and TCP on 127.0.0.1 right now. */
static int
free_port(void)
{
    for (int tries = 0; tries < 50; tries++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        uv_udp_t u;
        uv_tcp_t t;
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        uv_udp_init(&loop, &u);
        uv_tcp_init(&loop, &t);
        int port = 0;
        if (uv_udp_bind(&u, (const struct sockaddr *)&a, 0) == 0) {
            struct sockaddr_storage ss;
            int sl = sizeof ss;
            uv_udp_getsockname(&u, (struct sockaddr *)&ss, &sl);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            uv_ip4_addr("127.0.0.1", port, &a);
            if (uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) != 0 ||
                uv_listen((uv_stream_t *)&t, 1, NULL) != 0)
                port = 0;
        }
        uv_close((uv_handle_t *)&u, NULL);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        if (port)
            return port;
    }
    return 0;
}

static int
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int
server_start(const char *bin)
{
    strcpy(g_dir, "/tmp/arcproxy-test-dns-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    char zpath[128], conf[128], out[128];
    snprintf(zpath, sizeof zpath, "%s/example.test.zone", g_dir);
    snprintf(conf, sizeof conf, "%s/unbound.conf", g_dir);
    snprintf(out, sizeof out, "%s/unbound.out", g_dir);
    char *zone = test_read_file(test_data_path("dns/data/example.test.zone"), NULL);
    int rc = write_file(zpath, zone);
    free(zone);
    if (rc < 0 || (g_port = free_port()) == 0)
        return -1;
    char text[4096];
    snprintf(text, sizeof text,
             "server:\n"
             "  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n  do-daemonize: no\n"
             "  chroot: \"\"\n  username: \"\"\n  directory: \"%s\"\n  pidfile: \"\"\n"
             "  logfile: \"%s/unbound.log\"\n  use-syslog: no\n  log-queries: yes\n"
             "  verbosity: 1\n  num-threads: 1\n  access-control: 127.0.0.0/8 allow\n"
             "  max-udp-size: 512\n  module-config: \"iterator\"\n"
             "  local-zone: \"test.\" nodefault\n"
             "  local-zone: \"refused.test.\" always_refuse\n"
             "auth-zone:\n  name: \"example.test.\"\n  zonefile: \"%s\"\n"
             "  for-downstream: yes\n  for-upstream: no\n"
             /* do-not-query-localhost (default yes) leaves no usable server: SERVFAIL */
             "forward-zone:\n  name: \"servfail.test.\"\n  forward-addr: 127.0.0.1@9\n",
             g_port, g_dir, g_dir, zpath);
    if (write_file(conf, text) < 0)
        return -1;
    g_pid = fork();
    if (g_pid < 0)
        return -1;
    if (g_pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, "-d", "-c", conf, (char *)NULL);
        _exit(127);
    }
    /* ready when it answers; bounded: 100 tries of up to 100 ms */
    struct dns_res_opts o;
    opts_server(&o, g_port);
    o.timeout_ms = 100;
    o.attempts = 1;
    for (int i = 0; i < 100; i++) {
        struct buf b;
        buf_init(&b, 0);
        int found = dns_txt_sync(&o, "s1._domainkey.example.test", &b, NULL);
        buf_free(&b);
        if (found == 1)
            return 0;
        if (waitpid(g_pid, NULL, WNOHANG) == g_pid) {
            g_pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

static void
server_stop(void)
{
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        waitpid(g_pid, NULL, 0);
    }
    if (g_dir[0]) {
        char cmd[128];
        if (getenv("ARCPROXY_KEEP_TEST_DIR"))
            fprintf(stderr, "test dir kept: %s\n", g_dir);
        else if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir) < (int)sizeof cmd)
            (void)!system(cmd);
    }
}

int
main(int argc, char **argv)
{
    const char *bin = find_unbound();
    const char *ci = getenv("CI");
    if (!bin) {
        fprintf(stderr, "unbound not installed (scripts/install-deps.sh installs it)\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    if (server_start(bin) < 0) {
        fprintf(stderr, "cannot start unbound (see %s/unbound.out)\n", g_dir);
        if (g_pid > 0)
            kill(g_pid, SIGTERM), waitpid(g_pid, NULL, 0);
        return 1;
    }
    int rc = test_main(argc, argv, cases);
    server_stop();
    return rc;
}
