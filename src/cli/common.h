/* SPDX-License-Identifier: MIT */
/*
 * common - pieces shared by the CLI subcommands: reading the message, the key source
 * (a zone file, one DNS server given with --dns-server, or the system resolvers of
 * /etc/resolv.conf), and running chain validation. Key lookups go through the
 * non-blocking resolver (src/dns/resolver.h) on a private loop: all keys a message
 * needs are fetched at once.
 */
#ifndef ARCPROXY_CLI_COMMON_H
#define ARCPROXY_CLI_COMMON_H

#include <stdint.h>

#include "arc/arc.h"
#include "dns/resolver.h"
#include "dns/zonefile.h"
#include "util/buf.h"

struct cli_keys {
    struct dns_zone *zone;   /* NULL: DNS */
    struct dns_res_opts dns; /* servers: --dns-server, or none (resolv.conf) */
};

/* cli_read_input - whole file (or stdin for NULL / "-") into b; -ARC_EIO on error. */
int cli_read_input(const char *path, struct buf *b, struct err *e);
/* cli_keys_open - load the zone file if zone_path is given, else use the DNS server
 * (ADDR, ADDR:PORT, [IPv6]:PORT) if given, else /etc/resolv.conf. Exit code on
 * failure (64 both given or a bad address, 66/65 zone unreadable/bad), else 0. */
int cli_keys_open(struct cli_keys *k, const char *zone_path, const char *dns_server);
/* cli_fetch_txt - one TXT record through k: 1 found (appended to out), 0 missing,
 * -ARC_ETEMP, -ARC_EINVAL (bad name); detail in e. */
int cli_fetch_txt(struct cli_keys *k, const char *name, struct buf *out, struct err *e);
void cli_keys_close(struct cli_keys *k);
/* cli_validate - feed msg, fetch keys, verify; 0 or a CLI exit code. */
int cli_validate(struct arc_msg *m, const struct buf *msg, struct cli_keys *k, int64_t now,
                 struct arc_verdict *v);
/* cli_parse_time - decimal seconds since the epoch; -1 if bad. */
int64_t cli_parse_time(const char *s);

#endif
