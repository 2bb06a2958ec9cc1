/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp - libFuzzer driver for the SMTP server state machine (src/smtp/server.c):
 * a whole client session goes in, in chunks, and a fake owner answers every event.
 *
 * Input: byte 0 chooses the configuration (bit 0 bare LF accepted, bit 1 XFORWARD
 * allowed, bit 2 small limits so that every limit is reached, bit 3 no DSN/8BITMIME/
 * SMTPUTF8 offered, bit 4 the owner answers later instead of inside the hook); the rest
 * is what the client sends. A PRNG seeded from a hash of the input cuts it into chunks
 * (1..97 bytes, each copied into a heap buffer of exactly its size so that ASan catches
 * a read past it), picks each owner reply from a table of good, refusing, multi-line and
 * malformed replies, and now and then calls smtp_server_timeout or _shutdown.
 *
 * Besides crashes and leaks it checks:
 *   - input and reply return only 0, -ARC_EINVAL (malformed reply) or -ARC_ESTATE;
 *   - the output is whole lines, each "ddd" followed by SP, "-" or CRLF;
 *   - the data hook runs only inside an accepted message; every LF it passes follows a
 *     CR (bare LF never reaches the owner); data_end's size is the bytes passed and
 *     stays within max_msg_size;
 *   - nothing happens after the close hook, which runs at most once.
 * Seeds: fuzz/corpus/smtp/ (sessions: pipelining, DSN, SMTPUTF8, XFORWARD, stuffing,
 * smuggling attempts, overlong lines, bad commands). Tokens: fuzz/smtp.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/server.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct smtp_server *s;
    uint64_t rng;
    int deferred;        /* bit 4: replies wait until after the chunk */
    int in_msg;          /* between an accepted DATA and data_end/data_abort */
    int closed;          /* the close hook ran */
    int want_354;        /* the pending event is DATA */
    size_t msg_bytes;    /* passed by the data hook in this message */
    char last;           /* last byte passed (LF check across calls) */
    size_t max_msg_size; /* from the configuration */
};

static uint64_t
next(struct fz *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

static const char *const replies[] = {
    "250 2.0.0 Ok",
    "250 2.1.0 Ok",
    "354 End data with <CR><LF>.<CR><LF>",
    "354 go",
    "451 4.3.0 try again later",
    "550 5.1.1 no such user",
    "554 5.7.1 rejected",
    "250-first line\r\n250-second\n250 last",
    "250",
    "hello",
    "2x0 bad",
    "250 a\rb",
    "",
};

/* answer - a reply for the pending event; DATA events prefer 354 so messages flow.
 * The reply may run hooks (held input is processed inside it), so the owner's state is
 * set before the call and put back when the reply is refused. */
static void
answer(struct fz *f)
{
    if (!smtp_server_pending(f->s) || f->closed)
        return;
    uint64_t r = next(f);
    const char *text = replies[r % (sizeof replies / sizeof *replies)];
    int was_data = f->want_354;
    if (was_data && (r >> 8) % 4 != 0)
        text = "354 End data with <CR><LF>.<CR><LF>";
    f->want_354 = 0;
    if (was_data && text[0] == '3') {
        f->in_msg = 1;
        f->msg_bytes = 0;
        f->last = 0;
    }
    int rc = smtp_server_reply(f->s, text);
    if (rc == 0)
        return;
    if (rc != -ARC_EINVAL && rc != -ARC_ESTATE)
        abort();
    f->in_msg = 0;
    f->want_354 = was_data;
    if (rc == -ARC_EINVAL) {
        /* malformed: the owner would send its own reply instead */
        f->want_354 = 0;
        rc = smtp_server_reply(f->s, "451 4.3.0 local error");
        if (rc != 0 && rc != -ARC_ESTATE)
            abort();
    }
}

static void
maybe_answer(struct fz *f)
{
    if (f->closed)
        abort();
    if (!f->deferred)
        answer(f);
}

static void
on_mail(void *ctx, const struct smtp_cmd *cmd, const struct smtp_xforward *xf)
{
    struct fz *f = ctx;
    if (!cmd->path || !xf)
        abort();
    for (size_t i = 0; i < cmd->nparams; i++) {
        if (!cmd->params[i].key || !cmd->params[i].key[0])
            abort();
    }
    maybe_answer(f);
}

static void
on_rcpt(void *ctx, const struct smtp_cmd *cmd)
{
    struct fz *f = ctx;
    if (!cmd->path || !cmd->path[0])
        abort();
    maybe_answer(f);
}

static void
on_data_start(void *ctx)
{
    struct fz *f = ctx;
    f->want_354 = 1;
    maybe_answer(f);
}

static void
on_data(void *ctx, const char *p, size_t n)
{
    struct fz *f = ctx;
    if (!f->in_msg || f->closed || n == 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i ? p[i - 1] : f->last) != '\r')
            abort();
    }
    f->last = p[n - 1];
    f->msg_bytes += n;
}

static void
on_data_end(void *ctx, size_t size)
{
    struct fz *f = ctx;
    if (!f->in_msg || size != f->msg_bytes || (f->max_msg_size && size > f->max_msg_size))
        abort();
    f->in_msg = 0;
    maybe_answer(f);
}

static void
on_data_abort(void *ctx, const char *why)
{
    struct fz *f = ctx;
    if (!why || f->closed)
        abort();
    f->in_msg = 0;
}

static void
on_close(void *ctx)
{
    struct fz *f = ctx;
    if (f->closed)
        abort();
    f->closed = 1;
}

static const struct smtp_server_hooks fz_hooks = {
    .mail = on_mail,
    .rcpt = on_rcpt,
    .data_start = on_data_start,
    .data = on_data,
    .data_end = on_data_end,
    .data_abort = on_data_abort,
    .close = on_close,
};

/* check_out - whole reply lines only; then drained. */
static void
check_out(struct smtp_server *s)
{
    struct span o = smtp_server_out(s);
    size_t i = 0;
    while (i < o.n) {
        if (o.n - i < 5)
            abort();
        for (int k = 0; k < 3; k++) {
            if (o.p[i + k] < '0' || o.p[i + k] > '9')
                abort();
        }
        if (o.p[i + 3] != ' ' && o.p[i + 3] != '-' && o.p[i + 3] != '\r')
            abort();
        const char *lf = memchr(o.p + i, '\n', o.n - i);
        if (!lf || lf[-1] != '\r')
            abort();
        i = (size_t)(lf - o.p) + 1;
    }
    smtp_server_out_consumed(s, o.n);
}

static void
config(struct smtp_server_cfg *c, uint8_t bits)
{
    smtp_server_cfg_default(c);
    c->hostname = "fuzz.test";
    c->bare_lf = bits & 1 ? SMTP_BARE_LF_ACCEPT : SMTP_BARE_LF_REJECT;
    c->xforward_allowed = (bits >> 1) & 1;
    if (bits & 4) {
        c->max_msg_size = 200;
        c->max_rcpts = 3;
        c->max_line = 80;
        c->max_header_bytes = 100;
        c->max_header_fields = 4;
        c->max_pipeline = 128;
        c->max_errors = 5;
    }
    if (bits & 8)
        c->offer_dsn = c->offer_8bitmime = c->offer_smtputf8 = 0;
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h | 1;
}

/* feed_chunk - one chunk in a buffer of exactly its size. */
static void
feed_chunk(struct fz *f, const uint8_t *p, size_t n)
{
    char *chunk = malloc(n);
    if (!chunk)
        abort();
    memcpy(chunk, p, n);
    int rc = smtp_server_input(f->s, chunk, n);
    if (rc != 0)
        abort();
    free(chunk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct smtp_server_cfg cfg;
    config(&cfg, data[0]);
    struct fz f = {0};
    f.rng = fnv1a(data, size);
    f.deferred = (data[0] >> 4) & 1;
    f.max_msg_size = cfg.max_msg_size;
    f.s = smtp_server_new(&cfg, &fz_hooks, &f);
    check_out(f.s);
    size_t off = 1;
    while (off < size && !smtp_server_closing(f.s)) {
        size_t n = 1 + next(&f) % 97;
        if (n > size - off)
            n = size - off;
        feed_chunk(&f, data + off, n);
        off += n;
        if (f.deferred)
            answer(&f);
        uint64_t r = next(&f) % 1000;
        if (r == 0)
            smtp_server_timeout(f.s);
        else if (r == 1)
            smtp_server_shutdown(f.s);
        check_out(f.s);
    }
    while (smtp_server_pending(f.s) && !f.closed) {
        answer(&f);
        check_out(f.s);
    }
    if (smtp_server_closing(f.s) != f.closed)
        abort();
    f.s = smtp_server_free(f.s);
    return 0;
}
