/* SPDX-License-Identifier: MIT */
/*
 * opts - proxy options: defaults, the mode names, "host:port" and CIDR parsing, the
 * XFORWARD allow-list match.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "proxy_int.h"

void
proxy_opts_default(struct proxy_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen[0] = "127.0.0.1:10025";
    o->nlisten = 1;
    o->downstream = "127.0.0.1:10026";
    o->max_sessions = 100;
    o->cmd_timeout_ms = 300 * 1000;
    o->data_timeout_ms = 180 * 1000;
    o->ds_connect_timeout_ms = 30 * 1000;
    o->ds_timeout_ms = 300 * 1000;
    o->shutdown_timeout_ms = 60 * 1000;
    o->mode = PROXY_MODE_PASS;
    o->on_temperror = PROXY_TEMPERROR_TEMPFAIL;
    o->remove_own_authres = 1;
    o->spool_dir = "/var/spool/arcproxy";
    o->xforward_allow[0] = "127.0.0.0/8";
    o->xforward_allow[1] = "::1/128";
    o->nxforward_allow = 2;
    o->delivery = PROXY_DELIVERY_PROXY;
    o->retry_min_ms = 300 * 1000;
    o->retry_max_ms = 3600 * 1000;
    o->max_age_ms = 5ull * 86400 * 1000;
    o->max_deliveries = 10;
    o->ds_reuse = 1;
    o->ds_idle_ms = 5000;
    o->ds_max_msgs = 100;
    o->min_data_rate = 0;
}

int
proxy_parse_mode(const char *s, enum proxy_mode *m)
{
    static const struct {
        const char *name;
        enum proxy_mode mode;
    } names[] = {{"pass", PROXY_MODE_PASS},
                 {"v", PROXY_MODE_V},
                 {"s", PROXY_MODE_S},
                 {"sv", PROXY_MODE_SV},
                 {"vs", PROXY_MODE_SV}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *m = names[i].mode;
            return 0;
        }
    }
    return -ARC_EINVAL;
}

/* proxy_parse_addr - "1.2.3.4:25", "[::1]:25" (or "::1:25" is refused: brackets needed). */
int
proxy_parse_addr(const char *s, struct sockaddr_storage *ss, struct err *e)
{
    char host[128];
    const char *colon, *hs = s;
    size_t hn;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return err_set(e, ARC_EINVAL, "%s: want [IPv6]:port", s);
        hs = s + 1;
        hn = (size_t)(end - hs);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return err_set(e, ARC_EINVAL, "%s: want IPv4:port or [IPv6]:port", s);
        hn = (size_t)(colon - s);
    }
    if (hn == 0 || hn >= sizeof host)
        return err_set(e, ARC_EINVAL, "%s: bad host", s);
    memcpy(host, hs, hn);
    host[hn] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return err_set(e, ARC_EINVAL, "%s: bad port", s);
    if (s[0] == '[') {
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0)
            return err_set(e, ARC_EINVAL, "%s: bad IPv6 address", s);
    } else if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0) {
        return err_set(e, ARC_EINVAL, "%s: bad IPv4 address", s);
    }
    return 0;
}

int
proxy_parse_cidr(const char *s, struct cidr *c, struct err *e)
{
    char host[128];
    const char *slash = strchr(s, '/');
    size_t hn = slash ? (size_t)(slash - s) : strlen(s);
    if (hn == 0 || hn >= sizeof host)
        return err_set(e, ARC_EINVAL, "%s: bad CIDR", s);
    memcpy(host, s, hn);
    host[hn] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, host, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, host, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return err_set(e, ARC_EINVAL, "%s: bad address in CIDR", s);
    }
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || bits < 0 || (unsigned long)bits > c->bits)
            return err_set(e, ARC_EINVAL, "%s: bad prefix length", s);
        c->bits = (unsigned)bits;
    }
    return 0;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* proxy_cidr_match - sa (IPv4, IPv6 or IPv4-mapped IPv6) is inside one of c[0..n). */
int
proxy_cidr_match(const struct cidr *c, size_t n, const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam;
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        fam = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            memcpy(a, in6->s6_addr + 12, 4);
            fam = AF_INET;
        } else {
            memcpy(a, in6->s6_addr, 16);
            fam = AF_INET6;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (c[i].family == fam && prefix_eq(a, c[i].addr, c[i].bits))
            return 1;
    return 0;
}

uint64_t
proxy_now_ms(struct proxy *px)
{
    return uv_now(px->loop);
}
