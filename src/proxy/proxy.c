/* SPDX-License-Identifier: MIT */
/*
 * proxy - start-up, listeners, signals and the drain on shutdown (proxy.h).
 *
 * Start: options checked, signing key and zone file loaded, spool opened and recovered
 * (proxy mode: leftovers removed), listeners bound; then the loop runs. SIGTERM/SIGINT:
 * listeners and signal handles closed, idle sessions get 421 4.3.2, sessions inside a
 * transaction finish it (each then gets 421), and after shutdown_timeout_ms (or at a
 * second signal) the rest are closed; the loop ends when the last handle is closed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy_int.h"
#include "util/log.h"
#include "util/xalloc.h"

static void
noop_close_cb(uv_handle_t *h)
{
}

static void
stop_timer_cb(uv_timer_t *t)
{
    struct proxy *px = t->data;
    log_warn("shutdown: %u session(s) still busy after %u ms: closing them", px->nsessions,
             px->o->shutdown_timeout_ms);
    for (struct sess *s = px->sessions, *next; s; s = next) {
        next = s->next;
        sess_close(s);
    }
    runner_kill(px);
    if (px->stop_timer_on) {
        px->stop_timer_on = 0;
        uv_close((uv_handle_t *)&px->stop_timer, noop_close_cb);
    }
}

void
proxy_sess_gone(struct proxy *px)
{
    if (!px->stopping || px->sessions || px->ndeliv)
        return;
    if (px->stop_timer_on) {
        px->stop_timer_on = 0;
        uv_close((uv_handle_t *)&px->stop_timer, noop_close_cb);
    }
    if (!uv_is_closing((uv_handle_t *)&px->sigterm)) {
        uv_close((uv_handle_t *)&px->sigterm, noop_close_cb);
        uv_close((uv_handle_t *)&px->sigint, noop_close_cb);
    }
}

static void
proxy_stop(struct proxy *px, const char *why)
{
    if (px->stopping)
        return;
    px->stopping = 1;
    log_info("%s: stopping (%u session(s) open)", why, px->nsessions);
    for (size_t i = 0; i < px->nlisten; i++)
        uv_close((uv_handle_t *)&px->listeners[i], noop_close_cb);
    runner_stop(px);
    uv_timer_init(px->loop, &px->stop_timer);
    px->stop_timer.data = px;
    px->stop_timer_on = 1;
    uv_timer_start(&px->stop_timer, stop_timer_cb, px->o->shutdown_timeout_ms, 0);
    uv_unref((uv_handle_t *)&px->stop_timer);
    for (struct sess *s = px->sessions, *next; s; s = next) {
        next = s->next;
        sess_stop(s);
    }
    proxy_sess_gone(px);
}

static void
signal_cb(uv_signal_t *h, int signum)
{
    struct proxy *px = h->data;
    if (px->stopping) { /* a second signal: do not wait for the drain */
        uv_timer_start(&px->stop_timer, stop_timer_cb, 0, 0);
        return;
    }
    proxy_stop(px, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void
accept_cb(uv_stream_t *server, int status)
{
    struct proxy *px = server->data;
    if (status < 0) {
        log_warn("accept: %s", uv_strerror(status));
        return;
    }
    sess_accept(px, server);
}

static int
listen_on(struct proxy *px, const char *addr, struct err *e)
{
    struct sockaddr_storage ss;
    int rc = proxy_parse_addr(addr, &ss, e);
    if (rc < 0)
        return rc;
    uv_tcp_t *t = &px->listeners[px->nlisten];
    uv_tcp_init(px->loop, t);
    t->data = px;
    px->nlisten++;
    unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    if ((rc = uv_tcp_bind(t, (struct sockaddr *)&ss, flags)) < 0 ||
        (rc = uv_listen((uv_stream_t *)t, 128, accept_cb)) < 0)
        return err_set(e, ARC_EIO, "listen on %s: %s", addr, uv_strerror(rc));
    log_info("listening on %s", addr);
    return 0;
}

static int
check_opts(const struct proxy_opts *o, struct err *e)
{
    int seal = o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV;
    if (o->nlisten == 0 || o->nlisten > PROXY_MAX_LISTEN)
        return err_set(e, ARC_EINVAL, "between 1 and %d listen addresses", PROXY_MAX_LISTEN);
    if (o->mode != PROXY_MODE_PASS && (!o->authserv_id || !*o->authserv_id))
        return err_set(e, ARC_EINVAL, "modes v, s and sv need an authserv-id");
    if (seal && (!o->seal_domain || !o->seal_selector || !o->seal_key_path))
        return err_set(e, ARC_EINVAL, "modes s and sv need a seal domain, selector and key");
    if (seal &&
        (!arc_is_domain(span_of(o->seal_domain)) || !arc_is_domain(span_of(o->seal_selector))))
        return err_set(e, ARC_EINVAL, "seal domain or selector is not a domain name");
    if (!o->spool_dir)
        return err_set(e, ARC_EINVAL, "no spool directory");
    if (o->delivery == PROXY_DELIVERY_QUEUE &&
        (o->max_deliveries == 0 || o->retry_min_ms == 0 || o->retry_max_ms < o->retry_min_ms))
        return err_set(e, ARC_EINVAL, "queue: max_deliveries > 0 and retry_min <= retry_max");
    if (o->max_sessions == 0 || o->cmd_timeout_ms == 0 || o->data_timeout_ms == 0 ||
        o->ds_connect_timeout_ms == 0 || o->ds_timeout_ms == 0)
        return err_set(e, ARC_EINVAL, "sessions and timeouts must be > 0");
    if (o->nxforward_allow > PROXY_MAX_CIDRS)
        return err_set(e, ARC_EINVAL, "at most %d XFORWARD CIDRs", PROXY_MAX_CIDRS);
    return 0;
}

struct recovered {
    char (*ids)[SPOOL_ID_MAX];
    size_t n, cap;
};

static void
recover_cb(void *ctx, const char *id)
{
    struct recovered *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->ids = xrealloc(r->ids, r->cap * sizeof *r->ids);
    }
    snprintf(r->ids[r->n++], SPOOL_ID_MAX, "%s", id);
}

/* was_queued - the file was acknowledged in queue mode (it has the "arrival" attribute
 * only queue mode writes): proxy mode must not remove it after a switch of modes. */
static int
was_queued(struct spool *sp, const char *id)
{
    struct spool_reader *r;
    struct err e;
    err_clear(&e);
    if (spool_read_open(sp, id, &r, &e) < 0)
        return 0;
    int q = spool_env_attr(spool_read_env(r), "arrival") != NULL;
    spool_read_close(r);
    return q;
}

/* spool_start - open and recover; queue mode: every complete file is queued again; proxy
 * mode: every leftover is removed (its MTA still holds the message: we reply 250 only
 * after downstream's 250), except files queue mode acknowledged. */
static int
spool_start(struct proxy *px, struct err *e)
{
    int rc = spool_open(px->o->spool_dir, &px->spool, e);
    if (rc < 0)
        return rc;
    struct recovered r = {NULL, 0, 0};
    struct err re;
    err_clear(&re);
    if (spool_recover(px->spool, recover_cb, &r, &re) < 0)
        log_warn("spool recovery: %s", re.text);
    int queue = px->o->delivery == PROXY_DELIVERY_QUEUE;
    if (queue)
        runner_start(px);
    for (size_t i = 0; i < r.n; i++) {
        if (queue) {
            log_info("%s: queued again from an earlier run", r.ids[i]);
            runner_add(px, r.ids[i], 0);
            continue;
        }
        if (was_queued(px->spool, r.ids[i])) {
            log_error("%s: queued by delivery: queue and not delivered yet: left in the spool "
                      "(start with delivery: queue to deliver it)",
                      r.ids[i]);
            continue;
        }
        log_warn("%s: leftover from an earlier run removed (proxy mode: the MTA retries it)",
                 r.ids[i]);
        if (spool_remove_flags(px->spool, r.ids[i], SPOOL_NOSYNC, &re) < 0)
            log_warn("%s: %s", r.ids[i], re.text);
    }
    free(r.ids);
    return 0;
}

static int
proxy_setup(struct proxy *px, struct err *e)
{
    const struct proxy_opts *o = px->o;
    int rc = check_opts(o, e);
    if (rc < 0)
        return rc;
    if ((rc = proxy_parse_addr(o->downstream, &px->ds_addr, e)) < 0)
        return rc;
    for (size_t i = 0; i < o->nxforward_allow; i++)
        if ((rc = proxy_parse_cidr(o->xforward_allow[i], &px->xf_allow[px->nxf_allow++], e)) < 0)
            return rc;
    if (o->hostname)
        snprintf(px->hostname, sizeof px->hostname, "%s", o->hostname);
    else if (gethostname(px->hostname, sizeof px->hostname - 1) != 0 || !px->hostname[0])
        snprintf(px->hostname, sizeof px->hostname, "localhost");
    if ((o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV) &&
        (rc = arc_privkey_load_file(o->seal_key_path, &px->key, e)) < 0)
        return rc;
    if (o->dns_zone_path && (rc = dns_zone_load(o->dns_zone_path, &px->zone, e)) < 0)
        return rc;
    if (o->mode != PROXY_MODE_PASS && !o->dns_zone_path)
        log_warn("no zone file: keys come from the blocking system resolver on worker threads "
                 "(the non-blocking resolver is issue 4)");
    if ((rc = spool_start(px, e)) < 0)
        return rc;
    for (size_t i = 0; i < o->nlisten; i++)
        if ((rc = listen_on(px, o->listen[i], e)) < 0)
            return rc;
    uv_signal_init(px->loop, &px->sigterm);
    uv_signal_init(px->loop, &px->sigint);
    px->sigterm.data = px->sigint.data = px;
    uv_signal_start(&px->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&px->sigint, signal_cb, SIGINT);
    return 0;
}

static void
walk_close_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int
proxy_run(const struct proxy_opts *o, struct err *e)
{
    struct proxy *px = xcalloc(1, sizeof *px);
    uv_loop_t loop;
    uv_loop_init(&loop);
    px->loop = &loop;
    px->o = o;
    signal(SIGPIPE, SIG_IGN);
    int rc = proxy_setup(px, e);
    if (rc == 0) {
        log_info("arcproxy ready: mode %s, delivery %s, downstream %s, spool %s",
                 o->mode == PROXY_MODE_PASS ? "pass"
                 : o->mode == PROXY_MODE_V  ? "v"
                 : o->mode == PROXY_MODE_S  ? "s"
                                            : "sv",
                 o->delivery == PROXY_DELIVERY_QUEUE ? "queue" : "proxy", o->downstream,
                 o->spool_dir);
        uv_run(&loop, UV_RUN_DEFAULT);
        log_info("stopped");
    }
    uv_walk(&loop, walk_close_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        log_warn("loop closed with live handles");
    runner_free(px);
    spool_close(px->spool);
    dns_zone_free(px->zone);
    arc_privkey_free(px->key);
    free(px);
    return rc;
}
