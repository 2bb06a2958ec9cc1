/* SPDX-License-Identifier: MIT */
/*
 * resolver_config - the dns.* configuration keys into struct dns_res_opts; see
 * resolver.h (dns_res_opts_from_config). Checks what the key table's ranges cannot:
 * edns_size 1..511, min above max, more servers than DNS_RES_MAX_SERVERS.
 */
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "resolver.h"

/* secs - milliseconds to whole seconds, rounded up (a 1500 ms minimum stays >= 1.5 s). */
static uint32_t
secs(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

int
dns_res_opts_from_config(const struct arcp_config *c, const struct dns_zone *zone,
                         struct dns_res_opts *o, struct err *e)
{
    dns_res_opts_default(o);
    o->zone = zone;
    if (c->dns.servers.n > DNS_RES_MAX_SERVERS)
        return err_set(e, ARC_EINVAL, "dns.servers: at most %d servers", DNS_RES_MAX_SERVERS);
    for (size_t i = 0; i < c->dns.servers.n; i++) {
        const struct cfg_addr *a = &c->dns.servers.v[i];
        char text[128];
        if (a->kind == CFG_ADDR_IP6)
            snprintf(text, sizeof text, "[%s]:%u", a->host, a->port);
        else
            snprintf(text, sizeof text, "%s:%u", a->host, a->port);
        int rc = dns_res_parse_server(text, &o->servers[i], e);
        if (rc < 0)
            return rc;
    }
    o->nservers = c->dns.servers.n;
    o->timeout_ms = (unsigned)c->dns.timeout;
    o->attempts = (unsigned)c->dns.attempts;
    o->total_ms = (unsigned)c->dns.lookup_timeout;
    if (c->dns.edns_size > 0 && c->dns.edns_size < 512)
        return err_set(e, ARC_EINVAL, "dns.edns_size %d: want 0 or 512..65535", c->dns.edns_size);
    o->edns_size = (unsigned)c->dns.edns_size;
    o->cache_max = (size_t)c->dns.cache_size;
    o->ttl_min_s = secs(c->dns.cache_min_ttl);
    o->ttl_max_s = secs(c->dns.cache_max_ttl);
    o->neg_ttl_min_s = secs(c->dns.negative_min_ttl);
    o->neg_ttl_max_s = secs(c->dns.negative_max_ttl);
    if (o->ttl_min_s > o->ttl_max_s)
        return err_set(e, ARC_EINVAL, "dns.cache_min_ttl is above dns.cache_max_ttl");
    if (o->neg_ttl_min_s > o->neg_ttl_max_s)
        return err_set(e, ARC_EINVAL, "dns.negative_min_ttl is above dns.negative_max_ttl");
    return 0;
}
