/* SPDX-License-Identifier: MIT */
/* common - shared CLI pieces; see common.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "dns/sysres.h"
#include "util/log.h"

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
cli_keys_open(struct cli_keys *k, const char *zone_path)
{
    k->zone = NULL;
    if (!zone_path)
        return 0;
    struct err e;
    err_clear(&e);
    int rc = dns_zone_load(zone_path, &k->zone, &e);
    if (rc < 0) {
        log_error("%s", e.text[0] ? e.text : zone_path);
        return rc == -ARC_EIO ? CLI_EX_NOINPUT : CLI_EX_DATAERR;
    }
    return 0;
}

void
cli_keys_close(struct cli_keys *k)
{
    k->zone = dns_zone_free(k->zone);
}

static void
fetch_key(struct arc_msg *m, struct cli_keys *k, const struct arc_keyreq *r)
{
    char name[600];
    struct buf txt;
    struct err e;
    buf_init(&txt, 65536);
    err_clear(&e);
    snprintf(name, sizeof name, "%s._domainkey.%s", r->selector, r->domain);
    int rc = k->zone ? dns_zone_lookup(k->zone, name, &txt) : dns_sync_txt(name, &txt, &e);
    enum arc_key_status st = rc > 0             ? ARC_KEY_FOUND
                             : rc == 0          ? ARC_KEY_MISSING
                             : rc == -ARC_ETEMP ? ARC_KEY_TEMPFAIL
                                                : ARC_KEY_PERMFAIL;
    if (rc < 0)
        log_warn("key %s: %s", name, e.text[0] ? e.text : "lookup failed");
    arc_msg_key_supply(m, r->selector, r->domain, st, txt.data, txt.len);
    buf_free(&txt);
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
    for (size_t i = 0; i < n; i++)
        fetch_key(m, k, &reqs[i]);
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
