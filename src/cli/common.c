/* SPDX-License-Identifier: MIT */
/* common - shared CLI pieces; see common.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "util/log.h"
#include "util/xalloc.h"

int
cli_read_input(const char *path, struct buf *b, struct err *e)
{
    FILE *f = stdin;
    if (path && strcmp(path, "-") != 0 && !(f = fopen(path, "rb")))
        return err_set(e, ARC_EIO, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(b, chunk, n) < 0) {
            rc = err_set(e, ARC_ERANGE, "%s: message too large", path ? path : "stdin");
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = err_set(e, ARC_EIO, "%s: read error", path ? path : "stdin");
    if (f != stdin)
        fclose(f);
    return rc;
}

int
cli_keys_open(struct cli_keys *k, const char *zone_path, const char *dns_server)
{
    k->zone = NULL;
    dns_res_opts_default(&k->dns);
    struct err e;
    err_clear(&e);
    if (zone_path && dns_server) {
        log_error("--dns-zone and --dns-server exclude each other");
        return CLI_EX_USAGE;
    }
    if (dns_server) {
        if (dns_res_parse_server(dns_server, &k->dns.servers[0], &e) < 0) {
            log_error("--dns-server %s", e.text);
            return CLI_EX_USAGE;
        }
        k->dns.nservers = 1;
    }
    if (!zone_path)
        return 0;
    int rc = dns_zone_load(zone_path, &k->zone, &e);
    if (rc < 0) {
        log_error("%s", e.text[0] ? e.text : zone_path);
        return rc == -ARC_EIO ? CLI_EX_NOINPUT : CLI_EX_DATAERR;
    }
    k->dns.zone = k->zone;
    return 0;
}

void
cli_keys_close(struct cli_keys *k)
{
    k->zone = dns_zone_free(k->zone);
    k->dns.zone = NULL;
}

int
cli_fetch_txt(struct cli_keys *k, const char *name, struct buf *out, struct err *e)
{
    return dns_txt_sync(&k->dns, name, out, e);
}

/* one key lookup of cli_validate, in flight on the private loop */
struct fetch {
    struct arc_msg *m;
    const char *selector, *domain;
    char name[600];
    int done;
};

static void
fetch_cb(void *arg, enum dns_status st, const char *txt, size_t n, const char *why)
{
    struct fetch *f = arg;
    enum arc_key_status ks = st == DNS_FOUND      ? ARC_KEY_FOUND
                             : st == DNS_NOTFOUND ? ARC_KEY_MISSING
                             : st == DNS_TEMPFAIL ? ARC_KEY_TEMPFAIL
                                                  : ARC_KEY_PERMFAIL;
    if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL)
        log_warn("key %s: %s", f->name, why);
    arc_msg_key_supply(f->m, f->selector, f->domain, ks, txt, n);
    f->done = 1;
}

/* fetch_keys - every key the message needs, concurrently, on a private loop. */
static int
fetch_keys(struct arc_msg *m, struct cli_keys *k, const struct arc_keyreq *reqs, size_t n)
{
    uv_loop_t loop;
    struct dns_res *r = NULL;
    struct err e;
    err_clear(&e);
    if (uv_loop_init(&loop) < 0)
        return CLI_EX_SOFTWARE;
    if (dns_res_new(&loop, &k->dns, &r, &e) < 0) {
        log_error("%s", e.text);
        uv_loop_close(&loop);
        return CLI_EX_SOFTWARE;
    }
    struct fetch *f = xcalloc(n ? n : 1, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        f[i] = (struct fetch){m, reqs[i].selector, reqs[i].domain, "", 0};
        snprintf(f[i].name, sizeof f[i].name, "%s._domainkey.%s", reqs[i].selector, reqs[i].domain);
        dns_res_txt(r, f[i].name, fetch_cb, &f[i], NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    dns_res_close(r); /* anything still pending becomes a temperror */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(f);
    return 0;
}

int
cli_validate(struct arc_msg *m, const struct buf *msg, struct cli_keys *k, int64_t now,
             struct arc_verdict *v)
{
    struct err e;
    err_clear(&e);
    if (arc_msg_feed(m, msg->data ? msg->data : "", msg->len, &e) < 0 ||
        arc_msg_finish(m, &e) < 0) {
        memset(v, 0, sizeof *v);
        v->result = ARC_RESULT_PERMERROR;
        snprintf(v->reason, sizeof v->reason, "message cannot be parsed: %.120s", e.text);
        return 0;
    }
    struct arc_keyreq reqs[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(m, reqs, ARC_MAX_KEYREQS);
    int rc = fetch_keys(m, k, reqs, n);
    if (rc)
        return rc;
    if (arc_msg_verify(m, now, v, &e) < 0) {
        log_error("%s", e.text);
        return CLI_EX_SOFTWARE;
    }
    return 0;
}

int64_t
cli_parse_time(const char *s)
{
    char *end;
    errno = 0;
    long long t = strtoll(s, &end, 10);
    if (errno || end == s || *end || t < 0)
        return -1;
    return t;
}
