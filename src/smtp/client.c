/* SPDX-License-Identifier: MIT */
/* client - the re-injection SMTP client state machine; see client.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "../util/xalloc.h"
#include "client.h"

enum client_state {
    ST_GREETING, /* waiting for 220 */
    ST_EHLO,
    ST_HELO,
    ST_IDLE, /* ready, nothing in flight */
    ST_XFORWARD,
    ST_MAIL,
    ST_RCPT,
    ST_DATA, /* DATA sent, waiting for 354 */
    ST_BODY, /* 354 received: body bytes may be sent */
    ST_DOT,  /* end of data sent */
    ST_RSET,
    ST_NOOP,
    ST_QUIT,
    ST_CLOSED, /* after QUIT: nothing more */
    ST_FAILED,
};

struct smtp_client {
    struct smtp_client_cb cb;
    void *ctx;
    char *helo;
    enum client_state state;

    /* what the server offers (after EHLO) */
    unsigned ext;
    unsigned xf_attrs;
    uint64_t size_limit;

    /* transaction, to refuse commands out of sequence */
    int in_txn;
    size_t rcpts_ok;

    struct buf out;
    size_t out_off; /* bytes of out already handed to the adapter and consumed */

    /* reply assembly: the line being read, then the text of complete lines */
    struct buf line;
    struct buf text;
    size_t loff[SMTP_CLIENT_MAX_LINES];
    size_t llen[SMTP_CLIENT_MAX_LINES];
    size_t nlines;
    int rcode;
    struct span spans[SMTP_CLIENT_MAX_LINES];

    /* XFORWARD command lines still to send (CRLF-terminated) */
    struct buf xf;
    size_t xf_off;

    /* body: at the start of a line; the last two bytes sent */
    int bol;
    char tail[2];

    /* callbacks in progress; free requested from inside one */
    int depth;
    int zombie;
    char why[256];
};

static const struct {
    const char *name;
    unsigned bit;
} ext_table[] = {
    {"PIPELINING", SMTP_EXT_PIPELINING},
    {"SIZE", SMTP_EXT_SIZE},
    {"8BITMIME", SMTP_EXT_8BITMIME},
    {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
    {"DSN", SMTP_EXT_DSN},
    {"XFORWARD", SMTP_EXT_XFORWARD},
    {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
};

/* XFORWARD attributes in the order Postfix sends them. */
static const struct {
    const char *name;
    unsigned bit;
    size_t off;
} xf_table[] = {
    {"NAME", SMTP_XF_NAME, offsetof(struct smtp_xforward, name)},
    {"ADDR", SMTP_XF_ADDR, offsetof(struct smtp_xforward, addr)},
    {"PORT", SMTP_XF_PORT, offsetof(struct smtp_xforward, port)},
    {"PROTO", SMTP_XF_PROTO, offsetof(struct smtp_xforward, proto)},
    {"HELO", SMTP_XF_HELO, offsetof(struct smtp_xforward, helo)},
    {"IDENT", SMTP_XF_IDENT, offsetof(struct smtp_xforward, ident)},
    {"SOURCE", SMTP_XF_SOURCE, offsetof(struct smtp_xforward, source)},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- lifetime ---- */

/* word_ok - printable ASCII without space: an EHLO argument. */
static int
word_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

struct smtp_client *
smtp_client_new(const char *helo, const struct smtp_client_cb *cb, void *ctx)
{
    if (!word_ok(helo) || !cb)
        return NULL;
    struct smtp_client *c = xcalloc(1, sizeof *c);
    c->cb = *cb;
    c->ctx = ctx;
    c->helo = xstrdup(helo);
    c->state = ST_GREETING;
    buf_init(&c->out, 0);
    /* +1: the CR before the LF is stripped after the line is complete */
    buf_init(&c->line, SMTP_CLIENT_MAX_LINE + 1);
    buf_init(&c->text, (size_t)SMTP_CLIENT_MAX_LINE * SMTP_CLIENT_MAX_LINES);
    buf_init(&c->xf, 0);
    return c;
}

static void
client_destroy(struct smtp_client *c)
{
    buf_free(&c->out);
    buf_free(&c->line);
    buf_free(&c->text);
    buf_free(&c->xf);
    free(c->helo);
    free(c);
}

struct smtp_client *
smtp_client_free(struct smtp_client *c)
{
    if (!c)
        return NULL;
    if (c->depth > 0) {
        /* inside a callback: the entry point that ran it frees on the way out */
        c->zombie = 1;
        return NULL;
    }
    client_destroy(c);
    return NULL;
}

/* client_reap - at the end of an entry point: free if a callback asked; 1 if freed. */
static int
client_reap(struct smtp_client *c)
{
    if (c->depth == 0 && c->zombie) {
        client_destroy(c);
        return 1;
    }
    return 0;
}

static int
client_dead(const struct smtp_client *c)
{
    return c->zombie || c->state == ST_FAILED || c->state == ST_CLOSED;
}

/* client_failed - the one way to die: state FAILED, then cb->failed once. */
static void client_failed(struct smtp_client *c, enum smtp_client_fail cls,
                          const struct smtp_client_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
client_failed(struct smtp_client *c, enum smtp_client_fail cls, const struct smtp_client_reply *r,
              const char *fmt, ...)
{
    if (c->state == ST_FAILED || c->state == ST_CLOSED)
        return;
    c->state = ST_FAILED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    if (c->cb.failed) {
        c->depth++;
        c->cb.failed(c->ctx, cls, r, c->why);
        c->depth--;
    }
}

static void
client_deliver(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (c->cb.reply) {
        c->depth++;
        c->cb.reply(c->ctx, r);
        c->depth--;
    }
}

static void
client_ready(struct smtp_client *c)
{
    c->state = ST_IDLE;
    if (c->cb.ready) {
        c->depth++;
        c->cb.ready(c->ctx);
        c->depth--;
    }
}

/* ---- output ---- */

struct span
smtp_client_out(const struct smtp_client *c)
{
    if (!c || c->out_off >= c->out.len)
        return (struct span){"", 0};
    return (struct span){c->out.data + c->out_off, c->out.len - c->out_off};
}

void
smtp_client_out_consumed(struct smtp_client *c, size_t n)
{
    if (!c)
        return;
    size_t left = c->out.len - c->out_off;
    c->out_off += n < left ? n : left;
    if (c->out_off == c->out.len) {
        buf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off >= 4096 && c->out_off >= c->out.len / 2) {
        /* compact, so a long body does not creep forward in memory */
        memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out.data[c->out.len] = '\0';
        c->out_off = 0;
    }
}

/* out_put - append to out; out has no cap, so this cannot fail. */
static void
out_put(struct smtp_client *c, const char *p, size_t n)
{
    (void)buf_append(&c->out, p, n);
}

static void
out_puts(struct smtp_client *c, const char *s)
{
    out_put(c, s, strlen(s));
}

/* out_rollback - drop a half-built command after a check failed. */
static void
out_rollback(struct smtp_client *c, size_t mark)
{
    c->out.len = mark;
    if (c->out.data)
        c->out.data[mark] = '\0';
}

int
smtp_client_pending(const struct smtp_client *c)
{
    if (!c)
        return 0;
    switch (c->state) {
    case ST_IDLE:
    case ST_BODY:
    case ST_CLOSED:
    case ST_FAILED:
        return 0;
    default:
        return 1;
    }
}

/* ---- reply parsing ---- */

/* reply_line_parse - "NNN", "NNN text" or "NNN-text"; *last is 0 for "NNN-". */
static int
reply_line_parse(struct span l, int *code, int *last, struct span *text)
{
    if (l.n < 3)
        return -ARC_EINVAL;
    const unsigned char *u = (const unsigned char *)l.p;
    if (u[0] < '2' || u[0] > '5' || u[1] < '0' || u[1] > '9' || u[2] < '0' || u[2] > '9')
        return -ARC_EINVAL;
    *code = (u[0] - '0') * 100 + (u[1] - '0') * 10 + (u[2] - '0');
    if (l.n == 3) {
        *last = 1;
        *text = (struct span){l.p + 3, 0};
        return 0;
    }
    if (u[3] != ' ' && u[3] != '-')
        return -ARC_EINVAL;
    *last = u[3] == ' ';
    *text = (struct span){l.p + 4, l.n - 4};
    /* relayed upstream as text: no line breaks or NULs may hide inside */
    if (memchr(text->p, '\r', text->n) || memchr(text->p, '\0', text->n))
        return -ARC_EINVAL;
    return 0;
}

static void reply_dispatch(struct smtp_client *c, const struct smtp_client_reply *r);

/* reply_complete - the last line arrived: hand the reply on, then forget it. */
static void
reply_complete(struct smtp_client *c)
{
    for (size_t i = 0; i < c->nlines; i++)
        c->spans[i] = (struct span){c->text.data + c->loff[i], c->llen[i]};
    struct smtp_client_reply r = {c->rcode, c->nlines, c->spans};
    reply_dispatch(c, &r);
    c->nlines = 0;
    buf_reset(&c->text);
}

/* reply_line - one complete line (LF removed) in c->line. */
static void
reply_line(struct smtp_client *c)
{
    struct span l = buf_span(&c->line);
    if (l.n && l.p[l.n - 1] == '\r')
        l.n--;
    if (l.n > SMTP_CLIENT_MAX_LINE) {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, NULL, "reply line longer than %d octets",
                      SMTP_CLIENT_MAX_LINE);
        return;
    }
    int code, last;
    struct span text;
    if (reply_line_parse(l, &code, &last, &text) < 0) {
        char esc[80];
        log_escape(esc, sizeof esc, l.p, l.n < 64 ? l.n : 64);
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, NULL, "malformed reply line \"%s\"", esc);
        return;
    }
    if (c->nlines == 0) {
        c->rcode = code;
    } else if (code != c->rcode) {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, NULL, "reply code changed from %d to %d",
                      c->rcode, code);
        return;
    }
    if (c->nlines == SMTP_CLIENT_MAX_LINES) {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, NULL, "reply longer than %d lines",
                      SMTP_CLIENT_MAX_LINES);
        return;
    }
    c->loff[c->nlines] = c->text.len;
    c->llen[c->nlines] = text.n;
    (void)buf_append(&c->text, text.p, text.n); /* within its cap by the checks above */
    c->nlines++;
    if (last)
        reply_complete(c);
}

int
smtp_client_input(struct smtp_client *c, const char *p, size_t n)
{
    if (!c)
        return -ARC_EINVAL;
    if (client_dead(c))
        return -ARC_ESTATE;
    c->depth++;
    while (n > 0 && !client_dead(c)) {
        const char *lf = memchr(p, '\n', n);
        size_t k = lf ? (size_t)(lf - p) : n;
        if (buf_append(&c->line, p, k) < 0) {
            client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, NULL, "reply line longer than %d octets",
                          SMTP_CLIENT_MAX_LINE);
            break;
        }
        if (!lf)
            break;
        p += k + 1;
        n -= k + 1;
        reply_line(c);
        buf_reset(&c->line);
    }
    c->depth--;
    client_reap(c);
    return 0;
}

int
smtp_client_eof(struct smtp_client *c)
{
    if (!c)
        return -ARC_EINVAL;
    if (c->state == ST_QUIT || c->state == ST_CLOSED) {
        /* after QUIT, a close without the 221 is what many servers do */
        c->state = ST_CLOSED;
        return 0;
    }
    if (client_dead(c))
        return -ARC_ESTATE;
    c->depth++;
    if (c->line.len || c->nlines)
        client_failed(c, SMTP_CLIENT_FAIL_CLOSED, NULL,
                      "connection closed by server in the middle of a reply");
    else
        client_failed(c, SMTP_CLIENT_FAIL_CLOSED, NULL, "connection closed by server");
    c->depth--;
    client_reap(c);
    return 0;
}

int
smtp_client_fail(struct smtp_client *c, enum smtp_client_fail cls, const char *why)
{
    if (!c)
        return -ARC_EINVAL;
    if (client_dead(c))
        return -ARC_ESTATE;
    c->depth++;
    client_failed(c, cls, NULL, "%s", why ? why : smtp_client_fail_name(cls));
    c->depth--;
    client_reap(c);
    return 0;
}

/* ---- reply handling per state ---- */

/* next_word - the next space/tab separated word of *s; empty at the end. */
static struct span
next_word(struct span *s)
{
    while (s->n && (s->p[0] == ' ' || s->p[0] == '\t')) {
        s->p++;
        s->n--;
    }
    size_t i = 0;
    while (i < s->n && s->p[i] != ' ' && s->p[i] != '\t')
        i++;
    struct span w = {s->p, i};
    s->p += i;
    s->n -= i;
    return w;
}

/* parse_u64 - decimal digits only; saturates at UINT64_MAX. */
static int
parse_u64(struct span s, uint64_t *out)
{
    if (s.n == 0)
        return -ARC_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -ARC_EINVAL;
        unsigned d = (unsigned)(s.p[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

static void
ehlo_keyword(struct smtp_client *c, struct span kw, struct span args)
{
    for (size_t i = 0; i < NELEM(ext_table); i++)
        if (span_caseeq_str(kw, ext_table[i].name))
            c->ext |= ext_table[i].bit;
    if (span_caseeq_str(kw, "SIZE")) {
        uint64_t v;
        c->size_limit = parse_u64(next_word(&args), &v) == 0 ? v : 0;
    } else if (span_caseeq_str(kw, "XFORWARD")) {
        for (struct span w = next_word(&args); w.n; w = next_word(&args))
            for (size_t i = 0; i < NELEM(xf_table); i++)
                if (span_caseeq_str(w, xf_table[i].name))
                    c->xf_attrs |= xf_table[i].bit;
    }
}

/* ehlo_parse - line 0 is the server's name; each later line one extension. */
static void
ehlo_parse(struct smtp_client *c, const struct smtp_client_reply *r)
{
    c->ext = 0;
    c->xf_attrs = 0;
    c->size_limit = 0;
    for (size_t i = 1; i < r->nlines; i++) {
        struct span args = r->lines[i];
        struct span kw = next_word(&args);
        if (kw.n)
            ehlo_keyword(c, kw, args);
    }
}

static void
on_greeting(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (r->code == 220) {
        out_puts(c, "EHLO ");
        out_puts(c, c->helo);
        out_puts(c, "\r\n");
        c->state = ST_EHLO;
    } else if (r->code >= 400) {
        client_failed(c, SMTP_CLIENT_FAIL_REFUSED, r, "greeting refused: %d", r->code);
    } else {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unexpected greeting code %d", r->code);
    }
}

static void
on_ehlo(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (r->code / 100 == 2) {
        ehlo_parse(c, r);
        client_ready(c);
    } else if (r->code / 100 == 5) {
        /* an old or minimal server: HELO, no extensions */
        out_puts(c, "HELO ");
        out_puts(c, c->helo);
        out_puts(c, "\r\n");
        c->state = ST_HELO;
    } else if (r->code / 100 == 4) {
        client_failed(c, SMTP_CLIENT_FAIL_REFUSED, r, "EHLO refused: %d", r->code);
    } else {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unexpected reply %d to EHLO", r->code);
    }
}

static void
on_helo(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (r->code / 100 == 2) {
        c->ext = 0;
        c->xf_attrs = 0;
        c->size_limit = 0;
        client_ready(c);
    } else if (r->code >= 400) {
        client_failed(c, SMTP_CLIENT_FAIL_REFUSED, r, "HELO refused: %d", r->code);
    } else {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unexpected reply %d to HELO", r->code);
    }
}

/* xf_send_next - send the next queued XFORWARD line; 0 when none is left. */
static int
xf_send_next(struct smtp_client *c)
{
    if (c->xf_off >= c->xf.len)
        return 0;
    const char *p = c->xf.data + c->xf_off;
    const char *e = strstr(p, "\r\n");
    size_t n = (size_t)(e - p) + 2;
    out_put(c, p, n);
    c->xf_off += n;
    return 1;
}

static void
on_xforward(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (r->code / 100 == 2 && xf_send_next(c))
        return;
    buf_reset(&c->xf);
    c->xf_off = 0;
    c->state = ST_IDLE;
    client_deliver(c, r);
}

static const char *
state_cmd_name(enum client_state st)
{
    switch (st) {
    case ST_XFORWARD:
        return "XFORWARD";
    case ST_MAIL:
        return "MAIL";
    case ST_RCPT:
        return "RCPT";
    case ST_DATA:
        return "DATA";
    case ST_DOT:
        return "end of data";
    case ST_RSET:
        return "RSET";
    case ST_NOOP:
        return "NOOP";
    case ST_QUIT:
        return "QUIT";
    default:
        return "no command";
    }
}

/* on_command - a reply to MAIL, RCPT, DATA, end of data, RSET or NOOP. */
static void
on_command(struct smtp_client *c, const struct smtp_client_reply *r)
{
    int cls = r->code / 100;
    int go_on = c->state == ST_DATA && r->code == 354;
    if (!go_on && cls != 2 && cls != 4 && cls != 5) {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unexpected reply %d to %s", r->code,
                      state_cmd_name(c->state));
        return;
    }
    if (c->state == ST_DATA && cls == 2) {
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unexpected reply %d to DATA", r->code);
        return;
    }
    switch (c->state) {
    case ST_MAIL:
        c->in_txn = cls == 2;
        c->rcpts_ok = 0;
        break;
    case ST_RCPT:
        c->rcpts_ok += cls == 2;
        break;
    case ST_DOT:
        /* the transaction is over whatever the reply */
        c->in_txn = 0;
        c->rcpts_ok = 0;
        break;
    case ST_RSET:
        if (cls == 2) {
            c->in_txn = 0;
            c->rcpts_ok = 0;
        }
        break;
    default:
        break;
    }
    if (go_on) {
        c->state = ST_BODY;
        c->bol = 1;
        c->tail[0] = '\r';
        c->tail[1] = '\n';
    } else {
        c->state = ST_IDLE;
    }
    client_deliver(c, r);
}

static void
reply_dispatch(struct smtp_client *c, const struct smtp_client_reply *r)
{
    if (r->code == 421 && c->state != ST_QUIT) {
        client_failed(c, SMTP_CLIENT_FAIL_CLOSED, r, "server closing the session (421)");
        return;
    }
    switch (c->state) {
    case ST_GREETING:
        on_greeting(c, r);
        break;
    case ST_EHLO:
        on_ehlo(c, r);
        break;
    case ST_HELO:
        on_helo(c, r);
        break;
    case ST_XFORWARD:
        on_xforward(c, r);
        break;
    case ST_QUIT:
        c->state = ST_CLOSED;
        client_deliver(c, r);
        break;
    case ST_MAIL:
    case ST_RCPT:
    case ST_DATA:
    case ST_DOT:
    case ST_RSET:
    case ST_NOOP:
        on_command(c, r);
        break;
    default:
        client_failed(c, SMTP_CLIENT_FAIL_PROTOCOL, r, "unsolicited reply %d", r->code);
        break;
    }
}

/* ---- commands ---- */

/* check_idle - ready and nothing in flight. */
static int
check_idle(const struct smtp_client *c)
{
    if (!c)
        return -ARC_EINVAL;
    return c->state == ST_IDLE && !c->zombie ? 0 : -ARC_ESTATE;
}

/* text_ok - no control characters (CR, LF above all): nothing can be injected. */
static int
text_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* keyword_ok - esmtp-keyword: ALPHA / DIGIT, then also "-". */
static int
keyword_ok(const char *s)
{
    if (!s || !*s || *s == '-')
        return 0;
    for (; *s; s++) {
        unsigned char u = (unsigned char)*s;
        if (!((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
              u == '-'))
            return 0;
    }
    return 1;
}

/* value_ok - esmtp-value: octets 33-126 except "=", and UTF-8 (RFC 6531). */
static int
value_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char u = (unsigned char)*s;
        if (u <= 0x20 || u == '=' || u == 0x7f)
            return 0;
    }
    return 1;
}

/* params_put - " KEY[=VALUE]" for each param; is_mail applies the SIZE= rules. */
static int
params_put(struct smtp_client *c, const struct smtp_param *params, size_t n, int is_mail,
           uint64_t size_add)
{
    for (size_t i = 0; i < n; i++) {
        const struct smtp_param *pa = &params[i];
        if (!keyword_ok(pa->key) || (pa->value && !value_ok(pa->value)))
            return -ARC_EINVAL;
        if (is_mail && span_caseeq_str(span_of(pa->key), "SIZE")) {
            uint64_t v;
            if (!pa->value || smtp_client_size_raise(pa->value, size_add, &v) < 0)
                return -ARC_EINVAL;
            if (!(c->ext & SMTP_EXT_SIZE))
                continue; /* RFC 1870: not without the extension */
            char num[32];
            snprintf(num, sizeof num, " SIZE=%llu", (unsigned long long)v);
            out_puts(c, num);
            continue;
        }
        out_puts(c, " ");
        out_puts(c, pa->key);
        if (pa->value) {
            out_puts(c, "=");
            out_puts(c, pa->value);
        }
    }
    return 0;
}

/* send_path_cmd - "MAIL FROM:<path> params" or "RCPT TO:<path> params". */
static int
send_path_cmd(struct smtp_client *c, enum client_state st, const char *verb, const char *path,
              const struct smtp_param *params, size_t nparams, uint64_t size_add)
{
    if (!path || !text_ok(path) || (nparams && !params))
        return -ARC_EINVAL;
    size_t mark = c->out.len;
    out_puts(c, verb);
    out_puts(c, path);
    out_puts(c, ">");
    int rc = params_put(c, params, nparams, st == ST_MAIL, size_add);
    if (rc < 0) {
        out_rollback(c, mark);
        return rc;
    }
    out_puts(c, "\r\n");
    c->state = st;
    return 0;
}

int
smtp_client_mail(struct smtp_client *c, const char *path, const struct smtp_param *params,
                 size_t nparams, uint64_t size_add)
{
    int rc = check_idle(c);
    if (rc < 0)
        return rc;
    if (c->in_txn)
        return -ARC_ESTATE;
    return send_path_cmd(c, ST_MAIL, "MAIL FROM:<", path, params, nparams, size_add);
}

int
smtp_client_rcpt(struct smtp_client *c, const char *path, const struct smtp_param *params,
                 size_t nparams)
{
    int rc = check_idle(c);
    if (rc < 0)
        return rc;
    if (!c->in_txn)
        return -ARC_ESTATE;
    return send_path_cmd(c, ST_RCPT, "RCPT TO:<", path, params, nparams, 0);
}

/* simple_cmd - a command without arguments. */
static int
simple_cmd(struct smtp_client *c, enum client_state st, const char *line)
{
    int rc = check_idle(c);
    if (rc < 0)
        return rc;
    out_puts(c, line);
    c->state = st;
    return 0;
}

int
smtp_client_data(struct smtp_client *c)
{
    if (c && c->state == ST_IDLE && (!c->in_txn || c->rcpts_ok == 0))
        return -ARC_ESTATE;
    return simple_cmd(c, ST_DATA, "DATA\r\n");
}

int
smtp_client_rset(struct smtp_client *c)
{
    return simple_cmd(c, ST_RSET, "RSET\r\n");
}

int
smtp_client_noop(struct smtp_client *c)
{
    return simple_cmd(c, ST_NOOP, "NOOP\r\n");
}

int
smtp_client_quit(struct smtp_client *c)
{
    return simple_cmd(c, ST_QUIT, "QUIT\r\n");
}

/* ---- XFORWARD ---- */

/* xtext_put - RFC 3461 xtext of v, at most max characters of output; an escape is
 * never cut in half. */
static void
xtext_put(struct buf *b, const char *v, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t enc = 0;
    for (size_t i = 0; v[i]; i++) {
        unsigned char u = (unsigned char)v[i];
        if (u >= '!' && u <= '~' && u != '+' && u != '=') {
            if (enc + 1 > max)
                break;
            (void)buf_putc(b, u);
            enc++;
        } else {
            if (enc + 3 > max)
                break;
            char e[3] = {'+', hex[u >> 4], hex[u & 15]};
            (void)buf_append(b, e, 3);
            enc += 3;
        }
    }
}

/* xf_build - the XFORWARD lines into c->xf, each within SMTP_CLIENT_CMD_LINE. */
static void
xf_build(struct smtp_client *c, const struct smtp_xforward *xf)
{
    /* room for "XFORWARD" + " KEY=value"... before the CRLF; one attribute always fits:
     * "XFORWARD SOURCE=" + SMTP_CLIENT_XF_VALUE is far below it */
    const size_t room = SMTP_CLIENT_CMD_LINE - 2;
    const size_t verb = sizeof "XFORWARD" - 1;
    struct buf item;
    buf_init(&item, 0);
    size_t linelen = 0; /* 0: no line open */
    for (size_t i = 0; i < NELEM(xf_table); i++) {
        if (!(c->xf_attrs & xf_table[i].bit))
            continue;
        const char *v = xf ? *(char *const *)((const char *)xf + xf_table[i].off) : NULL;
        buf_reset(&item);
        buf_printf(&item, "%s=", xf_table[i].name);
        if (v)
            xtext_put(&item, v, SMTP_CLIENT_XF_VALUE);
        else
            buf_puts(&item, "[UNAVAILABLE]");
        if (linelen && linelen + 1 + item.len > room) {
            buf_puts(&c->xf, "\r\n");
            linelen = 0;
        }
        if (!linelen) {
            buf_puts(&c->xf, "XFORWARD");
            linelen = verb;
        }
        buf_putc(&c->xf, ' ');
        buf_append(&c->xf, item.data, item.len);
        linelen += 1 + item.len;
    }
    if (linelen)
        buf_puts(&c->xf, "\r\n");
    buf_free(&item);
}

int
smtp_client_xforward(struct smtp_client *c, const struct smtp_xforward *xf)
{
    int rc = check_idle(c);
    if (rc < 0)
        return rc;
    if (c->in_txn)
        return -ARC_ESTATE;
    if (!(c->ext & SMTP_EXT_XFORWARD) || !c->xf_attrs)
        return -ARC_ENOENT;
    buf_reset(&c->xf);
    c->xf_off = 0;
    xf_build(c, xf);
    xf_send_next(c);
    c->state = ST_XFORWARD;
    return 0;
}

/* ---- body ---- */

int
smtp_client_body(struct smtp_client *c, const char *p, size_t n)
{
    if (!c || (n && !p))
        return -ARC_EINVAL;
    if (c->state != ST_BODY || c->zombie)
        return -ARC_ESTATE;
    size_t start = 0, i = 0;
    while (i < n) {
        if (c->bol) {
            c->bol = 0;
            if (p[i] == '.') {
                /* the line's own '.' goes out with the next run */
                out_put(c, p + start, i - start);
                out_put(c, ".", 1);
                start = i;
            }
        }
        const char *lf = memchr(p + i, '\n', n - i);
        if (!lf)
            break;
        i = (size_t)(lf - p) + 1;
        c->bol = 1;
    }
    out_put(c, p + start, n - start);
    if (n >= 2) {
        c->tail[0] = p[n - 2];
        c->tail[1] = p[n - 1];
    } else if (n == 1) {
        c->tail[0] = c->tail[1];
        c->tail[1] = p[0];
    }
    return 0;
}

int
smtp_client_body_end(struct smtp_client *c)
{
    if (!c)
        return -ARC_EINVAL;
    if (c->state != ST_BODY || c->zombie)
        return -ARC_ESTATE;
    if (c->tail[1] == '\r')
        out_puts(c, "\n"); /* complete the CRLF rather than leave a bare CR */
    else if (c->tail[0] != '\r' || c->tail[1] != '\n')
        out_puts(c, "\r\n");
    out_puts(c, ".\r\n");
    c->state = ST_DOT;
    return 0;
}

/* ---- queries and helpers ---- */

int
smtp_client_has_ext(const struct smtp_client *c, unsigned ext)
{
    return c && ext && (c->ext & ext) == ext;
}

uint64_t
smtp_client_size_limit(const struct smtp_client *c)
{
    return c ? c->size_limit : 0;
}

unsigned
smtp_client_xforward_attrs(const struct smtp_client *c)
{
    return c && (c->ext & SMTP_EXT_XFORWARD) ? c->xf_attrs : 0;
}

int
smtp_client_size_raise(const char *value, uint64_t add, uint64_t *out)
{
    if (!value || !out)
        return -ARC_EINVAL;
    uint64_t v;
    if (strlen(value) > 20 || parse_u64(span_of(value), &v) < 0)
        return -ARC_EINVAL;
    *out = v > UINT64_MAX - add ? UINT64_MAX : v + add;
    return 0;
}

/* esc_at - text starts with an enhanced status code "c.sss.ddd" (RFC 3463). */
static int
esc_at(struct span t)
{
    size_t i = 0;
    if (t.n < 5 || t.p[0] < '2' || t.p[0] > '5' || t.p[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t d = 0;
        while (i < t.n && t.p[i] >= '0' && t.p[i] <= '9' && d < 4) {
            i++;
            d++;
        }
        if (d < 1 || d > 3)
            return 0;
        if (part == 0) {
            if (i >= t.n || t.p[i] != '.')
                return 0;
            i++;
        }
    }
    return i == t.n || t.p[i] == ' ';
}

int
smtp_client_reply_format(const struct smtp_client_reply *r, int code, struct buf *out)
{
    if (!r || !out)
        return -ARC_EINVAL;
    if (code == 0)
        code = r->code;
    if (code < 200 || code > 599)
        return -ARC_EINVAL;
    int rc = 0;
    if (r->nlines == 0)
        return buf_printf(out, "%d", code);
    for (size_t i = 0; i < r->nlines && rc == 0; i++) {
        struct span t = r->lines[i];
        int last = i + 1 == r->nlines;
        if (i)
            rc = buf_puts(out, "\r\n");
        if (rc == 0 && last && t.n == 0)
            rc = buf_printf(out, "%d", code);
        else if (rc == 0)
            rc = buf_printf(out, "%d%c", code, last ? ' ' : '-');
        if (rc == 0 && t.n && code / 100 != r->code / 100 && esc_at(t)) {
            rc = buf_putc(out, '0' + code / 100);
            t.p++;
            t.n--;
        }
        if (rc == 0)
            rc = buf_append(out, t.p, t.n);
    }
    return rc;
}

const char *
smtp_client_fail_name(enum smtp_client_fail cls)
{
    switch (cls) {
    case SMTP_CLIENT_FAIL_PROTOCOL:
        return "protocol error";
    case SMTP_CLIENT_FAIL_CLOSED:
        return "connection closed";
    case SMTP_CLIENT_FAIL_REFUSED:
        return "session refused";
    case SMTP_CLIENT_FAIL_TIMEOUT:
        return "timeout";
    case SMTP_CLIENT_FAIL_INTERNAL:
        return "internal error";
    }
    return "unknown failure";
}
