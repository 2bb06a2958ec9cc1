/* SPDX-License-Identifier: MIT */
/*
 * seal - `arcproxy seal -d DOMAIN -s SELECTOR -k KEYFILE --authserv-id ID [--dns-zone FILE |
 * --dns-server ADDR[:PORT]] [--time T] [--headers h1:h2:...] [--cv-from-authres] [FILE]` (docs/cli.md): validate
 * the chain, then write the message with a new ARC set prepended to stdout, otherwise
 * byte for byte as it came. A chain with 50 sets or whose newest seal says cv=fail is
 * written unchanged with a warning (exit 0). Exit 75 when validation ends in temperror
 * (nothing written), 64 usage, 66 unreadable input or key, 70 internal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arc/key.h"
#include "cli.h"
#include "common.h"
#include "util/log.h"
#include "util/xalloc.h"

#define SEAL_MAX_HEADERS 64

static int
seal_usage(void)
{
    fprintf(stderr, "usage: arcproxy seal -d DOMAIN -s SELECTOR -k KEYFILE --authserv-id ID\n"
                    "                     [--dns-zone FILE | --dns-server ADDR[:PORT]] [--time T]\n"
                    "                     [--headers h1:h2:...]\n"
                    "                     [--cv-from-authres] [FILE]\n");
    return CLI_EX_USAGE;
}

/* split_headers - "a:b:c" into names (pointers into the copy s). */
static size_t
split_headers(char *s, const char **names, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ":"); tok && n < max; tok = strtok(NULL, ":"))
        names[n++] = tok;
    return n;
}

/* write_out - new fields (CRLF; LF when the message uses LF) then the message. */
static int
write_out(const struct buf *fields, int lf, const struct buf *msg)
{
    for (size_t i = 0; i < fields->len; i++) {
        if (lf && fields->data[i] == '\r' && i + 1 < fields->len && fields->data[i + 1] == '\n')
            continue;
        putchar(fields->data[i]);
    }
    if (msg->len)
        fwrite(msg->data, 1, msg->len, stdout);
    return fflush(stdout) == 0 && !ferror(stdout) ? CLI_EX_OK : CLI_EX_CANTCREAT;
}

int
cli_seal(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'},    {"selector", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},       {"authserv-id", required_argument, NULL, 'a'},
        {"dns-zone", required_argument, NULL, 'z'},  {"dns-server", required_argument, NULL, 'S'},
        {"time", required_argument, NULL, 't'},      {"headers", required_argument, NULL, 'H'},
        {"cv-from-authres", no_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
    };
    struct arc_signer s;
    memset(&s, 0, sizeof s);
    s.hdr_canon = s.body_canon = ARC_CANON_RELAXED;
    s.timestamp = (int64_t)time(NULL);
    const char *zone = NULL, *server = NULL, *keyfile = NULL;
    char *hcopy = NULL;
    const char *names[SEAL_MAX_HEADERS];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:k:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            s.domain = optarg;
            break;
        case 's':
            s.selector = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'a':
            s.authserv_id = optarg;
            break;
        case 'z':
            zone = optarg;
            break;
        case 'S':
            server = optarg;
            break;
        case 't':
            if ((s.timestamp = cli_parse_time(optarg)) < 0)
                return seal_usage();
            break;
        case 'H':
            free(hcopy);
            hcopy = xstrdup(optarg);
            s.headers = names;
            s.nheaders = split_headers(hcopy, names, SEAL_MAX_HEADERS);
            s.headers_literal = 1;
            break;
        case 'C':
            s.cv_from_authres = 1;
            break;
        default:
            free(hcopy);
            return seal_usage();
        }
    }
    if (!s.domain || !s.selector || !keyfile || !s.authserv_id || argc - optind > 1 ||
        (s.headers && s.nheaders == 0)) {
        free(hcopy);
        return seal_usage();
    }
    const char *path = optind < argc ? argv[optind] : NULL;
    struct err e;
    err_clear(&e);
    struct arc_privkey *key = NULL;
    struct buf msg, out;
    buf_init(&msg, 0);
    buf_init(&out, 0);
    struct cli_keys keys = {NULL};
    struct arc_msg *m = NULL;
    int rc;
    if (arc_privkey_load_file(keyfile, &key, &e) < 0) {
        log_error("%s", e.text);
        rc = CLI_EX_NOINPUT;
        goto out;
    }
    s.key = key;
    if (cli_read_input(path, &msg, &e) < 0) {
        log_error("%s", e.text);
        rc = CLI_EX_NOINPUT;
        goto out;
    }
    if ((rc = cli_keys_open(&keys, zone, server)) != 0)
        goto out;
    struct arc_opts opts;
    arc_opts_default(&opts);
    opts.want_seal = 1;
    opts.seal_body_canon = s.body_canon;
    m = arc_msg_new(&opts);
    struct arc_verdict v;
    if ((rc = cli_validate(m, &msg, &keys, s.timestamp, &v)) != 0)
        goto out;
    if (v.result == ARC_RESULT_PERMERROR) {
        log_error("not sealed: %s", v.reason);
        rc = CLI_EX_DATAERR;
        goto out;
    }
    int sr = arc_msg_seal(m, &s, &v, &out, &e);
    if (sr == -ARC_ETEMP) {
        log_error("not sealed, try again later: %s (%s)", e.text, v.reason);
        rc = CLI_EX_TEMPFAIL;
    } else if (sr < 0) {
        log_error("not sealed: %s", e.text);
        rc = CLI_EX_SOFTWARE;
    } else {
        if (sr == ARC_SEAL_SKIPPED)
            log_warn("message not sealed: %s", e.text);
        rc = write_out(&out, arc_msg_uses_lf(m), &msg);
    }
out:
    arc_msg_free(m);
    cli_keys_close(&keys);
    arc_privkey_free(key);
    buf_free(&msg);
    buf_free(&out);
    free(hcopy);
    return rc;
}
