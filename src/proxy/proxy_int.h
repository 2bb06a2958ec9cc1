/* SPDX-License-Identifier: MIT */
/*
 * proxy_int - what the files of src/proxy share: the proxy, a session (one upstream
 * connection), its downstream connection and its spool jobs.
 *
 * Threads: everything here belongs to the loop thread except what a running job touches:
 * a job owns its own fields (struct job) and the session's worker side (struct sess_wk),
 * which the loop never reads while a job of that session is queued or running (at most
 * one runs at a time per session, in order).
 *
 * Lifetimes: a session is freed when its two handles are closed and no job is queued or
 * running (sess_maybe_free). A downstream is freed when its handles are closed; it may
 * outlive its session or delivery while a QUIT is under way, and lives between
 * deliveries while kept in the pool (ds->s == ds->q == NULL then; px->ds_idle).
 */
#ifndef ARCPROXY_PROXY_INT_H
#define ARCPROXY_PROXY_INT_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "arc/arc.h"
#include "arc/key.h"
#include "dns/resolver.h"
#include "dns/zonefile.h"
#include "policy/policy.h"
#include "proxy.h"
#include "queue/spool.h"
#include "smtp/client.h"
#include "smtp/server.h"
#include "util/buf.h"

#define PROXY_CHUNK  (64 * 1024)  /* spool write / read unit */
#define PROXY_JQ_MAX (256 * 1024) /* queued spool bytes before upstream reading pauses */
/* PROXY_MEM_MAX - proxy mode: a message up to this size stays in memory (no spool file,
 * no read jobs); one that grows past it is spilled to the spool and goes on as before.
 * PROXY_MEM_TOTAL - what all sessions together hold that way: a message that would pass
 * it is spilled too, so held message bytes stay below min(max_sessions x PROXY_MEM_MAX,
 * PROXY_MEM_TOTAL) (docs/design.md). */
#define PROXY_MEM_MAX   (256 * 1024)
#define PROXY_MEM_TOTAL (64 * 1024 * 1024)
#define PROXY_LOG_REPLY 160

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
};

struct policy;

/* proxy_conf - one generation of options with what was loaded from them (proxy.c). The
 * proxy's o/zone/ds_addr/xf_allow/hostname are the current generation's. Holders: the
 * proxy (while current), each session, downstream and queue delivery; read-only once
 * built, so worker jobs read it through their session's reference without locks. */
struct proxy_conf {
    unsigned refs; /* the proxy's (while current) + one per holder; loop thread only */
    struct proxy_opts o;
    void *hold;            /* owns o's strings (reload); NULL: the caller of proxy_run does */
    struct policy *policy; /* NULL in mode pass */
    struct dns_zone *zone;
    struct dns_res_opts dnso; /* the resolver's options (zone: the one above) */
    struct sockaddr_storage ds_addr;
    struct cidr xf_allow[PROXY_MAX_CIDRS];
    size_t nxf_allow;
    char hostname[256];
};

struct metrics_server;
struct pidfile;
struct qent;
struct qdel;

struct proxy {
    uv_loop_t *loop;
    const struct proxy_opts *o;
    /* operations (proxy.c) */
    struct proxy_conf *conf; /* the current generation */
    uv_signal_t sighup;
    struct metrics_server *metrics;
    struct pidfile *pidfile;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* "unix:/path" */
    } listeners[PROXY_MAX_LISTEN];
    size_t nlisten;
    char *unix_paths[PROXY_MAX_LISTEN]; /* bound socket files, removed at exit */
    size_t nunix;
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;
    int stopping, stop_timer_on;
    struct sockaddr_storage ds_addr;
    struct cidr xf_allow[PROXY_MAX_CIDRS];
    size_t nxf_allow;
    char hostname[256];
    struct spool *spool;
    struct dns_zone *zone;
    struct dns_res *res;          /* key lookups (keys.c); NULL in mode pass and after shutdown */
    struct dns_res_opts res_opts; /* what res was made with */
    struct sess *sessions;        /* doubly linked */
    unsigned nsessions;
    unsigned long next_id;
    size_t mem_held;        /* message bytes sessions hold in memory (PROXY_MEM_TOTAL) */
    char rbuf[PROXY_CHUNK]; /* the one read buffer: read callbacks consume it at once */
    int rbuf_busy;
    /* queue mode (runner.c) */
    struct qent *ready, *ready_tail; /* due, not being delivered: oldest first */
    struct qent **wait;              /* waiting for their retry: a min-heap by due time */
    size_t nwait, wait_cap;
    size_t nqueue;           /* queued messages: ready, waiting and being delivered */
    struct qdel *deliveries; /* in flight, doubly linked */
    unsigned ndeliv;
    uv_timer_t qtimer;
    int qtimer_on; /* initialised and not closed */
    /* kept downstream connections (downstream.c: ds_pool_*), newest first */
    struct ds *ds_idle;
    unsigned nds_idle;
};

enum ds_op {
    DS_OP_NONE,
    DS_OP_CONNECT, /* connect, greeting, EHLO */
    DS_OP_XFORWARD,
    DS_OP_MAIL,
    DS_OP_RCPT,
    DS_OP_DATA,
    DS_OP_BODY, /* streaming the message; the reply to "." ends it */
    DS_OP_RSET,
    DS_OP_QUIT,
};

struct ds {
    struct proxy *px;
    struct proxy_conf *conf; /* held: its session's or its delivery's generation */
    struct sess *s;          /* NULL once the session let it go */
    struct qdel *q;          /* or: the queue delivery that owns it (runner.c) */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    struct smtp_client *c;
    enum ds_op op;
    int ready, in_txn, dead, nclosing;
    int body_ended; /* body_end sent, waiting for the final reply */
    size_t writing; /* bytes handed to uv_write, not yet completed */
    /* the pool (queue mode): idle in px->ds_idle, or on the way there (RSET in flight) */
    enum ds_pool { DS_POOL_NO, DS_POOL_RSET, DS_POOL_IDLE } pool;
    struct ds *pool_prev, *pool_next;
    unsigned nmsgs; /* transactions begun on this connection (MAIL sent) */
};

enum job_kind { JOB_CREATE, JOB_WRITE, JOB_END, JOB_READ, JOB_FINISH, JOB_DROP };

/* the worker side of a session: only jobs touch it */
struct sess_wk {
    struct spool_writer *w;
    struct spool_reader *r;
    char qid[SPOOL_ID_MAX]; /* committed file to remove */
    int failed;             /* a spool error: the rest of the message is dropped */
    int arc_bad;            /* the engine refused the bytes fed so far (arc_err says why) */
    char arc_err[160];
};

struct job {
    uv_work_t req;
    struct sess *s;
    struct job *next;
    enum job_kind kind;
    struct buf data;      /* WRITE/END: bytes to write; READ: bytes read */
    struct arc_msg *feed; /* WRITE: the session's engine (borrowed): data is fed to it */
    unsigned gen;         /* the session's transaction number when queued */
    int rc;               /* 0 or -ARC_E*; READ: 0 at the end, 1 with data */
    struct err e;
    /* CREATE: the envelope, copied */
    char *sender;
    char **rcpt; /* addr, notify, orcpt triples (NULLs allowed) */
    size_t nrcpt;
    char **params; /* key, value pairs */
    size_t nparams;
    char **attrs; /* key, value pairs (queue mode: arrival, client, XFORWARD) */
    size_t nattrs;
    char qid[SPOOL_ID_MAX];
    /* END: the engine's part */
    struct arc_msg *am;
    int arc_bad;     /* END: the engine refused the message's bytes: why in e */
    char *remote_ip; /* for the AAR and the A-R */
    int64_t now;
    struct sockaddr_storage client; /* for the policy: XFORWARD ADDR, else the peer */
    int client_known;
    int source; /* enum policy_source: XFORWARD SOURCE */
    struct arc_verdict v;
    enum arc_result shown; /* the verdict as reported (an exempt sealer's fail: none) */
    int judged;            /* the chain was judged for the report (policy: verify) */
    int exempt, restarted; /* newest sealer exempt; broken sets dropped, sealed as i=1 */
    int ndropped;     /* header fields dropped (our A-R, restart): the header section is rewritten
                            * (h/dnsint's rewrite_header; same field there) */
    char note[240];   /* exempt or trusted sealer: for the A-R comment and the log */
    int sealed;       /* 1 sealed, 0 skipped or not asked */
    int seal_inst;    /* the i= sealed */
    char seal_d[220]; /* "d=D s=S" when sealed */
    char why[200];    /* not sealed: why */
    int skip_set;     /* skip holds the seals_skipped reason */
    int skip;         /* enum metric_id */
    int temperror;
    int unparseable; /* on_unparseable reject: 550 5.6.0 (temperror is set too: nothing sent) */
    struct buf prepend;
    /* END: key lookups (keys.c). The first worker run commits/finishes and lists the key
     * records needed; the loop looks them up; a second worker run supplies them and
     * verifies and seals. */
    struct policy_decision d; /* the first run's (arc_begin); points into c->policy */
    int phase;                /* 0: first run; 1: keys are in (or none were needed) */
    int need_keys;            /* set by the first run: the loop must look keys up */
    int keys_cancelled;       /* the session went away during the lookups */
    int arc_done;             /* the first half ended the engine's work (permerror) */
    struct keyq *keys;
    size_t nkeys, nkeys_left;
    uint64_t data_skip; /* header rewritten into prepend: downstream skips these bytes */
    int mem;            /* END, proxy mode: the whole message is in data; no spool file */
};

/* keyq - one key record a job waits for (keys.c); the loop fills st/txt. */
struct keyq {
    struct job *j;
    struct dns_req *req;           /* NULL once answered or cancelled */
    const char *selector, *domain; /* point into j->am */
    enum arc_key_status st;
    char *txt;
    size_t n;
};

enum up_wait { UP_NONE, UP_MAIL, UP_RCPT, UP_DATA, UP_END };

struct sess {
    struct proxy *px;
    struct proxy_conf *conf; /* held from accept to free: options, policy, zone */
    struct sess *prev, *next;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* from a unix-socket listener (is_unix) */
    };
    int is_unix;
    uv_timer_t timer;
    int nclosing, closing, close_after_flush, reading, timer_on, progress;
    size_t writing;
    struct smtp_server *srv;
    char id[24];
    char ip[64];
    struct sockaddr_storage peer; /* AF_UNSPEC if unknown */
    struct ds *ds;
    /* the transaction (loop side) */
    enum up_wait wait;
    const struct smtp_cmd *cmd; /* MAIL/RCPT pending: valid until the reply */
    unsigned gen; /* bumped at every reset: late results of an old transaction are dropped */
    int txn, in_msg, mail_deferred, spool_used, end_ds, busy;
    char *sender;
    char **rcpt; /* accepted: addr, notify, orcpt triples */
    size_t nrcpt, rcpt_cap, nrcpt_tried;
    char **params;
    size_t nparams;
    char *xf_addr; /* XFORWARD ADDR of the transaction, for logs and smtp.remote-ip */
    char *xf[7];   /* queue mode: the XFORWARD attributes, kept with the message */
    int xf_present;
    uint64_t t_data, data_bytes; /* minimum data rate: DATA start (ms), bytes since */
    char ds_fail[300];           /* downstream lost inside the transaction: the 4xx owed */
    struct arc_msg *am;
    struct buf acc;
    uint64_t msg_size, t_start;
    char qid[SPOOL_ID_MAX];
    int spool_failed;
    char spool_err[200];
    struct buf prepend;
    int body_reading; /* a READ job is queued or running */
    int body_eof;
    /* proxy mode, a message of at most PROXY_MEM_MAX: kept here, never spooled */
    int mem;             /* the transaction's bytes are in acc (DATA) or mem_body (end) */
    struct buf mem_body; /* after the END job: the message as received */
    uint64_t mem_skip;   /* bytes of mem_body replaced by the rewritten header (prepend) */
    size_t mem_held;     /* this transaction's share of px->mem_held */
    /* the summary line */
    char arc_res[32];
    char seal_note[200];
    /* jobs */
    struct job *jq_head, *jq_tail;
    int job_busy;
    struct job *kjob; /* the running job while its keys are looked up (job_busy stays 1) */
    size_t jq_bytes;
    struct sess_wk wk;
};

/* proxy.c: generations. proxy_conf_ref - the current generation, referenced (a session
 * takes one at accept and reads s->conf->o / policy / zone); proxy_conf_unref - drop it
 * (freed with the last reference once it is no longer current). Loop thread only. */
struct proxy_conf *proxy_conf_ref(struct proxy *px);
struct proxy_conf *proxy_conf_hold(struct proxy_conf *c); /* one more reference to c */
void proxy_conf_unref(struct proxy_conf *c);

/* session.c */
void sess_accept(struct proxy *px, uv_stream_t *server);
void sess_pump(struct sess *s);
void sess_close(struct sess *s);
void sess_stop(struct sess *s);
void sess_ds_ready(struct sess *s);
void sess_ds_reply(struct sess *s, enum ds_op op, const struct smtp_client_reply *r);
void sess_maybe_free(struct sess *s);
void sess_ds_failed(struct sess *s, const char *reply4xx);
void sess_ds_drained(struct sess *s);
void sess_job_done(struct sess *s, struct job *j);
void proxy_sess_gone(struct proxy *px);

/* downstream.c */
struct ds *ds_open(struct sess *s);
struct ds *ds_open_for(struct proxy *px, struct proxy_conf *conf, struct sess *s, struct qdel *q);
void ds_flush(struct ds *ds);
void ds_arm(struct ds *ds, unsigned ms);
void ds_release(struct ds *ds);
void ds_kill(struct ds *ds);
/* the pool of idle downstream connections (queue mode). ds_pool_put - the owner is done
 * with ds: keep it for the next owner when it can be (reuse on, current generation, not
 * stopping, under its message limit, room in the pool; dirty: RSET first, kept on a
 * 2xx), else QUIT; detaches either way. ds_pool_take - an idle connection of conf's
 * generation now owned by q (its greeting and EHLO long done), or NULL. ds_pool_drop -
 * QUIT every idle connection (reload, stop). */
void ds_pool_put(struct ds *ds, int dirty);
struct ds *ds_pool_take(struct proxy *px, struct proxy_conf *conf, struct qdel *q);
void ds_pool_drop(struct proxy *px, const char *why);

/* work.c */
struct job *job_new(struct sess *s, enum job_kind kind);
void job_enqueue(struct sess *s, struct job *j);
void job_free(struct job *j);

/* keys.c: key lookups on the loop between the two halves of a JOB_END */
void keys_start(struct sess *s, struct job *j);
void keys_cancel(struct sess *s);
void keys_free(struct job *j);
int keys_res_open(struct proxy *px, const struct dns_res_opts *o, struct err *e);
void keys_res_close(struct proxy *px);
void job_resume(struct sess *s, struct job *j);

/* runner.c (queue mode) */
void runner_add(struct proxy *px, const char *qid, unsigned delay_ms);
void runner_start(struct proxy *px);
void runner_stop(struct proxy *px);
void runner_kill(struct proxy *px);
void runner_free(struct proxy *px);
void runner_reload(struct proxy *px);
void qdel_ds_ready(struct qdel *q);
void qdel_ds_reply(struct qdel *q, enum ds_op op, const struct smtp_client_reply *r);
void qdel_ds_failed(struct qdel *q, const char *text);
void qdel_ds_drained(struct qdel *q);
const char *qdel_id(const struct qdel *q);
void qdel_forget_ds(struct qdel *q);

/* opts.c */
int proxy_parse_addr(const char *s, struct sockaddr_storage *ss, struct err *e);
int proxy_parse_cidr(const char *s, struct cidr *c, struct err *e);
int proxy_cidr_match(const struct cidr *c, size_t n, const struct sockaddr *sa);
uint64_t proxy_now_ms(struct proxy *px);

#endif
