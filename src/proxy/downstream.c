/* SPDX-License-Identifier: MIT */
/*
 * downstream - the libuv adapter of the re-injection client (smtp/client.h): one TCP
 * connection to the return port with its timer, owned by one upstream session (proxy
 * mode) or by one queue delivery (queue mode, runner.c): the owner's functions are
 * sess_ds_* or qdel_ds_*, called the same way.
 *
 *   ds_open(s)      connect (timer: ds_connect_timeout) and let the client say EHLO;
 *                   sess_ds_ready() when done, sess_ds_failed() on any failure
 *   ds_open_for(px, conf, s, q)  the same for either owner (one of s, q is NULL); holds a
 *                   reference to conf, the owner's generation, until freed
 *   ds_flush(ds)    write what the client queued
 *   ds_arm(ds, ms)  (re)start the reply timer; expiry fails the client (TIMEOUT)
 *   ds_release(ds)  the session ends: QUIT when idle, else close; detaches from the session
 *   ds_kill(ds)     close now; detaches from the session
 *
 * Every failure reaches the session once, through sess_ds_failed() with the 4xx owed
 * upstream, after the downstream has detached itself (s->ds == NULL). Memory is freed in
 * the last close callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "proxy_int.h"
#include "util/log.h"
#include "util/xalloc.h"

struct ds_wreq {
    uv_write_t req;
    struct ds *ds;
    size_t n;
    char data[];
};

/* detach - the owner forgets the downstream and the downstream the owner. */
static void
detach(struct ds *ds)
{
    if (ds->s) {
        ds->s->ds = NULL;
        ds->s = NULL;
    }
    if (ds->q) {
        qdel_forget_ds(ds->q);
        ds->q = NULL;
    }
}

static const char *
owner_id(const struct ds *ds)
{
    return ds->s ? ds->s->id : ds->q ? qdel_id(ds->q) : "-";
}

static void
ds_close_cb(uv_handle_t *h)
{
    struct ds *ds = h->data;
    if (--ds->nclosing > 0)
        return;
    smtp_client_free(ds->c);
    proxy_conf_unref(ds->conf);
    free(ds);
}

void
ds_kill(struct ds *ds)
{
    if (ds->nclosing || ds->dead == 2)
        return;
    ds->dead = 2;
    detach(ds);
    ds->nclosing = 2;
    uv_close((uv_handle_t *)&ds->tcp, ds_close_cb);
    uv_close((uv_handle_t *)&ds->timer, ds_close_cb);
}

static void
ds_timer_cb(uv_timer_t *t)
{
    struct ds *ds = t->data;
    struct sess *s = ds->s;
    if (ds->dead)
        return;
    if (!ds->s && !ds->q) { /* QUIT of a released session took too long */
        ds_kill(ds);
        return;
    }
    smtp_client_fail(ds->c, SMTP_CLIENT_FAIL_TIMEOUT,
                     ds->op == DS_OP_CONNECT ? "connect timed out" : "no reply in time");
    if (s)
        sess_pump(s);
}

void
ds_arm(struct ds *ds, unsigned ms)
{
    if (!ds->dead)
        uv_timer_start(&ds->timer, ds_timer_cb, ms, 0);
}

static void
ds_write_cb(uv_write_t *req, int status)
{
    struct ds_wreq *w = (struct ds_wreq *)req;
    struct ds *ds = w->ds;
    ds->writing -= w->n;
    free(w);
    if (ds->dead)
        return;
    struct sess *s = ds->s;
    if (status < 0) {
        smtp_client_fail(ds->c, SMTP_CLIENT_FAIL_INTERNAL, uv_strerror(status));
    } else if (ds->writing == 0 && s) {
        sess_ds_drained(s);
    } else if (ds->writing == 0 && ds->q) {
        qdel_ds_drained(ds->q);
    }
    if (s)
        sess_pump(s);
}

void
ds_flush(struct ds *ds)
{
    if (ds->dead)
        return;
    struct span out = smtp_client_out(ds->c);
    if (!out.n)
        return;
    struct ds_wreq *w = xmalloc(sizeof *w + out.n);
    memcpy(w->data, out.p, out.n);
    w->ds = ds;
    w->n = out.n;
    smtp_client_out_consumed(ds->c, out.n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->n);
    int rc = uv_write(&w->req, (uv_stream_t *)&ds->tcp, &b, 1, ds_write_cb);
    if (rc < 0) {
        free(w);
        smtp_client_fail(ds->c, SMTP_CLIENT_FAIL_INTERNAL, uv_strerror(rc));
        return;
    }
    ds->writing += w->n;
}

static void
ds_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ds *ds = h->data;
    *b = uv_buf_init(ds->px->rbuf, sizeof ds->px->rbuf);
}

static void
ds_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct ds *ds = st->data;
    struct sess *s = ds->s;
    if (ds->dead)
        return;
    if (nread > 0)
        smtp_client_input(ds->c, b->base, (size_t)nread);
    else if (nread == UV_EOF)
        smtp_client_eof(ds->c);
    else if (nread < 0)
        smtp_client_fail(ds->c, SMTP_CLIENT_FAIL_CLOSED, uv_strerror((int)nread));
    if (!ds->dead)
        ds_flush(ds);
    if (!ds->dead && ds->op == DS_OP_QUIT && nread == UV_EOF)
        ds_kill(ds);
    if (s)
        sess_pump(s);
}

static void
ds_connect_cb(uv_connect_t *req, int status)
{
    struct ds *ds = req->data;
    struct sess *s = ds->s;
    if (ds->dead)
        return;
    if (status < 0) {
        char why[160];
        snprintf(why, sizeof why, "connect: %s", uv_strerror(status));
        smtp_client_fail(ds->c, SMTP_CLIENT_FAIL_REFUSED, why);
    } else {
        uv_read_start((uv_stream_t *)&ds->tcp, ds_alloc_cb, ds_read_cb);
    }
    if (s)
        sess_pump(s);
}

static void
cb_ready(void *ctx)
{
    struct ds *ds = ctx;
    ds->ready = 1;
    ds->op = DS_OP_NONE;
    uv_timer_stop(&ds->timer);
    if (ds->s)
        sess_ds_ready(ds->s);
    else if (ds->q)
        qdel_ds_ready(ds->q);
}

static void
cb_reply(void *ctx, const struct smtp_client_reply *r)
{
    struct ds *ds = ctx;
    enum ds_op op = ds->op;
    uv_timer_stop(&ds->timer);
    ds->op = DS_OP_NONE;
    if (op == DS_OP_QUIT || (!ds->s && !ds->q)) {
        ds_kill(ds);
        return;
    }
    if (op == DS_OP_RSET || op == DS_OP_BODY)
        ds->in_txn = 0;
    if (op == DS_OP_MAIL && r->code / 100 == 2)
        ds->in_txn = 1;
    if (ds->s)
        sess_ds_reply(ds->s, op, r);
    else
        qdel_ds_reply(ds->q, op, r);
}

static void
cb_failed(void *ctx, enum smtp_client_fail cls, const struct smtp_client_reply *r, const char *why)
{
    struct ds *ds = ctx;
    struct sess *s = ds->s;
    struct buf text;
    enum ds_op op = ds->op;
    buf_init(&text, 0);
    if (r && r->nlines) {
        smtp_client_reply_format(r, 451, &text);
    } else if (cls == SMTP_CLIENT_FAIL_REFUSED && op == DS_OP_CONNECT && !r) {
        buf_printf(&text, "451 4.4.1 downstream unreachable");
    } else if (cls == SMTP_CLIENT_FAIL_TIMEOUT) {
        buf_printf(&text, "451 4.4.2 downstream timed out");
    } else {
        buf_printf(&text, "451 4.4.2 downstream connection lost");
    }
    if (op != DS_OP_QUIT) {
        log_warn("%s: downstream %s: %s", owner_id(ds), smtp_client_fail_name(cls), why ? why : "");
        metrics_inc(op == DS_OP_CONNECT && !ds->ready ? M_DS_FAIL_CONNECT
                    : cls == SMTP_CLIENT_FAIL_TIMEOUT ? M_DS_FAIL_TIMEOUT
                                                      : M_DS_FAIL_LOST);
    }
    ds->dead = 1;
    uv_timer_stop(&ds->timer);
    struct qdel *q = ds->q;
    if (s) {
        s->ds = NULL;
        ds->s = NULL;
        sess_ds_failed(s, text.data);
    } else if (q) {
        qdel_forget_ds(q);
        ds->q = NULL;
        qdel_ds_failed(q, text.data);
    }
    buf_free(&text);
    ds_kill(ds);
}

struct ds *
ds_open_for(struct proxy *px, struct proxy_conf *conf, struct sess *s, struct qdel *q)
{
    static const struct smtp_client_cb cb = {cb_ready, cb_reply, cb_failed};
    struct ds *ds = xcalloc(1, sizeof *ds);
    const struct proxy_opts *o = &conf->o;
    ds->px = px;
    ds->conf = proxy_conf_hold(conf);
    ds->s = s;
    ds->q = q;
    ds->c = smtp_client_new(o->helo_name ? o->helo_name : conf->hostname, &cb, ds);
    if (!ds->c)
        ds->c = smtp_client_new("localhost", &cb, ds);
    uv_tcp_init(px->loop, &ds->tcp);
    uv_timer_init(px->loop, &ds->timer);
    ds->tcp.data = ds->timer.data = ds->creq.data = ds;
    uv_tcp_nodelay(&ds->tcp, 1);
    ds->op = DS_OP_CONNECT;
    if (s)
        s->ds = ds;
    ds_arm(ds, o->ds_connect_timeout_ms);
    int rc =
        uv_tcp_connect(&ds->creq, &ds->tcp, (const struct sockaddr *)&conf->ds_addr, ds_connect_cb);
    if (rc < 0) {
        /* report through the timer so that the caller's state is settled first */
        log_warn("%s: downstream connect: %s", owner_id(ds), uv_strerror(rc));
        ds_arm(ds, 0);
    }
    return ds;
}

struct ds *
ds_open(struct sess *s)
{
    return ds_open_for(s->px, s->conf, s, NULL);
}

void
ds_release(struct ds *ds)
{
    if (ds->dead)
        return;
    detach(ds);
    if (ds->ready && ds->op == DS_OP_NONE && smtp_client_quit(ds->c) == 0) {
        ds->op = DS_OP_QUIT;
        ds_flush(ds);
        ds_arm(ds, ds->conf->o.ds_timeout_ms < 10000 ? ds->conf->o.ds_timeout_ms : 10000);
        return;
    }
    ds_kill(ds);
}
