/* SPDX-License-Identifier: MIT */
/*
 * zonefile - TXT records from a DNS master file (BIND format), read with ldns's zone
 * parser: the offline key source of `--dns-zone` and of `dns.zone_file`.
 *
 *   dns_zone_load(path, &z, e)     read the file; every TXT record kept, by owner name
 *   dns_zone_lookup(z, name, out)  TXT for name (trailing dot optional, any case):
 *                                  1 found (all character-strings of the first TXT RR
 *                                  joined, appended to out), 0 no such record
 *   dns_zone_free(z)               NULL is fine; returns NULL
 *
 * $ORIGIN, $TTL, relative names and multi-string TXT RRs work as ldns reads them.
 * Errors: -ARC_EIO (cannot open), -ARC_EINVAL (parse error: err names file:line).
 */
#ifndef ARCPROXY_DNS_ZONEFILE_H
#define ARCPROXY_DNS_ZONEFILE_H

#include "../util/buf.h"
#include "../util/err.h"

struct dns_zone;

int dns_zone_load(const char *path, struct dns_zone **z, struct err *e);
int dns_zone_lookup(const struct dns_zone *z, const char *name, struct buf *out);
struct dns_zone *dns_zone_free(struct dns_zone *z);

#endif
