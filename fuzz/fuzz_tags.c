/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tags - libFuzzer driver for the DKIM tag-list parser arc_tags_parse and
 * arc_tags_get (src/arc/tags.c), the syntax of ARC-Seal, ARC-Message-Signature and
 * DKIM key records (RFC 6376 §3.2).
 *
 * The input is one tag-list, copied into a heap buffer of exactly its size so that
 * ASan catches a read past n. Besides crashes it checks:
 *   - only 0, -ARC_EINVAL or -ARC_ERANGE come back; never more than ARC_TAGS_MAX tags;
 *   - every name and value lies inside the input; names are ALPHA *(ALNUM / "_");
 *     no name appears twice; values carry no FWS at either end and only VALCHAR/FWS;
 *   - arc_tags_get finds each tag's own value (same span) by its name, and the
 *     names the engine asks for are either absent or one of the parsed tags.
 * Seeds: fuzz/corpus/tags/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arc/tags.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* span_inside - s lies within p[0..n). */
static int
span_inside(struct span s, const char *p, size_t n)
{
    if (!s.p)
        return s.n == 0;
    return s.p >= p && s.n <= n && (size_t)(s.p - p) <= n - s.n;
}

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

static void
check_tag(const struct arc_tags *t, size_t i, const char *p, size_t n)
{
    const struct arc_tag *tag = &t->tag[i];
    if (!span_inside(tag->name, p, n) || !span_inside(tag->value, p, n) || tag->name.n == 0)
        abort();
    if (!is_alpha(tag->name.p[0]))
        abort();
    for (size_t k = 1; k < tag->name.n; k++) {
        char c = tag->name.p[k];
        if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '_')
            abort();
    }
    if (tag->value.n && (is_fws(tag->value.p[0]) || is_fws(tag->value.p[tag->value.n - 1])))
        abort();
    for (size_t k = 0; k < tag->value.n; k++) {
        unsigned char c = (unsigned char)tag->value.p[k];
        if (!is_fws((char)c) && (c < 0x21 || c > 0x7e || c == ';'))
            abort();
    }
    for (size_t k = 0; k < i; k++) {
        if (span_eq(t->tag[k].name, tag->name))
            abort();
    }
    char *name = span_dup(tag->name);
    const struct span *v = arc_tags_get(t, name);
    if (v != &tag->value)
        abort();
    free(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const asked[] = {"a", "b", "bh", "c", "cv", "d", "h", "i", "k",
                                        "l", "p", "s",  "t", "v",  "x", "z", "A", ""};
    char *p = malloc(size ? size : 1);
    struct arc_tags *t = malloc(sizeof *t);
    if (!p || !t)
        abort();
    if (size)
        memcpy(p, data, size);
    int rc = arc_tags_parse((struct span){p, size}, t);
    if (rc != 0 && rc != -ARC_EINVAL && rc != -ARC_ERANGE)
        abort();
    if (rc == 0) {
        if (t->n > ARC_TAGS_MAX)
            abort();
        for (size_t i = 0; i < t->n; i++)
            check_tag(t, i, p, size);
        for (size_t i = 0; i < sizeof asked / sizeof *asked; i++) {
            const struct span *v = arc_tags_get(t, asked[i]);
            if (!v)
                continue;
            size_t k = 0;
            while (k < t->n && &t->tag[k].value != v)
                k++;
            if (k == t->n || !span_eq(t->tag[k].name, span_of(asked[i])))
                abort();
        }
    }
    free(t);
    free(p);
    return 0;
}
