/* SPDX-License-Identifier: MIT */
/*
 * resolver - non-blocking TXT lookups on a libuv loop with a cache; see resolver.h.
 *
 * Objects: a dns_res owns a cache (hash + LRU list), a hash of lookups in flight, a FIFO
 * of lookups waiting for a network slot, and a "ready" list of requests whose result is
 * known before any I/O (cache hit, zone, bad name), delivered from a zero timer (kick) so
 * that no callback runs inside dns_res_txt. A lookup owns its waiters (dns_req), one
 * timer (the sooner of the try timeout and the lookup deadline) and at most one
 * transport (udp_try or tcp_conn). Transports are heap objects freed in their own close
 * callbacks; a lookup detaches (t->lk = NULL) before closing them, so a late callback
 * sees no lookup and does nothing. The lookup itself is freed in its timer's close
 * callback, the resolver in the kick timer's.
 *
 * Hash tables are seeded from getrandom(2): the names come from message headers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "../util/log.h"
#include "../util/xalloc.h"
#include "resolver.h"
#include "zonefile.h"

#define INFLIGHT_BUCKETS 1024
#define TCP_MAX          (2 + 65535)
#define UDP_BUF          65536

struct req_list {
    struct dns_req *head, *tail;
};

struct dns_req {
    struct dns_req *prev, *next;
    struct req_list *list; /* the list it is on */
    struct dns_res *r;
    dns_txt_cb cb;
    void *arg;
    int in_cb; /* its callback is running: dns_req_cancel does nothing */
    /* ready list only: the result to deliver */
    enum dns_status st;
    char *txt;
    size_t n;
    char why[96];
};

struct lookup;

struct udp_try {
    uv_udp_t h; /* first: the handle pointer is the struct pointer */
    struct lookup *lk;
};

struct tcp_conn {
    uv_tcp_t h; /* first */
    uv_connect_t creq;
    uv_write_t wreq;
    struct lookup *lk;
    uint8_t *wbuf;
    size_t wlen;
    uint8_t *rbuf;
    size_t rlen;
};

struct lookup {
    struct lookup *hnext;         /* in-flight hash chain */
    struct lookup *qprev, *qnext; /* wait queue */
    struct dns_res *r;
    char name[DNS_NAME_MAX + 1];
    uint32_t hash;
    struct req_list waiters;
    uv_timer_t timer;
    uint64_t deadline; /* uv_now() ms */
    unsigned tries, server0, cur;
    unsigned failed_mask; /* servers that answered with an error rcode */
    uint16_t id;
    int queued, active;
    struct buf query;
    struct udp_try *udp;
    struct tcp_conn *tcp;
    char why[96]; /* the last try's failure */
};

struct centry {
    struct centry *hnext;
    struct centry *lprev, *lnext; /* LRU: head is the most recently used */
    uint32_t hash;
    char *name;
    enum dns_status st;
    char *txt;
    size_t n;
    uint64_t expires; /* uv_now() ms */
};

struct dns_res {
    uv_loop_t *loop;
    struct dns_res_opts o;
    uint32_t seed;
    unsigned next_server;
    int closing, pumping;
    struct dns_res_stats stats;
    uv_timer_t kick;
    struct req_list ready;
    struct lookup *inflight[INFLIGHT_BUCKETS];
    struct lookup *qhead, *qtail;
    unsigned active;
    struct centry **cbuckets;
    size_t ncbuckets, ncache;
    struct centry *lru_head, *lru_tail;
    uint8_t udpbuf[UDP_BUF];
};

static void next_try(struct lookup *lk);
static void pump(struct dns_res *r);
static int tcp_start(struct lookup *lk);

/* ---------- small helpers ---------- */

static uint32_t
name_hash(uint32_t seed, const char *s)
{
    uint32_t h = 2166136261u ^ seed;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h ^ (h >> 15);
}

static uint16_t
random_id(void)
{
    uint16_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
        /* cannot happen after boot; never fall back to a guessable ID silently */
        log_error("dns: getrandom failed");
        abort();
    }
    return id;
}

static void
list_append(struct req_list *l, struct dns_req *q)
{
    q->list = l;
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
}

static void
list_unlink(struct dns_req *q)
{
    struct req_list *l = q->list;
    if (!l)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->list = NULL;
    q->prev = q->next = NULL;
}

static struct dns_req *
list_pop(struct req_list *l)
{
    struct dns_req *q = l->head;
    if (q)
        list_unlink(q);
    return q;
}

static void
req_free(struct dns_req *q)
{
    free(q->txt);
    free(q);
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* ---------- ready list: results known without I/O ---------- */

static void
kick_cb(uv_timer_t *t)
{
    struct dns_res *r = t->data;
    /* only the requests present now: a callback that asks again is served next turn */
    size_t n = 0;
    for (struct dns_req *q = r->ready.head; q; q = q->next)
        n++;
    while (n-- > 0) {
        struct dns_req *q = list_pop(&r->ready);
        if (!q)
            break;
        q->in_cb = 1;
        q->cb(q->arg, q->st, q->txt, q->n, q->why);
        req_free(q);
    }
}

static void
ready(struct dns_res *r, struct dns_req *q, enum dns_status st, const char *txt, size_t n,
      const char *why)
{
    q->st = st;
    q->txt = txt ? xstrndup(txt, n) : NULL;
    q->n = txt ? n : 0;
    snprintf(q->why, sizeof q->why, "%s", why);
    int was_empty = r->ready.head == NULL;
    list_append(&r->ready, q);
    if (was_empty)
        uv_timer_start(&r->kick, kick_cb, 0, 0);
}

/* ---------- cache ---------- */

static void
lru_unlink(struct dns_res *r, struct centry *c)
{
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        r->lru_head = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    else
        r->lru_tail = c->lprev;
    c->lprev = c->lnext = NULL;
}

static void
lru_push(struct dns_res *r, struct centry *c)
{
    c->lprev = NULL;
    c->lnext = r->lru_head;
    if (r->lru_head)
        r->lru_head->lprev = c;
    else
        r->lru_tail = c;
    r->lru_head = c;
}

static void
cache_remove(struct dns_res *r, struct centry *c)
{
    struct centry **pp = &r->cbuckets[c->hash & (r->ncbuckets - 1)];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    lru_unlink(r, c);
    r->ncache--;
    free(c->name);
    free(c->txt);
    free(c);
}

static struct centry *
cache_find(struct dns_res *r, const char *name, uint32_t h)
{
    if (!r->cbuckets)
        return NULL;
    struct centry *c = r->cbuckets[h & (r->ncbuckets - 1)];
    for (; c; c = c->hnext)
        if (c->hash == h && strcmp(c->name, name) == 0)
            break;
    if (c && c->expires <= uv_now(r->loop)) {
        cache_remove(r, c);
        return NULL;
    }
    return c;
}

static uint32_t
clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* cache_put - remember a FOUND/NOTFOUND result for its clamped TTL. */
static void
cache_put(struct dns_res *r, const char *name, uint32_t h, const struct dns_answer *a)
{
    if (!r->cbuckets)
        return;
    uint32_t ttl = a->status == DNS_FOUND ? clamp(a->ttl, r->o.ttl_min_s, r->o.ttl_max_s)
                                          : clamp(a->has_ttl ? a->ttl : r->o.neg_ttl_min_s,
                                                  r->o.neg_ttl_min_s, r->o.neg_ttl_max_s);
    if (ttl == 0)
        return;
    struct centry *old = cache_find(r, name, h);
    if (old)
        cache_remove(r, old);
    while (r->ncache >= r->o.cache_max && r->lru_tail)
        cache_remove(r, r->lru_tail);
    struct centry *c = xcalloc(1, sizeof *c);
    c->hash = h;
    c->name = xstrdup(name);
    c->st = a->status;
    if (a->status == DNS_FOUND) {
        c->txt = xstrndup(a->txt.data ? a->txt.data : "", a->txt.len);
        c->n = a->txt.len;
    }
    c->expires = uv_now(r->loop) + (uint64_t)ttl * 1000;
    struct centry **b = &r->cbuckets[h & (r->ncbuckets - 1)];
    c->hnext = *b;
    *b = c;
    lru_push(r, c);
    r->ncache++;
}

/* ---------- lookups ---------- */

static void
inflight_remove(struct dns_res *r, struct lookup *lk)
{
    struct lookup **pp = &r->inflight[lk->hash % INFLIGHT_BUCKETS];
    while (*pp && *pp != lk)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = lk->hnext;
    lk->hnext = NULL;
}

static struct lookup *
inflight_find(struct dns_res *r, const char *name, uint32_t h)
{
    for (struct lookup *lk = r->inflight[h % INFLIGHT_BUCKETS]; lk; lk = lk->hnext)
        if (lk->hash == h && strcmp(lk->name, name) == 0)
            return lk;
    return NULL;
}

static void
queue_remove(struct dns_res *r, struct lookup *lk)
{
    if (lk->qprev)
        lk->qprev->qnext = lk->qnext;
    else
        r->qhead = lk->qnext;
    if (lk->qnext)
        lk->qnext->qprev = lk->qprev;
    else
        r->qtail = lk->qprev;
    lk->qprev = lk->qnext = NULL;
    lk->queued = 0;
}

static void
udp_free_cb(uv_handle_t *h)
{
    free(h);
}

static void
tcp_free_cb(uv_handle_t *h)
{
    struct tcp_conn *c = (struct tcp_conn *)h;
    free(c->wbuf);
    free(c->rbuf);
    free(c);
}

/* transport_close - detach and close the try's socket, if any. */
static void
transport_close(struct lookup *lk)
{
    if (lk->udp) {
        lk->udp->lk = NULL;
        uv_close((uv_handle_t *)&lk->udp->h, udp_free_cb);
        lk->udp = NULL;
    }
    if (lk->tcp) {
        lk->tcp->lk = NULL;
        uv_close((uv_handle_t *)&lk->tcp->h, tcp_free_cb);
        lk->tcp = NULL;
    }
}

static void
lookup_free_cb(uv_handle_t *h)
{
    struct lookup *lk = h->data;
    buf_free(&lk->query);
    free(lk);
}

/* finish - the lookup's result: cache it, free its slot, deliver it to every waiter in
 * order, then close. r is not touched after the first callback: one may close r. */
static void
finish(struct lookup *lk, const struct dns_answer *a, enum dns_status st, const char *why)
{
    struct dns_res *r = lk->r;
    inflight_remove(r, lk);
    if (lk->queued)
        queue_remove(r, lk);
    if (lk->active) {
        lk->active = 0;
        r->active--;
    }
    if (a && (st == DNS_FOUND || st == DNS_NOTFOUND))
        cache_put(r, lk->name, lk->hash, a);
    transport_close(lk);
    uv_timer_stop(&lk->timer);
    pump(r);
    const char *txt = st == DNS_FOUND && a ? (a->txt.data ? a->txt.data : "") : NULL;
    size_t n = txt ? a->txt.len : 0;
    struct dns_req *q;
    while ((q = list_pop(&lk->waiters)) != NULL) {
        q->in_cb = 1;
        q->cb(q->arg, st, txt, n, why);
        req_free(q);
    }
    uv_close((uv_handle_t *)&lk->timer, lookup_free_cb);
}

static void
finish_fail(struct lookup *lk, const char *why)
{
    finish(lk, NULL, DNS_TEMPFAIL, why);
}

/* on_answer - a matching reply (UDP or TCP) for the current try. */
static void
on_answer(struct lookup *lk, struct dns_answer *a, int via_tcp)
{
    if (a->truncated && !via_tcp) {
        lk->r->stats.tcp_fallbacks++;
        transport_close(lk);
        if (tcp_start(lk) < 0)
            next_try(lk);
        return;
    }
    if (a->truncated || a->status == DNS_TEMPFAIL) {
        snprintf(lk->why, sizeof lk->why, "%s", a->truncated ? "truncated over TCP" : a->why);
        lk->failed_mask |= 1u << lk->cur;
        next_try(lk);
        return;
    }
    finish(lk, a, a->status, a->status == DNS_FOUND ? "" : a->why);
}

static void
udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct udp_try *u = (struct udp_try *)h;
    /* one datagram is read and handled before the next alloc: one buffer serves all */
    if (u->lk)
        *b = uv_buf_init((char *)u->lk->r->udpbuf, UDP_BUF);
    else
        *b = uv_buf_init(NULL, 0);
}

static void
udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from,
            unsigned flags)
{
    struct udp_try *u = (struct udp_try *)h;
    struct lookup *lk = u->lk;
    if (!lk || nread <= 0 || !from)
        return;
    struct dns_res *r = lk->r;
    if ((flags & UV_UDP_PARTIAL) || !same_addr(&r->o.servers[lk->cur], from)) {
        r->stats.dropped_answers++;
        return;
    }
    struct dns_answer a;
    if (dns_answer_parse((const uint8_t *)b->base, (size_t)nread, lk->id, lk->name, &a) < 0) {
        r->stats.dropped_answers++;
        dns_answer_free(&a);
        return;
    }
    on_answer(lk, &a, 0);
    dns_answer_free(&a);
}

static void
tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct tcp_conn *c = (struct tcp_conn *)h;
    *b = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(TCP_MAX - c->rlen));
}

static void
tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct tcp_conn *c = (struct tcp_conn *)s;
    struct lookup *lk = c->lk;
    if (!lk)
        return;
    if (nread < 0) {
        snprintf(lk->why, sizeof lk->why, "TCP: %s", uv_strerror((int)nread));
        next_try(lk);
        return;
    }
    c->rlen += (size_t)nread;
    if (c->rlen < 2)
        return;
    size_t want = (size_t)c->rbuf[0] << 8 | c->rbuf[1];
    if (c->rlen < 2 + want)
        return;
    struct dns_answer a;
    if (dns_answer_parse(c->rbuf + 2, want, lk->id, lk->name, &a) < 0) {
        /* one query per connection: a mismatch here is a broken server, not a spoof */
        lk->r->stats.dropped_answers++;
        snprintf(lk->why, sizeof lk->why, "TCP: answer does not match the query");
        dns_answer_free(&a);
        next_try(lk);
        return;
    }
    on_answer(lk, &a, 1);
    dns_answer_free(&a);
}

static void
tcp_write_cb(uv_write_t *w, int status)
{
    struct tcp_conn *c = w->data;
    if (!c->lk || status == 0)
        return;
    snprintf(c->lk->why, sizeof c->lk->why, "TCP write: %s", uv_strerror(status));
    next_try(c->lk);
}

static void
tcp_connect_cb(uv_connect_t *cr, int status)
{
    struct tcp_conn *c = cr->data;
    struct lookup *lk = c->lk;
    if (!lk)
        return;
    if (status < 0) {
        snprintf(lk->why, sizeof lk->why, "TCP connect: %s", uv_strerror(status));
        next_try(lk);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->h, &b, 1, tcp_write_cb);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->h, tcp_alloc_cb, tcp_read_cb);
    if (rc < 0) {
        snprintf(lk->why, sizeof lk->why, "TCP: %s", uv_strerror(rc));
        next_try(lk);
        return;
    }
    lk->r->stats.queries_sent++;
}

/* tcp_start - ask the current server again over TCP (same ID, same try timer). */
static int
tcp_start(struct lookup *lk)
{
    struct tcp_conn *c = xcalloc(1, sizeof *c);
    c->lk = lk;
    c->wlen = 2 + lk->query.len;
    c->wbuf = xmalloc(c->wlen);
    c->wbuf[0] = (uint8_t)(lk->query.len >> 8);
    c->wbuf[1] = (uint8_t)lk->query.len;
    memcpy(c->wbuf + 2, lk->query.data, lk->query.len);
    c->rbuf = xmalloc(TCP_MAX);
    if (uv_tcp_init(lk->r->loop, &c->h) < 0) {
        free(c->wbuf);
        free(c->rbuf);
        free(c);
        return -1;
    }
    lk->tcp = c;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->h, (const struct sockaddr *)&lk->r->o.servers[lk->cur],
                            tcp_connect_cb);
    if (rc < 0) {
        snprintf(lk->why, sizeof lk->why, "TCP connect: %s", uv_strerror(rc));
        transport_close(lk);
        return -1;
    }
    return 0;
}

/* udp_start - one try: a new socket on a kernel-chosen port, a new ID, one datagram. */
static int
udp_start(struct lookup *lk)
{
    struct dns_res *r = lk->r;
    const struct sockaddr_storage *srv = &r->o.servers[lk->cur];
    struct udp_try *u = xcalloc(1, sizeof *u);
    u->lk = lk;
    if (uv_udp_init(r->loop, &u->h) < 0) {
        free(u);
        return -1;
    }
    lk->udp = u;
    struct sockaddr_storage any;
    memset(&any, 0, sizeof any);
    any.ss_family = srv->ss_family; /* port 0, wildcard address */
    lk->id = random_id();
    lk->query.data[0] = (char)(lk->id >> 8);
    lk->query.data[1] = (char)(lk->id & 0xff);
    uv_buf_t b = uv_buf_init(lk->query.data, (unsigned)lk->query.len);
    int rc = uv_udp_bind(&u->h, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&u->h, udp_alloc_cb, udp_recv_cb);
    if (rc == 0) {
        rc = uv_udp_try_send(&u->h, &b, 1, (const struct sockaddr *)srv);
        rc = rc == (int)lk->query.len ? 0 : rc < 0 ? rc : UV_EIO;
    }
    if (rc < 0) {
        snprintf(lk->why, sizeof lk->why, "UDP: %s", uv_strerror(rc));
        transport_close(lk);
        return -1;
    }
    r->stats.queries_sent++;
    return 0;
}

static void
timer_cb(uv_timer_t *t)
{
    struct lookup *lk = t->data;
    if (lk->queued) {
        finish_fail(lk, "timed out waiting for a free query slot");
        return;
    }
    if (lk->udp || lk->tcp) {
        lk->r->stats.timeouts++;
        snprintf(lk->why, sizeof lk->why, "timed out");
    }
    next_try(lk);
}

/* next_try - close the current try and start another one, or end the lookup. */
static void
next_try(struct lookup *lk)
{
    struct dns_res *r = lk->r;
    unsigned n = (unsigned)r->o.nservers;
    transport_close(lk);
    uv_timer_stop(&lk->timer);
    for (;;) {
        uint64_t now = uv_now(r->loop);
        if (now >= lk->deadline) {
            finish_fail(lk, lk->why[0] ? lk->why : "timed out");
            return;
        }
        if (lk->tries >= r->o.attempts * n || lk->failed_mask == (1u << n) - 1) {
            finish_fail(lk, lk->why[0] ? lk->why : "no server answered");
            return;
        }
        lk->cur = (lk->server0 + lk->tries++) % n;
        if (lk->failed_mask & (1u << lk->cur))
            continue;
        if (udp_start(lk) < 0)
            continue;
        uint64_t left = lk->deadline - now;
        uv_timer_start(&lk->timer, timer_cb, left < r->o.timeout_ms ? left : r->o.timeout_ms, 0);
        return;
    }
}

/* pump - start waiting lookups while slots are free (not reentrant: finish calls it). */
static void
pump(struct dns_res *r)
{
    if (r->pumping || r->closing)
        return;
    r->pumping = 1;
    while (r->qhead && r->active < r->o.max_inflight) {
        struct lookup *lk = r->qhead;
        queue_remove(r, lk);
        lk->active = 1;
        r->active++;
        next_try(lk);
    }
    r->pumping = 0;
}

static struct lookup *
lookup_new(struct dns_res *r, const char *name, uint32_t h)
{
    struct lookup *lk = xcalloc(1, sizeof *lk);
    lk->r = r;
    snprintf(lk->name, sizeof lk->name, "%s", name);
    lk->hash = h;
    buf_init(&lk->query, 0);
    if (dns_query_build(name, 0, r->o.edns_size, &lk->query, NULL) < 0 || lk->query.len < 12) {
        buf_free(&lk->query);
        free(lk);
        return NULL;
    }
    uv_timer_init(r->loop, &lk->timer);
    lk->timer.data = lk;
    lk->deadline = uv_now(r->loop) + r->o.total_ms;
    lk->server0 = r->next_server++ % (unsigned)r->o.nservers;
    struct lookup **b = &r->inflight[h % INFLIGHT_BUCKETS];
    lk->hnext = *b;
    *b = lk;
    /* queued first, then pump: one path starts lookups, in FIFO order */
    lk->queued = 1;
    lk->qprev = r->qtail;
    if (r->qtail)
        r->qtail->qnext = lk;
    else
        r->qhead = lk;
    r->qtail = lk;
    uv_timer_start(&lk->timer, timer_cb, r->o.total_ms, 0);
    return lk;
}

/* ---------- public API ---------- */

void
dns_res_opts_default(struct dns_res_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 5000;
    o->attempts = 2;
    o->total_ms = 10000;
    o->edns_size = 1232;
    o->cache_max = 10000;
    o->ttl_min_s = 10;
    o->ttl_max_s = 3600;
    o->neg_ttl_min_s = 5;
    o->neg_ttl_max_s = 300;
    o->max_inflight = 1000;
}

/* servers_from_resolv_conf - nameserver lines through ldns; 127.0.0.1:53 when none. */
static void
servers_from_resolv_conf(struct dns_res_opts *o)
{
    ldns_resolver *res = NULL;
    if (ldns_resolver_new_frm_file(&res, o->resolv_conf) == LDNS_STATUS_OK) {
        ldns_rdf **ns = ldns_resolver_nameservers(res);
        uint16_t port = ldns_resolver_port(res);
        for (size_t i = 0; i < ldns_resolver_nameserver_count(res); i++) {
            if (o->nservers == DNS_RES_MAX_SERVERS)
                break;
            struct sockaddr_storage *ss = &o->servers[o->nservers];
            memset(ss, 0, sizeof *ss);
            const ldns_rdf *a = ns[i];
            if (ldns_rdf_get_type(a) == LDNS_RDF_TYPE_A && ldns_rdf_size(a) == 4) {
                struct sockaddr_in *s4 = (void *)ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons(port ? port : 53);
                memcpy(&s4->sin_addr, ldns_rdf_data(a), 4);
            } else if (ldns_rdf_get_type(a) == LDNS_RDF_TYPE_AAAA && ldns_rdf_size(a) == 16) {
                struct sockaddr_in6 *s6 = (void *)ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(port ? port : 53);
                memcpy(&s6->sin6_addr, ldns_rdf_data(a), 16);
            } else {
                continue;
            }
            o->nservers++;
        }
        ldns_resolver_deep_free(res);
    }
    if (o->nservers == 0) {
        struct sockaddr_in *s4 = (void *)&o->servers[0];
        memset(s4, 0, sizeof o->servers[0]);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(53);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        o->nservers = 1;
    }
}

int
dns_res_new(uv_loop_t *loop, const struct dns_res_opts *o, struct dns_res **rp, struct err *e)
{
    *rp = NULL;
    if (o->timeout_ms == 0 || o->attempts == 0 || o->total_ms == 0 || o->max_inflight == 0)
        return err_set(e, ARC_EINVAL, "dns: timeouts, attempts and max_inflight must be > 0");
    if (o->edns_size != 0 && (o->edns_size < 512 || o->edns_size > 65535))
        return err_set(e, ARC_EINVAL, "dns: edns_size %u: want 0 or 512..65535", o->edns_size);
    if (o->ttl_min_s > o->ttl_max_s || o->neg_ttl_min_s > o->neg_ttl_max_s)
        return err_set(e, ARC_EINVAL, "dns: a TTL minimum is above its maximum");
    if (o->nservers > DNS_RES_MAX_SERVERS)
        return err_set(e, ARC_EINVAL, "dns: at most %d servers", DNS_RES_MAX_SERVERS);
    for (size_t i = 0; i < o->nservers; i++)
        if (o->servers[i].ss_family != AF_INET && o->servers[i].ss_family != AF_INET6)
            return err_set(e, ARC_EINVAL, "dns: server %zu is not an IP address", i + 1);
    struct dns_res *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->o = *o;
    if (r->o.nservers == 0 && !r->o.zone)
        servers_from_resolv_conf(&r->o);
    if (r->o.nservers == 0)
        r->o.nservers = 1; /* zone only: never used, keeps the modulo defined */
    if (getrandom(&r->seed, sizeof r->seed, 0) != (ssize_t)sizeof r->seed)
        r->seed = 0x9e3779b9u;
    if (r->o.cache_max > 0) {
        r->ncbuckets = 16;
        while (r->ncbuckets < r->o.cache_max && r->ncbuckets < (1u << 20))
            r->ncbuckets <<= 1;
        r->cbuckets = xcalloc(r->ncbuckets, sizeof *r->cbuckets);
    }
    uv_timer_init(loop, &r->kick);
    r->kick.data = r;
    *rp = r;
    return 0;
}

int
dns_res_txt(struct dns_res *r, const char *name, dns_txt_cb cb, void *arg, struct dns_req **reqp)
{
    if (reqp)
        *reqp = NULL;
    if (r->closing)
        return -ARC_ESTATE;
    struct dns_req *q = xcalloc(1, sizeof *q);
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    if (reqp)
        *reqp = q;
    char key[DNS_NAME_MAX + 1];
    if (dns_name_norm(name, key, sizeof key) < 0) {
        ready(r, q, DNS_PERMFAIL, NULL, 0, "not a valid DNS name");
        return 0;
    }
    if (r->o.zone) {
        struct buf b;
        buf_init(&b, 0);
        int rc = dns_zone_lookup(r->o.zone, key, &b);
        if (rc > 0)
            ready(r, q, DNS_FOUND, b.data ? b.data : "", b.len, "");
        else
            ready(r, q, DNS_NOTFOUND, NULL, 0, "not in the zone file");
        buf_free(&b);
        return 0;
    }
    uint32_t h = name_hash(r->seed, key);
    struct centry *c = cache_find(r, key, h);
    if (c) {
        r->stats.cache_hits++;
        lru_unlink(r, c);
        lru_push(r, c);
        ready(r, q, c->st, c->txt, c->n, c->st == DNS_FOUND ? "" : "cached: no such record");
        return 0;
    }
    r->stats.cache_misses++;
    struct lookup *lk = inflight_find(r, key, h);
    if (lk) {
        r->stats.coalesced++;
        list_append(&lk->waiters, q);
        return 0;
    }
    lk = lookup_new(r, key, h);
    if (!lk) {
        ready(r, q, DNS_PERMFAIL, NULL, 0, "cannot build a query for this name");
        return 0;
    }
    list_append(&lk->waiters, q);
    pump(r);
    return 0;
}

void
dns_req_cancel(struct dns_req *q)
{
    if (!q || q->in_cb)
        return; /* a callback cancelling its own request: it ends when the callback does */
    list_unlink(q);
    req_free(q);
}

void
dns_res_get_stats(const struct dns_res *r, struct dns_res_stats *st)
{
    *st = r->stats;
}

static void
res_free_cb(uv_handle_t *h)
{
    free(h->data);
}

void
dns_res_close(struct dns_res *r)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    /* every lookup in flight or queued: its waiters get TEMPFAIL */
    for (size_t i = 0; i < INFLIGHT_BUCKETS; i++)
        while (r->inflight[i])
            finish_fail(r->inflight[i], "shutting down");
    struct dns_req *q;
    while ((q = list_pop(&r->ready)) != NULL) {
        q->in_cb = 1;
        q->cb(q->arg, DNS_TEMPFAIL, NULL, 0, "shutting down");
        req_free(q);
    }
    while (r->lru_head)
        cache_remove(r, r->lru_head);
    free(r->cbuckets);
    r->cbuckets = NULL;
    uv_close((uv_handle_t *)&r->kick, res_free_cb);
}

/* ---------- synchronous wrapper ---------- */

struct sync_result {
    int done;
    enum dns_status st;
    struct buf *out;
    int out_err;
    char why[96];
};

static void
sync_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    struct sync_result *s = arg;
    s->done = 1;
    s->st = st;
    snprintf(s->why, sizeof s->why, "%s", why);
    if (st == DNS_FOUND && buf_append(s->out, txt, n) < 0)
        s->out_err = 1;
}

int
dns_txt_sync(const struct dns_res_opts *o, const char *name, struct buf *out, struct err *e)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0)
        return err_set(e, ARC_ETEMP, "dns: cannot create an event loop");
    struct dns_res *r = NULL;
    int rc = dns_res_new(&loop, o, &r, e);
    struct sync_result s = {0, DNS_TEMPFAIL, out, 0, ""};
    if (rc == 0 && dns_res_txt(r, name, sync_cb, &s, NULL) == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    if (r)
        dns_res_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc < 0)
        return rc;
    switch (s.st) {
    case DNS_FOUND:
        return s.out_err ? err_set(e, ARC_ERANGE, "%s: record too long", name) : 1;
    case DNS_NOTFOUND:
        return 0;
    case DNS_PERMFAIL:
        return err_set(e, ARC_EINVAL, "%s: %s", name, s.why);
    case DNS_TEMPFAIL:
        break;
    }
    return err_set(e, ARC_ETEMP, "%s: %s", name, s.why);
}

int
dns_res_parse_server(const char *s, struct sockaddr_storage *ss, struct err *e)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || (size_t)(end - s - 1) >= sizeof host || (end[1] && end[1] != ':'))
            return err_set(e, ARC_EINVAL, "%s: want [IPv6]:PORT", s);
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* bare IPv6 */
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl >= sizeof host)
            return err_set(e, ARC_EINVAL, "%s: not an IP address", s);
        memcpy(host, s, hl);
        host[hl] = '\0';
        port = colon ? colon + 1 : NULL;
    }
    unsigned long p = 53;
    if (port) {
        char *end;
        p = strtoul(port, &end, 10);
        if (!*port || *end || p == 0 || p > 65535)
            return err_set(e, ARC_EINVAL, "%s: bad port", s);
    }
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
    } else {
        return err_set(e, ARC_EINVAL, "%s: not an IP address", s);
    }
    return 0;
}
