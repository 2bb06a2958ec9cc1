/* SPDX-License-Identifier: MIT */
/*
 * buf - the one growable byte buffer of arcproxy, and a non-owning view.
 *
 *   buf_init(b, max)        empty buffer that may grow to max bytes (0: unbounded)
 *   buf_free(b)             release storage; b may be reused after buf_init
 *   buf_reset(b)            length 0, storage kept
 *   buf_append(b, p, n)     append bytes; -ARC_ERANGE when max would be passed
 *   buf_puts / buf_putc / buf_printf   convenience forms of buf_append
 *
 * Binary-safe: len is authoritative; data is kept NUL-terminated for convenience.
 * Pointers into data go stale after any append (storage may move). Allocation
 * failure is fatal (see xalloc.h); exceeding the cap is an ordinary error so that an
 * oversized input becomes a reply, never a crash.
 */
#ifndef ARCPROXY_BUF_H
#define ARCPROXY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

/* span - a non-owning view: pointer and length, passed by value. */
struct span {
    const char *p;
    size_t n;
};

#define SPAN_LIT(s) ((struct span){(s), sizeof(s) - 1})

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, int c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* buf_take - hand the storage to the caller (NUL-terminated, never NULL); b is reset. */
char *buf_take(struct buf *b, size_t *lenp);
static inline struct span
buf_span(const struct buf *b)
{
    return (struct span){b->data ? b->data : "", b->len};
}

struct span span_of(const char *s);
struct span span_trim(struct span s);
int span_eq(struct span a, struct span b);
int span_caseeq(struct span a, struct span b);
int span_caseeq_str(struct span a, const char *s);
/* span_dup - a NUL-terminated heap copy (xalloc). */
char *span_dup(struct span s);

#endif
