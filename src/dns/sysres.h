/* SPDX-License-Identifier: MIT */
/*
 * sysres - a blocking TXT lookup through the system's resolvers (/etc/resolv.conf), for
 * callers without a loop of their own (worker threads). It is dns_txt_sync (resolver.h)
 * with the default options: the same wire handling, matching and TCP fallback; no cache
 * survives the call.
 *
 *   dns_sync_txt(name, out, e)  1 found (strings of the TXT RR joined, appended to
 *                               out), 0 no such record (NXDOMAIN/NODATA), -ARC_ETEMP on
 *                               SERVFAIL, timeout or no resolver, -ARC_EINVAL bad name.
 *
 * Threads: any; each call runs its own libuv loop on the calling thread.
 */
#ifndef ARCPROXY_DNS_SYSRES_H
#define ARCPROXY_DNS_SYSRES_H

#include "../util/buf.h"
#include "../util/err.h"

int dns_sync_txt(const char *name, struct buf *out, struct err *e);

#endif
