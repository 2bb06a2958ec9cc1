/* SPDX-License-Identifier: MIT */
/*
 * keyring - the sealing keys by domain, built once from the config: keys.domain
 * (+ selector, key_file), keys.domains entries, keys.selector_map / keys.path_map files
 * and, with keys.try_fallback, every file the keys.path template matches. All files are
 * read here; lookups afterwards only search a sorted array.
 *
 * Order of precedence for a domain: keys.domain, then keys.domains, then the maps
 * (selector from selector_map else keys.selector; key file from path_map else the
 * keys.path template), then the fallback template. A domain given twice at the same level
 * is an error. Each key file is checked: a regular file, no permission bits for group or
 * others, a key arc_privkey_load_file accepts, RSA of at least keys.min_rsa_bits.
 *
 * Templates: $domain and $selector are replaced; for the fallback, $domain must appear
 * at most once and is matched with glob(3) against the existing files (domains that have
 * no file simply have no key). A template without $domain names one key for every domain.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../util/buf.h"
#include "../util/xalloc.h"
#include "policy_int.h"

#define MAP_LINE_MAX 4096

struct map {
    char **dom, **val;
    size_t n;
};

static void
map_free(struct map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->dom[i]);
        free(m->val[i]);
    }
    free(m->dom);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static const char *
map_get(const struct map *m, const char *dom)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcasecmp(m->dom[i], dom) == 0)
            return m->val[i];
    }
    return NULL;
}

static int
domain_chars_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (!(*s == '.' || *s == '-' || *s == '_' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    }
    return 1;
}

static char *
lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return d;
}

/* map_load - "domain value" lines; '#' starts a comment; blank lines are skipped. */
static int
map_load(const char *key, const char *path, struct map *m, struct err *e)
{
    char line[MAP_LINE_MAX];
    unsigned lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, ARC_EIO, "%s: %s: %s", key, path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#'), *save = NULL;
        if (hash)
            *hash = '\0';
        char *d = strtok_r(line, " \t\r\n", &save),
             *v = d ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!d)
            continue;
        if (!v || strtok_r(NULL, " \t\r\n", &save) || !domain_chars_ok(d)) {
            fclose(f);
            return err_set(e, ARC_EINVAL, "%s: %s:%u: want \"domain value\"", key, path, lineno);
        }
        if (map_get(m, d)) {
            fclose(f);
            return err_set(e, ARC_EINVAL, "%s: %s:%u: %s is listed twice", key, path, lineno, d);
        }
        m->dom = xrealloc(m->dom, (m->n + 1) * sizeof *m->dom);
        m->val = xrealloc(m->val, (m->n + 1) * sizeof *m->val);
        m->dom[m->n] = lower_dup(d);
        m->val[m->n++] = xstrdup(v);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return err_set(e, ARC_EIO, "%s: %s: read error", key, path);
    return 0;
}

/* expand - tpl with $domain and $selector replaced (heap string). */
static char *
expand(const char *tpl, const char *domain, const char *selector)
{
    struct buf b;
    buf_init(&b, 0);
    for (const char *p = tpl; *p;) {
        if (strncmp(p, "$domain", 7) == 0) {
            buf_puts(&b, domain);
            p += 7;
        } else if (strncmp(p, "$selector", 9) == 0) {
            buf_puts(&b, selector);
            p += 9;
        } else {
            buf_putc(&b, *p++);
        }
    }
    return buf_take(&b, NULL);
}

int
pol_key_check_load(const char *path, int min_bits, struct arc_privkey **k, struct err *e)
{
    struct stat st;
    struct err ke;
    *k = NULL;
    if (stat(path, &st) != 0)
        return err_set(e, ARC_EIO, "key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(e, ARC_EIO, "key file %s: not a regular file", path);
    if (st.st_mode & 077)
        return err_set(e, ARC_EIO,
                       "key file %s: mode %04o lets group or others in; chmod 600 (or 400) it",
                       path, (unsigned)(st.st_mode & 07777));
    err_clear(&ke);
    int rc = arc_privkey_load_file(path, k, &ke);
    if (rc < 0)
        return err_set(e, ke.code ? ke.code : ARC_EINVAL, "key file %s: %s", path, ke.text);
    if (arc_privkey_alg(*k) == ARC_ALG_RSA_SHA256 && arc_privkey_bits(*k) < (unsigned)min_bits) {
        unsigned bits = arc_privkey_bits(*k);
        *k = arc_privkey_free(*k);
        return err_set(e, ARC_ERANGE, "key file %s: RSA key of %u bits, below keys.min_rsa_bits %d",
                       path, bits, min_bits);
    }
    return 0;
}

/* ring_key - the key of path, loading it on first use. */
static int
ring_key(struct pol_ring *r, const char *path, int min_bits, const struct arc_privkey **k,
         struct err *e)
{
    struct arc_privkey *nk;
    for (size_t i = 0; i < r->nfiles; i++) {
        if (strcmp(r->files[i].path, path) == 0) {
            *k = r->files[i].key;
            return 0;
        }
    }
    int rc = pol_key_check_load(path, min_bits, &nk, e);
    if (rc < 0)
        return rc;
    r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof *r->files);
    r->files[r->nfiles].path = xstrdup(path);
    r->files[r->nfiles++].key = nk;
    *k = nk;
    return 0;
}

static int
has_domain(const struct pol_ring *r, const char *d)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcasecmp(r->v[i].domain, d) == 0)
            return 1;
    }
    return 0;
}

/* ring_add - domain with selector and the key file tpl (expanded here). */
static int
ring_add(struct pol_ring *r, const char *domain, const char *selector, const char *tpl,
         int min_bits, struct err *e)
{
    const struct arc_privkey *k;
    char *path = expand(tpl, domain, selector);
    int rc = ring_key(r, path, min_bits, &k, e);
    free(path);
    if (rc < 0)
        return rc;
    r->v = xrealloc(r->v, (r->n + 1) * sizeof *r->v);
    r->v[r->n].domain = lower_dup(domain);
    r->v[r->n].selector = xstrdup(selector);
    r->v[r->n++].key = k;
    return 0;
}

static int
add_entries(struct pol_ring *r, const struct arcp_config *c, struct err *e)
{
    int mb = c->keys.min_rsa_bits, rc;
    if (c->keys.domain[0] &&
        (rc = ring_add(r, c->keys.domain, c->keys.selector, c->keys.key_file, mb, e)) < 0)
        return rc;
    for (size_t i = 0; i < c->keys.domains.n; i++) {
        char *s = xstrdup(c->keys.domains.v[i]), *save = NULL;
        char *d = strtok_r(s, " ", &save), *sel = strtok_r(NULL, " ", &save);
        char *f = strtok_r(NULL, " ", &save);
        if (!d || !sel || !f) {
            free(s);
            return err_set(e, ARC_EINVAL,
                           "keys.domains: \"%s\" is not \"domain selector "
                           "key_file\"",
                           c->keys.domains.v[i]);
        }
        if (has_domain(r, d))
            rc = err_set(e, ARC_EINVAL, "keys.domains: %s already has a key", d);
        else
            rc = ring_add(r, d, sel, f, mb, e);
        free(s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* add_maps - domains named in selector_map or path_map (explicit entries win). */
static int
add_maps(struct pol_ring *r, const struct arcp_config *c, const struct map *sm,
         const struct map *pm, struct err *e)
{
    const struct map *maps[2] = {sm, pm};
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; i < maps[w]->n; i++) {
            const char *d = maps[w]->dom[i];
            if (has_domain(r, d))
                continue;
            const char *sel = map_get(sm, d), *tpl = map_get(pm, d);
            if (!sel)
                sel = c->keys.selector;
            if (!tpl)
                tpl = c->keys.path;
            if (!sel[0])
                return err_set(e, ARC_EINVAL,
                               "%s: no selector for %s (no selector_map line, "
                               "keys.selector empty)",
                               "keys", d);
            if (!tpl[0])
                return err_set(e, ARC_EINVAL,
                               "%s: no key file for %s (no path_map line, "
                               "keys.path empty)",
                               "keys", d);
            int rc = ring_add(r, d, sel, tpl, c->keys.min_rsa_bits, e);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* add_fallback - keys.try_fallback: every file the keys.path template matches. */
static int
add_fallback(struct pol_ring *r, const struct arcp_config *c, struct err *e)
{
    const char *tpl = c->keys.path, *sel = c->keys.selector;
    const char *at = strstr(tpl, "$domain");
    glob_t g;
    int rc = 0;
    if (!c->keys.try_fallback || !tpl[0])
        return 0;
    if (!sel[0])
        return err_set(e, ARC_EINVAL, "keys.path: keys.try_fallback needs keys.selector");
    if (!at) { /* one key for every domain */
        rc = ring_add(r, "*", sel, tpl, c->keys.min_rsa_bits, e);
        return rc;
    }
    if (strstr(at + 1, "$domain"))
        return err_set(e, ARC_EINVAL, "keys.path: $domain may appear only once");
    char *pre_t = xstrndup(tpl, (size_t)(at - tpl));
    char *pre = expand(pre_t, "", sel), *suf = expand(at + 7, "", sel);
    char *pat = expand(tpl, "*", sel);
    free(pre_t);
    int grc = glob(pat, 0, NULL, &g);
    if (grc == 0) {
        size_t lp = strlen(pre), ls = strlen(suf);
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
            const char *m = g.gl_pathv[i];
            size_t lm = strlen(m);
            if (lm <= lp + ls || strncmp(m, pre, lp) != 0 || strcmp(m + lm - ls, suf) != 0)
                continue;
            char *d = xstrndup(m + lp, lm - lp - ls);
            if (domain_chars_ok(d) && strchr(d, '.') && !has_domain(r, d))
                rc = ring_add(r, d, sel, tpl, c->keys.min_rsa_bits, e);
            free(d);
        }
        globfree(&g);
    } else if (grc != GLOB_NOMATCH) {
        rc = err_set(e, ARC_EIO, "keys.path: cannot list %s", pat);
    }
    free(pre);
    free(suf);
    free(pat);
    return rc;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pol_entry *)a)->domain, ((const struct pol_entry *)b)->domain);
}

int
pol_ring_load(struct pol_ring *r, const struct arcp_config *c, struct err *e)
{
    struct map sm = {0}, pm = {0};
    int rc = 0;
    memset(r, 0, sizeof *r);
    if (c->keys.selector_map[0] &&
        (rc = map_load("keys.selector_map", c->keys.selector_map, &sm, e)) < 0)
        goto out;
    if (c->keys.path_map[0] && (rc = map_load("keys.path_map", c->keys.path_map, &pm, e)) < 0)
        goto out;
    if ((rc = add_entries(r, c, e)) < 0 || (rc = add_maps(r, c, &sm, &pm, e)) < 0 ||
        (rc = add_fallback(r, c, e)) < 0)
        goto out;
    if (r->n)
        qsort(r->v, r->n, sizeof *r->v, entry_cmp);
    r->any = pol_ring_find(r, "*");
out:
    map_free(&sm);
    map_free(&pm);
    if (rc < 0)
        pol_ring_free(r);
    return rc;
}

void
pol_ring_free(struct pol_ring *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].domain);
        free(r->v[i].selector);
    }
    for (size_t i = 0; i < r->nfiles; i++) {
        free(r->files[i].path);
        arc_privkey_free(r->files[i].key);
    }
    free(r->v);
    free(r->files);
    memset(r, 0, sizeof *r);
}

const struct pol_entry *
pol_ring_find(const struct pol_ring *r, const char *domain)
{
    struct pol_entry k = {.domain = (char *)domain};
    if (!r->n)
        return NULL;
    return bsearch(&k, r->v, r->n, sizeof *r->v, entry_cmp);
}
