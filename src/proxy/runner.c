/* SPDX-License-Identifier: MIT */
/*
 * runner - queue mode (delivery: queue): the queue of committed messages and the
 * deliveries that re-inject them downstream, with retries and DSNs.
 *
 *   runner_start(px)         the timer; call once, before runner_add
 *   runner_add(px, qid, ms)  a durable message to deliver in ms (0: now)
 *   runner_stop(px)          SIGTERM: start nothing new; deliveries under way finish
 *   runner_kill(px)          the drain timed out: close their downstreams (-> retry later)
 *   runner_reload(px)        a new generation: close the kept downstream connections
 *   qdel_ds_*                the downstream's results (downstream.c calls them)
 *
 * A delivery: OPEN job (spool_read_open: the envelope and prepend, and the first 64 KiB
 * of data), a downstream (a kept one from the pool, ds_pool_take, else a new one,
 * ds_open_for), XFORWARD from the stored xf.* attributes when offered, MAIL with the
 * stored parameters (SIZE raised by the prepend), one RCPT per recipient left, DATA, the
 * prepend and the data (further 64 KiB chunks in READ jobs), "." (a message under 64 KiB
 * goes out in one write with its "."); then the downstream goes back to the pool
 * (ds_pool_put: RSET first unless the reply to "." ended the transaction; QUIT when it
 * cannot be kept) and a FINISH job runs. XFORWARD is sent for every message (the
 * downstream forgets the attributes at the end of each transaction), or not at all when
 * the message has none. A kept connection that fails before any recipient was accepted
 * on it (the downstream closed it as we took it: EOF, 421, a write error) is replaced at
 * once by a new one, once per delivery, without counting an attempt (Postfix's
 * connection cache does the same). Per recipient: 2xx to "." delivered; 5xx (to MAIL,
 * RCPT, DATA or ".") failed; 4xx, a dropped connection or a timeout: tried again after
 * queue.retry_min doubling up to queue.retry_max; still not delivered after
 * queue.max_age: failed ("4.4.7").
 *
 * FINISH (off the loop), in this order so that a crash between two steps duplicates at
 * worst and never loses: a DSN for the failed recipients (unless the sender is <> or
 * their NOTIFY excludes FAILURE) is built and durably committed as a new message; then
 * the original is removed (nothing left) or rewritten as a new durable file with the
 * recipients left, and the old one removed. Every recipient that leaves the queue
 * undelivered gets a log line, with or without a DSN.
 *
 * Threads: the loop owns the queue and the deliveries; a delivery has at most one job
 * in flight, which touches only q->r, q->e and the FINISH fields; the envelope (q->env,
 * owned by q->r) is read-only on both sides.
 * The queue: messages due now wait in a FIFO (px->ready, oldest first), the ones waiting
 * for a retry in a min-heap by due time (px->wait); a message being delivered is in
 * neither (q->qe). Starting the next delivery and moving what became due are O(1) and
 * O(log n): a backlog of many thousands costs nothing per message.
 * Limits: opts max_deliveries at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proxy_int.h"
#include "queue/dsn.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DSN_HDR_MAX (64 * 1024) /* original header bytes returned in a DSN */

struct qent {
    struct qent *next; /* in px->ready */
    char id[SPOOL_ID_MAX];
    uint64_t due; /* loop ms */
    unsigned attempts;
    char last[256]; /* the last temporary failure */
};

enum rst { RS_PENDING, RS_ACCEPTED, RS_OK, RS_FAILED, RS_TEMP };
enum qjob { QJ_OPEN, QJ_READ, QJ_FINISH };

struct qdel {
    struct proxy *px;
    struct proxy_conf *conf; /* held: the generation current when the delivery started */
    struct qdel *prev, *next;
    struct qent *qe;
    char id[SPOOL_ID_MAX];
    struct ds *ds;
    uv_work_t req;
    enum qjob kind;
    int job_busy, finishing;
    int reused;  /* q->ds came from the pool */
    int retried; /* the one retry on a new connection was used */
    int clean;   /* the reply to "." ended the transaction: no RSET needed */
    int killed;  /* runner_kill: no retry */
    int rc;
    struct err e;
    struct spool_reader *r;
    const struct spool_env *env; /* r's */
    int64_t arrival;
    enum rst *st;
    char **diag; /* per recipient: the reply that decided, or NULL */
    size_t cur;  /* recipient of the RCPT in flight */
    struct smtp_param *params;
    struct buf chunk; /* the bytes of the last read (OPEN reads the first chunk) */
    int rd;           /* that read: 0 or -ARC_E* (why in e) */
    int chunk_eof;    /* that read reached the end: "." goes with it */
    int chunk_ready;  /* read, not sent yet */
    int body_eof, body_reading, body_on;
    /* FINISH results */
    char new_id[SPOOL_ID_MAX];
    char dsn_id[SPOOL_ID_MAX];
    int removed;
};

static void kick(struct proxy *px);
static void job_go(struct qdel *q, enum qjob kind);
static void finish(struct qdel *q);

const char *
qdel_id(const struct qdel *q)
{
    return q->id;
}

void
qdel_forget_ds(struct qdel *q)
{
    q->ds = NULL;
}

/* ---- helpers ------------------------------------------------------------------------ */

static char *
reply_text(const struct smtp_client_reply *r)
{
    struct buf b;
    buf_init(&b, 0);
    smtp_client_reply_format(r, 0, &b);
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\r' || b.data[i] == '\n')
            b.data[i] = ' ';
    char *s = xstrdup(b.data ? b.data : "");
    buf_free(&b);
    return s;
}

/* status_of - the enhanced status in a reply text ("550 5.1.1 ..."), else class.0.0. */
static void
status_of(const char *diag, char out[16])
{
    int cls = diag && (diag[0] == '4' || diag[0] == '5') ? diag[0] - '0' : 4;
    snprintf(out, 16, "%d.0.0", cls);
    if (!diag || strlen(diag) < 9 || diag[3] != ' ')
        return;
    const char *p = diag + 4;
    size_t n = strspn(p, "0123456789.");
    if (n >= 5 && n < 12 && p[0] == diag[0] && p[1] == '.' && (p[n] == ' ' || !p[n])) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

static void
set_rcpt(struct qdel *q, size_t i, enum rst st, const char *diag)
{
    q->st[i] = st;
    free(q->diag[i]);
    q->diag[i] = diag ? xstrdup(diag) : NULL;
}

/* settle - every recipient still open (pending or accepted) gets the reply's verdict. */
static void
settle(struct qdel *q, int code, const char *diag)
{
    enum rst st = code / 100 == 2 ? RS_OK : code / 100 == 5 ? RS_FAILED : RS_TEMP;
    for (size_t i = 0; i < q->env->nrcpts; i++)
        if (q->st[i] == RS_PENDING || q->st[i] == RS_ACCEPTED)
            set_rcpt(q, i, q->st[i] == RS_PENDING && st == RS_OK ? RS_TEMP : st, diag);
}

static uint64_t
backoff_ms(const struct proxy_opts *o, unsigned attempts)
{
    uint64_t d = o->retry_min_ms ? o->retry_min_ms : 1;
    for (unsigned i = 1; i < attempts && d < o->retry_max_ms; i++)
        d *= 2;
    return d < o->retry_max_ms ? d : o->retry_max_ms;
}

/* ---- the downstream conversation ----------------------------------------------------- */

static void
ds_go(struct qdel *q, uint64_t ms)
{
    ds_arm(q->ds, (unsigned)ms);
    ds_flush(q->ds);
}

/* end_ds - the conversation is over: the downstream goes to the pool (or QUIT: it lives
 * on alone), FINISH. */
static void
end_ds(struct qdel *q)
{
    if (q->ds)
        ds_pool_put(q->ds, !q->clean);
    q->ds = NULL;
    finish(q);
}

static void
send_mail(struct qdel *q)
{
    const struct spool_env *env = q->env;
    if (smtp_client_mail(q->ds->c, env->sender, q->params, env->nparams, env->prepend.n) < 0) {
        settle(q, 451, "451 4.3.0 cannot send MAIL downstream");
        end_ds(q);
        return;
    }
    q->ds->op = DS_OP_MAIL;
    ds_go(q, q->conf->o.ds_timeout_ms);
}

/* send_rcpt - the next recipient still pending from q->cur on; DATA (or the end) after. */
static void
send_rcpt(struct qdel *q)
{
    const struct spool_env *env = q->env;
    while (q->cur < env->nrcpts && q->st[q->cur] != RS_PENDING)
        q->cur++;
    if (q->cur < env->nrcpts) {
        const struct spool_rcpt *rc = &env->rcpts[q->cur];
        struct smtp_param p[2];
        size_t np = 0;
        if (rc->notify)
            p[np++] = (struct smtp_param){"NOTIFY", (char *)rc->notify};
        if (rc->orcpt)
            p[np++] = (struct smtp_param){"ORCPT", (char *)rc->orcpt};
        if (smtp_client_rcpt(q->ds->c, rc->addr, p, np) < 0) {
            set_rcpt(q, q->cur, RS_TEMP, "451 4.3.0 cannot send RCPT downstream");
            q->cur++;
            send_rcpt(q);
            return;
        }
        q->ds->op = DS_OP_RCPT;
        ds_go(q, q->conf->o.ds_timeout_ms);
        return;
    }
    int any = 0;
    for (size_t i = 0; i < env->nrcpts; i++)
        any |= q->st[i] == RS_ACCEPTED;
    if (!any || smtp_client_data(q->ds->c) < 0) {
        settle(q, 451, "451 4.3.0 no recipient accepted");
        end_ds(q);
        return;
    }
    q->ds->op = DS_OP_DATA;
    ds_go(q, q->conf->o.ds_timeout_ms);
}

static void
body_next(struct qdel *q)
{
    if (q->body_reading || q->body_eof || q->job_busy)
        return;
    q->body_reading = 1;
    job_go(q, QJ_READ);
}

/* body_feed - the chunk read goes downstream, with "." when it was the last; the bytes
 * queued so far leave in one write. */
static void
body_feed(struct qdel *q)
{
    int rc = q->rd;
    q->chunk_ready = 0;
    if (rc == 0 && q->chunk.len)
        rc = smtp_client_body(q->ds->c, q->chunk.data, q->chunk.len);
    if (rc == 0 && q->chunk_eof)
        rc = smtp_client_body_end(q->ds->c);
    if (rc < 0) {
        if (q->rd < 0)
            log_error("%s: spool read: %s", q->id, q->e.text);
        ds_kill(q->ds);
        settle(q, 451, "451 4.3.0 local error while sending the message");
        finish(q);
        return;
    }
    q->body_eof = q->chunk_eof;
    ds_go(q, q->body_eof && q->conf->o.ds_data_timeout_ms ? q->conf->o.ds_data_timeout_ms
                                                          : q->conf->o.ds_timeout_ms);
    if (q->ds && !q->body_eof && q->ds->writing == 0)
        body_next(q);
}

static void
body_start(struct qdel *q)
{
    q->ds->op = DS_OP_BODY;
    q->body_on = 1;
    const struct span *pp = &q->env->prepend;
    if (pp->n && smtp_client_body(q->ds->c, pp->p, pp->n) < 0) {
        ds_kill(q->ds);
        settle(q, 451, "451 4.3.0 cannot send the message downstream");
        finish(q);
        return;
    }
    if (q->chunk_ready) { /* the OPEN job's read: a small message goes out whole */
        body_feed(q);
        return;
    }
    ds_go(q, q->conf->o.ds_timeout_ms);
    body_next(q);
}

static void
read_done(struct qdel *q)
{
    q->body_reading = 0;
    if (!q->ds || q->ds->op != DS_OP_BODY) {
        if (!q->ds)
            finish(q);
        return;
    }
    body_feed(q);
}

void
qdel_ds_ready(struct qdel *q)
{
    const struct spool_env *env = q->env;
    struct smtp_xforward xf;
    memset(&xf, 0, sizeof xf);
    static const char *const names[] = {"xf.NAME", "xf.ADDR",  "xf.PORT",  "xf.PROTO",
                                        "xf.HELO", "xf.IDENT", "xf.SOURCE"};
    char **slot[] = {&xf.name, &xf.addr, &xf.port, &xf.proto, &xf.helo, &xf.ident, &xf.source};
    for (size_t i = 0; i < env->nattrs; i++) {
        for (size_t k = 0; k < 7; k++)
            if (strcmp(env->attrs[i].key, names[k]) == 0) {
                *slot[k] = (char *)env->attrs[i].value;
                xf.present = 1;
            }
    }
    if (xf.present && smtp_client_has_ext(q->ds->c, SMTP_EXT_XFORWARD) &&
        smtp_client_xforward(q->ds->c, &xf) == 0) {
        q->ds->op = DS_OP_XFORWARD;
        ds_go(q, q->conf->o.ds_timeout_ms);
        return;
    }
    send_mail(q);
}

void
qdel_ds_reply(struct qdel *q, enum ds_op op, const struct smtp_client_reply *r)
{
    char *text = reply_text(r);
    int cls = r->code / 100;
    switch (op) {
    case DS_OP_XFORWARD:
        if (cls != 2)
            log_warn("%s: downstream refused XFORWARD (%d); MAIL goes on without it", q->id,
                     r->code);
        send_mail(q);
        break;
    case DS_OP_MAIL:
        if (cls == 2) {
            q->cur = 0;
            send_rcpt(q);
        } else {
            settle(q, r->code, text);
            end_ds(q);
        }
        break;
    case DS_OP_RCPT:
        set_rcpt(q, q->cur, cls == 2 ? RS_ACCEPTED : cls == 5 ? RS_FAILED : RS_TEMP, text);
        q->cur++;
        send_rcpt(q);
        break;
    case DS_OP_DATA:
        if (r->code == 354) {
            body_start(q);
        } else {
            settle(q, r->code, text);
            end_ds(q);
        }
        break;
    case DS_OP_BODY:
        settle(q, r->code, text);
        q->clean = 1;
        end_ds(q);
        break;
    default:
        break;
    }
    free(text);
}

/* retry_new - a kept connection failed before any recipient was accepted on it: go on
 * with a new one (once). The recipients' verdicts so far stay. */
static int
retry_new(struct qdel *q, const char *text)
{
    if (!q->reused || q->retried || q->killed || q->job_busy || !q->env)
        return 0;
    for (size_t i = 0; i < q->env->nrcpts; i++)
        if (q->st[i] == RS_ACCEPTED)
            return 0;
    q->retried = 1;
    q->reused = 0;
    char esc[200];
    log_escape(esc, sizeof esc, text, strlen(text));
    log_info("%s: kept downstream connection lost (%s): trying a new one at once", q->id, esc);
    q->ds = ds_open_for(q->px, q->conf, NULL, q);
    return 1;
}

void
qdel_ds_failed(struct qdel *q, const char *text)
{
    q->ds = NULL;
    if (retry_new(q, text))
        return;
    settle(q, 451, text);
    if (!q->job_busy)
        finish(q);
    /* else the READ job's completion sees q->ds == NULL and finishes */
}

void
qdel_ds_drained(struct qdel *q)
{
    if (q->ds && q->ds->op == DS_OP_BODY && q->body_on && !q->body_eof) {
        ds_arm(q->ds, q->conf->o.ds_timeout_ms);
        body_next(q);
    }
}

/* ---- worker side ------------------------------------------------------------------------ */

/* orig_header - the first bytes of the message data up to the blank line (bounded). */
static void
orig_header(struct spool *sp, const char *id, struct buf *out)
{
    struct spool_reader *r;
    struct err e;
    err_clear(&e);
    if (spool_read_open(sp, id, &r, &e) < 0)
        return;
    char *p = xmalloc(DSN_HDR_MAX);
    ssize_t n;
    const struct spool_env *env = spool_read_env(r);
    if (env->data_skip > 0) { /* the header section was rewritten into the prepend */
        n = (ssize_t)(env->prepend.n < DSN_HDR_MAX ? env->prepend.n : DSN_HDR_MAX);
        memcpy(p, env->prepend.p, (size_t)n);
    } else {
        n = spool_read_data(r, p, DSN_HDR_MAX, &e);
    }
    spool_read_close(r);
    size_t len = 0;
    for (ssize_t i = 0; i + 3 < n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
            len = (size_t)i + 2;
            break;
        }
    if (!len && n > 0) /* no end of header within the bound: up to the last line end */
        for (ssize_t i = n - 1; i > 0; i--)
            if (p[i] == '\n') {
                len = (size_t)i + 1;
                break;
            }
    buf_append(out, p, len);
    free(p);
}

static const char *
param(const struct spool_env *env, const char *key)
{
    for (size_t i = 0; i < env->nparams; i++)
        if (strcasecmp(env->params[i].key, key) == 0)
            return env->params[i].value ? env->params[i].value : "";
    return NULL;
}

/* wants_dsn - NOTIFY absent (default: failures) or listing FAILURE. */
static int
wants_dsn(const struct spool_rcpt *rc)
{
    if (!rc->notify)
        return 1;
    for (const char *p = rc->notify; *p; p++)
        if (strncasecmp(p, "FAILURE", 7) == 0)
            return 1;
    return 0;
}

/* make_dsn - build and durably commit the DSN for the failed recipients that want one. */
static int
make_dsn(struct qdel *q, int64_t now, int expired, struct err *e)
{
    const struct spool_env *env = q->env;
    struct proxy *px = q->px;
    size_t n = 0;
    struct dsn_rcpt *dr = xcalloc(env->nrcpts, sizeof *dr);
    char(*st)[16] = xcalloc(env->nrcpts, sizeof *st);
    for (size_t i = 0; i < env->nrcpts; i++) {
        if (q->st[i] != RS_FAILED || !wants_dsn(&env->rcpts[i]))
            continue;
        status_of(q->diag[i], st[n]);
        if (expired && q->diag[i] && q->diag[i][0] != '5')
            snprintf(st[n], sizeof st[n], "4.4.7");
        dr[n] = (struct dsn_rcpt){env->rcpts[i].addr, env->rcpts[i].orcpt, st[n], q->diag[i],
                                  q->conf->o.downstream};
        n++;
    }
    int rc = 0;
    if (n > 0) {
        struct buf hdr, msg;
        buf_init(&hdr, 0);
        buf_init(&msg, 0);
        orig_header(px->spool, q->id, &hdr);
        const char *ret = param(env, "RET");
        struct dsn_info in = {q->conf->hostname,
                              env->sender,
                              param(env, "ENVID"),
                              q->id,
                              q->arrival,
                              now,
                              expired ? "too long in queue" : "rejected by downstream",
                              !(ret && strcasecmp(ret, "FULL") == 0)};
        struct spool_writer *w = NULL;
        char arr[32];
        snprintf(arr, sizeof arr, "%lld", (long long)now);
        if ((rc = dsn_build(&in, dr, n, hdr.data ? hdr.data : "", hdr.len, &msg, e)) == 0 &&
            (rc = spool_create(px->spool, &w, e)) == 0) {
            if ((rc = spool_put_sender(w, "", e)) < 0 ||
                (rc = spool_put_rcpt(w, env->sender, NULL, NULL, e)) < 0 ||
                (rc = spool_put_attr(w, "arrival", arr, e)) < 0 ||
                (rc = spool_put_attr(w, "dsn-for", q->id, e)) < 0 ||
                (rc = spool_write(w, msg.data, msg.len, e)) < 0)
                w = spool_abort(w);
            else
                rc = spool_commit(w, q->dsn_id, e);
        }
        buf_free(&hdr);
        buf_free(&msg);
    }
    free(dr);
    free(st);
    return rc;
}

/* rewrite - a new durable file with the recipients left, then the old one removed. */
static int
rewrite(struct qdel *q, struct err *e)
{
    const struct spool_env *env = q->env;
    struct spool *sp = q->px->spool;
    struct spool_writer *w;
    struct spool_reader *r;
    int rc = spool_read_open(sp, q->id, &r, e);
    if (rc < 0)
        return rc;
    if ((rc = spool_create(sp, &w, e)) < 0) {
        spool_read_close(r);
        return rc;
    }
    rc = spool_put_sender(w, env->sender, e);
    for (size_t i = 0; rc == 0 && i < env->nrcpts; i++)
        if (q->st[i] == RS_TEMP || q->st[i] == RS_PENDING || q->st[i] == RS_ACCEPTED)
            rc =
                spool_put_rcpt(w, env->rcpts[i].addr, env->rcpts[i].notify, env->rcpts[i].orcpt, e);
    for (size_t i = 0; rc == 0 && i < env->nparams; i++)
        rc = spool_put_param(w, env->params[i].key, env->params[i].value, e);
    for (size_t i = 0; rc == 0 && i < env->nattrs; i++)
        rc = spool_put_attr(w, env->attrs[i].key, env->attrs[i].value, e);
    char *p = xmalloc(PROXY_CHUNK);
    ssize_t n;
    while (rc == 0 && (n = spool_read_data(r, p, PROXY_CHUNK, e)) != 0)
        rc = n < 0 ? (int)n : spool_write(w, p, (size_t)n, e);
    free(p);
    spool_read_close(r);
    if (rc == 0 && env->prepend.n)
        rc = spool_put_prepend(w, env->prepend.p, env->prepend.n, e);
    if (rc < 0) {
        spool_abort(w);
        return rc;
    }
    if ((rc = spool_commit(w, q->new_id, e)) < 0)
        return rc;
    struct err e2;
    err_clear(&e2);
    if (spool_remove(sp, q->id, &e2) < 0)
        log_warn("%s: %s (its recipients left are in %s: duplicates possible)", q->id, e2.text,
                 q->new_id);
    return 0;
}

static void
do_finish(struct qdel *q)
{
    const struct spool_env *env = q->env;
    const struct proxy_opts *o = &q->conf->o;
    int64_t now = (int64_t)time(NULL);
    size_t nleft = 0, nfail = 0, ndone = 0, ndsn = 0;
    int expired = 0;
    for (size_t i = 0; i < env->nrcpts; i++)
        if (q->st[i] != RS_OK && q->st[i] != RS_FAILED)
            nleft++;
    if (nleft && now - q->arrival >= (int64_t)(o->max_age_ms / 1000)) {
        expired = 1;
        for (size_t i = 0; i < env->nrcpts; i++)
            if (q->st[i] != RS_OK && q->st[i] != RS_FAILED) {
                char d[400];
                snprintf(d, sizeof d, "%s", q->diag[i] ? q->diag[i] : q->qe->last);
                set_rcpt(q, i, RS_FAILED, d[0] ? d : NULL);
            }
        nleft = 0;
    }
    char from[200];
    log_escape(from, sizeof from, env->sender, strlen(env->sender));
    for (size_t i = 0; i < env->nrcpts; i++) {
        char to[200], d[300];
        const struct spool_rcpt *rc = &env->rcpts[i];
        log_escape(to, sizeof to, rc->addr, strlen(rc->addr));
        log_escape(d, sizeof d, q->diag[i] ? q->diag[i] : "", q->diag[i] ? strlen(q->diag[i]) : 0);
        if (q->st[i] == RS_OK) {
            ndone++;
            log_info("%s: to=<%s> status=delivered ds=\"%s\"", q->id, to, d);
        } else if (q->st[i] == RS_FAILED) {
            nfail++;
            int dsn = env->sender[0] && wants_dsn(rc);
            ndsn += dsn;
            log_info("%s: to=<%s> status=failed%s ds=\"%s\" %s", q->id, to,
                     expired ? " (too long in queue)" : "", d,
                     dsn              ? "dsn=queued"
                     : env->sender[0] ? "dsn=none (NOTIFY)"
                                      : "dsn=none (null sender)");
        }
    }
    q->rc = 0;
    if (ndsn && (q->rc = make_dsn(q, now, expired, &q->e)) < 0) {
        log_error("%s: DSN not queued (%s): the message stays queued, failed recipients are "
                  "tried again",
                  q->id, q->e.text);
        for (size_t i = 0; i < env->nrcpts; i++)
            if (q->st[i] == RS_FAILED)
                q->st[i] = RS_TEMP;
        return;
    }
    if (q->dsn_id[0])
        log_info("%s: DSN queued as %s for <%s>", q->id, q->dsn_id, from);
    if (nleft == 0) {
        struct err e;
        err_clear(&e);
        if (spool_remove(q->px->spool, q->id, &e) < 0 && e.code != ARC_ENOENT)
            log_warn("%s: %s", q->id, e.text);
        q->removed = 1;
        log_info("%s: removed (%zu delivered, %zu failed)", q->id, ndone, nfail);
    } else if (ndone || nfail) {
        if ((q->rc = rewrite(q, &q->e)) < 0)
            log_error("%s: cannot record the recipients left (%s): all are tried again", q->id,
                      q->e.text);
        else
            log_info("%s: %zu recipient(s) left, now queued as %s", q->id, nleft, q->new_id);
    }
}

/* read_chunk - the next PROXY_CHUNK bytes; a short read is the end (spool_read_data). */
static void
read_chunk(struct qdel *q)
{
    buf_reset(&q->chunk);
    if (!q->chunk.data) {
        q->chunk.data = xmalloc(PROXY_CHUNK + 1);
        q->chunk.cap = PROXY_CHUNK + 1;
    }
    ssize_t n = spool_read_data(q->r, q->chunk.data, PROXY_CHUNK, &q->e);
    q->rd = n < 0 ? (int)n : 0;
    q->chunk.len = n > 0 ? (size_t)n : 0;
    q->chunk_eof = n >= 0 && n < PROXY_CHUNK;
    q->chunk_ready = 1;
}

static void
work_cb(uv_work_t *req)
{
    struct qdel *q = req->data;
    struct spool *sp = q->px->spool;
    switch (q->kind) {
    case QJ_OPEN: /* and the first chunk: no READ job at all for most messages */
        q->rc = spool_read_open(sp, q->id, &q->r, &q->e);
        if (q->rc == 0)
            read_chunk(q);
        break;
    case QJ_READ:
        read_chunk(q);
        break;
    case QJ_FINISH:
        do_finish(q);
        break;
    }
}

/* ---- the loop side ------------------------------------------------------------------------ */

/* ready_push / ready_pop - the FIFO of messages due now. */
static void
ready_push(struct proxy *px, struct qent *qe)
{
    qe->next = NULL;
    if (px->ready_tail)
        px->ready_tail->next = qe;
    else
        px->ready = qe;
    px->ready_tail = qe;
}

static struct qent *
ready_pop(struct proxy *px)
{
    struct qent *qe = px->ready;
    if (qe) {
        px->ready = qe->next;
        if (!px->ready)
            px->ready_tail = NULL;
        qe->next = NULL;
    }
    return qe;
}

/* wait_push / wait_pop - the min-heap (by due) of messages waiting for a retry. */
static void
wait_push(struct proxy *px, struct qent *qe)
{
    if (px->nwait == px->wait_cap) {
        px->wait_cap = px->wait_cap ? 2 * px->wait_cap : 64;
        px->wait = xrealloc(px->wait, px->wait_cap * sizeof *px->wait);
    }
    size_t i = px->nwait++;
    while (i > 0 && px->wait[(i - 1) / 2]->due > qe->due) {
        px->wait[i] = px->wait[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    px->wait[i] = qe;
}

static struct qent *
wait_pop(struct proxy *px)
{
    struct qent *top = px->wait[0], *last = px->wait[--px->nwait];
    size_t i = 0, n = px->nwait;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && px->wait[c + 1]->due < px->wait[c]->due)
            c++;
        if (px->wait[c]->due >= last->due)
            break;
        px->wait[i] = px->wait[c];
        i = c;
    }
    if (n)
        px->wait[i] = last;
    return top;
}

static void
qent_remove(struct proxy *px, struct qent *qe)
{
    px->nqueue--;
    free(qe);
}

static void
qdel_free(struct qdel *q)
{
    struct proxy *px = q->px;
    if (q->prev)
        q->prev->next = q->next;
    else
        px->deliveries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    px->ndeliv--;
    size_t n = q->env ? q->env->nrcpts : 0;
    for (size_t i = 0; q->diag && i < n; i++)
        free(q->diag[i]);
    free(q->diag);
    free(q->st);
    free(q->params);
    buf_free(&q->chunk);
    spool_read_close(q->r);
    proxy_conf_unref(q->conf);
    free(q);
}

/* done - the delivery is over: requeue or forget the entry, free q, start the next. */
static void
done(struct qdel *q)
{
    struct proxy *px = q->px;
    struct qent *qe = q->qe;
    if (q->dsn_id[0])
        runner_add(px, q->dsn_id, 0);
    if (q->removed) {
        qent_remove(px, qe);
    } else {
        if (q->new_id[0])
            snprintf(qe->id, sizeof qe->id, "%s", q->new_id);
        const char *last = NULL;
        size_t n = q->env ? q->env->nrcpts : 0;
        for (size_t i = 0; i < n && !last; i++)
            if (q->st[i] == RS_TEMP && q->diag[i])
                last = q->diag[i];
        if (last)
            snprintf(qe->last, sizeof qe->last, "%s", last);
        qe->attempts++;
        uint64_t d = backoff_ms(px->o, qe->attempts);
        qe->due = uv_now(px->loop) + d;
        wait_push(px, qe);
        char esc[300];
        log_escape(esc, sizeof esc, qe->last, strlen(qe->last));
        log_info("%s: deferred (attempt %u), next try in %llu ms: %s", qe->id, qe->attempts,
                 (unsigned long long)d, esc[0] ? esc : "-");
    }
    qdel_free(q);
    kick(px);
    if (px->stopping && px->ndeliv == 0)
        proxy_sess_gone(px);
}

static void
open_done(struct qdel *q)
{
    struct proxy *px = q->px;
    if (q->rc < 0) {
        q->r = spool_read_close(q->r);
        if (q->rc == -ARC_ENOENT) {
            log_warn("%s: gone from the spool: dropped from the queue", q->id);
            q->removed = 1;
        } else if (q->rc == -ARC_EINVAL) {
            log_error("%s: unreadable queue file (%s): left for the next start's recovery "
                      "(moved to corrupt/ then)",
                      q->id, q->e.text);
            q->removed = 1;
        } else {
            log_error("%s: %s", q->id, q->e.text);
            snprintf(q->qe->last, sizeof q->qe->last, "spool: %.200s", q->e.text);
        }
        done(q);
        return;
    }
    const struct spool_env *env = spool_read_env(q->r);
    q->env = env;
    const char *arr = spool_env_attr(env, "arrival");
    q->arrival = arr ? strtoll(arr, NULL, 10) : (int64_t)time(NULL);
    q->st = xcalloc(env->nrcpts, sizeof *q->st);
    q->diag = xcalloc(env->nrcpts, sizeof *q->diag);
    q->params = xcalloc(env->nparams ? env->nparams : 1, sizeof *q->params);
    for (size_t i = 0; i < env->nparams; i++)
        q->params[i] =
            (struct smtp_param){(char *)env->params[i].key, (char *)env->params[i].value};
    q->ds = ds_pool_take(px, q->conf, q);
    if (q->ds) {
        q->reused = 1;
        qdel_ds_ready(q);
    } else {
        q->ds = ds_open_for(px, q->conf, NULL, q);
    }
}

static void
after_cb(uv_work_t *req, int status)
{
    struct qdel *q = req->data;
    q->job_busy = 0;
    if (status < 0 && q->rc == 0)
        q->rc = err_set(&q->e, ARC_EIO, "job cancelled");
    if (status < 0 && q->kind == QJ_READ && q->rd == 0)
        q->rd = err_set(&q->e, ARC_EIO, "job cancelled");
    switch (q->kind) {
    case QJ_OPEN:
        open_done(q);
        break;
    case QJ_READ:
        read_done(q);
        break;
    case QJ_FINISH:
        done(q);
        break;
    }
}

static void
job_go(struct qdel *q, enum qjob kind)
{
    q->kind = kind;
    q->job_busy = 1;
    q->req.data = q;
    int rc = uv_queue_work(q->px->loop, &q->req, work_cb, after_cb);
    if (rc < 0) { /* cannot happen with a valid loop; run it here rather than lose it */
        work_cb(&q->req);
        after_cb(&q->req, 0);
    }
}

/* finish - once per delivery, when no job and no downstream is left. */
static void
finish(struct qdel *q)
{
    if (q->finishing || q->job_busy)
        return;
    q->finishing = 1;
    job_go(q, QJ_FINISH); /* q->r stays open: q->env is its memory */
}

static void
deliver(struct proxy *px, struct qent *qe)
{
    struct qdel *q = xcalloc(1, sizeof *q);
    q->px = px;
    q->conf = proxy_conf_ref(px);
    q->qe = qe;
    snprintf(q->id, sizeof q->id, "%s", qe->id);
    buf_init(&q->chunk, 0);
    err_clear(&q->e);
    q->next = px->deliveries;
    if (q->next)
        q->next->prev = q;
    px->deliveries = q;
    px->ndeliv++;
    job_go(q, QJ_OPEN);
}

static void
timer_cb(uv_timer_t *t)
{
    kick(t->data);
}

/* kick - start what is due (up to max_deliveries), then sleep until the next is due. */
static void
kick(struct proxy *px)
{
    if (!px->qtimer_on)
        return;
    if (px->stopping) {
        uv_timer_stop(&px->qtimer);
        return;
    }
    uint64_t now = uv_now(px->loop);
    while (px->nwait && px->wait[0]->due <= now)
        ready_push(px, wait_pop(px));
    while (px->ready && px->ndeliv < px->o->max_deliveries)
        deliver(px, ready_pop(px));
    /* all slots busy: the next delivery to end kicks again. Never arm a timer that is
     * already due: libuv (1.44) would run it again at once, forever, inside one turn. */
    if (px->ready || !px->nwait)
        uv_timer_stop(&px->qtimer);
    else
        uv_timer_start(&px->qtimer, timer_cb, px->wait[0]->due > now ? px->wait[0]->due - now : 1,
                       0);
}

void
runner_add(struct proxy *px, const char *qid, unsigned delay_ms)
{
    struct qent *qe = xcalloc(1, sizeof *qe);
    snprintf(qe->id, sizeof qe->id, "%s", qid);
    qe->due = uv_now(px->loop) + delay_ms;
    if (delay_ms)
        wait_push(px, qe);
    else
        ready_push(px, qe);
    px->nqueue++;
    kick(px);
}

void
runner_start(struct proxy *px)
{
    uv_timer_init(px->loop, &px->qtimer);
    px->qtimer.data = px;
    px->qtimer_on = 1;
}

static void
qtimer_close_cb(uv_handle_t *h)
{
    (void)h;
}

void
runner_stop(struct proxy *px)
{
    ds_pool_drop(px, "stopping");
    if (!px->qtimer_on)
        return;
    px->qtimer_on = 0;
    uv_close((uv_handle_t *)&px->qtimer, qtimer_close_cb);
    log_info("queue: %zu message(s) queued, %u delivery(ies) finishing; the rest stay for the "
             "next start",
             px->nqueue, px->ndeliv);
}

void
runner_kill(struct proxy *px)
{
    for (struct qdel *q = px->deliveries; q; q = q->next) {
        struct ds *ds = q->ds;
        if (!ds)
            continue;
        q->killed = 1;
        ds_kill(ds); /* detaches: q->ds == NULL */
        qdel_ds_failed(q, "451 4.3.2 shutting down");
    }
}

void
runner_reload(struct proxy *px)
{
    ds_pool_drop(px, "configuration reloaded");
}

void
runner_free(struct proxy *px)
{
    struct qent *qe;
    while ((qe = ready_pop(px)))
        free(qe);
    while (px->nwait)
        free(wait_pop(px));
    free(px->wait);
    px->wait = NULL;
    px->wait_cap = 0;
    px->nqueue = 0;
}
