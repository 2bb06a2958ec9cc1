/* SPDX-License-Identifier: MIT */
/*
 * verify - `arcproxy verify [--dns-zone FILE | --dns-server ADDR[:PORT]] [FILE]`: validate
 * the ARC chain of one message (docs/cli.md); keys from the zone file, the DNS server, or
 * the resolvers of /etc/resolv.conf. stdout: "arc=RESULT", then "reason: ...", "oldest-pass: N",
 * "instances: N". Exit 0 pass/none, 1 fail/permerror, 75 temperror, 64 usage, 66 input.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common.h"
#include "util/log.h"

static int
verify_usage(void)
{
    fprintf(stderr, "usage: arcproxy verify [--dns-zone FILE | --dns-server ADDR[:PORT]]\n"
                    "                       [--time T] [FILE]\n");
    return CLI_EX_USAGE;
}

int
cli_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dns-zone", required_argument, NULL, 'z'},
        {"dns-server", required_argument, NULL, 'S'},
        {"time", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *zone = NULL, *server = NULL;
    int64_t now = (int64_t)time(NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'z':
            zone = optarg;
            break;
        case 'S':
            server = optarg;
            break;
        case 't':
            if ((now = cli_parse_time(optarg)) < 0)
                return verify_usage();
            break;
        default:
            return verify_usage();
        }
    }
    if (argc - optind > 1)
        return verify_usage();
    const char *path = optind < argc ? argv[optind] : NULL;
    struct buf msg;
    struct err e;
    buf_init(&msg, 0);
    err_clear(&e);
    if (cli_read_input(path, &msg, &e) < 0) {
        log_error("%s", e.text);
        buf_free(&msg);
        return CLI_EX_NOINPUT;
    }
    struct cli_keys keys;
    int rc = cli_keys_open(&keys, zone, server);
    if (rc) {
        buf_free(&msg);
        return rc;
    }
    struct arc_msg *m = arc_msg_new(NULL);
    struct arc_verdict v;
    rc = cli_validate(m, &msg, &keys, now, &v);
    if (rc == 0) {
        printf("arc=%s\n", arc_result_name(v.result));
        printf("reason: %s\n", v.reason);
        printf("oldest-pass: %d\n", v.oldest_pass);
        printf("instances: %d\n", v.instances);
        rc = v.result == ARC_RESULT_PASS || v.result == ARC_RESULT_NONE ? CLI_EX_OK
             : v.result == ARC_RESULT_TEMPERROR                         ? CLI_EX_TEMPFAIL
                                                                        : CLI_EX_FAIL;
    }
    arc_msg_free(m);
    cli_keys_close(&keys);
    buf_free(&msg);
    return rc;
}
