/* SPDX-License-Identifier: MIT */
/*
 * policy - load (copy the config values, read the key ring, parse sign_headers, open the
 * public suffix list) and decide per message. See policy.h for the API and
 * docs/policy.md for what each switch means.
 *
 * The public suffix list is Debian's (package publicsuffix, via libpsl's psl_latest: the
 * newer of the list built into libpsl and /usr/share/publicsuffix); when neither loads,
 * psl_builtin is used, and when that is empty too domains are not reduced.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/log.h"
#include "../util/xalloc.h"
#include "policy_int.h"

/* cidrs_copy - the blocks without their text (decide needs only the bits). */
static void
cidrs_copy(struct cfg_cidrs *dst, const struct cfg_cidrs *src)
{
    dst->n = src->n;
    dst->v = src->n ? xcalloc(src->n, sizeof *dst->v) : NULL;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = src->v[i];
        dst->v[i].text = NULL;
    }
}

static void
strs_copy(struct cfg_strs *dst, const struct cfg_strs *src)
{
    dst->n = src->n;
    dst->v = src->n ? xcalloc(src->n, sizeof *dst->v) : NULL;
    for (size_t i = 0; i < src->n; i++)
        dst->v[i] = xstrdup(src->v[i]);
}

static void
strs_free(struct cfg_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* hdrs_parse - sign_headers into p->hdrs; names lowercased; ARC-* refused (RFC 8617
 * §4.1.2: the AMS must not cover ARC header fields). */
static int
hdrs_parse(struct policy *p, const struct cfg_strs *list, struct err *e)
{
    for (size_t i = 0; i < list->n; i++) {
        const char *s = list->v[i];
        while (*s) {
            size_t n;
            enum pol_hflag f = POL_H_PLAIN;
            s += strspn(s, ": ");
            if (!*s)
                break;
            if (strncmp(s, "(o)", 3) == 0 || strncmp(s, "(x)", 3) == 0) {
                f = s[1] == 'o' ? POL_H_OVERSIGN : POL_H_OVERSIGN_EXISTING;
                s += 3;
            }
            n = strcspn(s, ": ");
            if (n == 0)
                return err_set(e, ARC_EINVAL, "policy.sign_headers: empty name in \"%s\"",
                               list->v[i]);
            if (n >= 4 && strncasecmp(s, "arc-", 4) == 0)
                return err_set(e, ARC_EINVAL,
                               "policy.sign_headers: %.*s: ARC header fields are never "
                               "covered by the ARC-Message-Signature (RFC 8617 4.1.2)",
                               (int)n, s);
            p->hdrs = xrealloc(p->hdrs, (p->nhdrs + 1) * sizeof *p->hdrs);
            p->hdrs[p->nhdrs].name = xstrndup(s, n);
            for (char *c = p->hdrs[p->nhdrs].name; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
            p->hdrs[p->nhdrs++].flag = f;
            s += n;
        }
    }
    return 0;
}

static void
copy_config(struct policy *p, const struct arcp_config *c)
{
    p->mode = c->mode;
    p->use_domain = c->keys.use_domain;
    p->use_org_domain = c->keys.use_org_domain;
    p->domain = xstrdup(c->keys.domain);
    cidrs_copy(&p->sign_networks, &c->policy.sign_networks);
    cidrs_copy(&p->internal_hosts, &c->policy.internal_hosts);
    cidrs_copy(&p->peer_list, &c->policy.peer_list);
    p->sign_local = c->policy.sign_local;
    p->sign_inbound = c->policy.sign_inbound;
    p->allow_hdrfrom_mismatch = c->policy.allow_hdrfrom_mismatch;
    p->allow_envfrom_empty = c->policy.allow_envfrom_empty;
    p->allow_hdrfrom_multiple = c->policy.allow_hdrfrom_multiple;
    p->on_broken = c->policy.seal_on_broken_chain;
    p->add_authres = c->policy.add_authentication_results;
    p->include_remote_ip = c->policy.include_remote_ip;
    p->reuse_auth_results = c->policy.reuse_auth_results;
    p->canon = c->policy.canonicalization;
    strs_copy(&p->exempt, &c->policy.exempt_domains);
    strs_copy(&p->trusted, &c->policy.trusted_sealers);
}

int
policy_load(const struct arcp_config *c, struct policy **pp, struct err *e)
{
    struct policy *p = xcalloc(1, sizeof *p);
    int rc;
    *pp = NULL;
    copy_config(p, c);
    p->nokey = xcalloc(1, sizeof *p->nokey);
    pthread_mutex_init(&p->nokey->mu, NULL);
    if ((rc = hdrs_parse(p, &c->policy.sign_headers, e)) < 0 ||
        (rc = pol_ring_load(&p->ring, c, e)) < 0) {
        policy_free(p);
        return rc;
    }
    p->psl = psl_latest(NULL);
    p->psl_owned = p->psl != NULL;
    if (!p->psl)
        p->psl = (psl_ctx_t *)psl_builtin();
    *pp = p;
    return 0;
}

struct policy *
policy_free(struct policy *p)
{
    if (!p)
        return NULL;
    free(p->domain);
    free(p->sign_networks.v);
    free(p->internal_hosts.v);
    free(p->peer_list.v);
    strs_free(&p->exempt);
    strs_free(&p->trusted);
    for (size_t i = 0; i < p->nhdrs; i++)
        free(p->hdrs[i].name);
    free(p->hdrs);
    pol_ring_free(&p->ring);
    if (p->psl_owned)
        psl_free(p->psl);
    if (p->nokey) {
        for (size_t i = 0; i < p->nokey->n; i++)
            free(p->nokey->v[i]);
        free(p->nokey->v);
        pthread_mutex_destroy(&p->nokey->mu);
        free(p->nokey);
    }
    free(p);
    return NULL;
}

size_t
policy_key_count(const struct policy *p)
{
    return p->ring.n;
}

enum arc_canon
policy_body_canon(const struct policy *p)
{
    return (p->canon == CFG_CANON_RELAXED_RELAXED || p->canon == CFG_CANON_SIMPLE_RELAXED)
               ? ARC_CANON_RELAXED
               : ARC_CANON_SIMPLE;
}

void
policy_org_domain(const struct policy *p, const char *domain, char *out, size_t outsz)
{
    const char *r = p->psl ? psl_registrable_domain(p->psl, domain) : NULL;
    snprintf(out, outsz, "%s", r ? r : domain);
}

static int
in_list(const struct cfg_strs *l, const char *d)
{
    for (size_t i = 0; d && i < l->n; i++) {
        if (strcasecmp(l->v[i], d) == 0)
            return 1;
    }
    return 0;
}

int
policy_is_exempt(const struct policy *p, const char *sealer_domain)
{
    return in_list(&p->exempt, sealer_domain);
}

int
policy_is_trusted(const struct policy *p, const char *sealer_domain)
{
    return in_list(&p->trusted, sealer_domain);
}

int
policy_after_verdict(const struct policy_decision *d, int chain_failed)
{
    if (!d->seal || !chain_failed)
        return d->seal ? POLICY_SEAL_AS_IS : POLICY_SEAL_SKIP;
    if (d->on_broken == POLICY_BROKEN_SKIP)
        return POLICY_SEAL_SKIP;
    return d->on_broken == POLICY_BROKEN_RESTART ? POLICY_SEAL_RESTART : POLICY_SEAL_AS_IS;
}

int
policy_client_parse(const char *text, struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n;
    memset(ss, 0, sizeof *ss);
    if (strncasecmp(text, "IPv6:", 5) == 0)
        text += 5;
    n = strlen(text);
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
        text++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

/* match - the client is in one of the blocks (an IPv4-mapped IPv6 address matches IPv4). */
static int
match(const struct cfg_cidrs *l, const struct sockaddr *sa)
{
    if (!sa || !l->n)
        return 0;
    if (sa->sa_family == AF_INET)
        return config_cidr_match(l, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return config_cidr_match(l, AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* log_nokey - "no key for DOMAIN", once per domain per policy. */
static void
log_nokey(const struct policy *p, const char *domain)
{
    struct pol_nokey *k = p->nokey;
    int log = 1, full = 0;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->n && log; i++)
        log = strcmp(k->v[i], domain) != 0;
    if (log && k->n < POLICY_NOKEY_LOG_MAX) {
        k->v = xrealloc(k->v, (k->n + 1) * sizeof *k->v);
        k->v[k->n++] = xstrdup(domain);
    } else if (log) {
        full = !k->full_logged;
        k->full_logged = 1;
        log = 0;
    }
    pthread_mutex_unlock(&k->mu);
    if (log)
        log_warn("policy: no sealing key for domain %s: its mail is not sealed (logged once)",
                 domain);
    if (full)
        log_warn("policy: more than %d domains without a key; no longer logging them",
                 POLICY_NOKEY_LOG_MAX);
}

/* addr_domain - the lowercased domain of local@domain, "" if none. */
static void
addr_domain(const char *a, char *out, size_t outsz)
{
    const char *at = a ? strrchr(a, '@') : NULL;
    size_t i = 0;
    if (at)
        for (at++; *at && i + 1 < outsz; at++)
            out[i++] = (char)(*at >= 'A' && *at <= 'Z' ? *at - 'A' + 'a' : *at);
    out[i] = '\0';
}

static int
ascii_domain(const char *d)
{
    for (; *d; d++) {
        if ((unsigned char)*d >= 0x80 || *d == '[')
            return 0;
    }
    return 1;
}

/* no - record why not and return 0 (for "return no(d, ...)"). */
static int __attribute__((format(printf, 2, 3))) no(struct policy_decision *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof d->why, fmt, ap);
    va_end(ap);
    d->seal = 0;
    return 0;
}

/* eligible - is mail from this client sealed at all? */
static int
eligible(const struct policy *p, const struct policy_msg *m, struct policy_decision *d)
{
    if (match(&p->sign_networks, m->client) || d->internal)
        return 1;
    if (m->source == POLICY_SOURCE_LOCAL)
        return p->sign_local ? 1 : no(d, "local mail (XFORWARD SOURCE=LOCAL), sign_local is off");
    return p->sign_inbound ? 1 : no(d, "inbound mail, sign_inbound is off");
}

/* from_checks - the From/envelope rules; the first From domain in hdom. */
static int
from_checks(const struct policy *p, const struct policy_msg *m, struct policy_decision *d,
            char *hdom, size_t hsz)
{
    struct policy_addr a[1];
    int total = 0;
    hdom[0] = '\0';
    for (size_t i = 0; i < m->nfrom; i++) {
        int n = policy_parse_addrs(m->from[i], a, hdom[0] ? 0 : 1);
        if (n < 0)
            return no(d, "From field %zu is not an address list", i + 1);
        if (n > 0 && !hdom[0])
            snprintf(hdom, hsz, "%s", a[0].domain);
        total += n;
    }
    if ((m->nfrom > 1 || total > 1) && !p->allow_hdrfrom_multiple)
        return no(d, "%zu From fields with %d addresses, allow_hdrfrom_multiple is off", m->nfrom,
                  total);
    int empty = !m->env_from || !m->env_from[0];
    if (empty && !p->allow_envfrom_empty)
        return no(d, "empty MAIL FROM, allow_envfrom_empty is off");
    if (!empty && hdom[0] && !p->allow_hdrfrom_mismatch) {
        char ed[256], eo[256], ho[256];
        addr_domain(m->env_from, ed, sizeof ed);
        policy_org_domain(p, ed, eo, sizeof eo);
        policy_org_domain(p, hdom, ho, sizeof ho);
        if (strcmp(eo, ho) != 0)
            return no(d,
                      "From domain %.60s and MAIL FROM domain %.60s differ, "
                      "allow_hdrfrom_mismatch is off",
                      ho, eo);
    }
    return 1;
}

/* pick_domain - the signing domain per keys.use_domain into d->domain. */
static int
pick_domain(const struct policy *p, const struct policy_msg *m, struct policy_decision *d,
            const char *hdom)
{
    char raw[256];
    switch (p->use_domain) {
    case CFG_USE_DOMAIN_LITERAL:
        if (!p->domain[0])
            return no(d, "keys.domain is empty");
        snprintf(d->domain, sizeof d->domain, "%s", p->domain);
        return 1;
    case CFG_USE_DOMAIN_HEADER:
        snprintf(raw, sizeof raw, "%s", hdom);
        break;
    case CFG_USE_DOMAIN_ENVELOPE:
        addr_domain(m->env_from, raw, sizeof raw);
        break;
    case CFG_USE_DOMAIN_RECIPIENT:
        addr_domain(m->nrcpts ? m->rcpts[0] : NULL, raw, sizeof raw);
        break;
    }
    if (!raw[0])
        return no(d, "no domain for keys.use_domain %s",
                  p->use_domain == CFG_USE_DOMAIN_HEADER     ? "header (no From address)"
                  : p->use_domain == CFG_USE_DOMAIN_ENVELOPE ? "envelope (null sender)"
                                                             : "recipient");
    if (!ascii_domain(raw))
        return no(d, "signing domain is not an ASCII domain name");
    if (p->use_org_domain)
        policy_org_domain(p, raw, d->domain, sizeof d->domain);
    else
        snprintf(d->domain, sizeof d->domain, "%s", raw);
    return 1;
}

/* build_hdrs - the h= list: plain names once when present, (o) every instance plus one,
 * (x) the same but only when present. */
static void
build_hdrs(const struct policy *p, const struct policy_msg *m, struct policy_decision *d)
{
    d->nheaders = 0;
    for (size_t i = 0; i < p->nhdrs; i++) {
        const struct pol_hdr *h = &p->hdrs[i];
        size_t count = m->count                       ? m->count(m->count_ctx, h->name)
                       : strcmp(h->name, "from") == 0 ? m->nfrom
                                                      : 0;
        size_t times = h->flag == POL_H_PLAIN      ? (count ? 1 : 0)
                       : h->flag == POL_H_OVERSIGN ? count + 1
                                                   : (count ? count + 1 : 0);
        for (size_t t = 0; t < times; t++) {
            if (d->nheaders == POLICY_MAX_HDRS)
                return;
            d->headers[d->nheaders++] = h->name;
        }
    }
}

void
policy_decide(const struct policy *p, const struct policy_msg *m, struct policy_decision *d)
{
    char hdom[256];
    memset(d, 0, sizeof *d);
    d->hdr_canon = p->canon <= CFG_CANON_RELAXED_SIMPLE ? ARC_CANON_RELAXED : ARC_CANON_SIMPLE;
    d->body_canon = policy_body_canon(p);
    d->on_broken = (enum policy_broken)p->on_broken;
    d->include_remote_ip = p->include_remote_ip;
    d->reuse_auth_results = p->reuse_auth_results;
    if (p->mode == CFG_MODE_PASS || match(&p->peer_list, m->client)) {
        d->pass = 1;
        no(d, p->mode == CFG_MODE_PASS ? "mode pass" : "client in peer_list");
        return;
    }
    d->internal = match(&p->internal_hosts, m->client);
    d->reuse_auth_results = p->reuse_auth_results || d->internal;
    d->verify = (p->mode == CFG_MODE_V || p->mode == CFG_MODE_SV) && !d->internal;
    d->add_authres = d->verify && p->add_authres;
    if (p->mode == CFG_MODE_V) {
        no(d, "mode v");
        return;
    }
    if (!eligible(p, m, d) || !from_checks(p, m, d, hdom, sizeof hdom) ||
        !pick_domain(p, m, d, hdom))
        return;
    const struct pol_entry *k = pol_ring_find(&p->ring, d->domain);
    if (!k)
        k = p->ring.any;
    if (!k) {
        log_nokey(p, d->domain);
        no(d, "no key for domain %.150s", d->domain);
        d->domain[0] = '\0';
        return;
    }
    d->selector = k->selector;
    d->key = k->key;
    build_hdrs(p, m, d);
    d->seal = 1;
    snprintf(d->why, sizeof d->why, "sealed as d=%.80s s=%.80s", d->domain, d->selector);
}
