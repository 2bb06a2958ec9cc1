/* SPDX-License-Identifier: MIT */
/*
 * config - the public side of the configuration module (see config.h): defaults, loading
 * a file or a buffer, the checks that involve more than one key, the YAML dump and the
 * markdown key reference. Everything here walks cfg_keys[] (keys.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "../util/xalloc.h"
#include "config_int.h"

void
config_errors_init(struct config_errors *errs)
{
    if (errs) {
        errs->n = 0;
        errs->dropped = 0;
    }
}

/* key_index - index of a key of cfg_keys[] by name (a bug if missing). */
static size_t
key_index(const char *name)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        if (strcmp(cfg_keys[i].name, name) == 0)
            return i;
    }
    abort();
}

struct arcp_config *
config_free(struct arcp_config *cfg)
{
    if (!cfg)
        return NULL;
    for (size_t i = 0; i < cfg_nkeys; i++)
        cfg_value_free(&cfg_keys[i], cfg);
    free(cfg->path);
    free(cfg);
    return NULL;
}

/* defaults - a new config with every default; a default that does not parse is a bug
 * in keys.c, caught by every test. */
static struct arcp_config *
defaults(const char *path)
{
    struct arcp_config *cfg = xcalloc(1, sizeof *cfg);
    char why[400];
    cfg->path = xstrdup(path);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        if (cfg_value_default(&cfg_keys[i], cfg, why, sizeof why) != 0) {
            fprintf(stderr, "config: default of %s: %s\n", cfg_keys[i].name, why);
            abort();
        }
    }
    return cfg;
}

int
config_default(struct arcp_config **cfgp)
{
    *cfgp = defaults("");
    return 0;
}

/* first_set - the position of whichever of the named keys was set first in the file. */
static const struct cfg_pos *
first_set(const struct cfg_pos *pos, const char *const *names)
{
    const struct cfg_pos *best = NULL;
    for (; *names; names++) {
        const struct cfg_pos *p = &pos[key_index(*names)];
        if (p->line &&
            (!best || p->line < best->line || (p->line == best->line && p->col < best->col)))
            best = p;
    }
    return best;
}

/* cross_check - rules over more than one key; returns the number of problems. */
static size_t
cross_check(const struct arcp_config *cfg, const char *name, const struct cfg_pos *pos,
            struct config_errors *errs)
{
    static const char *const trio[] = {"keys.domain", "keys.selector", "keys.key_file", NULL};
    size_t problems = 0;
    /* keys.selector alone is fine: the selector of map and keys.path template keys */
    int set = !!cfg->keys.domain[0] + !!cfg->keys.selector[0] + !!cfg->keys.key_file[0];
    if ((cfg->keys.domain[0] || cfg->keys.key_file[0]) && set != 3) {
        cfg_error(errs, name, first_set(pos, trio), "keys",
                  "domain, selector and key_file go together: set all three, or none to "
                  "not seal");
        problems++;
    }
    if (cfg->queue.retry_min > cfg->queue.retry_max) {
        struct buf a, b;
        size_t imin = key_index("queue.retry_min"), imax = key_index("queue.retry_max");
        int at_min = pos[imin].line != 0;
        buf_init(&a, 0);
        buf_init(&b, 0);
        cfg_format_duration(cfg->queue.retry_min, &a);
        cfg_format_duration(cfg->queue.retry_max, &b);
        if (at_min)
            cfg_error(errs, name, &pos[imin], "queue.retry_min", "%s is above queue.retry_max (%s)",
                      a.data, b.data);
        else
            cfg_error(errs, name, &pos[imax], "queue.retry_max", "%s is below queue.retry_min (%s)",
                      b.data, a.data);
        buf_free(&a);
        buf_free(&b);
        problems++;
    }
    return problems;
}

int
config_load_mem(const char *name, const void *data, size_t len, struct arcp_config **cfgp,
                struct config_errors *errs)
{
    struct arcp_config *cfg = defaults(name);
    struct cfg_pos *pos = xcalloc(cfg_nkeys, sizeof *pos);
    size_t problems = cfg_parse(cfg_keys, cfg_nkeys, cfg, name, data, len, errs, pos);
    if (problems == 0)
        problems = cross_check(cfg, name, pos, errs);
    free(pos);
    if (problems) {
        *cfgp = config_free(cfg);
        return -ARC_EINVAL;
    }
    *cfgp = cfg;
    return 0;
}

/* read_all - the whole file at path into a heap buffer; -1 with errno set. */
static int
read_all(const char *path, char **datap, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[8192];
    size_t n;
    if (!f)
        return -1;
    buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        errno = EIO;
        return -1;
    }
    *datap = buf_take(&b, lenp);
    return 0;
}

int
config_load(const char *path, struct arcp_config **cfgp, struct config_errors *errs)
{
    char *data;
    size_t len;
    *cfgp = NULL;
    if (read_all(path, &data, &len) != 0) {
        cfg_error(errs, path, NULL, NULL, "cannot read: %s", strerror(errno));
        return -ARC_EIO;
    }
    int rc = config_load_mem(path, data, len, cfgp, errs);
    free(data);
    return rc;
}

void
config_dump(const struct arcp_config *cfg, FILE *f)
{
    struct buf b;
    const char *section = "";
    size_t seclen = 0;
    buf_init(&b, 0);
    buf_printf(&b, "# arcproxy effective configuration%s%s\n", cfg->path[0] ? " from " : "",
               cfg->path);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        const char *dot = strchr(k->name, '.');
        size_t len = dot ? (size_t)(dot - k->name) : 0;
        if (dot && (len != seclen || strncmp(section, k->name, len) != 0))
            buf_printf(&b, "%.*s:\n", (int)len, k->name);
        section = k->name;
        seclen = len;
        buf_printf(&b, "%s%s: ", dot ? "  " : "", dot ? dot + 1 : k->name);
        cfg_value_format(k, cfg, &b);
        buf_putc(&b, '\n');
    }
    fwrite(b.data, 1, b.len, f);
    buf_free(&b);
}

/* md_cell - text for a markdown table cell: '|' escaped. */
static void
md_cell(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            buf_putc(out, '\\');
        buf_putc(out, *s);
    }
}

void
config_doc(FILE *f)
{
    struct arcp_config *cfg;
    struct buf b, v;
    config_default(&cfg);
    buf_init(&b, 0);
    buf_init(&v, 0);
    buf_puts(&b, "| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        buf_printf(&b, "| `%s` | ", k->name);
        buf_reset(&v);
        cfg_type_format(k, &v);
        md_cell(&b, v.data);
        buf_puts(&b, " | `");
        buf_reset(&v);
        if (k->flags & CFG_F_HOSTDEF)
            buf_puts(&v, "\"\""); /* the table's default, not this host's name */
        else
            cfg_value_format(k, cfg, &v);
        md_cell(&b, v.data);
        buf_puts(&b, "` | ");
        md_cell(&b, k->doc);
        buf_puts(&b, " |\n");
    }
    fwrite(b.data, 1, b.len, f);
    buf_free(&b);
    buf_free(&v);
    config_free(cfg);
}

static int
prefix_match(const unsigned char *a, const unsigned char *net, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

int
config_cidr_match(const struct cfg_cidrs *list, int family, const void *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const unsigned char *a = addr, *a4 = NULL;
    if (family == AF_INET)
        a4 = a;
    else if (family == AF_INET6 && memcmp(a, mapped, sizeof mapped) == 0)
        a4 = a + 12;
    for (size_t i = 0; i < list->n; i++) {
        const struct cfg_cidr *c = &list->v[i];
        if (c->family == AF_INET && a4 && prefix_match(a4, c->addr, c->prefix))
            return 1;
        if (c->family == AF_INET6 && family == AF_INET6 && prefix_match(a, c->addr, c->prefix))
            return 1;
    }
    return 0;
}

int
config_syslog_facility(const struct arcp_config *cfg)
{
    static const int codes[] = {
        [CFG_FACILITY_MAIL] = LOG_MAIL,     [CFG_FACILITY_DAEMON] = LOG_DAEMON,
        [CFG_FACILITY_USER] = LOG_USER,     [CFG_FACILITY_LOCAL0] = LOG_LOCAL0,
        [CFG_FACILITY_LOCAL1] = LOG_LOCAL1, [CFG_FACILITY_LOCAL2] = LOG_LOCAL2,
        [CFG_FACILITY_LOCAL3] = LOG_LOCAL3, [CFG_FACILITY_LOCAL4] = LOG_LOCAL4,
        [CFG_FACILITY_LOCAL5] = LOG_LOCAL5, [CFG_FACILITY_LOCAL6] = LOG_LOCAL6,
        [CFG_FACILITY_LOCAL7] = LOG_LOCAL7,
    };
    return codes[cfg->logging.facility];
}
