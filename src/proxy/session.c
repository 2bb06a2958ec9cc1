/* SPDX-License-Identifier: MIT */
/*
 * session - one upstream connection on the filter port: the libuv adapter of the server
 * state machine (smtp/server.h) and the transaction logic that ties it to the downstream
 * connection (downstream.c) and the spool/engine jobs (work.c).
 *
 *   sess_accept(px, server)   accept; over max_sessions (or stopping): 421 4.3.2 and close
 *   sess_pump(s)              after every event: write replies, start/stop reading and the
 *                             timer, close when asked, drain on shutdown; frees a closed
 *                             session once nothing refers to it
 *   sess_close(s)             begin closing (idempotent)
 *   sess_ds_* / sess_job_done the downstream's and the jobs' results
 *
 * A transaction: MAIL opens the downstream (or reuses the session's), sends XFORWARD when
 * upstream gave attributes and downstream offers it, then MAIL; RCPT in lock-step; each
 * reply relayed verbatim. DATA is answered 354 here; the bytes go to the engine (on the
 * loop: the body canonicalizer is fast) and to the spool in 64 KiB jobs. At end of data
 * one job writes the rest, commits, runs the engine and opens the file for reading; then
 * DATA downstream, the new header fields, the file in 64 KiB read jobs (each read waits
 * for the previous chunk's write to complete), "."; downstream's reply goes upstream.
 * Downstream failures become 451 4.4.x; nothing but downstream's own 250 becomes a 250.
 * A message of at most PROXY_MEM_MAX bytes never touches the spool: it stays in s->acc,
 * the end-of-data job runs the engine only (j->mem), and body_start sends it from memory
 * (s->mem_body) in one go; the first byte past the bound spills it (JOB_CREATE, the held
 * bytes as one JOB_WRITE) and the message goes on as above.
 *
 * Queue mode (delivery: queue): MAIL and RCPT are answered here (XFORWARD attributes kept
 * for the file); at end of data the job runs the engine, writes its header fields into
 * the file and commits it durably; the reply is "250 2.0.0 Ok: queued as ID" and the
 * queue runner (runner.c) takes the file. A temperror or a spool error is a 4xx and
 * leaves nothing queued. limits.min_data_rate is checked as DATA bytes arrive.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strings.h>

#include "metrics/metrics.h"
#include "policy/policy.h"
#include "proxy_int.h"
#include "smtp/reply.h"
#include "util/log.h"
#include "util/xalloc.h"

struct up_wreq {
    uv_write_t req;
    struct sess *s;
    size_t n;
    char data[];
};

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static char *
dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static char **
strv_dup(char **v, size_t n)
{
    char **out = xcalloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = dup_or_null(v[i]);
    return out;
}

/* mem_release - the transaction's in-memory bytes no longer count (freed or spilled). */
static void
mem_release(struct sess *s)
{
    s->px->mem_held -= s->mem_held <= s->px->mem_held ? s->mem_held : s->px->mem_held;
    s->mem_held = 0;
}

/* txn_clear - forget the loop side of the transaction (not the spool: see txn_reset). */
/* am_drop - let go of the session's engine. Jobs still queued or running may feed it
 * (WRITE jobs borrow it), so it is freed by a JOB_DROP queued after them. */
static void
am_drop(struct sess *s)
{
    if (!s->am)
        return;
    if (!s->job_busy && !s->jq_head) {
        s->am = arc_msg_free(s->am);
        s->wk.arc_bad = 0; /* no job runs: the worker side is ours */
        return;
    }
    struct job *j = job_new(s, JOB_DROP);
    j->gen = s->gen;
    j->am = s->am;
    s->am = NULL;
    job_enqueue(s, j);
}

static void
txn_clear(struct sess *s)
{
    free(s->sender);
    s->sender = NULL;
    strv_free(s->rcpt, s->nrcpt * 3);
    s->rcpt = NULL;
    s->nrcpt = s->rcpt_cap = s->nrcpt_tried = 0;
    strv_free(s->params, s->nparams * 2);
    s->params = NULL;
    s->nparams = 0;
    free(s->xf_addr);
    s->xf_addr = NULL;
    for (size_t i = 0; i < 7; i++) {
        free(s->xf[i]);
        s->xf[i] = NULL;
    }
    s->xf_present = 0;
    s->ds_fail[0] = '\0';
    am_drop(s);
    buf_free(&s->acc);
    buf_free(&s->prepend);
    buf_free(&s->mem_body);
    mem_release(s);
    s->mem = 0;
    s->mem_skip = 0;
    s->txn = s->in_msg = s->mail_deferred = s->end_ds = 0;
    s->spool_failed = 0;
    s->body_eof = 0;
    s->qid[0] = s->arc_res[0] = s->seal_note[0] = '\0';
    s->msg_size = 0;
    s->wait = UP_NONE;
    s->cmd = NULL;
}

/* reply_up - answer the pending upstream command (the state machine may run hooks). */
static void
reply_up(struct sess *s, const char *text)
{
    s->wait = UP_NONE;
    s->cmd = NULL;
    if (!s->srv || !smtp_server_pending(s->srv))
        return;
    int rc = smtp_server_reply(s->srv, text);
    if (rc < 0)
        log_warn("%s: reply not sent (%s): %.80s", s->id, err_name(-rc), text);
}

static void
reply_up_ds(struct sess *s, const struct smtp_client_reply *r)
{
    struct buf b;
    buf_init(&b, 0);
    smtp_client_reply_format(r, 0, &b);
    reply_up(s, b.data);
    buf_free(&b);
}

static void
summary(struct sess *s, const char *ds_reply)
{
    char from[200], rep[PROXY_LOG_REPLY];
    log_escape(from, sizeof from, s->sender ? s->sender : "", s->sender ? strlen(s->sender) : 0);
    log_escape(rep, sizeof rep, ds_reply, strlen(ds_reply));
    uint64_t ms = proxy_now_ms(s->px) - s->t_start;
    enum metric_id m = metrics_id_reply(ds_reply);
    if (m == M_MSG_DELIVERED && s->conf->o.delivery == PROXY_DELIVERY_QUEUE)
        m = M_MSG_QUEUED;
    metrics_inc(m);
    metrics_observe_ms(M_MSG_LATENCY, ms);
    log_info("%s: qid=%s client=%s xf-addr=%s from=<%s> nrcpt=%zu size=%llu arc=%s %s "
             "ds=\"%s\" %llums",
             s->id, s->qid[0] ? s->qid : "-", s->ip, s->xf_addr ? s->xf_addr : "-", from, s->nrcpt,
             (unsigned long long)s->msg_size, s->arc_res[0] ? s->arc_res : "-",
             s->seal_note[0] ? s->seal_note : "-", rep, (unsigned long long)ms);
}

/* fail_end - the reply to end of data is a failure of ours or downstream's (4xx). */
static void
fail_end(struct sess *s, const char *text)
{
    summary(s, text);
    reply_up(s, text);
}

/* ---- downstream steps -------------------------------------------------------------- */

static uint64_t
size_add(const struct sess *s)
{
    switch (s->conf->o.mode) {
    case PROXY_MODE_PASS:
        return 0;
    case PROXY_MODE_V:
        return 1024;
    default:
        return 8192;
    }
}

static void
mail_send(struct sess *s)
{
    const struct smtp_cmd *cmd = s->cmd;
    struct ds *ds = s->ds;
    int rc = smtp_client_mail(ds->c, cmd->path, cmd->params, cmd->nparams, size_add(s));
    if (rc < 0) {
        log_warn("%s: downstream MAIL not sent: %s", s->id, err_name(-rc));
        reply_up(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    ds->op = DS_OP_MAIL;
    ds_arm(ds, s->conf->o.ds_timeout_ms);
    ds_flush(ds);
}

/* mail_go - the upstream MAIL is pending: get a ready downstream, then XFORWARD/MAIL. */
static void
mail_go(struct sess *s)
{
    struct ds *ds = s->ds;
    if (!ds) {
        ds_open(s);
        return; /* continues in sess_ds_ready or sess_ds_failed */
    }
    if (!ds->ready || ds->op != DS_OP_NONE) {
        s->mail_deferred = 1; /* continues when the op in flight (RSET) is answered */
        return;
    }
    s->mail_deferred = 0;
    const struct smtp_xforward *xf = smtp_server_xforward(s->srv);
    if (xf->present && smtp_client_has_ext(ds->c, SMTP_EXT_XFORWARD) &&
        smtp_client_xforward(ds->c, xf) == 0) {
        ds->op = DS_OP_XFORWARD;
        ds_arm(ds, s->conf->o.ds_timeout_ms);
        ds_flush(ds);
        return;
    }
    mail_send(s);
}

static void
body_next(struct sess *s)
{
    if (s->body_reading || s->body_eof)
        return;
    s->body_reading = 1;
    struct job *j = job_new(s, JOB_READ);
    j->gen = s->gen;
    job_enqueue(s, j);
}

static void
body_start(struct sess *s)
{
    struct ds *ds = s->ds;
    ds->op = DS_OP_BODY;
    if (s->prepend.len && smtp_client_body(ds->c, s->prepend.data, s->prepend.len) < 0) {
        ds_kill(ds);
        fail_end(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    if (s->mem) { /* the whole message is here: no read jobs */
        size_t skip = s->mem_skip < s->mem_body.len ? (size_t)s->mem_skip : s->mem_body.len;
        int rc = 0;
        if (s->mem_body.len > skip)
            rc = smtp_client_body(ds->c, s->mem_body.data + skip, s->mem_body.len - skip);
        if (rc == 0)
            rc = smtp_client_body_end(ds->c);
        buf_free(&s->mem_body);
        if (rc < 0) {
            ds_kill(ds);
            fail_end(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
            return;
        }
        s->body_eof = 1;
    }
    ds_arm(ds, s->conf->o.ds_timeout_ms);
    ds_flush(ds);
    body_next(s);
}

void
sess_ds_ready(struct sess *s)
{
    if (s->wait == UP_MAIL)
        mail_go(s);
}

static void
rcpt_keep(struct sess *s, const struct smtp_cmd *cmd)
{
    const char *notify = NULL, *orcpt = NULL;
    for (size_t i = 0; i < cmd->nparams; i++) {
        if (strcmp(cmd->params[i].key, "NOTIFY") == 0)
            notify = cmd->params[i].value;
        else if (strcmp(cmd->params[i].key, "ORCPT") == 0)
            orcpt = cmd->params[i].value;
    }
    if (s->nrcpt == s->rcpt_cap) {
        s->rcpt_cap = s->rcpt_cap ? 2 * s->rcpt_cap : 8;
        s->rcpt = xrealloc(s->rcpt, s->rcpt_cap * 3 * sizeof *s->rcpt);
    }
    s->rcpt[3 * s->nrcpt] = xstrdup(cmd->path);
    s->rcpt[3 * s->nrcpt + 1] = dup_or_null(notify);
    s->rcpt[3 * s->nrcpt + 2] = dup_or_null(orcpt);
    s->nrcpt++;
}

void
sess_ds_reply(struct sess *s, enum ds_op op, const struct smtp_client_reply *r)
{
    switch (op) {
    case DS_OP_XFORWARD:
        if (r->code / 100 != 2)
            log_warn("%s: downstream refused XFORWARD (%d); MAIL goes on without it", s->id,
                     r->code);
        if (s->wait == UP_MAIL && s->ds)
            mail_send(s);
        break;
    case DS_OP_MAIL:
        if (s->wait != UP_MAIL)
            break;
        if (r->code / 100 == 2)
            s->txn = 1;
        reply_up_ds(s, r);
        break;
    case DS_OP_RCPT:
        if (s->wait != UP_RCPT)
            break;
        if (r->code / 100 == 2)
            rcpt_keep(s, s->cmd);
        reply_up_ds(s, r);
        break;
    case DS_OP_DATA:
        if (s->wait != UP_END)
            break;
        if (r->code == 354) {
            body_start(s);
        } else {
            struct buf b;
            buf_init(&b, 0);
            smtp_client_reply_format(r, 0, &b);
            fail_end(s, b.data);
            buf_free(&b);
        }
        break;
    case DS_OP_BODY:
        if (s->wait != UP_END)
            break;
        {
            struct buf b;
            buf_init(&b, 0);
            smtp_client_reply_format(r, 0, &b);
            summary(s, b.data);
            reply_up(s, b.data);
            buf_free(&b);
        }
        break;
    case DS_OP_RSET:
        if (s->mail_deferred && s->wait == UP_MAIL)
            mail_go(s);
        break;
    default:
        break;
    }
}

void
sess_ds_failed(struct sess *s, const char *reply4xx)
{
    switch (s->wait) {
    case UP_MAIL:
    case UP_RCPT:
        reply_up(s, reply4xx);
        break;
    case UP_END:
        snprintf(s->ds_fail, sizeof s->ds_fail, "%s", reply4xx);
        if (s->end_ds) { /* DATA or the body was under way: answer now */
            s->gen++;
            s->body_reading = 0;
            fail_end(s, reply4xx);
        } /* else the end-of-data job answers when it completes */
        break;
    default:
        if (s->txn)
            snprintf(s->ds_fail, sizeof s->ds_fail, "%s", reply4xx);
        break;
    }
}

static unsigned ds_wait_ms(const struct sess *s);

void
sess_ds_drained(struct sess *s)
{
    struct ds *ds = s->ds;
    if (s->wait != UP_END || !s->end_ds || !ds || ds->op != DS_OP_BODY)
        return;
    ds_arm(ds, ds_wait_ms(s)); /* progress, or the reply to the final "." */
    body_next(s);
}

/* ---- jobs ---------------------------------------------------------------------------- */

static void
end_done(struct sess *s, struct job *j)
{
    if (j->qid[0])
        snprintf(s->qid, sizeof s->qid, "%s", j->qid);
    if (j->am || j->arc_bad || j->v.result != ARC_RESULT_NONE || j->why[0]) {
        snprintf(s->arc_res, sizeof s->arc_res, "%s", j->judged ? arc_result_name(j->shown) : "-");
        if (j->sealed)
            snprintf(s->seal_note, sizeof s->seal_note, "sealed i=%d %.120s%s", j->seal_inst,
                     j->seal_d, j->restarted ? " (restarted: broken sets removed)" : "");
        else
            snprintf(s->seal_note, sizeof s->seal_note, "not-sealed=\"%.180s\"",
                     j->why[0] ? j->why : "mode");
    }
    if (j->arc_bad || (j->why[0] && strncmp(j->why, "message cannot", 14) == 0))
        log_warn("%s: %s: %s", s->id, j->why,
                 j->unparseable ? "rejected (on_unparseable: reject)" : "passed on unsealed");
    if (j->note[0])
        log_info("%s: arc: %s", s->id, j->note);
    if (j->rc < 0 || s->spool_failed) {
        log_error("%s: spool: %s", s->id, j->e.text[0] ? j->e.text : s->spool_err);
        fail_end(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    if (s->ds_fail[0]) {
        fail_end(s, s->ds_fail);
        return;
    }
    if (j->unparseable) {
        fail_end(s, "550 5.6.0 message cannot be parsed");
        return;
    }
    if (j->temperror) {
        fail_end(s, "451 4.7.0 ARC verification temporarily failed, try again later");
        return;
    }
    if (s->conf->o.delivery == PROXY_DELIVERY_QUEUE) {
        char text[120];
        snprintf(text, sizeof text, "250 2.0.0 Ok: queued as %s", j->qid);
        /* the runner's now; no job of s runs here (after_cb, before the next job starts;
         * the reply below runs the reset hook, which queues JOB_FINISH) */
        s->wk.qid[0] = '\0';
        summary(s, text);
        reply_up(s, text);
        runner_add(s->px, j->qid, 0);
        return;
    }
    buf_free(&s->prepend);
    s->prepend = j->prepend;
    buf_init(&j->prepend, 0);
    if (j->mem) {
        buf_free(&s->mem_body);
        s->mem_body = j->data;
        buf_init(&j->data, 0);
        s->mem_skip = j->data_skip;
    }
    struct ds *ds = s->ds;
    if (!ds || !ds->ready || ds->op != DS_OP_NONE || smtp_client_data(ds->c) < 0) {
        fail_end(s, "451 4.4.2 downstream connection lost");
        return;
    }
    s->end_ds = 1;
    ds->op = DS_OP_DATA;
    ds_arm(ds, s->conf->o.ds_timeout_ms);
    ds_flush(ds);
}

/* ds_wait_ms - downstream.data_timeout once the final "." is written, else command_timeout. */
static unsigned
ds_wait_ms(const struct sess *s)
{
    const struct proxy_opts *o = &s->conf->o;
    return s->body_eof && o->ds_data_timeout_ms ? o->ds_data_timeout_ms : o->ds_timeout_ms;
}

static void
read_done(struct sess *s, struct job *j)
{
    struct ds *ds = s->ds;
    s->body_reading = 0;
    if (!ds || ds->op != DS_OP_BODY)
        return;
    if (j->rc < 0) {
        log_error("%s: spool read: %s", s->id, j->e.text);
        ds_kill(ds); /* a body cannot be taken back but by closing */
        fail_end(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    int rc = j->rc == 0 ? smtp_client_body_end(ds->c)
                        : smtp_client_body(ds->c, j->data.data, j->data.len);
    if (rc < 0) {
        ds_kill(ds);
        fail_end(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    if (j->rc == 0)
        s->body_eof = 1;
    ds_arm(ds, ds_wait_ms(s));
    ds_flush(ds);
    if (!s->body_eof && ds->writing == 0)
        body_next(s);
}

void
sess_job_done(struct sess *s, struct job *j)
{
    switch (j->kind) {
    case JOB_CREATE:
        if (j->gen == s->gen && j->qid[0])
            snprintf(s->qid, sizeof s->qid, "%s", j->qid);
        /* fall through */
    case JOB_WRITE:
        if (j->rc < 0 && j->gen == s->gen && !s->spool_failed) {
            s->spool_failed = 1;
            snprintf(s->spool_err, sizeof s->spool_err, "%.190s", j->e.text);
        }
        break;
    case JOB_END:
        if (j->gen == s->gen && !s->closing && s->wait == UP_END)
            end_done(s, j);
        break;
    case JOB_READ:
        if (j->gen == s->gen && !s->closing && s->wait == UP_END)
            read_done(s, j);
        else if (j->gen == s->gen)
            s->body_reading = 0;
        break;
    case JOB_FINISH:
    case JOB_DROP:
        break;
    }
}

/* ---- server hooks --------------------------------------------------------------------- */

static void
hook_mail(void *ctx, const struct smtp_cmd *cmd, const struct smtp_xforward *xf)
{
    struct sess *s = ctx;
    txn_clear(s);
    s->t_start = proxy_now_ms(s->px);
    s->wait = UP_MAIL;
    s->cmd = cmd;
    s->sender = xstrdup(cmd->path);
    s->nparams = cmd->nparams;
    s->params = xcalloc(cmd->nparams ? 2 * cmd->nparams : 1, sizeof *s->params);
    for (size_t i = 0; i < cmd->nparams; i++) {
        s->params[2 * i] = xstrdup(cmd->params[i].key);
        s->params[2 * i + 1] = dup_or_null(cmd->params[i].value);
    }
    if (xf && xf->present && xf->addr) {
        const char *a = xf->addr;
        if (strncasecmp(a, "IPv6:", 5) == 0)
            a += 5;
        s->xf_addr = xstrdup(a);
    }
    if (xf && xf->present) { /* the policy's client and source; queue mode: the file's */
        const char *v[7] = {xf->name, xf->addr,  xf->port,  xf->proto,
                            xf->helo, xf->ident, xf->source};
        for (size_t i = 0; i < 7; i++)
            s->xf[i] = dup_or_null(v[i]);
        s->xf_present = 1;
    }
    if (s->conf->o.delivery == PROXY_DELIVERY_QUEUE) {
        /* queue mode: nothing downstream now; XFORWARD is kept with the message */
        s->txn = 1;
        reply_up(s, smtp_reply_text(SMTP_R_MAIL_OK));
        return;
    }
    mail_go(s);
}

static void
hook_rcpt(void *ctx, const struct smtp_cmd *cmd)
{
    struct sess *s = ctx;
    s->wait = UP_RCPT;
    s->cmd = cmd;
    s->nrcpt_tried++;
    if (s->conf->o.delivery == PROXY_DELIVERY_QUEUE) {
        rcpt_keep(s, cmd);
        reply_up(s, smtp_reply_text(SMTP_R_RCPT_OK));
        return;
    }
    if (s->ds_fail[0] || !s->ds) {
        reply_up(s, s->ds_fail[0] ? s->ds_fail : "451 4.4.2 downstream connection lost");
        return;
    }
    struct ds *ds = s->ds;
    if (ds->op != DS_OP_NONE || smtp_client_rcpt(ds->c, cmd->path, cmd->params, cmd->nparams) < 0) {
        reply_up(s, smtp_reply_text(SMTP_R_LOCAL_ERROR));
        return;
    }
    ds->op = DS_OP_RCPT;
    ds_arm(ds, s->conf->o.ds_timeout_ms);
    ds_flush(ds);
}

/* queue_attrs - what the runner needs later: arrival time, client, XFORWARD. */
static void
queue_attrs(struct sess *s, struct job *j)
{
    static const char *const names[7] = {"xf.NAME", "xf.ADDR",  "xf.PORT",  "xf.PROTO",
                                         "xf.HELO", "xf.IDENT", "xf.SOURCE"};
    char arr[32];
    snprintf(arr, sizeof arr, "%lld", (long long)time(NULL));
    j->attrs = xcalloc(2 * 9, sizeof *j->attrs);
    j->attrs[j->nattrs * 2] = xstrdup("arrival");
    j->attrs[j->nattrs++ * 2 + 1] = xstrdup(arr);
    j->attrs[j->nattrs * 2] = xstrdup("client");
    j->attrs[j->nattrs++ * 2 + 1] = xstrdup(s->ip);
    for (size_t i = 0; s->xf_present && i < 7; i++) {
        j->attrs[j->nattrs * 2] = xstrdup(names[i]);
        j->attrs[j->nattrs++ * 2 + 1] = dup_or_null(s->xf[i]);
    }
}

/* spool_start - the spool file for this transaction: JOB_CREATE with the envelope. */
static void
spool_start(struct sess *s)
{
    struct job *j = job_new(s, JOB_CREATE);
    j->gen = s->gen;
    j->sender = xstrdup(s->sender ? s->sender : "");
    j->nrcpt = s->nrcpt;
    j->rcpt = strv_dup(s->rcpt, s->nrcpt * 3);
    j->nparams = s->nparams;
    j->params = strv_dup(s->params, s->nparams * 2);
    if (s->conf->o.delivery == PROXY_DELIVERY_QUEUE)
        queue_attrs(s, j);
    s->spool_used = 1;
    job_enqueue(s, j);
}

static void
hook_data_start(void *ctx)
{
    struct sess *s = ctx;
    s->wait = UP_DATA;
    const struct proxy_opts *o = &s->conf->o;
    int queue = o->delivery == PROXY_DELIVERY_QUEUE;
    if (!queue && (s->ds_fail[0] || !s->ds)) {
        reply_up(s, s->ds_fail[0] ? s->ds_fail : "451 4.4.2 downstream connection lost");
        return;
    }
    s->t_data = proxy_now_ms(s->px);
    s->data_bytes = 0;
    if (o->mode != PROXY_MODE_PASS) {
        struct arc_opts ao;
        arc_opts_default(&ao);
        ao.want_seal = o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV;
        if (o->max_header_bytes)
            ao.max_header_bytes = o->max_header_bytes;
        if (o->max_header_fields)
            ao.max_header_fields = o->max_header_fields;
        ao.seal_body_canon =
            s->conf->policy ? policy_body_canon(s->conf->policy) : ARC_CANON_RELAXED;
        s->am = arc_msg_new(&ao);
    }
    buf_init(&s->acc, 0);
    s->in_msg = 1;
    if (queue)
        spool_start(s);
    else
        s->mem = 1; /* spooled only if it grows past PROXY_MEM_MAX (hook_data) */
    reply_up(s, smtp_reply_text(SMTP_R_DATA_GO));
}

/* policy_facts - what the policy needs besides the message: client address (XFORWARD
 * ADDR, else the peer), XFORWARD SOURCE, the envelope (copied into the END job). */
static void
policy_facts(struct sess *s, struct job *j)
{
    const char *src = s->xf_present ? s->xf[6] : NULL;
    j->client_known = s->xf_addr && policy_client_parse(s->xf_addr, &j->client) == 0;
    if (!j->client_known && s->peer.ss_family != AF_UNSPEC) {
        j->client = s->peer;
        j->client_known = 1;
    }
    j->source = !src                            ? POLICY_SOURCE_UNKNOWN
                : strcasecmp(src, "LOCAL") == 0 ? POLICY_SOURCE_LOCAL
                                                : POLICY_SOURCE_REMOTE;
    j->sender = xstrdup(s->sender ? s->sender : "");
    j->nrcpt = s->nrcpt;
    j->rcpt = strv_dup(s->rcpt, s->nrcpt * 3);
}

static void
acc_flush(struct sess *s, enum job_kind kind)
{
    struct job *j = job_new(s, kind);
    j->gen = s->gen;
    buf_free(&j->data);
    j->data = s->acc;
    buf_init(&s->acc, 0);
    if (kind == JOB_WRITE)
        j->feed = s->am; /* borrowed: freed only by END or a JOB_DROP queued later */
    if (kind == JOB_END) {
        j->am = s->am; /* fed with j->data on the worker first (wk_feed_end) */
        s->am = NULL;
        j->remote_ip = dup_or_null(s->xf_addr);
        j->now = (int64_t)time(NULL);
        j->mem = s->mem;
        policy_facts(s, j);
    }
    job_enqueue(s, j);
}

static void
hook_data(void *ctx, const char *p, size_t n)
{
    struct sess *s = ctx;
    if (s->mem && n <= PROXY_MEM_MAX - s->acc.len && n <= PROXY_MEM_TOTAL - s->px->mem_held) {
        buf_append(&s->acc, p, n);
        s->mem_held += n;
        s->px->mem_held += n;
        return;
    }
    if (s->mem) { /* past the bound: spill what is held, then the usual 64 KiB writes */
        s->mem = 0;
        mem_release(s);
        spool_start(s);
        if (s->acc.len)
            acc_flush(s, JOB_WRITE);
    }
    while (n) {
        size_t room = PROXY_CHUNK - s->acc.len;
        size_t k = n < room ? n : room;
        buf_append(&s->acc, p, k);
        p += k;
        n -= k;
        if (s->acc.len == PROXY_CHUNK)
            acc_flush(s, JOB_WRITE);
    }
}

static void
hook_data_end(void *ctx, size_t msg_size)
{
    struct sess *s = ctx;
    s->in_msg = 0;
    s->msg_size = msg_size;
    s->wait = UP_END;
    acc_flush(s, JOB_END);
}

static void
hook_data_abort(void *ctx, const char *why)
{
    struct sess *s = ctx;
    char w[120];
    log_escape(w, sizeof w, why, strlen(why));
    log_info("%s: message rejected: %s", s->id, w);
    s->in_msg = 0;
    am_drop(s);
    buf_free(&s->acc);
}

/* hook_reset - the transaction is over (RSET, EHLO, the reply to end of data, a rejected
 * message): drop the spool file and end downstream's transaction. */
static void
hook_reset(void *ctx)
{
    struct sess *s = ctx;
    struct ds *ds = s->ds;
    s->gen++;
    s->body_reading = 0;
    if (s->spool_used) {
        s->spool_used = 0;
        struct job *j = job_new(s, JOB_FINISH);
        j->gen = s->gen;
        job_enqueue(s, j);
    }
    txn_clear(s);
    if (!ds)
        return;
    if (ds->in_txn && ds->op == DS_OP_NONE && smtp_client_rset(ds->c) == 0) {
        ds->op = DS_OP_RSET;
        ds_arm(ds, s->conf->o.ds_timeout_ms);
        ds_flush(ds);
    } else if (ds->op != DS_OP_NONE && ds->op != DS_OP_RSET && ds->op != DS_OP_CONNECT) {
        ds_kill(ds); /* a command or body in flight cannot be taken back */
    }
}

static void
hook_close(void *ctx)
{
    struct sess *s = ctx;
    s->close_after_flush = 1;
}

static const struct smtp_server_hooks hooks = {
    .mail = hook_mail,
    .rcpt = hook_rcpt,
    .data_start = hook_data_start,
    .data = hook_data,
    .data_end = hook_data_end,
    .data_abort = hook_data_abort,
    .reset = hook_reset,
    .close = hook_close,
};

/* ---- libuv side ----------------------------------------------------------------------- */

static void
up_close_cb(uv_handle_t *h)
{
    struct sess *s = h->data;
    s->nclosing--;
    sess_maybe_free(s);
}

void
sess_maybe_free(struct sess *s)
{
    if (!s->closing || s->nclosing || s->job_busy || s->jq_head)
        return;
    struct proxy *px = s->px;
    proxy_conf_unref(s->conf);
    s->conf = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        px->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (!s->busy)
        px->nsessions--;
    txn_clear(s);
    smtp_server_free(s->srv);
    free(s);
    proxy_sess_gone(px);
}

void
sess_close(struct sess *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    if (!s->busy)
        log_info("%s: disconnect from %s", s->id, s->ip);
    if (s->ds) {
        if (s->ds->in_txn && s->ds->op != DS_OP_NONE)
            ds_kill(s->ds);
        else
            ds_release(s->ds);
    }
    s->gen++;
    keys_cancel(s); /* a job waiting for its keys resumes now, without them */
    if (s->spool_used || s->job_busy || s->jq_head) {
        struct job *j = job_new(s, JOB_FINISH);
        j->gen = s->gen;
        job_enqueue(s, j);
    }
    am_drop(s);
    s->nclosing = 2;
    uv_close((uv_handle_t *)&s->tcp, up_close_cb);
    uv_close((uv_handle_t *)&s->timer, up_close_cb);
}

static void
up_write_cb(uv_write_t *req, int status)
{
    struct up_wreq *w = (struct up_wreq *)req;
    struct sess *s = w->s;
    s->writing -= w->n;
    free(w);
    if (status < 0 && !s->closing)
        sess_close(s);
    sess_pump(s);
}

static void
up_write(struct sess *s, const char *p, size_t n)
{
    struct up_wreq *w = xmalloc(sizeof *w + n);
    memcpy(w->data, p, n);
    w->s = s;
    w->n = n;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, up_write_cb);
    if (rc < 0) {
        free(w);
        sess_close(s);
        return;
    }
    s->writing += n;
}

static void
up_timer_cb(uv_timer_t *t)
{
    struct sess *s = t->data;
    s->timer_on = 0;
    if (s->closing || !s->srv)
        return;
    log_info("%s: %s timeout", s->id, smtp_server_in_data(s->srv) ? "data" : "command");
    smtp_server_timeout(s->srv);
    sess_pump(s);
}

static void
up_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct sess *s = h->data;
    *b = uv_buf_init(s->px->rbuf, sizeof s->px->rbuf);
}

/* check_rate - limits.min_data_rate: after a grace period, the bytes received since DATA
 * must keep up with rate * (elapsed - grace); else 421 4.4.2 and the session ends. */
static void
check_rate(struct sess *s, size_t n)
{
    uint64_t rate = s->conf->o.min_data_rate;
    s->data_bytes += n;
    if (!rate)
        return;
    uint64_t el = proxy_now_ms(s->px) - s->t_data;
    if (el <= PROXY_RATE_GRACE_MS || s->data_bytes * 1000 >= rate * (el - PROXY_RATE_GRACE_MS))
        return;
    log_info("%s: data rate too low: %llu bytes in %llu ms (minimum %llu bytes/s after %u ms)",
             s->id, (unsigned long long)s->data_bytes, (unsigned long long)el,
             (unsigned long long)rate, PROXY_RATE_GRACE_MS);
    smtp_server_timeout(s->srv);
}

static void
up_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct sess *s = st->data;
    if (s->closing)
        return;
    if (nread > 0) {
        s->progress = 1;
        if (s->srv) {
            smtp_server_input(s->srv, b->base, (size_t)nread);
            if (smtp_server_in_data(s->srv))
                check_rate(s, (size_t)nread);
        }
    } else if (nread < 0) {
        if (nread != UV_EOF)
            log_info("%s: read: %s", s->id, uv_strerror((int)nread));
        if (s->in_msg || s->txn || s->wait != UP_NONE)
            log_info("%s: client went away inside a transaction", s->id);
        sess_close(s);
    }
    sess_pump(s);
}

void
sess_pump(struct sess *s)
{
    if (s->closing) {
        sess_maybe_free(s);
        return;
    }
    const struct proxy_opts *o = &s->conf->o;
    struct smtp_server *srv = s->srv;
    if (srv && s->px->stopping && !s->close_after_flush && !smtp_server_pending(srv) &&
        !smtp_server_in_data(srv) && !s->txn && s->wait == UP_NONE)
        smtp_server_shutdown(srv);
    if (srv) {
        struct span out = smtp_server_out(srv);
        if (out.n) {
            up_write(s, out.p, out.n);
            smtp_server_out_consumed(srv, out.n);
            if (s->closing)
                return;
        }
    }
    if (s->close_after_flush && s->writing == 0) {
        sess_close(s);
        return;
    }
    int pending = srv ? smtp_server_pending(srv) : 1;
    int throttled = s->jq_bytes >= PROXY_JQ_MAX || s->writing >= PROXY_CHUNK;
    int want_read = !pending && !s->close_after_flush && !throttled;
    if (want_read && !s->reading) {
        if (uv_read_start((uv_stream_t *)&s->tcp, up_alloc_cb, up_read_cb) == 0)
            s->reading = 1;
    } else if (!want_read && s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = 0;
    }
    if (want_read) {
        if (!s->timer_on || s->progress) {
            unsigned ms = smtp_server_in_data(srv) ? o->data_timeout_ms : o->cmd_timeout_ms;
            uv_timer_start(&s->timer, up_timer_cb, ms, 0);
            s->timer_on = 1;
        }
    } else if (s->timer_on) {
        uv_timer_stop(&s->timer);
        s->timer_on = 0;
    }
    s->progress = 0;
}

void
sess_stop(struct sess *s)
{
    sess_pump(s);
}

static void
peer_ip(struct sess *s, struct sockaddr_storage *ss)
{
    int len = sizeof *ss;
    memset(ss, 0, sizeof *ss);
    snprintf(s->ip, sizeof s->ip, "?");
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)ss, &len) != 0)
        return;
    if (ss->ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)ss, s->ip, sizeof s->ip);
    else if (ss->ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)ss, s->ip, sizeof s->ip);
}

void
sess_accept(struct proxy *px, uv_stream_t *server)
{
    struct sess *s = xcalloc(1, sizeof *s);
    s->px = px;
    s->conf = proxy_conf_ref(px);
    s->is_unix = server->type == UV_NAMED_PIPE;
    if (s->is_unix)
        uv_pipe_init(px->loop, &s->pipe, 0);
    else
        uv_tcp_init(px->loop, &s->tcp);
    uv_timer_init(px->loop, &s->timer);
    s->tcp.data = s->timer.data = s;
    snprintf(s->id, sizeof s->id, "%08lX", ++px->next_id);
    s->next = px->sessions;
    if (s->next)
        s->next->prev = s;
    px->sessions = s;
    s->busy = 1; /* not counted until it is a real session */
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        sess_close(s);
        return;
    }
    struct sockaddr_storage ss;
    if (s->is_unix) { /* a local client: no address (AF_UNSPEC), XFORWARD allowed */
        memset(&ss, 0, sizeof ss);
        snprintf(s->ip, sizeof s->ip, "unix");
    } else {
        uv_tcp_nodelay(&s->tcp, 1);
        peer_ip(s, &ss);
    }
    s->peer = ss;
    if (px->stopping || px->nsessions >= s->conf->o.max_sessions) {
        log_warn("%s: %s from %s: 421", s->id, px->stopping ? "stopping" : "session limit", s->ip);
        char line[128];
        int n = snprintf(line, sizeof line, "%s\r\n",
                         smtp_reply_text(px->stopping ? SMTP_R_SHUTDOWN : SMTP_R_BUSY));
        up_write(s, line, (size_t)n);
        s->close_after_flush = 1;
        sess_pump(s);
        return;
    }
    s->busy = 0;
    px->nsessions++;
    struct smtp_server_cfg cfg;
    smtp_server_cfg_default(&cfg);
    const struct proxy_conf *c = s->conf;
    cfg.hostname = c->hostname;
    if (c->o.max_msg_size)
        cfg.max_msg_size = c->o.max_msg_size;
    if (c->o.max_rcpts)
        cfg.max_rcpts = c->o.max_rcpts;
    cfg.bare_lf = c->o.bare_lf_accept ? SMTP_BARE_LF_ACCEPT : SMTP_BARE_LF_REJECT;
    if (c->o.max_line)
        cfg.max_line = c->o.max_line;
    if (c->o.max_header_bytes)
        cfg.max_header_bytes = c->o.max_header_bytes;
    if (c->o.max_header_fields)
        cfg.max_header_fields = c->o.max_header_fields;
    if (c->o.max_errors)
        cfg.max_errors = c->o.max_errors;
    cfg.offer_dsn = !c->o.no_dsn;
    cfg.offer_smtputf8 = !c->o.no_smtputf8;
    cfg.offer_8bitmime = !c->o.no_8bitmime;
    cfg.xforward_allowed =
        s->is_unix || proxy_cidr_match(c->xf_allow, c->nxf_allow, (struct sockaddr *)&ss);
    s->srv = smtp_server_new(&cfg, &hooks, s);
    log_info("%s: connect from %s%s", s->id, s->ip, cfg.xforward_allowed ? " (xforward)" : "");
    sess_pump(s);
}
