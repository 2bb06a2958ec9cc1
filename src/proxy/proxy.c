/* SPDX-License-Identifier: MIT */
/*
 * proxy - start-up, listeners, signals and the drain on shutdown (proxy.h).
 *
 * Start: options checked, signing key and zone file loaded, the key resolver made
 * (modes v/s/sv: keys.c; closed when the last session is gone at shutdown; a reload
 * replaces it when dns.* or the zone changed), spool opened and recovered
 * (proxy mode: leftovers removed), listeners bound; then the loop runs. SIGTERM/SIGINT:
 * listeners and signal handles closed, idle sessions get 421 4.3.2, sessions inside a
 * transaction finish it (each then gets 421), and after shutdown_timeout_ms (or at a
 * second signal) the rest are closed; the loop ends when the last handle is closed.
 *
 * Operations: the metrics port (src/metrics) runs on this loop; /health says "draining"
 * from SIGTERM on. A collector publishes the session gauge and the accepted-connection
 * count at each scrape. SIGHUP builds a new generation (struct proxy_conf: options, the
 * sealing policy with its keys, the zone) and makes it current at once.
 *
 * Generations: each session takes a reference at accept (s->conf = proxy_conf_ref(px))
 * and reads its options, policy and zone through it, its jobs through j->s->conf; a
 * downstream and a queue delivery hold their own reference (a downstream may outlive its
 * session during QUIT). So a session keeps the configuration it started with, a worker
 * never sees two, and a reload needs no pause: the old generation is freed with its
 * last holder. px->o and friends are the current generation's, for what is decided on
 * the loop when something new starts (accept, the queue runner's start of a delivery).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "metrics/serve.h"
#include "policy/policy.h"
#include "proxy_int.h"
#include "util/log.h"
#include "util/pidfile.h"
#include "util/privs.h"
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
        uv_close((uv_handle_t *)&px->sighup, noop_close_cb);
        metrics_server_close(px->metrics);
        px->metrics = NULL;
        keys_res_close(px);
    }
}

static void
proxy_stop(struct proxy *px, const char *why)
{
    if (px->stopping)
        return;
    px->stopping = 1;
    log_info("%s: stopping (%u session(s) open)", why, px->nsessions);
    metrics_server_draining(px->metrics, 1);
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

/* listen_unix - "unix:/path": a stale socket file (nothing accepts on it) is removed
 * first, a live one is an error; the socket is made 0660 (the MTA's group: user/group). */
static int
listen_unix(struct proxy *px, const char *addr, struct err *e)
{
    const char *path = addr + 5;
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return err_set(e, ARC_EINVAL, "listen on %s: path too long", addr);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return err_set(e, ARC_EINVAL, "listen on %s: exists and is not a socket", addr);
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        /* stale only when the connect is refused: EAGAIN (a full backlog), EACCES and the
         * like leave the file alone */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return err_set(e, ARC_EIO, "listen on %s: socket: %s", addr, strerror(errno));
        int cr = connect(fd, (struct sockaddr *)&sa, sizeof sa), cerr = errno;
        close(fd);
        if (cr == 0 || cerr != ECONNREFUSED)
            return err_set(e, ARC_EIO, "listen on %s: something accepts on it already (%s)", addr,
                           cr == 0 ? "connected" : strerror(cerr));
        if (unlink(path) != 0 && errno != ENOENT)
            return err_set(e, ARC_EIO, "listen on %s: remove stale socket: %s", addr,
                           strerror(errno));
        log_info("listen on %s: stale socket removed", addr);
    }
    uv_pipe_t *p = &px->listeners[px->nlisten].pipe;
    uv_pipe_init(px->loop, p, 0);
    p->data = px;
    px->nlisten++;
    mode_t old = umask(0117); /* srw-rw---- from the start */
    int rc = uv_pipe_bind(p, path);
    umask(old);
    if (rc < 0)
        return err_set(e, ARC_EIO, "listen on %s: %s", addr, uv_strerror(rc));
    px->unix_paths[px->nunix++] = xstrdup(path);
    if ((rc = uv_listen((uv_stream_t *)p, 128, accept_cb)) < 0)
        return err_set(e, ARC_EIO, "listen on %s: %s", addr, uv_strerror(rc));
    log_info("listening on %s", addr);
    return 0;
}

/* unix_cleanup - the socket files this process bound (clean exit and failed start). */
static void
unix_cleanup(struct proxy *px)
{
    for (size_t i = 0; i < px->nunix; i++)
        if (unlink(px->unix_paths[i]) != 0 && errno != ENOENT)
            log_warn("remove %s: %s", px->unix_paths[i], strerror(errno));
    for (size_t i = 0; i < px->nunix; i++)
        free(px->unix_paths[i]);
    px->nunix = 0;
}

static int
listen_on(struct proxy *px, const char *addr, struct err *e)
{
    if (strncmp(addr, "unix:", 5) == 0)
        return listen_unix(px, addr, e);
    struct sockaddr_storage ss;
    int rc = proxy_parse_addr(addr, &ss, e);
    if (rc < 0)
        return rc;
    uv_tcp_t *t = &px->listeners[px->nlisten].tcp;
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
    int seal = !o->cfg && (o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV);
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

/* ---- generations of options (start and SIGHUP) ----------------------------------- */

static struct proxy_conf *
conf_free(struct proxy_conf *c)
{
    if (!c)
        return NULL;
    policy_free(c->policy);
    dns_zone_free(c->zone);
    if (c->hold && c->o.reload && c->o.reload->release)
        c->o.reload->release(c->o.reload->ctx, c->hold);
    free(c);
    return NULL;
}

struct proxy_conf *
proxy_conf_ref(struct proxy *px)
{
    px->conf->refs++;
    return px->conf;
}

struct proxy_conf *
proxy_conf_hold(struct proxy_conf *c)
{
    c->refs++;
    return c;
}

void
proxy_conf_unref(struct proxy_conf *c)
{
    if (c && --c->refs == 0)
        conf_free(c);
}

/* flags_policy - the policy of the provisional flags: the defaults of the configuration
 * file with mode, keys.domain, keys.selector and keys.key_file from the flags (RSA keys
 * from 1024 bits, the engine's minimum, as before the policy existed). */
static int
flags_policy(const struct proxy_opts *o, struct policy **pp, struct err *e)
{
    static const enum cfg_mode modes[] = {[PROXY_MODE_PASS] = CFG_MODE_PASS,
                                          [PROXY_MODE_V] = CFG_MODE_V,
                                          [PROXY_MODE_S] = CFG_MODE_S,
                                          [PROXY_MODE_SV] = CFG_MODE_SV};
    struct arcp_config *cfg = NULL;
    if (config_default(&cfg) < 0 || !cfg)
        return err_set(e, ARC_EINVAL, "no default configuration");
    cfg->mode = modes[o->mode];
    cfg->keys.min_rsa_bits = 1024;
    int seal = o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV; /* v: no key read */
    const char *v[3] = {seal ? o->seal_domain : NULL, seal ? o->seal_selector : NULL,
                        seal ? o->seal_key_path : NULL};
    char **f[3] = {&cfg->keys.domain, &cfg->keys.selector, &cfg->keys.key_file};
    for (size_t i = 0; i < 3; i++) {
        free(*f[i]);
        *f[i] = xstrdup(v[i] ? v[i] : "");
    }
    int rc = policy_load(cfg, pp, e);
    config_free(cfg);
    return rc;
}

/* conf_policy - the generation's sealing policy (keys read and checked now). Sealing
 * modes without any key fall back to verifying only (sv -> v, s -> pass), as a warning. */
static int
conf_policy(struct proxy_conf *c, struct err *e)
{
    struct proxy_opts *o = &c->o;
    if (o->mode == PROXY_MODE_PASS)
        return 0;
    int rc = o->cfg ? policy_load(o->cfg, &c->policy, e) : flags_policy(o, &c->policy, e);
    if (rc < 0)
        return rc;
    if ((o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV) && policy_key_count(c->policy) == 0) {
        log_warn("no sealing key configured (keys.key_file, keys.domains, keys.path, maps): "
                 "verifying only, not sealing");
        o->mode = o->mode == PROXY_MODE_SV ? PROXY_MODE_V : PROXY_MODE_PASS;
    }
    return 0;
}

/* conf_build - check o and load what it names (policy and keys, zone) into a new
 * generation. Takes hold (freed with the generation, also on failure). */
static int
conf_build(const struct proxy_opts *o, void *hold, const struct proxy_reload *reload,
           struct proxy_conf **cp, struct err *e)
{
    struct proxy_conf *c = xcalloc(1, sizeof *c);
    c->refs = 1; /* the proxy's, once installed */
    c->o = *o;
    c->o.reload = reload;
    c->hold = hold;
    *cp = NULL;
    int rc = check_opts(&c->o, e);
    if (rc == 0)
        rc = proxy_parse_addr(o->downstream, &c->ds_addr, e);
    for (size_t i = 0; rc == 0 && i < o->nxforward_allow; i++)
        rc = proxy_parse_cidr(o->xforward_allow[i], &c->xf_allow[c->nxf_allow++], e);
    if (rc == 0 && o->hostname)
        snprintf(c->hostname, sizeof c->hostname, "%s", o->hostname);
    else if (rc == 0 && (gethostname(c->hostname, sizeof c->hostname - 1) != 0 || !c->hostname[0]))
        snprintf(c->hostname, sizeof c->hostname, "localhost");
    if (rc == 0)
        rc = conf_policy(c, e);
    if (rc == 0 && o->dns_zone_path)
        rc = dns_zone_load(o->dns_zone_path, &c->zone, e);
    if (rc == 0 && o->dns_config) {
        rc = dns_res_opts_from_config(o->dns_config, c->zone, &c->dnso, e);
    } else if (rc == 0) {
        dns_res_opts_default(&c->dnso);
        c->dnso.zone = c->zone;
    }
    if (rc < 0) {
        conf_free(c);
        return rc;
    }
    *cp = c;
    return 0;
}

/* conf_install - make c the current generation (the old one is the caller's). */
static void
conf_install(struct proxy *px, struct proxy_conf *c)
{
    px->conf = c;
    px->o = &c->o;
    px->zone = c->zone;
    px->ds_addr = c->ds_addr;
    memcpy(px->xf_allow, c->xf_allow, sizeof px->xf_allow);
    px->nxf_allow = c->nxf_allow;
    memcpy(px->hostname, c->hostname, sizeof px->hostname);
}

static int
str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* fixed_changed - warn about options a reload does not apply. */
static void
fixed_changed(const struct proxy_opts *a, const struct proxy_opts *b)
{
    int listen = a->nlisten != b->nlisten, metrics = a->nmetrics_listen != b->nmetrics_listen;
    for (size_t i = 0; !listen && i < a->nlisten; i++)
        listen = str_differs(a->listen[i], b->listen[i]);
    for (size_t i = 0; !metrics && i < a->nmetrics_listen; i++)
        metrics = str_differs(a->metrics_listen[i], b->metrics_listen[i]);
    const struct {
        int changed;
        const char *what;
    } keys[] = {
        {listen, "listen"},
        {metrics, "metrics.listen"},
        {str_differs(a->spool_dir, b->spool_dir), "spool_dir"},
        {str_differs(a->pidfile, b->pidfile), "pidfile"},
        {str_differs(a->user, b->user) || str_differs(a->group, b->group), "user/group"},
        {a->workers != b->workers, "workers"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].changed)
            log_warn("SIGHUP: %s changed: not applied until a restart", keys[i].what);
}

/* res_update - after a swap: a new resolver when the dns.* options or the zone changed
 * (the old one borrowed the old generation's zone), or when one is needed for the first
 * time; the cache survives otherwise. Lookups still pending on a replaced resolver end
 * as temperrors (451 4.7.0: the MTA retries those messages). */
static void
res_update(struct proxy *px, const struct proxy_conf *old)
{
    const struct dns_res_opts *o = &px->conf->dnso;
    if (px->o->mode == PROXY_MODE_PASS && !px->res)
        return;
    if (px->res && !px->conf->zone && !old->zone && memcmp(o, &px->res_opts, sizeof *o) == 0)
        return;
    struct err e;
    err_clear(&e);
    keys_res_close(px);
    if (keys_res_open(px, o, &e) < 0)
        log_error("SIGHUP: no resolver, key lookups fail for now: %s", e.text);
    else
        log_info("SIGHUP: new resolver (dns options changed)");
}

/* conf_swap - make c current; the old generation lives on in the sessions, downstreams
 * and deliveries that hold it and is freed with the last of them. */
static void
conf_swap(struct proxy *px, struct proxy_conf *c)
{
    struct proxy_conf *old = px->conf;
    conf_install(px, c);
    runner_reload(px); /* kept downstream connections belong to the old generation */
    res_update(px, old);
    if (c->o.reload && c->o.reload->apply)
        c->o.reload->apply(c->o.reload->ctx, c->hold);
    proxy_conf_unref(old);
    metrics_inc(M_RELOAD_OK);
    log_info("SIGHUP: configuration reloaded (%u session(s) open)", px->nsessions);
}

static void
reload(struct proxy *px)
{
    const struct proxy_reload *r = px->o->reload;
    struct proxy_opts no;
    struct proxy_conf *c;
    struct err e;
    void *hold = NULL;
    err_clear(&e);
    if (!r) {
        log_warn("SIGHUP: started with command-line options: nothing to reload");
        return;
    }
    if (px->stopping)
        return;
    proxy_opts_default(&no);
    int rc = r->load(r->ctx, &no, &hold, &e);
    if (rc < 0) {
        if (hold && r->release)
            r->release(r->ctx, hold);
    } else {
        rc = conf_build(&no, hold, r, &c, &e);
    }
    if (rc < 0) {
        metrics_inc(M_RELOAD_FAILED);
        log_error("SIGHUP: configuration not reloaded, the running one stays: %s",
                  e.text[0] ? e.text : "invalid");
        return;
    }
    fixed_changed(px->o, &c->o);
    conf_swap(px, c);
}

static void
sighup_cb(uv_signal_t *h, int signum)
{
    reload(h->data);
}

/* ---- metrics, pidfile, privileges --------------------------------------------------- */

static void
collect(void *ctx)
{
    struct proxy *px = ctx;
    metrics_set(M_SESSIONS, px->nsessions);
    metrics_set(M_SESSIONS_TOTAL, (int64_t)px->next_id);
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int
metrics_start(struct proxy *px, struct err *e)
{
    const struct proxy_opts *o = px->o;
    struct sockaddr_storage ss[PROXY_MAX_METRICS];
    const struct sockaddr *sa[PROXY_MAX_METRICS];
    size_t n = 0;
    for (size_t i = 0; i < o->nmetrics_listen && i < PROXY_MAX_METRICS; i++, n++) {
        int rc = proxy_parse_addr(o->metrics_listen[i], &ss[i], e);
        if (rc < 0)
            return rc;
        if (!is_loopback(&ss[i]))
            log_warn("metrics.listen %s is not a loopback address: anyone who can reach it "
                     "reads the metrics",
                     o->metrics_listen[i]);
        sa[i] = (const struct sockaddr *)&ss[i];
    }
    if (n == 0)
        return 0;
    int rc = metrics_server_start(px->loop, sa, n, &px->metrics, e);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        log_info("metrics on http://%s/metrics", o->metrics_listen[i]);
    return 0;
}

/* drop_privileges - to o->user, after the spool directory was handed to it. */
static int
drop_privileges(struct proxy *px, const struct privs_ids *ids, struct err *e)
{
    const struct proxy_opts *o = px->o;
    if (geteuid() != 0) {
        if (geteuid() != ids->uid)
            log_warn("user %s: not started as root: running as uid %u", o->user,
                     (unsigned)geteuid());
        return 0;
    }
    int rc = privs_chown_tree(o->spool_dir, ids, e);
    if (rc == 0)
        rc = privs_drop(ids, e);
    if (rc == 0)
        log_info("running as user %s (uid %u, gid %u)", o->user, (unsigned)ids->uid,
                 (unsigned)ids->gid);
    return rc;
}

static int
proxy_setup(struct proxy *px, struct err *e)
{
    const struct proxy_opts *o = px->o;
    struct privs_ids ids;
    int rc, have_user = o->user && *o->user;
    if ((rc = privs_root_check(geteuid() == 0, o->user, o->allow_root, e)) < 0)
        return rc;
    if (geteuid() == 0 && !have_user)
        log_warn("running as root (allow_root)");
    if (have_user && (rc = privs_lookup(o->user, o->group, &ids, e)) < 0)
        return rc;
    struct proxy_conf *c;
    if ((rc = conf_build(o, NULL, o->reload, &c, e)) < 0)
        return rc;
    conf_install(px, c);
    o = px->o;
    if (o->mode != PROXY_MODE_PASS && (rc = keys_res_open(px, &px->conf->dnso, e)) < 0)
        return rc;
    if ((rc = spool_start(px, e)) < 0)
        return rc;
    for (size_t i = 0; i < o->nlisten; i++)
        if ((rc = listen_on(px, o->listen[i], e)) < 0)
            return rc;
    if ((rc = metrics_start(px, e)) < 0)
        return rc;
    if (o->pidfile && *o->pidfile && (rc = pidfile_open(o->pidfile, &px->pidfile, e)) < 0)
        return rc;
    for (size_t i = 0; have_user && i < px->nunix; i++)
        if (chown(px->unix_paths[i], ids.uid, ids.gid) != 0)
            return err_set(e, ARC_EIO, "chown %s: %s", px->unix_paths[i], strerror(errno));
    if (have_user && (rc = drop_privileges(px, &ids, e)) < 0)
        return rc;
    uv_signal_init(px->loop, &px->sigterm);
    uv_signal_init(px->loop, &px->sigint);
    uv_signal_init(px->loop, &px->sighup);
    px->sigterm.data = px->sigint.data = px->sighup.data = px;
    uv_signal_start(&px->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&px->sigint, signal_cb, SIGINT);
    uv_signal_start(&px->sighup, sighup_cb, SIGHUP);
    metrics_add_collector(collect, px);
    return 0;
}

static void
walk_close_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* workers_set - the size of libuv's thread pool, read once at its first job (so before
 * any): o->workers, else UV_THREADPOOL_SIZE when set, else 4 (proxy) or 16 (queue: a
 * commit holds its thread through two fsyncs, and more threads overlap more of them;
 * ARC work needs only as many as there are cores). Returns the size in effect. */
static unsigned
workers_set(const struct proxy_opts *o)
{
    const char *env = getenv("UV_THREADPOOL_SIZE");
    if (!o->workers && env && *env)
        return (unsigned)strtoul(env, NULL, 10);
    unsigned n = o->workers ? o->workers : o->delivery == PROXY_DELIVERY_QUEUE ? 16 : 4;
    char v[16];
    snprintf(v, sizeof v, "%u", n);
    setenv("UV_THREADPOOL_SIZE", v, 1);
    return n;
}

int
proxy_run(const struct proxy_opts *o, struct err *e)
{
    unsigned workers = workers_set(o);
    struct proxy *px = xcalloc(1, sizeof *px);
    uv_loop_t loop;
    uv_loop_init(&loop);
    px->loop = &loop;
    px->o = o;
    signal(SIGPIPE, SIG_IGN);
    int rc = proxy_setup(px, e);
    if (rc == 0) {
        log_info("arcproxy ready: mode %s, delivery %s, downstream %s, spool %s, workers %u",
                 px->o->mode == PROXY_MODE_PASS ? "pass"
                 : px->o->mode == PROXY_MODE_V  ? "v"
                 : px->o->mode == PROXY_MODE_S  ? "s"
                                                : "sv",
                 px->o->delivery == PROXY_DELIVERY_QUEUE ? "queue" : "proxy", px->o->downstream,
                 px->o->spool_dir, workers);
        uv_run(&loop, UV_RUN_DEFAULT);
        log_info("stopped");
    }
    metrics_remove_collector(collect, px);
    metrics_server_close(px->metrics);
    keys_res_close(px);
    uv_run(&loop, UV_RUN_NOWAIT); /* the resolver's handles */
    uv_walk(&loop, walk_close_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        log_warn("loop closed with live handles");
    unix_cleanup(px);
    struct err pe;
    err_clear(&pe);
    px->pidfile = pidfile_close(px->pidfile, 1, &pe);
    if (pe.code)
        log_warn("%s", pe.text);
    runner_free(px);
    spool_close(px->spool);
    proxy_conf_unref(px->conf);
    free(px);
    return rc;
}
