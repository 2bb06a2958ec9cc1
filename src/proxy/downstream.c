/* SPDX-License-Identifier: MIT */
/*
 * downstream - the libuv adapter of the re-injection client (smtp/client.h): one TCP
 * connection to the return port with its timer, owned by one upstream session (proxy
 * mode) or by one queue delivery at a time (queue mode, runner.c; kept in the pool
 * between deliveries): the owner's functions are sess_ds_* or qdel_ds_*, called the same
 * way.
 *
 *   ds_open(s)      connect (timer: ds_connect_timeout) and let the client say EHLO;
 *                   sess_ds_ready() when done, sess_ds_failed() on any failure
 *   ds_open_for(px, conf, s, q)  the same for either owner (one of s, q is NULL); holds a
 *                   reference to conf, the owner's generation, until freed
 *   ds_flush(ds)    write what the client queued; when it all went out at once, the
 *                   owner's *_ds_drained() runs before ds_flush returns
 *   ds_arm(ds, ms)  (re)start the reply timer; expiry fails the client (TIMEOUT)
 *   ds_release(ds)  the session ends: QUIT when idle, else close; detaches from the session
 *   ds_kill(ds)     close now; detaches from the session
 *   ds_pool_put(ds, dirty)       the owner is done: keep the connection idle for the next
 *                   owner (RSET first when dirty) or QUIT it; detaches
 *   ds_pool_take(px, conf, q)    an idle kept connection of generation conf, now q's; NULL
 *                   when there is none
 *   ds_pool_drop(px, why)        QUIT every idle kept connection (reload, stop)
 *
 * Every failure reaches the session once, through sess_ds_failed() with the 4xx owed
 * upstream, after the downstream has detached itself (s->ds == NULL). Memory is freed in
 * the last close callback.
 *
 * The pool (queue mode; after Postfix's connection cache, smtp(8)): a connection is kept
 * only when its last transaction ended, and ended cleanly: the reply to "." read, or a
 * 2xx to the RSET sent when it did not (a refused MAIL, no recipient accepted, a refused
 * DATA), because that also ends an XFORWARD that was not followed by a transaction
 * (XFORWARD_README: the attributes last until the end of the next transaction, RSET or
 * "."); the next owner sends its own XFORWARD. Bounds, from the connection's generation:
 * reuse on (queue.connection_reuse), at most max_deliveries idle, idle at most
 * ds_idle_ms (then QUIT), at most ds_max_msgs transactions per connection (then QUIT),
 * never across generations (a reload drops the pool: runner_reload) and never while
 * stopping. While idle the connection still reads: the downstream closing it (EOF, 421,
 * anything) removes it quietly (a debug line, no failure metric). A kept connection can
 * still die just as it is taken; the owner then tries once more on a new one
 * (runner.c).
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

/* pool_unlink - out of px->ds_idle (only when idle there). */
static void
pool_unlink(struct ds *ds)
{
    struct proxy *px = ds->px;
    if (ds->pool == DS_POOL_IDLE) {
        if (ds->pool_prev)
            ds->pool_prev->pool_next = ds->pool_next;
        else
            px->ds_idle = ds->pool_next;
        if (ds->pool_next)
            ds->pool_next->pool_prev = ds->pool_prev;
        ds->pool_prev = ds->pool_next = NULL;
        px->nds_idle--;
    }
    ds->pool = DS_POOL_NO;
}

void
ds_kill(struct ds *ds)
{
    if (ds->nclosing || ds->dead == 2)
        return;
    ds->dead = 2;
    pool_unlink(ds);
    detach(ds);
    ds->nclosing = 2;
    uv_close((uv_handle_t *)&ds->tcp, ds_close_cb);
    uv_close((uv_handle_t *)&ds->timer, ds_close_cb);
}

static void ds_quit(struct ds *ds);
static void pool_keep(struct ds *ds);

static void
ds_timer_cb(uv_timer_t *t)
{
    struct ds *ds = t->data;
    struct sess *s = ds->s;
    if (ds->dead)
        return;
    if (ds->pool == DS_POOL_IDLE) { /* kept long enough unused */
        pool_unlink(ds);
        log_debug("downstream pool: idle connection closed after %u message(s)", ds->nmsgs);
        ds_quit(ds);
        return;
    }
    if (!ds->s && !ds->q) { /* QUIT (or the RSET before keeping it) took too long */
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
    /* most writes fit the socket buffer at once: no request, no callback, no poll change
     * (libuv's uv_write costs an epoll_ctl per write); the owner hears "drained" at once,
     * as it would from the write callback. A failure here is left to uv_write below,
     * which reports it through the callback: never inside the caller's call. */
    uv_buf_t tb = uv_buf_init((char *)out.p, (unsigned)out.n);
    int tn = ds->writing ? UV_EAGAIN : uv_try_write((uv_stream_t *)&ds->tcp, &tb, 1);
    if (tn > 0) {
        smtp_client_out_consumed(ds->c, (size_t)tn);
        if ((size_t)tn == out.n) {
            if (ds->s)
                sess_ds_drained(ds->s);
            else if (ds->q)
                qdel_ds_drained(ds->q);
            return;
        }
        out = smtp_client_out(ds->c);
    }
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
    if (op == DS_OP_RSET || op == DS_OP_BODY)
        ds->in_txn = 0;
    if (op == DS_OP_MAIL) {
        ds->nmsgs++;
        ds->in_txn = r->code / 100 == 2;
    }
    if (ds->pool == DS_POOL_RSET) { /* the RSET before keeping it */
        if (r->code / 100 == 2) {
            pool_keep(ds);
        } else {
            ds->pool = DS_POOL_NO;
            ds_quit(ds);
        }
        return;
    }
    if (op == DS_OP_QUIT || (!ds->s && !ds->q)) {
        ds_kill(ds);
        return;
    }
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
    if (ds->pool != DS_POOL_NO) { /* idle in the pool, or its RSET: gone quietly */
        log_debug("downstream pool: kept connection gone (%s: %s)", smtp_client_fail_name(cls),
                  why ? why : "");
    } else if (ds->q && ds->nmsgs > 0 && (op == DS_OP_XFORWARD || op == DS_OP_MAIL)) {
        /* a kept connection that died as it was taken: the owner tries a new one */
        log_debug("%s: downstream (kept connection) %s: %s", owner_id(ds),
                  smtp_client_fail_name(cls), why ? why : "");
    } else if (op != DS_OP_QUIT) {
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

/* short_ms - the bound for a QUIT or RSET of a connection nobody waits for. */
static unsigned
short_ms(const struct ds *ds)
{
    return ds->conf->o.ds_timeout_ms < 10000 ? ds->conf->o.ds_timeout_ms : 10000;
}

/* ds_quit - an owner-less connection: QUIT when idle, else close. */
static void
ds_quit(struct ds *ds)
{
    if (ds->ready && ds->op == DS_OP_NONE && smtp_client_quit(ds->c) == 0) {
        ds->op = DS_OP_QUIT;
        ds_flush(ds);
        ds_arm(ds, short_ms(ds));
        return;
    }
    ds_kill(ds);
}

void
ds_release(struct ds *ds)
{
    if (ds->dead)
        return;
    detach(ds);
    ds_quit(ds);
}

/* no_keep - why ds (owner-less, idle) cannot go to the pool now; NULL: it can. */
static const char *
no_keep(const struct ds *ds)
{
    const struct proxy_opts *o = &ds->conf->o;
    struct proxy *px = ds->px;
    if (!o->ds_reuse)
        return "reuse off";
    if (px->stopping)
        return "stopping";
    if (ds->conf != px->conf)
        return "configuration reloaded";
    if (ds->nmsgs >= o->ds_max_msgs)
        return "message limit reached";
    if (px->nds_idle >= o->max_deliveries)
        return "pool full";
    if (!ds->ready || ds->op != DS_OP_NONE || smtp_client_pending(ds->c))
        return "not idle";
    return NULL;
}

/* pool_keep - into the pool if it may go there now, else QUIT. */
static void
pool_keep(struct ds *ds)
{
    struct proxy *px = ds->px;
    const char *why = no_keep(ds);
    ds->pool = DS_POOL_NO;
    if (why) {
        log_debug("downstream pool: connection not kept (%s) after %u message(s)", why, ds->nmsgs);
        ds_quit(ds);
        return;
    }
    ds->pool = DS_POOL_IDLE;
    ds->pool_prev = NULL;
    ds->pool_next = px->ds_idle;
    if (ds->pool_next)
        ds->pool_next->pool_prev = ds;
    px->ds_idle = ds;
    px->nds_idle++;
    ds_arm(ds, ds->conf->o.ds_idle_ms);
}

void
ds_pool_put(struct ds *ds, int dirty)
{
    if (ds->dead)
        return;
    detach(ds);
    if (!(dirty || ds->in_txn) || no_keep(ds)) {
        pool_keep(ds);
        return;
    }
    /* RSET ends whatever was begun (a transaction, an XFORWARD): kept on its 2xx */
    if (smtp_client_rset(ds->c) < 0) {
        ds_kill(ds);
        return;
    }
    ds->op = DS_OP_RSET;
    ds->pool = DS_POOL_RSET;
    ds_flush(ds);
    ds_arm(ds, short_ms(ds));
}

struct ds *
ds_pool_take(struct proxy *px, struct proxy_conf *conf, struct qdel *q)
{
    for (struct ds *ds = px->ds_idle; ds; ds = ds->pool_next) {
        if (ds->conf != conf || ds->dead)
            continue;
        pool_unlink(ds);
        uv_timer_stop(&ds->timer);
        ds->q = q;
        log_debug("%s: downstream: kept connection reused (message %u on it)", qdel_id(q),
                  ds->nmsgs + 1);
        return ds;
    }
    return NULL;
}

void
ds_pool_drop(struct proxy *px, const char *why)
{
    if (px->nds_idle)
        log_debug("downstream pool: %u idle connection(s) closed (%s)", px->nds_idle, why);
    while (px->ds_idle) {
        struct ds *ds = px->ds_idle;
        pool_unlink(ds);
        ds_quit(ds);
    }
}
