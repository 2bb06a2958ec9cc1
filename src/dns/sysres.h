/* SPDX-License-Identifier: MIT */
/*
 * sysres - a blocking TXT lookup through the system resolver (/etc/resolv.conf) with
 * ldns, for the command line only; the proxy uses the non-blocking resolver.
 *
 *   dns_sync_txt(name, out, e)  1 found (strings of the first TXT RR joined, appended to
 *                               out), 0 no such record (NXDOMAIN/NODATA), -ARC_ETEMP on
 *                               SERVFAIL, timeout or no resolver.
 */
#ifndef ARCPROXY_DNS_SYSRES_H
#define ARCPROXY_DNS_SYSRES_H

#include "../util/buf.h"
#include "../util/err.h"

int dns_sync_txt(const char *name, struct buf *out, struct err *e);
/* dns_txt_join - append the character-strings of a TXT RR's rdata (ldns_rr *) to out. */
int dns_txt_join(const void *rr, struct buf *out);

#endif
