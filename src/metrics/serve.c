/* SPDX-License-Identifier: MIT */
/*
 * serve - the metrics port on the libuv loop (serve.h).
 *
 * A connection: read into its own HTTP_MAX_HEAD buffer until http_parse says complete or
 * malformed (or the buffer is full: 431, or the read timer fires: 408); then one write of
 * the whole response, a half-close, and reading (discarded) until the peer closes or
 * METRICS_WRITE_TIMEOUT_MS from the response on. The server object lives until its listeners and every
 * connection are closed (a count of open handles), so metrics_server_close may be called
 * while responses are still being written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "http.h"
#include "serve.h"

struct mconn;

struct metrics_server {
    uv_loop_t *loop;
    uv_tcp_t listeners[METRICS_MAX_LISTEN];
    size_t nlisten;
    struct mconn *conns; /* doubly linked */
    unsigned nconns;
    unsigned handles; /* open handles: listeners + 2 per connection */
    int draining, closing;
};

struct mconn {
    struct metrics_server *srv;
    struct mconn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct buf out;
    size_t len;
    int closing, nclosing, responded;
    char in[HTTP_MAX_HEAD];
};

static void
srv_maybe_free(struct metrics_server *srv)
{
    if (srv->closing && srv->handles == 0)
        free(srv);
}

static void
conn_close_cb(uv_handle_t *h)
{
    struct mconn *c = h->data;
    struct metrics_server *srv = c->srv;
    srv->handles--;
    if (--c->nclosing == 0) {
        buf_free(&c->out);
        free(c);
    }
    srv_maybe_free(srv);
}

static void
conn_close(struct mconn *c)
{
    struct metrics_server *srv = c->srv;
    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    c->nclosing = 2; /* c is freed by the second close callback */
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
    struct mconn *c = req->data;
    if (status < 0)
        conn_close(c);
    /* else the read side runs on until the peer's EOF (or the timer): lingering */
}

/* write_cb - the response is out: half-close, and read (discarding) until the peer
 * closes, so that a request we answered early (400, 431) does not turn into a reset
 * that destroys the response before the peer read it. */
static void
write_cb(uv_write_t *req, int status)
{
    struct mconn *c = req->data;
    if (status < 0 || c->closing) {
        conn_close(c);
        return;
    }
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) < 0)
        conn_close(c);
}

static void
timer_cb(uv_timer_t *t)
{
    struct mconn *c = t->data;
    if (c->responded) { /* the peer does not read the response */
        conn_close(c);
        return;
    }
    struct buf out;
    buf_init(&out, 0);
    http_error(408, &out);
    c->out = out;
    c->responded = 1;
    c->len = 0;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0)
        conn_close(c);
    else
        uv_timer_start(&c->timer, timer_cb, METRICS_WRITE_TIMEOUT_MS, 0);
}

/* respond - send out (taken) and close after it is written. */
static void
respond(struct mconn *c, struct buf *out)
{
    c->out = *out;
    buf_init(out, 0);
    c->responded = 1;
    c->len = 0;
    uv_timer_start(&c->timer, timer_cb, METRICS_WRITE_TIMEOUT_MS, 0);
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0)
        conn_close(c);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct mconn *c = h->data;
    *b = uv_buf_init(c->in + c->len, (unsigned)(sizeof c->in - c->len));
}

static void
read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct mconn *c = st->data;
    struct buf out;
    struct http_req req;
    if (c->closing)
        return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->responded) { /* lingering: discard */
        c->len = 0;
        return;
    }
    c->len += (size_t)nread;
    int rc = http_parse(c->in, c->len, &req);
    if (rc == 0 && c->len < sizeof c->in)
        return;
    buf_init(&out, 0);
    if (rc > 0)
        http_route(&req, c->srv->draining, &out);
    else
        http_error(rc == 0 ? 431 : 400, &out);
    respond(c, &out);
}

static void
accept_cb(uv_stream_t *server, int status)
{
    struct metrics_server *srv = server->data;
    if (status < 0 || srv->closing)
        return;
    struct mconn *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    srv->handles += 2;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || srv->nconns > METRICS_MAX_CONNS) {
        log_debug("metrics: connection refused (%u open)", srv->nconns - 1);
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, timer_cb, METRICS_READ_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0)
        conn_close(c);
}

static void
listener_close_cb(uv_handle_t *h)
{
    struct metrics_server *srv = h->data;
    srv->handles--;
    srv_maybe_free(srv);
}

int
metrics_server_start(uv_loop_t *loop, const struct sockaddr *const *addrs, size_t n,
                     struct metrics_server **srvp, struct err *e)
{
    struct metrics_server *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    *srvp = NULL;
    for (size_t i = 0; i < n && i < METRICS_MAX_LISTEN; i++) {
        uv_tcp_t *t = &srv->listeners[srv->nlisten++];
        char name[64] = "?";
        int rc;
        uv_tcp_init(loop, t);
        t->data = srv;
        srv->handles++;
        if (addrs[i]->sa_family == AF_INET6)
            uv_ip6_name((const struct sockaddr_in6 *)addrs[i], name, sizeof name);
        else
            uv_ip4_name((const struct sockaddr_in *)addrs[i], name, sizeof name);
        if ((rc = uv_tcp_bind(t, addrs[i], addrs[i]->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) <
                0 ||
            (rc = uv_listen((uv_stream_t *)t, 16, accept_cb)) < 0) {
            err_set(e, ARC_EIO, "metrics: listen on %s: %s", name, uv_strerror(rc));
            metrics_server_close(srv);
            return -ARC_EIO;
        }
    }
    *srvp = srv;
    return 0;
}

void
metrics_server_draining(struct metrics_server *srv, int on)
{
    if (srv)
        srv->draining = on;
}

void
metrics_server_close(struct metrics_server *srv)
{
    if (!srv || srv->closing)
        return;
    srv->closing = 1;
    for (size_t i = 0; i < srv->nlisten; i++)
        uv_close((uv_handle_t *)&srv->listeners[i], listener_close_cb);
    while (srv->conns)
        conn_close(srv->conns);
    srv_maybe_free(srv);
}
