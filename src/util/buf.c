/* SPDX-License-Identifier: MIT */
/* buf - growable byte buffer with a cap; see buf.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* buf_reserve - make room for n more bytes plus the NUL. */
static int
buf_reserve(struct buf *b, size_t n)
{
    if (b->max && (n > b->max || b->len > b->max - n))
        return -ARC_ERANGE;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, int c)
{
    /* the common case first: canonicalization appends byte by byte */
    if (b->len + 2 <= b->cap && (!b->max || b->len < b->max)) {
        b->data[b->len++] = (char)c;
        b->data[b->len] = '\0';
        return 0;
    }
    char ch = (char)c;
    return buf_append(b, &ch, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return -ARC_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *
buf_take(struct buf *b, size_t *lenp)
{
    char *p = b->data ? b->data : xstrdup("");
    if (lenp)
        *lenp = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

struct span
span_of(const char *s)
{
    return (struct span){s, strlen(s)};
}

struct span
span_trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r' || s.p[0] == '\n')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r' ||
                   s.p[s.n - 1] == '\n'))
        s.n--;
    return s;
}

int
span_eq(struct span a, struct span b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

int
span_caseeq(struct span a, struct span b)
{
    return a.n == b.n && (a.n == 0 || strncasecmp(a.p, b.p, a.n) == 0);
}

int
span_caseeq_str(struct span a, const char *s)
{
    return span_caseeq(a, span_of(s));
}

char *
span_dup(struct span s)
{
    return xstrndup(s.p, s.n);
}
