/* SPDX-License-Identifier: MIT */
/*
 * load - the YAML side of the loader: parse one document with libyaml's document API
 * (nodes keep their start marks, so every message names file:line:column), then walk
 * the mappings against a key table. A name that is a key gets a value; a name that is a
 * prefix of keys ("limits" of "limits.max_rcpts") is a section whose value must be a
 * mapping; anything else is an unknown key. Values are checked in value.c.
 *
 * The walk goes on after a bad value and reports every problem it can (up to
 * CONFIG_ERRORS_MAX messages, then only counts). After a YAML syntax error nothing is
 * walked: libyaml stops at the first one. Positions: a bad value is reported where the
 * value starts; an unknown or duplicate key where the key starts.
 *
 * Depth: only sections named in the table are entered, so a deeply nested or
 * self-referencing (alias) document cannot make the walk recurse more than the table's
 * own depth. libyaml itself loads iteratively.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "config_int.h"

#define MAX_SECTIONS 64

struct loader {
    const struct cfg_key *keys;
    size_t nkeys;
    void *base;
    const char *name;
    struct config_errors *errs;
    struct cfg_pos *pos;
    size_t problems;
    yaml_document_t *doc;
    struct {
        char name[64];
        struct cfg_pos pos;
    } secs[MAX_SECTIONS];
    size_t nsecs;
};

void
cfg_error(struct config_errors *errs, const char *name, const struct cfg_pos *pos, const char *key,
          const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    if (!errs)
        return;
    if (errs->n >= CONFIG_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    buf_init(&b, 0);
    buf_puts(&b, name);
    if (pos && pos->line)
        buf_printf(&b, ":%u:%u", pos->line, pos->col);
    buf_puts(&b, ": ");
    if (key)
        buf_printf(&b, "%s: ", key);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    snprintf(errs->msg[errs->n++], sizeof errs->msg[0], "%s", b.data);
    buf_free(&b);
}

static struct cfg_pos
mark_pos(yaml_mark_t m)
{
    return (struct cfg_pos){(unsigned)m.line + 1, (unsigned)m.column + 1};
}

static struct cfg_pos
node_pos(const yaml_node_t *n)
{
    return mark_pos(n->start_mark);
}

/* problem - report at node n (NULL: no position) about key. */
static void __attribute__((format(printf, 4, 5)))
problem(struct loader *l, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    struct cfg_pos p = n ? node_pos(n) : (struct cfg_pos){0, 0};
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    l->problems++;
    cfg_error(l->errs, l->name, &p, key, "%s", text);
}

static const char *
scalar(const yaml_node_t *n, size_t *len)
{
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

/* is_null - an empty, "~" or "null" plain scalar: "no value". */
static int
is_null(const yaml_node_t *n)
{
    size_t len;
    const char *s = scalar(n, &len);
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static const struct cfg_key *
find_key(struct loader *l, const char *full)
{
    for (size_t i = 0; i < l->nkeys; i++) {
        if (strcmp(l->keys[i].name, full) == 0)
            return &l->keys[i];
    }
    return NULL;
}

static int
is_section(struct loader *l, const char *full)
{
    size_t n = strlen(full);
    for (size_t i = 0; i < l->nkeys; i++) {
        if (strncmp(l->keys[i].name, full, n) == 0 && l->keys[i].name[n] == '.')
            return 1;
    }
    return 0;
}

/* distance - edit distance of two short strings (for "did you mean"), capped. */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* suggest - the key or section name closest to full (edit distance 1 or 2) in out,
 * or NULL when none is close. */
static const char *
suggest(struct loader *l, const char *full, char *out, size_t outsz)
{
    char cand[128];
    size_t best = 3;
    for (size_t i = 0; i < l->nkeys; i++) {
        const char *name = l->keys[i].name;
        for (const char *e = name;; e++) {
            if (*e == '.' || *e == '\0') {
                snprintf(cand, sizeof cand, "%.*s", (int)(e - name), name);
                size_t d = distance(full, cand);
                if (d > 0 && d < best) {
                    best = d;
                    snprintf(out, outsz, "%s", cand);
                }
            }
            if (*e == '\0')
                break;
        }
    }
    return best < 3 ? out : NULL;
}

static void
unknown(struct loader *l, const char *full, const yaml_node_t *kn, const yaml_node_t *vn)
{
    char hint[128];
    const char *what = vn->type == YAML_MAPPING_NODE ? "section" : "key";
    /* suggestions cost an edit distance per name: none once messages are not kept */
    int kept = l->errs && l->errs->n < CONFIG_ERRORS_MAX;
    const char *s = kept ? suggest(l, full, hint, sizeof hint) : NULL;
    if (find_key(l, full) || is_section(l, full))
        problem(l, kn, full, "unknown %s (write sections as nested mappings, not dotted names)",
                what);
    else if (s)
        problem(l, kn, full, "unknown %s (did you mean %s?)", what, s);
    else
        problem(l, kn, full, "unknown %s", what);
}

static size_t
list_len(const struct cfg_key *k, const union cfg_list *list)
{
    if (k->type == CFG_T_STRLIST)
        return list->s.n;
    return k->type == CFG_T_ADDRLIST ? list->a.n : list->c.n;
}

/* load_list - a sequence of scalars, or one scalar as a list of one (null: empty). */
static void
load_list(struct loader *l, const struct cfg_key *k, const yaml_node_t *vn)
{
    union cfg_list list;
    char why[400];
    int bad = 0;
    size_t len;
    const char *s;
    memset(&list, 0, sizeof list);
    if (vn->type == YAML_SCALAR_NODE) {
        s = scalar(vn, &len);
        if (!is_null(vn) && cfg_elem_parse(k, &list, s, len, why, sizeof why) != 0) {
            problem(l, vn, k->name, "%s", why);
            bad = 1;
        }
    } else {
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
             it++) {
            yaml_node_t *en = yaml_document_get_node(l->doc, *it);
            if (en->type != YAML_SCALAR_NODE) {
                problem(l, en, k->name, "expected a list of single values");
                bad = 1;
                continue;
            }
            s = scalar(en, &len);
            if (cfg_elem_parse(k, &list, s, len, why, sizeof why) != 0) {
                problem(l, en, k->name, "%s", why);
                bad = 1;
                if (list_len(k, &list) >= CFG_LIST_MAX)
                    break;
            }
        }
    }
    if (!bad && (k->flags & CFG_F_NONEMPTY) && list_len(k, &list) == 0) {
        problem(l, vn, k->name, "needs at least one entry");
        bad = 1;
    }
    if (bad)
        cfg_list_free(k, &list);
    else
        cfg_list_assign(k, l->base, &list);
}

static void
load_key(struct loader *l, const struct cfg_key *k, const yaml_node_t *kn, const yaml_node_t *vn)
{
    struct cfg_pos *seen = &l->pos[k - l->keys];
    char why[400];
    size_t len;
    const char *s;
    if (seen->line) {
        problem(l, kn, k->name, "duplicate key (first at line %u, column %u)", seen->line,
                seen->col);
        return;
    }
    *seen = node_pos(kn);
    if (cfg_is_list(k)) {
        if (vn->type == YAML_MAPPING_NODE)
            problem(l, vn, k->name, "expected a list, not a mapping");
        else
            load_list(l, k, vn);
        return;
    }
    if (vn->type != YAML_SCALAR_NODE) {
        problem(l, vn, k->name, "expected a single value, not a %s",
                vn->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
        return;
    }
    s = scalar(vn, &len);
    if (is_null(vn) && k->type != CFG_T_STRING) {
        problem(l, vn, k->name, "has no value");
        return;
    }
    if (is_null(vn))
        len = 0;
    if (cfg_value_parse(k, l->base, s, len, why, sizeof why) != 0)
        problem(l, vn, k->name, "%s", why);
}

/* section_seen - 1 if the section was already given (and report it), else record it. */
static int
section_seen(struct loader *l, const char *full, const yaml_node_t *kn)
{
    for (size_t i = 0; i < l->nsecs; i++) {
        if (strcmp(l->secs[i].name, full) == 0) {
            problem(l, kn, full, "duplicate key (first at line %u, column %u)", l->secs[i].pos.line,
                    l->secs[i].pos.col);
            return 1;
        }
    }
    if (l->nsecs < MAX_SECTIONS && strlen(full) < sizeof l->secs[0].name) {
        snprintf(l->secs[l->nsecs].name, sizeof l->secs[0].name, "%s", full);
        l->secs[l->nsecs++].pos = node_pos(kn);
    }
    return 0;
}

static void load_mapping(struct loader *l, const char *prefix, const yaml_node_t *map);

static void
load_pair(struct loader *l, const char *prefix, const yaml_node_t *kn, const yaml_node_t *vn)
{
    char name[128], full[256];
    size_t len;
    const char *s;
    if (kn->type != YAML_SCALAR_NODE) {
        problem(l, kn, prefix[0] ? prefix : NULL, "a key must be a name, not a %s",
                kn->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
        return;
    }
    s = scalar(kn, &len);
    log_escape(name, sizeof name, s, len > 64 ? 64 : len);
    snprintf(full, sizeof full, "%s%s%s%s", prefix, prefix[0] ? "." : "", name,
             len > 64 ? "..." : "");
    /* a name with '.' or NUL in it is never a key: "limits.max_rcpts" is spelt as a
     * section, and an escaped NUL must not match the name it was cut at */
    int plain = len <= 64 && !memchr(s, '.', len) && !memchr(s, '\0', len);
    const struct cfg_key *k = plain ? find_key(l, full) : NULL;
    if (k) {
        load_key(l, k, kn, vn);
    } else if (plain && is_section(l, full)) {
        if (section_seen(l, full, kn))
            return;
        if (vn->type == YAML_MAPPING_NODE)
            load_mapping(l, full, vn);
        else if (vn->type == YAML_SEQUENCE_NODE)
            problem(l, vn, full, "expected a section (a mapping of keys), not a list");
        else if (!is_null(vn))
            problem(l, vn, full, "expected a section (a mapping of keys), not a single value");
    } else {
        unknown(l, full, kn, vn);
    }
}

static void
load_mapping(struct loader *l, const char *prefix, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        load_pair(l, prefix, yaml_document_get_node(l->doc, p->key),
                  yaml_document_get_node(l->doc, p->value));
    }
}

/* syntax - report libyaml's error with its position and context. */
static void
syntax(struct loader *l, const yaml_parser_t *p)
{
    struct cfg_pos pos = mark_pos(p->problem_mark);
    const char *what = p->problem ? p->problem : "unknown error";
    l->problems++;
    if (p->error == YAML_MEMORY_ERROR) {
        cfg_error(l->errs, l->name, NULL, NULL, "out of memory while parsing YAML");
    } else if (p->error == YAML_READER_ERROR) {
        cfg_error(l->errs, l->name, NULL, NULL, "YAML error: %s at byte %zu", what,
                  p->problem_offset);
    } else if (p->context) {
        struct cfg_pos c = mark_pos(p->context_mark);
        cfg_error(l->errs, l->name, &pos, NULL, "YAML syntax error: %s (%s at line %u, column %u)",
                  what, p->context, c.line, c.col);
    } else {
        cfg_error(l->errs, l->name, &pos, NULL, "YAML syntax error: %s", what);
    }
}

static void
load_root(struct loader *l)
{
    yaml_node_t *root = yaml_document_get_root_node(l->doc);
    if (!root)
        return; /* empty file or only comments: every default */
    if (root->type == YAML_SCALAR_NODE && is_null(root))
        return;
    if (root->type != YAML_MAPPING_NODE) {
        problem(l, root, NULL, "expected a mapping of keys (key: value) at the top level, not a %s",
                root->type == YAML_SEQUENCE_NODE ? "list" : "single value");
        return;
    }
    load_mapping(l, "", root);
}

size_t
cfg_parse(const struct cfg_key *keys, size_t nkeys, void *base, const char *name, const void *data,
          size_t len, struct config_errors *errs, struct cfg_pos *pos)
{
    struct loader l;
    yaml_parser_t parser;
    yaml_document_t doc;
    memset(&l, 0, sizeof l);
    l.keys = keys;
    l.nkeys = nkeys;
    l.base = base;
    l.name = name;
    l.errs = errs;
    l.pos = pos;
    l.doc = &doc;
    if (!yaml_parser_initialize(&parser)) {
        cfg_error(errs, name, NULL, NULL, "out of memory while parsing YAML");
        return 1;
    }
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax(&l, &parser);
        goto out;
    }
    load_root(&l);
    yaml_document_delete(&doc);
    /* a second document is an error: say so rather than ignore half the file */
    if (!yaml_parser_load(&parser, &doc)) {
        syntax(&l, &parser);
        goto out;
    }
    yaml_node_t *second = yaml_document_get_root_node(&doc);
    if (second)
        problem(&l, second, NULL, "a second YAML document (after ---) is not allowed");
    yaml_document_delete(&doc);
out:
    yaml_parser_delete(&parser);
    return l.problems;
}
