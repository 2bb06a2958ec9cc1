/* SPDX-License-Identifier: MIT */
/*
 * proxy - the daemon: libuv adapters around the SMTP server state machine (filter port),
 * the re-injection client (return port), the spool and the ARC engine (issue 3).
 *
 * STATUS (kept current for mid-way commits):
 *   DONE     stage 1: listeners (IPv4/IPv6), session limit (421 4.3.2), command/data
 *            timeouts (421 4.4.2), XFORWARD allow-list, downstream per session (reused
 *            across transactions, QUIT at the end), XFORWARD/MAIL/RCPT in lock-step with
 *            downstream's replies relayed, DATA spooled off the loop (64 KiB chunks through
 *            uv_queue_work, one job in flight per session), spooled message streamed
 *            downstream, downstream's final reply relayed, spool file removed, RSET/QUIT/
 *            close tear the downstream transaction down, SIGTERM/SIGINT drain and exit 0.
 *   DONE     stage 2: modes v/s/sv: arc_msg fed as bytes arrive; at end of data finish on
 *            a worker, key lookups on the loop (keys.c), verify+seal on a worker; ARC set
 *            and/or Authentication-Results prepended; temperror -> 451 4.7.0 (or pass
 *            unsealed with arc=temperror, on_temperror); unparseable messages passed on
 *            unsealed (or 550 5.6.0, unparseable_reject); one summary log line per message.
 *   DONE     non-blocking DNS (issue 4): the resolver (src/dns/resolver.h) on the loop,
 *            from dns.* (o->dns_config) with dns.zone_file as its source when set; cache
 *            shared by all sessions; a closing session cancels its lookups; DNS metrics
 *            collector; a reload replaces the resolver when dns.* changed. Upstream
 *            Authentication-Results with our authserv-id removed (remove_own_authres),
 *            the header section rewritten into the prepend (spool data skip).
 *   DONE     operations: metrics port (/metrics, /health), session gauge and total,
 *            pidfile, switch to user after binding, root refused without user unless
 *            allow_root, SIGHUP reload (see below).
 *   DONE     per-message metrics: messages by result, latency, verdicts, seals and skip
 *            reasons, downstream failures (docs/operations.md).
 *   DONE     configuration generations: a session, its downstream and a queue delivery
 *            hold the generation they started with; SIGHUP swaps at once.
 *   DONE     the sealing policy (src/policy) per message: client lists via XFORWARD ADDR,
 *            SOURCE, From/envelope rules, signing domain and key (maps, templates,
 *            several domains), h= with (o)/(x), c=, seal_on_broken_chain, exempt and
 *            trusted sealers, A-R and remote-IP switches, cv from our A-R.
 *   DONE     stage 3: queue mode (delivery: queue): engine, then prepend + durable
 *            commit, then 250 "queued as"; queue runner (runner.c) with its own
 *            downstream per delivery, XFORWARD/MAIL params/NOTIFY/ORCPT from the file,
 *            per-recipient results, progress by rewriting the file, backoff retry_min ..
 *            retry_max, max_age expiry, DSNs via src/queue/dsn.h (not for <> or NOTIFY
 *            without FAILURE), recovery at start, SIGTERM drain; proxy mode publishes
 *            without fsync; limits.min_data_rate (421 4.4.2 after PROXY_RATE_GRACE_MS).
 *   DONE     every configuration key (issue 5): unix-socket listeners (uv_pipe_t; 0660,
 *            stale file removed at start only when nothing accepts on it, removed at a
 *            clean exit; clients count as local: XFORWARD allowed, no peer address),
 *            helo_name, ds_data_timeout_ms (reply to the final "."), header/line/error
 *            limits (server and engine), extensions offered, unparseable_reject (550 5.6.0).
 *   DONE     proxy mode keeps messages up to PROXY_MEM_MAX in memory (no spool file); the
 *            engine is fed on the worker threads (no body hashing on the loop).
 *   DONE     queue mode reuses downstream connections (downstream.c's pool: idle
 *            timeout, message limit, RSET when needed, one generation, a kept connection
 *            lost as it is taken replaced at once); the runner's queue is a FIFO plus a
 *            heap of retries; a small message takes two jobs (OPEN, FINISH) to deliver.
 *   DONE     workers (the thread pool: 16 in queue mode, 4 in proxy mode), set before the
 *            loop's first job; the spool reuses removed files (tmp/free.N).
 *   NOT YET  the pool for proxy-mode sessions (one downstream per upstream session);
 *            PIPELINING towards downstream (lock-step only); DSN for NOTIFY=DELAY.
 *
 *   proxy_opts_default(o)          defaults (below); strings are borrowed, never freed
 *   proxy_parse_mode(s, &m)        "pass" "v" "s" "sv" -> enum proxy_mode
 *   proxy_run(o, e)                open spool and keys, listen, run the loop until SIGTERM or
 *                                  SIGINT and the drain; 0 on a clean stop
 *
 * Operations (proxy.c): start-up order is keys and zone, spool (recovered), listeners,
 * metrics port, pidfile, then the switch to o->user (the spool directory is chowned to
 * it first); as root without o->user, start fails unless o->allow_root. SIGHUP: o->reload
 * loads new options; they are checked as at start (policy with its keys, zone) and, if
 * good, become current at once; a bad one is logged and the old one stays. Sessions,
 * their downstreams and queue deliveries keep the generation they started with (see the
 * note at the top of proxy.c). The listeners, spool, metrics port, pidfile and user are
 * not reloaded (a warning says so when they changed).
 *
 * Ownership: o and its strings are borrowed for the duration of proxy_run.
 * Errors: proxy_run returns -ARC_E* with e filled for start-up failures (bad address,
 * unreadable key or zone, spool locked); once running, failures are per session (a reply
 * and a log line), never fatal.
 *
 * Spool use in proxy mode: the spool is a temporary store. Each message is published
 * with spool_commit_flags(SPOOL_NOSYNC) (END record + rename, no fsync: nothing was
 * promised yet) and removed without fsync after downstream's final reply. Leftovers found
 * at start (a crash) were never acknowledged by us without downstream's 250 first, so
 * they are removed, with a log line; a torn one is moved to corrupt/ by spool_recover.
 */
#ifndef ARCPROXY_PROXY_H
#define ARCPROXY_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"

#define PROXY_MAX_LISTEN 8
#define PROXY_MAX_CIDRS  32

enum proxy_mode {
    PROXY_MODE_PASS, /* no ARC work: relay only */
    PROXY_MODE_V,    /* verify: add Authentication-Results */
    PROXY_MODE_S,    /* seal: add an ARC set */
    PROXY_MODE_SV,   /* both */
};

enum proxy_on_temperror {
    PROXY_TEMPERROR_TEMPFAIL, /* 451 4.7.0 upstream: the MTA retries (default) */
    PROXY_TEMPERROR_PASS,     /* pass the message on unsealed, A-R says temperror */
};

struct proxy_opts;
struct arcp_config;

/* proxy_reload - how SIGHUP gets new options (main.c re-reads the config file). load fills
 * o (already holding proxy_opts_default) and sets *hold to whatever owns o's strings;
 * apply runs once the new options are in force (logging); release frees a hold, also
 * when the new options were refused. All three run on the loop thread. */
struct proxy_reload {
    int (*load)(void *ctx, struct proxy_opts *o, void **hold, struct err *e);
    void (*apply)(void *ctx, void *hold);
    void (*release)(void *ctx, void *hold);
    void *ctx;
};

#define PROXY_MAX_METRICS 4
enum proxy_delivery {
    PROXY_DELIVERY_PROXY, /* relay in lock-step, downstream's reply upstream (default) */
    PROXY_DELIVERY_QUEUE, /* 250 after a durable commit, the queue runner delivers */
};

#define PROXY_RATE_GRACE_MS 5000 /* the minimum data rate applies after this much DATA */

struct proxy_opts {
    const char *listen[PROXY_MAX_LISTEN]; /* "127.0.0.1:10025", "[::1]:10025", "unix:/path" */
    size_t nlisten;                       /* default 1: 127.0.0.1:10025 */
    const char *downstream;               /* default "127.0.0.1:10026" */
    const char *hostname;                 /* greeting and EHLO; NULL: gethostname() */
    unsigned max_sessions;                /* default 100; over it: 421 4.3.2 */
    unsigned cmd_timeout_ms;              /* upstream silent between commands; 300 s */
    unsigned data_timeout_ms;             /* upstream silent inside DATA; 180 s */
    unsigned ds_connect_timeout_ms;       /* downstream connect + greeting + EHLO; 30 s */
    unsigned ds_timeout_ms;               /* downstream reply / write progress; 300 s */
    unsigned shutdown_timeout_ms;         /* drain bound after SIGTERM; 60 s */
    size_t max_msg_size;                  /* 0: the server's default (50 MiB) */
    size_t max_rcpts;                     /* 0: the server's default (1000) */
    int bare_lf_accept;                   /* default 0: bare LF -> 550 5.5.2 */
    enum proxy_mode mode;                 /* default PROXY_MODE_PASS */
    enum proxy_on_temperror on_temperror;
    const char *authserv_id;   /* required for modes v, s, sv */
    const char *seal_domain;   /* modes s, sv */
    const char *seal_selector; /* modes s, sv */
    const char *seal_key_path; /* modes s, sv: PEM */
    /* the loaded configuration the sealing policy (src/policy) is built from; NULL: a
     * policy is made of mode and seal_* (provisional flags). Borrowed like the strings. */
    const struct arcp_config *cfg;
    const char *dns_zone_path;            /* key records; NULL: DNS (resolver below) */
    const struct arcp_config *dns_config; /* dns.* keys; NULL: resolver defaults */
    int remove_own_authres;               /* drop upstream A-R with our authserv_id (default 1) */
    const char *spool_dir;                /* default "/var/spool/arcproxy" */
    const char *xforward_allow[PROXY_MAX_CIDRS]; /* CIDRs; default 127.0.0.0/8 ::1/128 */
    size_t nxforward_allow;
    /* operations (docs/operations.md); none of these change at a reload */
    const char *metrics_listen[PROXY_MAX_METRICS]; /* HTTP /metrics, /health; none: off */
    size_t nmetrics_listen;
    const char *pidfile;               /* NULL: none */
    const char *user, *group;          /* switch after binding; NULL: stay */
    int allow_root;                    /* run as root without user */
    const struct proxy_reload *reload; /* SIGHUP; NULL: SIGHUP is logged and ignored */
    enum proxy_delivery delivery;      /* default PROXY_DELIVERY_PROXY */
    unsigned workers;                  /* thread pool size; 0: 4 (proxy), 16 (queue) */
    uint64_t retry_min_ms;             /* queue mode: first retry delay; 5 min */
    uint64_t retry_max_ms;             /* queue mode: longest retry delay; 1 h */
    uint64_t max_age_ms;               /* queue mode: then failed, DSN; 5 days */
    unsigned max_deliveries;           /* queue mode: concurrent deliveries; 10 */
    int ds_reuse;                      /* queue mode: keep downstream connections; 1 */
    unsigned ds_idle_ms;               /* queue mode: a kept connection's idle limit; 5 s */
    unsigned ds_max_msgs;              /* queue mode: messages per connection; 100 */
    uint64_t min_data_rate;            /* bytes/s over DATA after a grace period; 0: off */
    /* configuration keys (0 / NULL: the default in parentheses) */
    const char *helo_name;                /* EHLO name downstream (hostname) */
    unsigned ds_data_timeout_ms;          /* downstream's reply to the final "." (ds_timeout_ms) */
    size_t max_header_bytes;              /* header section, upstream and engine (256 KiB) */
    size_t max_header_fields;             /* (1000) */
    size_t max_line;                      /* command line with CRLF (2048) */
    unsigned max_errors;                  /* protocol errors before 421 (20) */
    int no_dsn, no_smtputf8, no_8bitmime; /* do not offer the extension (offered) */
    int unparseable_reject;               /* unparseable message: 550 5.6.0 (passed on unsealed) */
};

void proxy_opts_default(struct proxy_opts *o);
int proxy_parse_mode(const char *s, enum proxy_mode *m);
int proxy_run(const struct proxy_opts *o, struct err *e);

#endif
