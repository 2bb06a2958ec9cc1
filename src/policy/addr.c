/* SPDX-License-Identifier: MIT */
/*
 * addr - the mailboxes of an RFC 5322 address-list (the From field's value), enough to
 * find the author's domain: display names, comments (nested, with quoted-pairs), quoted
 * strings, angle addresses, groups ("name: a@b, c@d;") and obsolete routes
 * ("<@relay:user@domain>"). Bytes >= 0x80 pass through (RFC 6532 UTF-8).
 *
 * Not a validator: an address is "local@domain" with a non-empty local part and a domain
 * of atext or a domain literal. The domain is lowercased (ASCII only).
 */
#include <ctype.h>
#include <string.h>

#include "policy.h"

/* clean - v without comments and folding, quoted strings kept; each comment becomes one
 * space. Returns the length written (at most outsz - 1), or -1 on an unbalanced comment
 * or quote. */
static long
clean(struct span v, char *out, size_t outsz)
{
    size_t o = 0;
    int depth = 0, quoted = 0;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (o + 2 >= outsz)
            return -1;
        if (c == '\r' || c == '\n')
            c = ' ';
        if (depth > 0) {
            if (c == '\\' && i + 1 < v.n)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')' && --depth == 0)
                out[o++] = ' ';
            continue;
        }
        if (quoted) {
            out[o++] = c;
            if (c == '\\' && i + 1 < v.n)
                out[o++] = v.p[++i];
            else if (c == '"')
                quoted = 0;
            continue;
        }
        if (c == '(') {
            depth = 1;
            continue;
        }
        if (c == '"')
            quoted = 1;
        out[o++] = c;
    }
    if (depth || quoted)
        return -1;
    out[o] = '\0';
    return (long)o;
}

/* is_atext_domain - a dot-atom domain (atext and UTF-8) or a [domain literal]. */
static int
domain_ok(const char *d, size_t n)
{
    if (n == 0)
        return 0;
    if (d[0] == '[')
        return n >= 3 && d[n - 1] == ']';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.' ? (i == 0 || i == n - 1 || d[i - 1] == '.')
                     : (c <= 32 || c == 127 || strchr("()<>[]:;@\\,\"", c)))
            return 0;
    }
    return 1;
}

/* one_addr - the addr-spec in e[0..n) (already without comments) into a; 0 or -1. */
static int
one_addr(const char *e, size_t n, struct policy_addr *a)
{
    char spec[POLICY_ADDR_MAX];
    size_t o = 0;
    int quoted = 0;
    const char *lt = NULL, *gt = NULL;
    for (size_t i = 0; i < n; i++) {
        if (e[i] == '"')
            quoted = !quoted;
        else if (e[i] == '\\' && quoted)
            i++;
        else if (!quoted && e[i] == '<' && !lt)
            lt = e + i;
        else if (!quoted && e[i] == '>' && lt)
            gt = e + i;
    }
    if (lt && !gt)
        return -1;
    if (lt) {
        e = lt + 1;
        n = (size_t)(gt - lt - 1);
        const char *colon = memchr(e, ':', n); /* obsolete route @a,@b: */
        if (n > 0 && e[0] == '@' && colon) {
            n -= (size_t)(colon + 1 - e);
            e = colon + 1;
        }
    }
    /* the addr-spec without whitespace outside quoted strings (obs-local-part CFWS) */
    quoted = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= sizeof spec)
            return -1;
        if (!quoted && (e[i] == ' ' || e[i] == '\t'))
            continue;
        if (e[i] == '"')
            quoted = !quoted;
        else if (quoted && e[i] == '\\' && i + 1 < n)
            spec[o++] = e[i++];
        spec[o++] = e[i];
    }
    spec[o] = '\0';
    char *at = NULL;
    quoted = 0;
    for (size_t i = 0; i < o; i++) {
        if (spec[i] == '"')
            quoted = !quoted;
        else if (spec[i] == '\\' && quoted)
            i++;
        else if (spec[i] == '@' && !quoted)
            at = spec + i;
    }
    if (!at || at == spec)
        return -1;
    size_t dn = o - (size_t)(at + 1 - spec);
    if (!domain_ok(at + 1, dn) || dn >= sizeof a->domain)
        return -1;
    memcpy(a->addr, spec, o + 1);
    for (size_t i = 0; i < dn; i++)
        a->domain[i] = (char)tolower((unsigned char)at[1 + i]);
    a->domain[dn] = '\0';
    return 0;
}

static int
blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    }
    return 1;
}

int
policy_parse_addrs(struct span value, struct policy_addr *out, size_t max)
{
    char buf[4096];
    long len = clean(value, buf, sizeof buf);
    int found = 0, quoted = 0, angle = 0;
    size_t start = 0;
    if (len < 0)
        return -1;
    for (size_t i = 0; i <= (size_t)len; i++) {
        if (i == (size_t)len && angle)
            return -1; /* "<" without ">" */
        char c = i < (size_t)len ? buf[i] : ',';
        if (quoted) {
            if (c == '\\')
                i++;
            else if (c == '"')
                quoted = 0;
            continue;
        }
        if (c == '"') {
            quoted = 1;
        } else if (c == '<') {
            angle = 1;
        } else if (c == '>') {
            angle = 0;
        } else if (c == ':' && !angle) {
            start = i + 1; /* group: what came before is its display name */
        } else if ((c == ',' || c == ';') && !angle) {
            if (!blank(buf + start, i - start)) {
                struct policy_addr a;
                if (one_addr(buf + start, i - start, &a) != 0)
                    return -1;
                if ((size_t)found < max)
                    out[found] = a;
                found++;
            }
            start = i + 1;
        }
    }
    return found;
}
