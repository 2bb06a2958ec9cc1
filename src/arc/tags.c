/* SPDX-License-Identifier: MIT */
/* tags - RFC 6376 §3.2 tag-list parser; see tags.h. */
#include <string.h>

#include "../util/err.h"
#include "tags.h"

static int
is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_alnumpunc(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

static int
is_valchar(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 0x21 && u <= 0x7e && u != ';';
}

/* tags_one - parse one tag-spec in s (no ';' inside); empty after FWS is signalled by
 * returning 1 so that a trailing ';' is accepted. */
static int
tags_one(struct span s, struct arc_tag *tag)
{
    size_t i = 0;
    while (i < s.n && is_fws(s.p[i]))
        i++;
    if (i == s.n)
        return 1;
    size_t name0 = i;
    if (!is_alpha(s.p[i]))
        return -ARC_EINVAL;
    while (i < s.n && is_alnumpunc(s.p[i]))
        i++;
    tag->name = (struct span){s.p + name0, i - name0};
    while (i < s.n && is_fws(s.p[i]))
        i++;
    if (i == s.n || s.p[i] != '=')
        return -ARC_EINVAL;
    i++;
    struct span v = span_trim((struct span){s.p + i, s.n - i});
    for (size_t k = 0; k < v.n; k++) {
        if (!is_valchar(v.p[k]) && !is_fws(v.p[k]))
            return -ARC_EINVAL;
    }
    tag->value = v;
    return 0;
}

int
arc_tags_parse(struct span s, struct arc_tags *t)
{
    t->n = 0;
    if (!s.p)
        s.p = ""; /* (NULL, 0): no pointer arithmetic on NULL */
    size_t start = 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i < s.n && s.p[i] != ';')
            continue;
        struct span part = {s.p + start, i - start};
        struct arc_tag tag;
        int rc = tags_one(part, &tag);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            /* empty tag-spec: only allowed as the trailing one */
            if (i < s.n || t->n == 0)
                return -ARC_EINVAL;
        } else {
            for (size_t k = 0; k < t->n; k++) {
                if (span_eq(t->tag[k].name, tag.name))
                    return -ARC_EINVAL;
            }
            if (t->n == ARC_TAGS_MAX)
                return -ARC_ERANGE;
            t->tag[t->n++] = tag;
        }
        start = i + 1;
    }
    return 0;
}

const struct span *
arc_tags_get(const struct arc_tags *t, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < t->n; i++) {
        if (t->tag[i].name.n == len && memcmp(t->tag[i].name.p, name, len) == 0)
            return &t->tag[i].value;
    }
    return NULL;
}
