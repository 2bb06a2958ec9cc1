/* SPDX-License-Identifier: MIT */
/*
 * fold - write header fields folded below 78 columns where possible (RFC 5322 §2.2.3).
 *
 * Fields are built from words (a tag "d=example.org;", a result, ...) separated by one
 * space; a space becomes CRLF + SP when the next word would pass column 78. A word
 * longer than a line stays whole (lines may reach 998 octets), except base64 values,
 * which arc_fold_b64 breaks anywhere: FWS inside b=/bh= is allowed (RFC 6376 §3.5).
 * Folding only ever replaces or inserts whitespace, so relaxed canonicalization of
 * what we write is the same whatever the line breaks.
 */
#include <string.h>

#include "arc_int.h"

#define FOLD_COLS 78

void
arc_fold_begin(struct arc_fold *f, struct buf *out, const char *name)
{
    f->out = out;
    buf_puts(out, name);
    buf_putc(out, ':');
    f->col = strlen(name) + 1;
}

void
arc_fold_word(struct arc_fold *f, const char *p, size_t n, int space_before)
{
    if (space_before) {
        if (f->col + 1 + n > FOLD_COLS) {
            buf_append(f->out, "\r\n ", 3);
            f->col = 1;
        } else {
            buf_putc(f->out, ' ');
            f->col++;
        }
    }
    buf_append(f->out, p, n);
    f->col += n;
}

void
arc_fold_b64(struct arc_fold *f, const char *p, size_t n)
{
    while (n) {
        if (f->col >= FOLD_COLS) {
            buf_append(f->out, "\r\n ", 3);
            f->col = 1;
        }
        size_t room = FOLD_COLS - f->col;
        size_t k = n < room ? n : room;
        buf_append(f->out, p, k);
        f->col += k;
        p += k;
        n -= k;
    }
}

void
arc_fold_end(struct arc_fold *f)
{
    buf_append(f->out, "\r\n", 2);
}
