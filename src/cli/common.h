/* SPDX-License-Identifier: MIT */
/*
 * common - pieces shared by the CLI subcommands: reading the message, the key source
 * (a zone file, or the system resolver), and running chain validation.
 */
#ifndef ARCPROXY_CLI_COMMON_H
#define ARCPROXY_CLI_COMMON_H

#include <stdint.h>

#include "arc/arc.h"
#include "dns/zonefile.h"
#include "util/buf.h"

struct cli_keys {
    struct dns_zone *zone; /* NULL: system resolver */
};

/* cli_read_input - whole file (or stdin for NULL / "-") into b; -ARC_EIO on error. */
int cli_read_input(const char *path, struct buf *b, struct err *e);
/* cli_keys_open - load the zone file if path given; exit code on failure, else 0. */
int cli_keys_open(struct cli_keys *k, const char *zone_path);
void cli_keys_close(struct cli_keys *k);
/* cli_validate - feed msg, fetch keys, verify; 0 or a CLI exit code. */
int cli_validate(struct arc_msg *m, const struct buf *msg, struct cli_keys *k, int64_t now,
                 struct arc_verdict *v);
/* cli_parse_time - decimal seconds since the epoch; -1 if bad. */
int64_t cli_parse_time(const char *s);

#endif
