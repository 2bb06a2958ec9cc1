/* SPDX-License-Identifier: MIT */
/*
 * work - a session's off-loop jobs, run in order through uv_queue_work with at most one
 * in flight per session: spool create/write/commit/read/remove (blocking file I/O) and, at
 * end of data, the ARC engine's finish + verify + seal (RSA and hashing). A JOB_END whose
 * chain needs key records runs twice: the first run writes (proxy mode: commits) and
 * finishes the engine and lists the keys (j->need_keys); the loop looks them up (keys.c)
 * and job_resume runs the second half: keys supplied, verify, seal, Authentication-
 * Results, the header rewritten when upstream A-R fields were dropped, then (queue mode)
 * the durable commit or (proxy mode) the file opened for reading. A proxy-mode message
 * kept in memory (j->mem, at most PROXY_MEM_MAX) makes the same END job with no spool
 * call at all: its bytes stay in j->data for the loop to send.
 *
 *   job_resume(s, j)       the second run of a JOB_END (keys.c, on the loop)
 *
 *   job_new(s, kind)       a job for session s (not queued)
 *   job_enqueue(s, j)      append; starts it when nothing of s runs
 *   job_free(j)            NULL is fine
 *
 * The worker touches only the job and s->wk (the session's worker side) and reads the
 * spool and the session's generation (s->conf: options, policy with its keys, zone; held
 * by the session, read-only). Results travel back in the job; sess_job_done() reads them
 * on the loop. The seal step (seal()) applies the policy's decision: signing domain,
 * selector, key, h= list, canonicalization, seal_on_broken_chain, remote IP and the
 * cv from our upstream Authentication-Results (docs/policy.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "policy/policy.h"
#include "proxy_int.h"
#include "util/log.h"
#include "util/xalloc.h"

static void job_start(struct sess *s);

struct job *
job_new(struct sess *s, enum job_kind kind)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->s = s;
    j->kind = kind;
    buf_init(&j->data, 0);
    buf_init(&j->prepend, SPOOL_MAX_PREPEND);
    err_clear(&j->e);
    return j;
}

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void
job_free(struct job *j)
{
    if (!j)
        return;
    buf_free(&j->data);
    buf_free(&j->prepend);
    free(j->sender);
    free_strv(j->rcpt, j->nrcpt * 3);
    free_strv(j->params, j->nparams * 2);
    free_strv(j->attrs, j->nattrs * 2);
    free(j->remote_ip);
    keys_free(j);
    arc_msg_free(j->am);
    free(j);
}

/* wk_fail - the spool writer is unusable: drop it, remember the first error. */
static void
wk_fail(struct sess_wk *wk, struct job *j, int rc)
{
    wk->w = spool_abort(wk->w);
    wk->failed = 1;
    j->rc = rc;
}

static void
do_create(struct job *j, struct spool *sp, struct sess_wk *wk)
{
    int rc = spool_create(sp, &wk->w, &j->e);
    if (rc < 0) {
        wk->failed = 1;
        j->rc = rc;
        return;
    }
    snprintf(j->qid, sizeof j->qid, "%s", spool_writer_id(wk->w));
    rc = spool_put_sender(wk->w, j->sender, &j->e);
    for (size_t i = 0; rc == 0 && i < j->nrcpt; i++)
        rc = spool_put_rcpt(wk->w, j->rcpt[3 * i], j->rcpt[3 * i + 1], j->rcpt[3 * i + 2], &j->e);
    for (size_t i = 0; rc == 0 && i < j->nparams; i++)
        rc = spool_put_param(wk->w, j->params[2 * i], j->params[2 * i + 1], &j->e);
    for (size_t i = 0; rc == 0 && i < j->nattrs; i++)
        rc = spool_put_attr(wk->w, j->attrs[2 * i], j->attrs[2 * i + 1], &j->e);
    if (rc < 0)
        wk_fail(wk, j, rc);
}

/* wk_feed - message bytes into the engine, on the worker (body hashing never runs on
 * the loop); after a refusal the rest is not fed and the END job reports it. */
static void
wk_feed(struct sess_wk *wk, struct arc_msg *am, const struct buf *data)
{
    if (!am || wk->arc_bad || data->len == 0)
        return;
    struct err e;
    err_clear(&e);
    if (arc_msg_feed(am, data->data, data->len, &e) < 0) {
        wk->arc_bad = 1;
        snprintf(wk->arc_err, sizeof wk->arc_err, "%.150s", e.text);
    }
}

/* wk_feed_end - the END job's bytes into its engine, then the feed state into the job
 * (arc_bad: arc_begin reports the message as unparseable) and reset for the next one. */
static void
wk_feed_end(struct job *j, struct sess_wk *wk)
{
    wk_feed(wk, j->am, &j->data);
    if (wk->arc_bad && j->am) {
        j->arc_bad = 1;
        snprintf(j->e.text, sizeof j->e.text, "%s", wk->arc_err);
    }
    wk->arc_bad = 0;
    wk->arc_err[0] = '\0';
}

static void
do_write(struct job *j, struct sess_wk *wk)
{
    if (!wk->w || wk->failed || j->data.len == 0)
        return;
    int rc = spool_write(wk->w, j->data.data, j->data.len, &j->e);
    if (rc < 0)
        wk_fail(wk, j, rc);
}

static void decide(struct job *j, const struct policy *p, struct policy_decision *d);
static void no_seal(struct job *j, enum metric_id why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* arc_begin - the first half: finish the engine, take the policy's decision (j->d) and
 * list the key records verification needs (j->need_keys when there are any). A message
 * that cannot be parsed is a permerror here, and a message the policy passes (peer_list)
 * is neither judged nor sealed: j->arc_done, nothing more to do. */
static void
arc_begin(struct job *j, const struct proxy_conf *c)
{
    struct err e;
    err_clear(&e);
    memset(&j->v, 0, sizeof j->v);
    if (j->arc_bad || arc_msg_finish(j->am, &e) < 0) {
        j->v.result = ARC_RESULT_PERMERROR;
        j->arc_done = 1;
        no_seal(j, M_SEAL_SKIP_UNPARSEABLE, "message cannot be parsed: %.150s",
                j->arc_bad ? j->e.text : e.text);
        if (c->o.unparseable_reject)
            j->unparseable = j->temperror = 1; /* nothing is sent or queued */
        return;
    }
    decide(j, c->policy, &j->d);
    if (j->d.pass) {
        j->arc_done = 1;
        no_seal(j, M_SEAL_SKIP_POLICY, "%s", j->d.why);
        return;
    }
    struct arc_keyreq reqs[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(j->am, reqs, ARC_MAX_KEYREQS);
    if (n == 0)
        return;
    j->keys = xcalloc(n, sizeof *j->keys);
    for (size_t i = 0; i < n; i++) {
        j->keys[i].selector = reqs[i].selector;
        j->keys[i].domain = reqs[i].domain;
    }
    j->nkeys = n;
    j->need_keys = 1;
}

/* keys_supply - the second half: the loop's lookup results into the engine. */
static void
keys_supply(struct job *j)
{
    for (size_t i = 0; i < j->nkeys; i++) {
        const struct keyq *k = &j->keys[i];
        arc_msg_key_supply(j->am, k->selector, k->domain, k->st, k->txt, k->n);
    }
}

/* drop_own_authres - after verify, before seal: upstream A-R fields that claim our
 * authserv-id go (RFC 8601 §5); j->ndropped tells the end to rewrite the header. */
static void
drop_own_authres(struct job *j, const struct proxy_opts *o)
{
    if (!o->remove_own_authres || !o->authserv_id)
        return;
    int n = arc_msg_drop_authres(j->am, o->authserv_id);
    if (n > 0)
        j->ndropped = n;
}

/* rewrite_header - fields were dropped: the header section as it should be sent goes
 * after the new fields, and the reader skips the original one. */
static void
rewrite_header(struct job *j)
{
    if (j->ndropped <= 0 || j->temperror)
        return;
    int rc = arc_msg_header_out(j->am, &j->prepend);
    if (rc < 0) {
        j->rc = err_set(&j->e, -rc,
                        "header section too large to rewrite without the dropped "
                        "Authentication-Results");
        return;
    }
    j->data_skip = arc_msg_header_len(j->am);
}

/* add_authres - our Authentication-Results: the verdict as judged (an exempt sealer's
 * failure shows as none), a trusted or exempt sealer in a comment, smtp.remote-ip unless
 * policy.include_remote_ip is off. */
static void
add_authres(struct job *j, const struct proxy_opts *o, const struct policy_decision *d)
{
    const struct arc_verdict *v = &j->v;
    buf_printf(&j->prepend, "Authentication-Results: %s;\r\n\tarc=%s", o->authserv_id,
               arc_result_name(j->shown));
    if (v->instances > 0)
        buf_printf(&j->prepend, " (i=%d)", v->instances);
    if (j->note[0])
        buf_printf(&j->prepend, " (%s)", j->note);
    if (j->shown == ARC_RESULT_PASS && v->oldest_pass > 0)
        buf_printf(&j->prepend, " header.oldest-pass=%d", v->oldest_pass);
    if (j->remote_ip && d->include_remote_ip)
        buf_printf(&j->prepend, " smtp.remote-ip=%s", j->remote_ip);
    buf_puts(&j->prepend, "\r\n");
}

static size_t
count_fields(void *ctx, const char *name)
{
    return arc_msg_field_count(ctx, name);
}

#define FROM_MAX 16 /* From fields handed to the policy (more: "too many" all the same) */

/* decide - the policy's decision for j's message (after arc_msg_finish): From values
 * from the header section, client, XFORWARD SOURCE and envelope from the session. */
static void
decide(struct job *j, const struct policy *p, struct policy_decision *d)
{
    struct span from[FROM_MAX];
    size_t nfrom = arc_msg_field_values(j->am, "From", from, FROM_MAX);
    const char **rcpts = xcalloc(j->nrcpt ? j->nrcpt : 1, sizeof *rcpts);
    for (size_t i = 0; i < j->nrcpt; i++)
        rcpts[i] = j->rcpt[3 * i];
    struct policy_msg m = {
        .client = j->client_known ? (const struct sockaddr *)&j->client : NULL,
        .source = (enum policy_source)j->source,
        .env_from = j->sender ? j->sender : "",
        .rcpts = rcpts,
        .nrcpts = j->nrcpt,
        .from = from,
        .nfrom = nfrom < FROM_MAX ? nfrom : FROM_MAX,
        .count = count_fields,
        .count_ctx = j->am,
    };
    policy_decide(p, &m, d);
    free(rcpts);
}

/* no_seal - record why not, and the skip reason for arcproxy_seals_skipped_total. */
static void
no_seal(struct job *j, enum metric_id why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->why, sizeof j->why, fmt, ap);
    va_end(ap);
    j->skip = why;
    j->skip_set = 1;
}

/* sealers - exempt_domains and trusted_sealers against the chain's sealers (AS d=):
 * the newest sealer exempt and the chain failed: the failure is not judged (shown as
 * none); a trusted sealer in a passing chain is noted. Both go into j->note. */
static void
sealers(struct job *j, const struct policy *p)
{
    char d[256];
    int n = j->v.instances;
    j->shown = j->v.result;
    for (int i = n; i >= 1; i--) {
        struct span s = arc_msg_sealer(j->am, i);
        snprintf(d, sizeof d, "%.*s", (int)(s.n < 255 ? s.n : 255), s.p ? s.p : "");
        if (!d[0])
            continue;
        if (i == n && j->v.result == ARC_RESULT_FAIL && policy_is_exempt(p, d)) {
            j->exempt = 1;
            j->shown = ARC_RESULT_NONE;
            snprintf(j->note, sizeof j->note, "sealer %.200s is exempt: not judged", d);
            return;
        }
        if (j->v.result == ARC_RESULT_PASS && policy_is_trusted(p, d)) {
            snprintf(j->note, sizeof j->note, "trusted sealer %.200s", d);
            return;
        }
    }
}

/* seal - the sealing step: the policy's decision, seal_on_broken_chain, the signer. */
static void
seal(struct job *j, const struct proxy_conf *c, const struct policy_decision *d)
{
    const struct proxy_opts *o = &c->o;
    struct err e;
    int rc;
    err_clear(&e);
    if (!d->seal) {
        int nokey = strncmp(d->why, "no key for domain", 17) == 0;
        no_seal(j, nokey ? M_SEAL_SKIP_NO_KEY : M_SEAL_SKIP_POLICY, "%s", d->why);
        return;
    }
    if (j->v.result == ARC_RESULT_PERMERROR) {
        no_seal(j, M_SEAL_SKIP_PERMERROR, "permerror: %.150s", j->v.reason);
        return;
    }
    j->seal_inst = j->v.instances + 1;
    switch (policy_after_verdict(d, j->v.result == ARC_RESULT_FAIL && !j->exempt)) {
    case POLICY_SEAL_SKIP:
        no_seal(j, M_SEAL_SKIP_POLICY, "chain failed, policy.seal_on_broken_chain is skip");
        return;
    case POLICY_SEAL_RESTART:
        if ((rc = arc_msg_drop_arc_sets(j->am)) < 0) {
            no_seal(j, M_SEAL_SKIP_ERROR, "cannot drop the broken ARC sets");
            return;
        }
        j->ndropped += rc;
        j->restarted = 1;
        j->seal_inst = 1;
        break;
    default:
        break;
    }
    if (d->nheaders == 0) { /* no candidates: never the engine's default list */
        no_seal(j, M_SEAL_SKIP_POLICY, "policy.sign_headers names no field of the message");
        return;
    }
    struct arc_signer sg;
    memset(&sg, 0, sizeof sg);
    sg.domain = d->domain;
    sg.selector = d->selector;
    sg.authserv_id = o->authserv_id;
    sg.key = d->key;
    sg.headers = d->headers;
    sg.nheaders = d->nheaders;
    sg.headers_literal = 1; /* the policy counted instances and oversigning already */
    sg.hdr_canon = d->hdr_canon;
    sg.body_canon = d->body_canon;
    sg.timestamp = j->now;
    sg.remote_ip = d->include_remote_ip ? j->remote_ip : NULL;
    sg.cv_from_authres = d->reuse_auth_results;
    size_t before = j->prepend.len;
    int sr = arc_msg_seal(j->am, &sg, &j->v, &j->prepend, &e);
    if (sr == -ARC_ETEMP && o->on_temperror == PROXY_TEMPERROR_TEMPFAIL) {
        j->temperror = 1;
        no_seal(j, M_SEAL_SKIP_TEMPERROR, "temperror: %.150s", e.text);
        return;
    }
    if (sr == ARC_SEALED) {
        j->sealed = 1;
        snprintf(j->seal_d, sizeof j->seal_d, "d=%.100s s=%.100s", d->domain, d->selector);
        return;
    }
    j->prepend.len = before;
    no_seal(j,
            sr < 0 ? (sr == -ARC_ETEMP ? M_SEAL_SKIP_TEMPERROR : M_SEAL_SKIP_ERROR)
                   : M_SEAL_SKIP_PERMERROR,
            "%.180s", e.text[0] ? e.text : "skipped");
}

/* count - the message's verdict and seal in the metrics (worker thread: atomics). */
static void
count(const struct job *j, const struct proxy_opts *o)
{
    if (j->judged)
        metrics_inc(metrics_id_verdict(arc_result_name(j->shown)));
    if (j->sealed)
        metrics_inc(M_SEAL_SEALED);
    else if ((o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV) && j->skip_set)
        metrics_inc(j->skip);
}

/* arc_steps - finish, policy, keys, verify, seal, A-R; fills j->v, j->prepend and the
 * summary fields. */
static void
arc_steps(struct job *j, const struct proxy_conf *c)
{
    const struct proxy_opts *o = &c->o;
    struct policy_decision d;
    struct err e;
    err_clear(&e);
    if (j->arc_done)
        return;
    d = j->d;
    keys_supply(j);
    if (arc_msg_verify(j->am, j->now, &j->v, &e) < 0) {
        j->v.result = ARC_RESULT_PERMERROR;
        no_seal(j, M_SEAL_SKIP_ERROR, "cannot verify: %.150s", e.text);
        return;
    }
    sealers(j, c->policy);
    j->judged = d.verify;
    if (j->v.result == ARC_RESULT_TEMPERROR && o->on_temperror == PROXY_TEMPERROR_TEMPFAIL) {
        j->temperror = 1;
        no_seal(j, M_SEAL_SKIP_TEMPERROR, "temperror: %.150s", j->v.reason);
        return;
    }
    if (!d.reuse_auth_results)
        drop_own_authres(j, o);
    if (o->mode == PROXY_MODE_S || o->mode == PROXY_MODE_SV)
        seal(j, c, &d);
    if (j->temperror)
        return;
    if (d.add_authres)
        add_authres(j, o, &d);
}

/* do_arc - the engine's part of the end-of-data job, counted in the metrics. */
static void
do_arc(struct job *j, const struct proxy_conf *c)
{
    arc_steps(j, c);
    count(j, &c->o);
}

/* arc_end - the end-of-data job's second half (or its only one): keys in, verify, seal,
 * header rewrite. A session gone during the key lookups gets none of it: temperror, so
 * nothing is sent or queued. */
static void
arc_end(struct job *j, const struct proxy_conf *c)
{
    if (j->keys_cancelled) {
        j->temperror = 1;
    } else if (j->am) {
        do_arc(j, c);
        rewrite_header(j);
    }
}

/* do_end_queue - queue mode: the engine first (a temperror is answered before anything
 * is promised), its header fields into the file, then the durable commit; the runner
 * owns the file from the 250 on (end_done clears wk->qid: JOB_FINISH leaves it alone). */
static void
do_end_queue(struct job *j, const struct proxy_conf *c, struct sess_wk *wk)
{
    if (j->phase == 0) {
        do_write(j, wk);
        wk_feed_end(j, wk);
        if (j->am)
            arc_begin(j, c);
        if (j->need_keys && wk->w && !wk->failed)
            return; /* the loop looks the keys up, then job_resume */
        j->need_keys = 0;
    }
    arc_end(j, c);
    if (!wk->w || wk->failed) {
        if (j->rc == 0)
            j->rc = err_set(&j->e, ARC_EIO, "spool write failed earlier");
        return;
    }
    if (j->temperror) {
        wk->w = spool_abort(wk->w);
        return;
    }
    if (j->rc < 0) {
        wk->w = spool_abort(wk->w);
        return;
    }
    int rc = j->prepend.len ? spool_put_prepend(wk->w, j->prepend.data, j->prepend.len, &j->e) : 0;
    if (rc == 0 && j->data_skip)
        rc = spool_put_data_skip(wk->w, j->data_skip, &j->e);
    if (rc < 0) {
        wk_fail(wk, j, rc);
        return;
    }
    rc = spool_commit(wk->w, j->qid, &j->e);
    wk->w = NULL;
    if (rc < 0) {
        wk->failed = 1;
        j->qid[0] = '\0';
        j->rc = rc;
        return;
    }
    /* until the loop hands it to the runner (end_done clears this), a later JOB_FINISH
     * removes it: a session that went away before its 250 must not leave a queued copy */
    snprintf(wk->qid, sizeof wk->qid, "%s", j->qid);
}

static void
do_end(struct job *j, struct proxy *px, const struct proxy_conf *c, struct sess_wk *wk)
{
    if (c->o.delivery == PROXY_DELIVERY_QUEUE) {
        do_end_queue(j, c, wk);
        return;
    }
    if (j->mem) {
        /* the message is in j->data: no writer, no file, no reader */
        if (j->phase == 0)
            wk_feed_end(j, wk);
        if (j->phase == 0 && j->am)
            arc_begin(j, c);
        if (j->phase == 0 && j->need_keys)
            return; /* the loop looks the keys up, then job_resume */
        j->need_keys = 0;
        arc_end(j, c);
        return;
    }
    if (j->phase == 0) {
        do_write(j, wk);
        wk_feed_end(j, wk);
        if (wk->w && !wk->failed) {
            int rc = spool_commit_flags(wk->w, wk->qid, SPOOL_NOSYNC, &j->e);
            wk->w = NULL;
            if (rc < 0) {
                wk->failed = 1;
                wk->qid[0] = '\0';
                j->rc = rc;
            }
        }
        if (j->am)
            arc_begin(j, c);
        if (j->need_keys && !wk->failed)
            return; /* the loop looks the keys up, then job_resume */
        j->need_keys = 0;
    }
    arc_end(j, c);
    if (!wk->failed && !j->temperror && j->rc == 0 && wk->qid[0]) {
        int rc = spool_read_open(px->spool, wk->qid, &wk->r, &j->e);
        if (rc == 0 && j->data_skip)
            rc = spool_read_skip(wk->r, j->data_skip, &j->e);
        if (rc < 0) {
            wk->failed = 1;
            j->rc = rc;
        }
    }
    if (wk->failed && j->rc == 0)
        j->rc = -ARC_EIO;
}

static void
do_read(struct job *j, struct sess_wk *wk)
{
    if (!wk->r) {
        j->rc = err_set(&j->e, ARC_ESTATE, "no spool reader");
        return;
    }
    buf_init(&j->data, 0);
    j->data.data = xmalloc(PROXY_CHUNK + 1);
    j->data.cap = PROXY_CHUNK + 1;
    ssize_t n = spool_read_data(wk->r, j->data.data, PROXY_CHUNK, &j->e);
    if (n < 0) {
        j->rc = (int)n;
        return;
    }
    j->data.len = (size_t)n;
    j->data.data[n] = '\0';
    j->rc = n > 0;
}

static void
do_finish(struct job *j, struct proxy *px, struct sess_wk *wk)
{
    wk->r = spool_read_close(wk->r);
    wk->w = spool_abort(wk->w);
    if (wk->qid[0]) {
        struct err e;
        err_clear(&e);
        if (spool_remove_flags(px->spool, wk->qid, SPOOL_NOSYNC, &e) < 0)
            log_warn("%s: spool remove: %s", wk->qid, e.text);
        wk->qid[0] = '\0';
    }
    wk->failed = 0;
}

static void
work_cb(uv_work_t *req)
{
    struct job *j = req->data;
    struct sess *s = j->s;
    switch (j->kind) {
    case JOB_CREATE:
        do_create(j, s->px->spool, &s->wk);
        break;
    case JOB_WRITE:
        do_write(j, &s->wk);
        wk_feed(&s->wk, j->feed, &j->data);
        break;
    case JOB_END:
        do_end(j, s->px, s->conf, &s->wk);
        break;
    case JOB_READ:
        do_read(j, &s->wk);
        break;
    case JOB_FINISH:
        do_finish(j, s->px, &s->wk);
        break;
    case JOB_DROP: /* j->am, the engine of an abandoned message, is freed with j */
        s->wk.arc_bad = 0;
        s->wk.arc_err[0] = '\0';
        break;
    }
}

static void
after_cb(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct sess *s = j->s;
    s->job_busy = 0;
    if ((j->kind == JOB_WRITE || j->kind == JOB_END) && j->phase == 0)
        s->jq_bytes -= j->data.len <= s->jq_bytes ? j->data.len : s->jq_bytes;
    if (j->kind == JOB_END && j->need_keys && status == 0) {
        /* the first half is done; the session stays busy while its keys are looked up */
        j->need_keys = 0;
        if (!j->mem)
            buf_free(&j->data); /* written; an in-memory message is still to be sent */
        s->job_busy = 1;
        keys_start(s, j);
        return;
    }
    if (status < 0 && j->rc == 0)
        j->rc = err_set(&j->e, ARC_EIO, "job cancelled");
    sess_job_done(s, j);
    job_free(j);
    if (!s->job_busy && s->jq_head)
        job_start(s);
    sess_pump(s);
}

static void
job_start(struct sess *s)
{
    struct job *j = s->jq_head;
    s->jq_head = j->next;
    if (!s->jq_head)
        s->jq_tail = NULL;
    j->next = NULL;
    j->req.data = j;
    s->job_busy = 1;
    int rc = uv_queue_work(s->px->loop, &j->req, work_cb, after_cb);
    if (rc < 0) {
        /* cannot happen with a valid loop and callbacks; run it here rather than lose it */
        log_error("uv_queue_work: %s", uv_strerror(rc));
        work_cb(&j->req);
        after_cb(&j->req, 0);
    }
}

void
job_resume(struct sess *s, struct job *j)
{
    j->phase = 1;
    j->req.data = j;
    s->job_busy = 1;
    int rc = uv_queue_work(s->px->loop, &j->req, work_cb, after_cb);
    if (rc < 0) {
        log_error("uv_queue_work: %s", uv_strerror(rc));
        work_cb(&j->req);
        after_cb(&j->req, 0);
    }
}

void
job_enqueue(struct sess *s, struct job *j)
{
    if (j->kind == JOB_WRITE || j->kind == JOB_END)
        s->jq_bytes += j->data.len;
    if (s->jq_tail)
        s->jq_tail->next = j;
    else
        s->jq_head = j;
    s->jq_tail = j;
    if (!s->job_busy)
        job_start(s);
}
