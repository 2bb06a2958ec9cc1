/* SPDX-License-Identifier: MIT */
/*
 * value - parse, format and free one configuration value by its key's type (see
 * config_int.h). Parsing works on (pointer, length) text taken from a YAML scalar or a
 * table default, writes the destination only on success, and says what is wrong in
 * why[] (the caller adds position and key). Formatting writes what the parser reads back.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"
#include "config_int.h"

_Static_assert(sizeof(enum cfg_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");

#define FIELD(base, k, type)  ((type *)((char *)(base) + (k)->off))
#define CFIELD(base, k, type) ((const type *)((const char *)(base) + (k)->off))

/* why - printf into the reason buffer; returns -1 for "return why(...)". */
static int __attribute__((format(printf, 3, 4))) why(char *w, size_t wsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w, wsz, fmt, ap);
    va_end(ap);
    return -1;
}

/* shown - s (n bytes) escaped for an error message; long values are cut at 80 bytes
 * and end in "...". */
static const char *
shown(char *out, size_t outsz, const char *s, size_t n)
{
    log_escape(out, outsz - 3, s, n > 80 ? 80 : n);
    if (n > 80)
        strcat(out, "...");
    return out;
}

/* digits - [0-9]+ at s[0..n) into *v; -1 if not all digits, -2 on overflow. */
static int
digits(const char *s, size_t n, unsigned long long *v)
{
    unsigned long long x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (~0ULL - d) / 10)
            return -2;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

void
cfg_format_size(unsigned long long v, struct buf *out)
{
    static const char units[] = "GMK";
    for (int i = 0; i < 3 && v; i++) {
        unsigned long long m = 1ULL << (10 * (3 - i));
        if (v % m == 0) {
            buf_printf(out, "%llu%c", v / m, units[i]);
            return;
        }
    }
    buf_printf(out, "%llu", v);
}

void
cfg_format_duration(unsigned long long ms, struct buf *out)
{
    static const struct {
        unsigned long long ms;
        const char *unit;
    } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof u / sizeof u[0] && ms; i++) {
        if (ms % u[i].ms == 0) {
            buf_printf(out, "%llu%s", ms / u[i].ms, u[i].unit);
            return;
        }
    }
    buf_printf(out, ms ? "%llums" : "%llu", ms);
}

/* fmt_num - a number in the key's unit, for range messages. */
static void
fmt_num(const struct cfg_key *k, long long v, struct buf *out)
{
    if (k->type == CFG_T_SIZE)
        cfg_format_size((unsigned long long)v, out);
    else if (k->type == CFG_T_DURATION)
        cfg_format_duration((unsigned long long)v, out);
    else
        buf_printf(out, "%lld", v);
}

/* range - check v against k's min/max; text is the value as written. */
static int
range(const struct cfg_key *k, int over, long long v, const char *s, size_t n, char *w, size_t wsz)
{
    struct buf b;
    int rc = 0;
    char sh[96];
    buf_init(&b, 0);
    if (over || v > k->max) {
        fmt_num(k, k->max, &b);
        rc = why(w, wsz, "%s is above the maximum %s", shown(sh, sizeof sh, s, n), b.data);
    } else if (v < k->min) {
        fmt_num(k, k->min, &b);
        rc = why(w, wsz, "%s is below the minimum %s", shown(sh, sizeof sh, s, n), b.data);
    }
    buf_free(&b);
    return rc;
}

static int
parse_int(const struct cfg_key *k, const char *s, size_t n, long long *v, char *w, size_t wsz)
{
    char sh[96];
    size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    int neg = i && s[0] == '-';
    unsigned long long x;
    int rc = digits(s + i, n - i, &x);
    if (rc == -1)
        return why(w, wsz, "\"%s\" is not an integer", shown(sh, sizeof sh, s, n));
    if (rc == -2 || x > (unsigned long long)LLONG_MAX)
        return range(k, !neg, neg ? LLONG_MIN : LLONG_MAX, s, n, w, wsz);
    *v = neg ? -(long long)x : (long long)x;
    return range(k, 0, *v, s, n, w, wsz);
}

/* parse_unit - number then a unit from units[] (NULL-terminated, with multipliers). */
static int
parse_unit(const struct cfg_key *k, const char *s, size_t n, const char *const *units,
           const unsigned long long *mult, unsigned long long bare, long long *v)
{
    size_t d = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    unsigned long long x = 0, m = 0;
    if (d == 0)
        return -1;
    if (d == n) {
        m = bare;
    } else {
        for (size_t i = 0; units[i]; i++) {
            if (strlen(units[i]) == n - d && strncasecmp(units[i], s + d, n - d) == 0)
                m = mult[i];
        }
        if (!m)
            return -1;
    }
    int rc = digits(s, d, &x);
    if (rc == -2 || (x && m > ~0ULL / x) || x * m > (unsigned long long)k->max)
        return -2;
    *v = (long long)(x * m);
    return 0;
}

static int
parse_size(const struct cfg_key *k, const char *s, size_t n, long long *v, char *w, size_t wsz)
{
    static const char *const units[] = {"K", "M", "G", NULL};
    static const unsigned long long mult[] = {1ULL << 10, 1ULL << 20, 1ULL << 30};
    char sh[96];
    int rc = parse_unit(k, s, n, units, mult, 1, v);
    if (rc == -1)
        return why(w, wsz, "\"%s\" is not a size (a number of bytes, optionally with K, M or G)",
                   shown(sh, sizeof sh, s, n));
    return range(k, rc == -2, *v, s, n, w, wsz);
}

static int
parse_duration(const struct cfg_key *k, const char *s, size_t n, long long *v, char *w, size_t wsz)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d", NULL};
    static const unsigned long long mult[] = {1, 1000, 60000, 3600000, 86400000};
    char sh[96];
    int rc = parse_unit(k, s, n, units, mult, 1000, v);
    if (rc == -1)
        return why(w, wsz, "\"%s\" is not a duration (a number with a unit: ms, s, m, h or d)",
                   shown(sh, sizeof sh, s, n));
    return range(k, rc == -2, *v, s, n, w, wsz);
}

static int
parse_bool(const char *s, size_t n, int *v, char *w, size_t wsz)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    char sh[96];
    for (size_t i = 0; i < 3; i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
            *v = 1;
            return 0;
        }
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
            *v = 0;
            return 0;
        }
    }
    return why(w, wsz, "\"%s\" is not true or false", shown(sh, sizeof sh, s, n));
}

static int
parse_enum(const struct cfg_key *k, const char *s, size_t n, int *v, char *w, size_t wsz)
{
    char sh[96];
    struct buf b;
    for (int i = 0; k->values[i]; i++) {
        if (strlen(k->values[i]) == n && memcmp(k->values[i], s, n) == 0) {
            *v = i;
            return 0;
        }
    }
    buf_init(&b, 0);
    for (int i = 0; k->values[i]; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", k->values[i]);
    why(w, wsz, "\"%s\" is not one of %s", shown(sh, sizeof sh, s, n), b.data);
    buf_free(&b);
    return -1;
}

/* is_domain - letters, digits, '-', '_' in dot-separated labels of 1..63 bytes. */
static int
is_domain(const char *s, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

char *
cfg_hostname(void)
{
    char h[256];
    if (gethostname(h, sizeof h) != 0)
        return xstrdup("localhost");
    h[sizeof h - 1] = '\0';
    return xstrdup(is_domain(h, strlen(h)) ? h : "localhost");
}

/* hdrspec_ok - "(o)from:(x)subject list-id": names of printable ASCII without ':',
 * each with an optional (o) or (x) prefix, separated by ':' or spaces. */
static int
hdrspec_ok(const char *s, size_t n, char *w, size_t wsz)
{
    char sh[96];
    size_t i = 0, names = 0;
    while (i < n) {
        if (s[i] == ':' || s[i] == ' ') {
            i++;
            continue;
        }
        if (n - i >= 3 && s[i] == '(' && (s[i + 1] == 'o' || s[i + 1] == 'x') && s[i + 2] == ')')
            i += 3;
        size_t b = i;
        while (i < n && s[i] != ':' && s[i] != ' ' && (unsigned char)s[i] > 32 &&
               (unsigned char)s[i] < 127 && s[i] != '(')
            i++;
        if (i == b || (i < n && s[i] != ':' && s[i] != ' '))
            return why(w, wsz, "\"%s\" is not a header field list (want name, (o)name or (x)name)",
                       shown(sh, sizeof sh, s, n));
        names++;
    }
    if (names == 0)
        return why(w, wsz, "an empty header field name");
    return 0;
}

/* keyspec_ok - "domain selector key_file", separated by spaces. */
static int
keyspec_ok(const char *s, size_t n, char *w, size_t wsz)
{
    char sh[96], sh2[96];
    const char *f[4];
    size_t fl[4], nf = 0, i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n)
            break;
        if (nf == 4)
            break;
        f[nf] = s + i;
        while (i < n && s[i] != ' ')
            i++;
        fl[nf] = (size_t)(s + i - f[nf]);
        nf++;
    }
    if (nf != 3)
        return why(w, wsz, "\"%s\" is not \"domain selector key_file\"",
                   shown(sh, sizeof sh, s, n));
    if (!is_domain(f[0], fl[0]))
        return why(w, wsz, "\"%s\": \"%s\" is not a domain name", shown(sh, sizeof sh, s, n),
                   shown(sh2, sizeof sh2, f[0], fl[0]));
    if (!is_domain(f[1], fl[1]))
        return why(w, wsz, "\"%s\": \"%.*s\" is not a selector", shown(sh, sizeof sh, s, n),
                   (int)fl[1], f[1]);
    return 0;
}

static int
parse_string(const struct cfg_key *k, const char *s, size_t n, char **v, char *w, size_t wsz)
{
    char sh[96];
    if (n > CFG_STRING_MAX)
        return why(w, wsz, "is longer than %d bytes", CFG_STRING_MAX);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return why(w, wsz, "\"%s\" contains a control character", shown(sh, sizeof sh, s, n));
    }
    if (n == 0 && (k->flags & CFG_F_NONEMPTY))
        return why(w, wsz, "must not be empty");
    if (n == 0 && (k->flags & CFG_F_HOSTDEF)) {
        *v = cfg_hostname();
        return 0;
    }
    if (n > 0 && (k->flags & CFG_F_DOMAIN) && !is_domain(s, n))
        return why(w, wsz, "\"%s\" is not a domain name", shown(sh, sizeof sh, s, n));
    if ((k->flags & CFG_F_KEYSPEC) && keyspec_ok(s, n, w, wsz) != 0)
        return -1;
    if ((k->flags & CFG_F_HDRSPEC) && hdrspec_ok(s, n, w, wsz) != 0)
        return -1;
    *v = xstrndup(s, n);
    return 0;
}

/* parse_port - ":PORT" remainder (p, n) into *port. */
static int
parse_port(const char *p, size_t n, unsigned *port)
{
    unsigned long long x;
    if (n < 2 || p[0] != ':' || digits(p + 1, n - 1, &x) != 0 || x < 1 || x > 65535)
        return -1;
    *port = (unsigned)x;
    return 0;
}

static void
addr_text(struct cfg_addr *a)
{
    struct buf b;
    buf_init(&b, 0);
    if (a->kind == CFG_ADDR_UNIX)
        buf_printf(&b, "unix:%s", a->host);
    else if (a->kind == CFG_ADDR_IP6)
        buf_printf(&b, "[%s]:%u", a->host, a->port);
    else
        buf_printf(&b, "%s:%u", a->host, a->port);
    a->text = buf_take(&b, NULL);
}

/* ip_host - an IP literal (n bytes) in canonical form; NULL if not one of family. */
static char *
ip_host(int family, const char *s, size_t n)
{
    char in[INET6_ADDRSTRLEN + 1], out[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (n == 0 || n >= sizeof in || memchr(s, '\0', n))
        return NULL;
    memcpy(in, s, n);
    in[n] = '\0';
    if (inet_pton(family, in, bin) != 1 || !inet_ntop(family, bin, out, sizeof out))
        return NULL;
    return xstrdup(out);
}

static int
parse_addr(const struct cfg_key *k, const char *s, size_t n, struct cfg_addr *a, char *w,
           size_t wsz)
{
    static const char want[] = "IPv4:port, [IPv6]:port or unix:/path";
    char sh[96];
    const char *colon = NULL;
    size_t hn;
    memset(a, 0, sizeof *a);
    shown(sh, sizeof sh, s, n);
    if (n >= 5 && memcmp(s, "unix:", 5) == 0) {
        if (k->flags & CFG_F_NOUNIX)
            return why(w, wsz, "\"%s\": a unix socket is not allowed here", sh);
        if (n == 5 || n - 5 >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
            memchr(s + 5, '\0', n - 5))
            return why(w, wsz, "\"%s\": a unix socket path needs 1 to %zu bytes", sh,
                       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        a->kind = CFG_ADDR_UNIX;
        a->host = xstrndup(s + 5, n - 5);
        addr_text(a);
        return 0;
    }
    if (n > 0 && s[0] == '[') {
        const char *end = memchr(s, ']', n);
        if (!end || !(a->host = ip_host(AF_INET6, s + 1, (size_t)(end - s - 1))))
            return why(w, wsz, "\"%s\" is not an address (want %s)", sh, want);
        a->kind = CFG_ADDR_IP6;
        colon = end + 1;
    } else if (k->port && (a->host = ip_host(AF_INET6, s, n)) != NULL) {
        a->kind = CFG_ADDR_IP6; /* bare IPv6 without a port: allowed where ports default */
        colon = s + n;
    } else {
        colon = NULL;
        for (size_t i = n; i > 0; i--) {
            if (s[i - 1] == ':') {
                colon = s + i - 1;
                break;
            }
        }
        hn = colon ? (size_t)(colon - s) : n;
        if (!(a->host = ip_host(AF_INET, s, hn))) {
            if (memchr(s, ':', hn))
                return why(w, wsz, "\"%s\": an IPv6 address needs brackets, as in [::1]:25", sh);
            return why(w, wsz, "\"%s\" is not an address (want %s; names are not resolved)", sh,
                       want);
        }
        a->kind = CFG_ADDR_IP4;
        if (!colon)
            colon = s + n;
    }
    size_t rest = n - (size_t)(colon - s);
    if (rest == 0 && k->port) {
        a->port = k->port;
    } else if (rest == 0) {
        free(a->host);
        return why(w, wsz, "\"%s\" has no port (want %s)", sh, want);
    } else if (parse_port(colon, rest, &a->port) != 0) {
        free(a->host);
        return why(w, wsz, "\"%s\" has a bad port (want 1 to 65535)", sh);
    }
    addr_text(a);
    return 0;
}

static int
parse_cidr(const char *s, size_t n, struct cfg_cidr *c, char *w, size_t wsz)
{
    char sh[96], in[INET6_ADDRSTRLEN + 1], out[INET6_ADDRSTRLEN];
    const char *slash = memchr(s, '/', n);
    size_t an = slash ? (size_t)(slash - s) : n;
    unsigned long long p;
    memset(c, 0, sizeof *c);
    shown(sh, sizeof sh, s, n);
    c->family = memchr(s, ':', an) ? AF_INET6 : AF_INET;
    unsigned max = c->family == AF_INET ? 32 : 128;
    if (an == 0 || an >= sizeof in || memchr(s, '\0', an))
        return why(w, wsz, "\"%s\" is not an address block (want address/prefix)", sh);
    memcpy(in, s, an);
    in[an] = '\0';
    if (inet_pton(c->family, in, c->addr) != 1)
        return why(w, wsz, "\"%s\" is not an address block (want address/prefix)", sh);
    if (!slash)
        p = max;
    else if (digits(slash + 1, n - an - 1, &p) != 0 || p > max)
        return why(w, wsz, "\"%s\" has a bad prefix length (want 0 to %u)", sh, max);
    c->prefix = (unsigned)p;
    for (unsigned bit = c->prefix; bit < max; bit++) {
        if (c->addr[bit / 8] & (0x80 >> (bit % 8))) {
            for (; bit < max; bit++)
                c->addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
            inet_ntop(c->family, c->addr, out, sizeof out);
            return why(w, wsz, "\"%s\" has bits set after the prefix (did you mean %s/%u?)", sh,
                       out, c->prefix);
        }
    }
    inet_ntop(c->family, c->addr, out, sizeof out);
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s/%u", out, c->prefix);
    c->text = buf_take(&b, NULL);
    return 0;
}

int
cfg_is_list(const struct cfg_key *k)
{
    return k->type == CFG_T_STRLIST || k->type == CFG_T_ADDRLIST || k->type == CFG_T_CIDRLIST;
}

static void
addr_free(struct cfg_addr *a)
{
    free(a->host);
    free(a->text);
    a->host = a->text = NULL;
}

void
cfg_value_free(const struct cfg_key *k, void *base)
{
    union cfg_list l;
    switch (k->type) {
    case CFG_T_STRING:
        free(*FIELD(base, k, char *));
        *FIELD(base, k, char *) = NULL;
        break;
    case CFG_T_ADDRESS:
        addr_free(FIELD(base, k, struct cfg_addr));
        break;
    case CFG_T_STRLIST:
        l.s = *FIELD(base, k, struct cfg_strs);
        cfg_list_free(k, &l);
        *FIELD(base, k, struct cfg_strs) = l.s;
        break;
    case CFG_T_ADDRLIST:
        l.a = *FIELD(base, k, struct cfg_addrs);
        cfg_list_free(k, &l);
        *FIELD(base, k, struct cfg_addrs) = l.a;
        break;
    case CFG_T_CIDRLIST:
        l.c = *FIELD(base, k, struct cfg_cidrs);
        cfg_list_free(k, &l);
        *FIELD(base, k, struct cfg_cidrs) = l.c;
        break;
    default:
        break;
    }
}

int
cfg_value_parse(const struct cfg_key *k, void *base, const char *s, size_t n, char *w, size_t wsz)
{
    long long v;
    int i;
    char *str;
    struct cfg_addr a;
    switch (k->type) {
    case CFG_T_STRING:
        if (parse_string(k, s, n, &str, w, wsz) != 0)
            return -1;
        cfg_value_free(k, base);
        *FIELD(base, k, char *) = str;
        return 0;
    case CFG_T_BOOL:
        return parse_bool(s, n, FIELD(base, k, int), w, wsz);
    case CFG_T_INT:
        if (parse_int(k, s, n, &v, w, wsz) != 0)
            return -1;
        *FIELD(base, k, int) = (int)v;
        return 0;
    case CFG_T_SIZE:
        if (parse_size(k, s, n, &v, w, wsz) != 0)
            return -1;
        *FIELD(base, k, size_t) = (size_t)v;
        return 0;
    case CFG_T_DURATION:
        if (parse_duration(k, s, n, &v, w, wsz) != 0)
            return -1;
        *FIELD(base, k, uint64_t) = (uint64_t)v;
        return 0;
    case CFG_T_ENUM:
        if (parse_enum(k, s, n, &i, w, wsz) != 0)
            return -1;
        *FIELD(base, k, int) = i;
        return 0;
    case CFG_T_ADDRESS:
        if (parse_addr(k, s, n, &a, w, wsz) != 0)
            return -1;
        cfg_value_free(k, base);
        *FIELD(base, k, struct cfg_addr) = a;
        return 0;
    default:
        return why(w, wsz, "expected a list");
    }
}

int
cfg_elem_parse(const struct cfg_key *k, union cfg_list *l, const char *s, size_t n, char *w,
               size_t wsz)
{
    char *str;
    struct cfg_addr a;
    struct cfg_cidr c;
    size_t have = k->type == CFG_T_STRLIST ? l->s.n : k->type == CFG_T_ADDRLIST ? l->a.n : l->c.n;
    if (have >= CFG_LIST_MAX)
        return why(w, wsz, "more than %d entries", CFG_LIST_MAX);
    switch (k->type) {
    case CFG_T_STRLIST:
        if (parse_string(k, s, n, &str, w, wsz) != 0)
            return -1;
        l->s.v = xrealloc(l->s.v, (l->s.n + 1) * sizeof *l->s.v);
        l->s.v[l->s.n++] = str;
        return 0;
    case CFG_T_ADDRLIST:
        if (parse_addr(k, s, n, &a, w, wsz) != 0)
            return -1;
        l->a.v = xrealloc(l->a.v, (l->a.n + 1) * sizeof *l->a.v);
        l->a.v[l->a.n++] = a;
        return 0;
    case CFG_T_CIDRLIST:
        if (parse_cidr(s, n, &c, w, wsz) != 0)
            return -1;
        l->c.v = xrealloc(l->c.v, (l->c.n + 1) * sizeof *l->c.v);
        l->c.v[l->c.n++] = c;
        return 0;
    default:
        return why(w, wsz, "expected a single value, not a list");
    }
}

void
cfg_list_free(const struct cfg_key *k, union cfg_list *l)
{
    switch (k->type) {
    case CFG_T_STRLIST:
        for (size_t i = 0; i < l->s.n; i++)
            free(l->s.v[i]);
        free(l->s.v);
        l->s.v = NULL;
        l->s.n = 0;
        break;
    case CFG_T_ADDRLIST:
        for (size_t i = 0; i < l->a.n; i++)
            addr_free(&l->a.v[i]);
        free(l->a.v);
        l->a.v = NULL;
        l->a.n = 0;
        break;
    case CFG_T_CIDRLIST:
        for (size_t i = 0; i < l->c.n; i++)
            free(l->c.v[i].text);
        free(l->c.v);
        l->c.v = NULL;
        l->c.n = 0;
        break;
    default:
        break;
    }
}

void
cfg_list_assign(const struct cfg_key *k, void *base, union cfg_list *l)
{
    cfg_value_free(k, base);
    if (k->type == CFG_T_STRLIST)
        *FIELD(base, k, struct cfg_strs) = l->s;
    else if (k->type == CFG_T_ADDRLIST)
        *FIELD(base, k, struct cfg_addrs) = l->a;
    else if (k->type == CFG_T_CIDRLIST)
        *FIELD(base, k, struct cfg_cidrs) = l->c;
    memset(l, 0, sizeof *l);
}

size_t
cfg_list_len(const struct cfg_key *k, const void *base)
{
    if (k->type == CFG_T_STRLIST)
        return CFIELD(base, k, struct cfg_strs)->n;
    if (k->type == CFG_T_ADDRLIST)
        return CFIELD(base, k, struct cfg_addrs)->n;
    if (k->type == CFG_T_CIDRLIST)
        return CFIELD(base, k, struct cfg_cidrs)->n;
    return 0;
}

int
cfg_value_default(const struct cfg_key *k, void *base, char *w, size_t wsz)
{
    union cfg_list l;
    const char *p = k->def, *e;
    if (!cfg_is_list(k))
        return cfg_value_parse(k, base, p, strlen(p), w, wsz);
    memset(&l, 0, sizeof l);
    for (; *p; p = e) {
        while (*p == ' ')
            p++;
        for (e = p; *e && *e != ' '; e++)
            ;
        if (e > p && cfg_elem_parse(k, &l, p, (size_t)(e - p), w, wsz) != 0) {
            cfg_list_free(k, &l);
            return -1;
        }
    }
    cfg_list_assign(k, base, &l);
    return 0;
}

/* quote - s as a double-quoted YAML scalar. Strings hold no ASCII control characters,
 * but may hold the Unicode line breaks YAML would fold (NEL, LS, PS): escape those. */
static void
quote(const char *s, struct buf *out)
{
    buf_putc(out, '"');
    for (; *s; s++) {
        if (strncmp(s, "\xc2\x85", 2) == 0) {
            buf_puts(out, "\\N");
            s++;
        } else if (strncmp(s, "\xe2\x80\xa8", 3) == 0 || strncmp(s, "\xe2\x80\xa9", 3) == 0) {
            buf_puts(out, s[2] == '\xa8' ? "\\L" : "\\P");
            s += 2;
        } else {
            if (*s == '"' || *s == '\\')
                buf_putc(out, '\\');
            buf_putc(out, *s);
        }
    }
    buf_putc(out, '"');
}

void
cfg_value_format(const struct cfg_key *k, const void *base, struct buf *out)
{
    size_t n = cfg_list_len(k, base);
    switch (k->type) {
    case CFG_T_STRING:
        quote(*CFIELD(base, k, char *const), out);
        break;
    case CFG_T_BOOL:
        buf_puts(out, *CFIELD(base, k, int) ? "true" : "false");
        break;
    case CFG_T_INT:
        buf_printf(out, "%d", *CFIELD(base, k, int));
        break;
    case CFG_T_SIZE:
        cfg_format_size(*CFIELD(base, k, size_t), out);
        break;
    case CFG_T_DURATION:
        cfg_format_duration(*CFIELD(base, k, uint64_t), out);
        break;
    case CFG_T_ENUM:
        buf_puts(out, k->values[*CFIELD(base, k, int)]);
        break;
    case CFG_T_ADDRESS:
        quote(CFIELD(base, k, struct cfg_addr)->text, out);
        break;
    case CFG_T_STRLIST:
    case CFG_T_ADDRLIST:
    case CFG_T_CIDRLIST:
        buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_puts(out, ", ");
            if (k->type == CFG_T_STRLIST)
                quote(CFIELD(base, k, struct cfg_strs)->v[i], out);
            else if (k->type == CFG_T_ADDRLIST)
                quote(CFIELD(base, k, struct cfg_addrs)->v[i].text, out);
            else
                quote(CFIELD(base, k, struct cfg_cidrs)->v[i].text, out);
        }
        buf_putc(out, ']');
        break;
    }
}

void
cfg_type_format(const struct cfg_key *k, struct buf *out)
{
    static const char *const names[] = {
        [CFG_T_STRING] = "string",
        [CFG_T_BOOL] = "boolean",
        [CFG_T_INT] = "integer",
        [CFG_T_SIZE] = "size",
        [CFG_T_DURATION] = "duration",
        [CFG_T_ENUM] = "one of",
        [CFG_T_ADDRESS] = "address",
        [CFG_T_STRLIST] = "list of strings",
        [CFG_T_ADDRLIST] = "list of addresses",
        [CFG_T_CIDRLIST] = "list of address blocks",
    };
    if (k->type == CFG_T_STRING && (k->flags & CFG_F_DOMAIN))
        buf_puts(out, "domain name");
    else if (k->type == CFG_T_STRING && (k->flags & CFG_F_PATH))
        buf_puts(out, "path");
    else if (k->type == CFG_T_STRLIST && (k->flags & CFG_F_DOMAIN))
        buf_puts(out, "list of domain names");
    else if (k->type == CFG_T_STRLIST && (k->flags & CFG_F_KEYSPEC))
        buf_puts(out, "list of \"domain selector key_file\"");
    else if (k->type == CFG_T_STRLIST && (k->flags & CFG_F_HDRSPEC))
        buf_puts(out, "list of header field names");
    else if (k->type == CFG_T_ADDRLIST && (k->flags & CFG_F_NOUNIX))
        buf_puts(out, "list of IP addresses");
    else if (k->type == CFG_T_ADDRESS && (k->flags & CFG_F_NOUNIX))
        buf_puts(out, "IP address");
    else
        buf_puts(out, names[k->type]);
    if (k->type == CFG_T_INT || k->type == CFG_T_SIZE || k->type == CFG_T_DURATION) {
        buf_puts(out, ", ");
        fmt_num(k, k->min, out);
        buf_puts(out, " to ");
        fmt_num(k, k->max, out);
    } else if (k->type == CFG_T_ENUM) {
        for (int i = 0; k->values[i]; i++)
            buf_printf(out, "%s `%s`", i ? "," : "", k->values[i]);
    }
    if ((k->flags & CFG_F_NONEMPTY) && cfg_is_list(k))
        buf_puts(out, ", at least one");
    else if (k->flags & CFG_F_NONEMPTY)
        buf_puts(out, ", not empty");
}
