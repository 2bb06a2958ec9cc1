/* SPDX-License-Identifier: MIT */
/*
 * server - the SMTP server protocol state machine; contract in server.h.
 *
 * Layout: session plumbing (input, pipelining buffer, replies out) · command lines ·
 * the command table, one check_/proceed_ pair per verb (OpenSMTPD smtp_session.c: the
 * check side only parses into the session's scratch fields and picks a reply; the
 * proceed side acts) · address and parameter syntax (RFC 5321 §4.1.2, RFC 1870, 6152,
 * 3461, 6531) · XFORWARD · the DATA byte machine · the public functions.
 *
 * The DATA machine passes runs of the input straight to hooks->data; only a dropped
 * stuffing dot, a held ".\r" at a line start, and the CRLF written for an accepted bare
 * LF break a run. Nothing of the message is buffered here.
 *
 * Known gaps: no STARTTLS, AUTH, CHUNKING/BDAT (Postfix's client never sends BDAT to a
 * filter); address syntax is checked for shape (brackets, quoting, characters), not
 * for every RFC 5321 corner (consecutive dots in a dot-string are accepted, as Postfix
 * accepts them).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "../util/xalloc.h"
#include "reply.h"
#include "server.h"

#define UNUSED     __attribute__((unused))
#define XF_NATTR   7
#define XF_MAX_LEN 255

enum phase { PH_CMD, PH_DATA };
enum pend { P_NONE, P_MAIL, P_RCPT, P_DATA, P_DOT };
enum dstate { D_BOL, D_TEXT, D_CR, D_DOT, D_DOT_CR };

/* per-message state of the DATA machine */
struct data_st {
    enum dstate st;
    int bol_crlf;        /* the line now starting followed a real CRLF */
    size_t size;         /* unstuffed bytes so far */
    int in_hdr;          /* still in the header section */
    size_t hdr_bytes;    /* complete header lines, with their CRLF */
    size_t hdr_fields;   /* lines starting a field (not WSP) */
    size_t hdr_line;     /* bytes of the header line in progress */
    char hdr_first;      /* its first byte */
    enum smtp_reply rej; /* the message is being discarded: the reply at its end */
};

struct smtp_server {
    struct smtp_server_cfg cfg;
    char *hostname;
    struct smtp_server_hooks hooks;
    void *ctx;
    struct buf out;  /* replies not yet taken by the adapter */
    struct buf line; /* the command line being received (cap max_line) */
    struct buf pipe; /* input held while pending (cap max_pipeline) */
    int line_skip;   /* discarding the rest of an overlong line */
    int pipe_full;   /* input was dropped while pending: 421 after the reply */
    int depth;       /* inside process(): hooks are running */
    int closing;
    enum phase phase;
    enum pend pending;
    unsigned errors;
    char *helo;
    int esmtp;
    /* transaction */
    int mail_open;
    int tx_utf8; /* MAIL had SMTPUTF8 */
    size_t nrcpt;
    struct smtp_xforward xf;
    struct data_st d;
    /* check_ scratch, read by proceed_ (and by the hook while pending) */
    struct smtp_cmd cmd;
    int cmd_8bit; /* the path has 8-bit bytes */
    int cmd_utf8; /* SMTPUTF8 applies: MAIL has it, or RCPT in such a transaction */
    uint64_t cmd_size;
    char *xf_new[XF_NATTR];
    int xf_set[XF_NATTR];
};

static size_t process(struct smtp_server *s, const char *p, size_t n);

/* ---- session plumbing ------------------------------------------------------------ */

static void
out_line(struct smtp_server *s, const char *text)
{
    buf_puts(&s->out, text);
    buf_puts(&s->out, "\r\n");
}

static void
sess_close(struct smtp_server *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->pending = P_NONE;
    buf_reset(&s->pipe);
    if (s->hooks.close)
        s->hooks.close(s->ctx);
}

/* is_protocol_error - replies counted toward max_errors: enhanced class 5.5.x. */
static int
is_protocol_error(enum smtp_reply r)
{
    const char *t = smtp_reply_text(r);
    return strlen(t) > 8 && strncmp(t + 4, "5.5.", 4) == 0;
}

/* say - a reply from the table; the max_errors-th protocol error becomes 421. */
static void
say(struct smtp_server *s, enum smtp_reply r)
{
    if (is_protocol_error(r) && s->cfg.max_errors && ++s->errors >= s->cfg.max_errors) {
        out_line(s, smtp_reply_text(SMTP_R_TOO_MANY_ERR));
        sess_close(s);
        return;
    }
    out_line(s, smtp_reply_text(r));
}

static void
cmd_clear(struct smtp_cmd *c)
{
    for (size_t i = 0; i < c->nparams; i++) {
        free(c->params[i].key);
        free(c->params[i].value);
    }
    free(c->params);
    free(c->path);
    memset(c, 0, sizeof *c);
}

static void
xf_clear_new(struct smtp_server *s)
{
    for (int i = 0; i < XF_NATTR; i++) {
        free(s->xf_new[i]);
        s->xf_new[i] = NULL;
        s->xf_set[i] = 0;
    }
}

/* xf_slot - attribute i of x, in the order of xf_names. */
static char **
xf_slot(struct smtp_xforward *x, int i)
{
    char **slots[XF_NATTR] = {&x->name, &x->addr,  &x->port,  &x->proto,
                              &x->helo, &x->ident, &x->source};
    return slots[i];
}

static void
xf_clear(struct smtp_xforward *x)
{
    for (int i = 0; i < XF_NATTR; i++) {
        free(*xf_slot(x, i));
        *xf_slot(x, i) = NULL;
    }
    x->present = 0;
}

/* txn_reset - end the transaction (RSET, EHLO/HELO, end of data) and tell the owner. */
static void
txn_reset(struct smtp_server *s)
{
    s->mail_open = 0;
    s->tx_utf8 = 0;
    s->nrcpt = 0;
    s->phase = PH_CMD;
    cmd_clear(&s->cmd);
    xf_clear(&s->xf);
    if (s->hooks.reset)
        s->hooks.reset(s->ctx);
}

/* hold - keep input that arrives (or is left) while a command is pending. */
static void
hold(struct smtp_server *s, const char *p, size_t n)
{
    if (s->pipe_full || buf_append(&s->pipe, p, n) < 0)
        s->pipe_full = 1;
}

/* drain - process held input after a reply given outside any hook. */
static void
drain(struct smtp_server *s)
{
    s->depth++;
    size_t used = process(s, s->pipe.data, s->pipe.len);
    s->depth--;
    if (s->closing || used == s->pipe.len) {
        buf_reset(&s->pipe);
        return;
    }
    memmove(s->pipe.data, s->pipe.data + used, s->pipe.len - used);
    s->pipe.len -= used;
}

/* abort_session - 421 now, whatever is pending; an unfinished message is dropped. */
static void
abort_session(struct smtp_server *s, enum smtp_reply r, const char *why)
{
    if (s->closing)
        return;
    int in_msg = s->phase == PH_DATA || s->pending == P_DOT;
    if (in_msg && !s->d.rej && s->hooks.data_abort)
        s->hooks.data_abort(s->ctx, why);
    s->pending = P_NONE;
    out_line(s, smtp_reply_text(r));
    sess_close(s);
}

/* ---- syntax helpers ---------------------------------------------------------------- */

static int
is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int
hex_val(unsigned char c)
{
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* is_atext - RFC 5321 atext (RFC 5322 §3.2.3). */
static int
is_atext(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* utf8_valid - well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int
utf8_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000;
        else
            return 0;
        if (n - i <= need)
            return 0;
        unsigned v = c & (0x3f >> need);
        for (unsigned k = 1; k <= need; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return 0;
            v = (v << 6) | (u[i + k] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* skip_sp - advance past spaces and tabs. */
static void
skip_sp(struct span *a)
{
    while (a->n && (a->p[0] == ' ' || a->p[0] == '\t')) {
        a->p++;
        a->n--;
    }
}

/* take_prefix - consume a case-insensitive prefix of a. */
static int
take_prefix(struct span *a, const char *prefix)
{
    size_t k = strlen(prefix);
    if (a->n < k || strncasecmp(a->p, prefix, k) != 0)
        return 0;
    a->p += k;
    a->n -= k;
    return 1;
}

/* next_word - the next SP/TAB-separated word of a (empty at the end). */
static struct span
next_word(struct span *a)
{
    skip_sp(a);
    size_t k = 0;
    while (k < a->n && a->p[k] != ' ' && a->p[k] != '\t')
        k++;
    struct span w = {a->p, k};
    a->p += k;
    a->n -= k;
    return w;
}

/* xtext_check - RFC 3461 xtext ("+" HEX HEX for specials); 8-bit allowed if utf8. */
static int
xtext_check(const char *v, size_t n, int utf8)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '+') {
            if (n - i < 3 || !is_hex((unsigned char)v[i + 1]) || !is_hex((unsigned char)v[i + 2]))
                return 0;
            i += 2;
        } else if (c >= 0x80) {
            if (!utf8)
                return 0;
        } else if (c < 33 || c > 126 || c == '=') {
            return 0;
        }
    }
    return !utf8 || utf8_valid(v, n);
}

/* ---- addresses (RFC 5321 §4.1.2) ---------------------------------------------------- */

/* path_quoted - a Quoted-string local part at *i; 8-bit bytes noted. */
static int
path_quoted(const char *p, size_t n, size_t *i, int *eight)
{
    for ((*i)++; *i < n; (*i)++) {
        unsigned char c = (unsigned char)p[*i];
        if (c == '"') {
            (*i)++;
            return 0;
        }
        if (c == '\\') {
            if (++*i >= n || (unsigned char)p[*i] < 32 || (unsigned char)p[*i] == 127)
                return -1;
        } else if (c >= 0x80) {
            *eight = 1;
        } else if (c < 32 || c == 127) {
            return -1;
        }
    }
    return -1;
}

/* path_run - a run of atext/"." (local part) or label bytes/"." (domain); 8-bit noted. */
static size_t
path_run(const char *p, size_t n, size_t i, int domain, int *eight)
{
    size_t start = i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80)
            *eight = 1;
        else if (c != '.' && !(domain ? is_alnum(c) || c == '-' : is_atext(c)))
            break;
    }
    return i - start;
}

/* path_domain - Domain or address-literal at *i. */
static int
path_domain(const char *p, size_t n, size_t *i, int *eight)
{
    if (*i < n && p[*i] == '[') {
        for ((*i)++; *i < n && p[*i] != ']'; (*i)++) {
            unsigned char c = (unsigned char)p[*i];
            if (c < 33 || c > 126 || c == '[' || c == '\\')
                return -1;
        }
        if (*i >= n)
            return -1;
        (*i)++;
        return 0;
    }
    size_t k = path_run(p, n, *i, 1, eight);
    if (k == 0)
        return -1;
    *i += k;
    return 0;
}

/* path_route - skip an obsolete source route "@a,@b:" (RFC 5321 §4.1.2: ignore it). */
static int
path_route(const char *p, size_t n, size_t *i, int *eight)
{
    while (*i < n && p[*i] == '@') {
        (*i)++;
        if (path_domain(p, n, i, eight) < 0 || *i >= n)
            return -1;
        if (p[*i] == ':') {
            (*i)++;
            return 0;
        }
        if (p[*i] != ',')
            return -1;
        (*i)++;
    }
    return -1;
}

/* parse_path - "<" [route ":"] mailbox ">" or "<>"; consumes it from a, mailbox out. */
static int
parse_path(struct span *a, struct span *mbox, int *eight)
{
    const char *p = a->p;
    size_t n = a->n, i = 1;
    *eight = 0;
    if (n < 2 || p[0] != '<')
        return -1;
    if (p[1] == '@' && path_route(p, n, &i, eight) < 0)
        return -1;
    size_t start = i;
    if (i < n && p[i] == '>') {
        if (start != 1)
            return -1;
    } else {
        if (i < n && p[i] == '"') {
            if (path_quoted(p, n, &i, eight) < 0)
                return -1;
        } else {
            size_t k = path_run(p, n, i, 0, eight);
            if (k == 0)
                return -1;
            i += k;
        }
        if (i < n && p[i] == '@') {
            i++;
            if (path_domain(p, n, &i, eight) < 0)
                return -1;
        }
        if (i >= n || p[i] != '>')
            return -1;
    }
    *mbox = (struct span){p + start, i - start};
    if (*eight && !utf8_valid(mbox->p, mbox->n))
        return -1;
    a->p += i + 1;
    a->n -= i + 1;
    return 0;
}

/* ---- MAIL and RCPT parameters ------------------------------------------------------- */

enum { PARAM_MAIL = 1, PARAM_RCPT = 2 };

struct param_rule {
    const char *key;
    int where;
    enum smtp_reply bad;
    int (*valid)(struct smtp_server *s, const char *v);
};

static int
valid_size(struct smtp_server *s, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > 20)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)v[i]))
            return 0;
        unsigned d = (unsigned)(v[i] - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    s->cmd_size = x;
    return 1;
}

static int
valid_body(struct smtp_server *s UNUSED, const char *v)
{
    return v && (!strcasecmp(v, "7BIT") || !strcasecmp(v, "8BITMIME"));
}

static int
valid_keyword_only(struct smtp_server *s UNUSED, const char *v)
{
    return v == NULL;
}

static int
valid_ret(struct smtp_server *s UNUSED, const char *v)
{
    return v && (!strcasecmp(v, "FULL") || !strcasecmp(v, "HDRS"));
}

static int
valid_envid(struct smtp_server *s, const char *v)
{
    return v && strlen(v) <= 100 && xtext_check(v, strlen(v), s->cmd_utf8);
}

/* valid_notify - "NEVER", or SUCCESS, FAILURE, DELAY each at most once (RFC 3461 §4.1). */
static int
valid_notify(struct smtp_server *s UNUSED, const char *v)
{
    static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
    if (!v)
        return 0;
    if (!strcasecmp(v, "NEVER"))
        return 1;
    unsigned seen = 0;
    struct span a = span_of(v);
    while (a.n) {
        size_t k = 0;
        while (k < a.n && a.p[k] != ',')
            k++;
        unsigned i = 0;
        while (i < 3 && !span_caseeq_str((struct span){a.p, k}, words[i]))
            i++;
        if (i == 3 || (seen & (1u << i)) || (k < a.n && k + 1 == a.n))
            return 0;
        seen |= 1u << i;
        a.p += k < a.n ? k + 1 : k;
        a.n -= k < a.n ? k + 1 : k;
    }
    return seen != 0;
}

/* valid_orcpt - addr-type ";" xtext (RFC 3461 §4.2). */
static int
valid_orcpt(struct smtp_server *s, const char *v)
{
    if (!v)
        return 0;
    const char *semi = strchr(v, ';');
    if (!semi || semi == v || !semi[1] || strlen(v) > 500)
        return 0;
    for (const char *q = v; q < semi; q++) {
        if (!is_alnum((unsigned char)*q) && *q != '-')
            return 0;
    }
    return xtext_check(semi + 1, strlen(semi + 1), s->cmd_utf8);
}

static const struct param_rule param_rules[] = {
    {"SIZE", PARAM_MAIL, SMTP_R_BAD_SIZE, valid_size},
    {"BODY", PARAM_MAIL, SMTP_R_BAD_BODY, valid_body},
    {"SMTPUTF8", PARAM_MAIL, SMTP_R_BAD_PARAM, valid_keyword_only},
    {"RET", PARAM_MAIL, SMTP_R_BAD_RET, valid_ret},
    {"ENVID", PARAM_MAIL, SMTP_R_BAD_ENVID, valid_envid},
    {"NOTIFY", PARAM_RCPT, SMTP_R_BAD_NOTIFY, valid_notify},
    {"ORCPT", PARAM_RCPT, SMTP_R_BAD_ORCPT, valid_orcpt},
};
#define NRULES (sizeof param_rules / sizeof *param_rules)

/* rule_offered - the extension the keyword belongs to is on (EHLO advertised it). */
static int
rule_offered(const struct smtp_server *s, const char *key)
{
    if (!strcmp(key, "BODY"))
        return s->cfg.offer_8bitmime;
    if (!strcmp(key, "SMTPUTF8"))
        return s->cfg.offer_smtputf8;
    if (strcmp(key, "SIZE") != 0)
        return s->cfg.offer_dsn;
    return 1;
}

static const struct param_rule *
rule_find(const struct smtp_server *s, const char *key, int where)
{
    for (size_t i = 0; i < NRULES; i++) {
        if (!strcmp(param_rules[i].key, key))
            return (param_rules[i].where & where) && rule_offered(s, key) ? &param_rules[i] : NULL;
    }
    return NULL;
}

static const struct smtp_param *
cmd_param(const struct smtp_cmd *c, const char *key)
{
    for (size_t i = 0; i < c->nparams; i++) {
        if (!strcmp(c->params[i].key, key))
            return &c->params[i];
    }
    return NULL;
}

/* param_word - esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2, 8-bit per RFC 6531). */
static int
param_word(struct smtp_server *s, struct span w, struct smtp_param *out)
{
    size_t k = 0;
    while (k < w.n && w.p[k] != '=') {
        if (!is_alnum((unsigned char)w.p[k]) && (k == 0 || w.p[k] != '-'))
            return -1;
        k++;
    }
    if (k == 0 || (k < w.n && k + 1 == w.n))
        return -1;
    for (size_t i = k + 1; i < w.n; i++) {
        unsigned char c = (unsigned char)w.p[i];
        if (c == '=' || c < 33 || c == 127 || (c >= 0x80 && !s->cfg.offer_smtputf8))
            return -1;
    }
    out->key = xstrndup(w.p, k);
    for (char *q = out->key; *q; q++)
        *q = (*q >= 'a' && *q <= 'z') ? (char)(*q - 32) : *q;
    out->value = k < w.n ? xstrndup(w.p + k + 1, w.n - k - 1) : NULL;
    return 0;
}

/* parse_params - keyword[=value] words into s->cmd, order kept; then their values. */
static enum smtp_reply
parse_params(struct smtp_server *s, struct span a, int where)
{
    struct smtp_cmd *c = &s->cmd;
    for (struct span w = next_word(&a); w.n; w = next_word(&a)) {
        struct smtp_param p;
        if (param_word(s, w, &p) < 0)
            return SMTP_R_BAD_PARAM;
        c->params = xrealloc(c->params, (c->nparams + 1) * sizeof *c->params);
        c->params[c->nparams++] = p;
        if (!s->esmtp || !rule_find(s, p.key, where))
            return SMTP_R_UNKNOWN_PARAM;
        if (cmd_param(c, p.key) != &c->params[c->nparams - 1])
            return SMTP_R_BAD_PARAM;
    }
    s->cmd_utf8 = where == PARAM_MAIL ? cmd_param(c, "SMTPUTF8") != NULL : s->tx_utf8;
    for (size_t i = 0; i < c->nparams; i++) {
        const struct param_rule *r = rule_find(s, c->params[i].key, where);
        if (!r->valid(s, c->params[i].value))
            return r->bad;
    }
    return SMTP_R_NONE;
}

/* parse_mail_rcpt - "FROM:"/"TO:" path params, shared by MAIL and RCPT. */
static enum smtp_reply
parse_mail_rcpt(struct smtp_server *s, struct span arg, int where)
{
    int mail = where == PARAM_MAIL;
    struct span mbox;
    if (!take_prefix(&arg, mail ? "FROM:" : "TO:"))
        return mail ? SMTP_R_SYNTAX_MAIL : SMTP_R_SYNTAX_RCPT;
    skip_sp(&arg);
    if (parse_path(&arg, &mbox, &s->cmd_8bit) < 0 || (!mail && mbox.n == 0) ||
        (arg.n && arg.p[0] != ' ' && arg.p[0] != '\t'))
        return mail ? SMTP_R_BAD_SENDER : SMTP_R_BAD_RCPT;
    s->cmd.path = span_dup(mbox);
    enum smtp_reply r = parse_params(s, arg, where);
    if (r)
        return r;
    if (s->cmd_8bit && !s->cmd_utf8)
        return SMTP_R_NEED_UTF8;
    return SMTP_R_NONE;
}

/* ---- XFORWARD (Postfix XFORWARD_README) -------------------------------------------- */

static const char *const xf_names[XF_NATTR] = {"NAME", "ADDR",  "PORT",  "PROTO",
                                               "HELO", "IDENT", "SOURCE"};

/* xf_decode - xtext-decode v; printable ASCII without space only (Note 1). */
static char *
xf_decode(struct span v, int port)
{
    if (v.n == 0 || v.n > XF_MAX_LEN || !xtext_check(v.p, v.n, 0))
        return NULL;
    char *out = xmalloc(v.n + 1), *o = out;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c == '+') {
            c = (unsigned char)(hex_val((unsigned char)v.p[i + 1]) * 16 +
                                hex_val((unsigned char)v.p[i + 2]));
            i += 2;
        }
        if (c < 33 || c > 126 || (port && !is_digit(c))) {
            free(out);
            return NULL;
        }
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

/* xf_attr - one name=value into the scratch attributes. */
static enum smtp_reply
xf_attr(struct smtp_server *s, struct span w)
{
    const char *eq = memchr(w.p, '=', w.n);
    if (!eq || eq == w.p)
        return SMTP_R_XF_SYNTAX;
    struct span name = {w.p, (size_t)(eq - w.p)};
    struct span value = {eq + 1, w.n - name.n - 1};
    int i = 0;
    while (i < XF_NATTR && !span_caseeq_str(name, xf_names[i]))
        i++;
    if (i == XF_NATTR)
        return SMTP_R_XF_BAD_NAME;
    free(s->xf_new[i]);
    s->xf_new[i] = NULL;
    s->xf_set[i] = 1;
    if (span_caseeq_str(value, "[UNAVAILABLE]"))
        return SMTP_R_NONE;
    s->xf_new[i] = xf_decode(value, !strcmp(xf_names[i], "PORT"));
    return s->xf_new[i] ? SMTP_R_NONE : SMTP_R_XF_BAD_VALUE;
}

/* ---- commands: check_ (allowed? well-formed?) and proceed_ (act) --------------------- */

static enum smtp_reply
check_helo(struct smtp_server *s UNUSED, struct span arg)
{
    return arg.n ? SMTP_R_NONE : SMTP_R_SYNTAX_HELO;
}

static void
set_helo(struct smtp_server *s, struct span arg, int esmtp)
{
    free(s->helo);
    s->helo = span_dup(arg);
    s->esmtp = esmtp;
    txn_reset(s);
    if (s->hooks.helo)
        s->hooks.helo(s->ctx, s->helo, esmtp);
}

static void
proceed_helo(struct smtp_server *s, struct span arg)
{
    set_helo(s, arg, 0);
    buf_printf(&s->out, "250 %s\r\n", s->hostname);
}

static void
proceed_ehlo(struct smtp_server *s, struct span arg)
{
    const struct smtp_server_cfg *c = &s->cfg;
    char size[40];
    const char *ext[8];
    size_t n = 0;
    set_helo(s, arg, 1);
    if (c->max_msg_size)
        snprintf(size, sizeof size, "SIZE %zu", c->max_msg_size);
    else
        snprintf(size, sizeof size, "SIZE");
    ext[n++] = "PIPELINING";
    ext[n++] = size;
    if (c->offer_8bitmime)
        ext[n++] = "8BITMIME";
    if (c->offer_smtputf8)
        ext[n++] = "SMTPUTF8";
    ext[n++] = "ENHANCEDSTATUSCODES";
    if (c->offer_dsn)
        ext[n++] = "DSN";
    if (c->xforward_allowed)
        ext[n++] = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE";
    buf_printf(&s->out, "250-%s\r\n", s->hostname);
    for (size_t i = 0; i < n; i++)
        buf_printf(&s->out, "250%c%s\r\n", i + 1 < n ? '-' : ' ', ext[i]);
}

static enum smtp_reply
check_mail(struct smtp_server *s, struct span arg)
{
    if (!s->helo)
        return SMTP_R_NEED_HELO;
    if (s->mail_open)
        return SMTP_R_NESTED_MAIL;
    s->cmd_size = 0;
    enum smtp_reply r = parse_mail_rcpt(s, arg, PARAM_MAIL);
    if (r)
        return r;
    if (s->cfg.max_msg_size && s->cmd_size > s->cfg.max_msg_size)
        return SMTP_R_SIZE_EXCEEDED;
    return SMTP_R_NONE;
}

static void
proceed_mail(struct smtp_server *s, struct span arg UNUSED)
{
    s->pending = P_MAIL;
    if (s->hooks.mail)
        s->hooks.mail(s->ctx, &s->cmd, &s->xf);
    else
        smtp_server_reply(s, smtp_reply_text(SMTP_R_MAIL_OK));
}

static enum smtp_reply
check_rcpt(struct smtp_server *s, struct span arg)
{
    if (!s->mail_open)
        return SMTP_R_NEED_MAIL;
    enum smtp_reply r = parse_mail_rcpt(s, arg, PARAM_RCPT);
    if (r)
        return r;
    if (s->cfg.max_rcpts && s->nrcpt >= s->cfg.max_rcpts)
        return SMTP_R_TOO_MANY_RCPT;
    return SMTP_R_NONE;
}

static void
proceed_rcpt(struct smtp_server *s, struct span arg UNUSED)
{
    s->pending = P_RCPT;
    if (s->hooks.rcpt)
        s->hooks.rcpt(s->ctx, &s->cmd);
    else
        smtp_server_reply(s, smtp_reply_text(SMTP_R_RCPT_OK));
}

static enum smtp_reply
check_data(struct smtp_server *s, struct span arg)
{
    if (arg.n)
        return SMTP_R_SYNTAX;
    if (!s->mail_open)
        return SMTP_R_NEED_MAIL;
    return s->nrcpt ? SMTP_R_NONE : SMTP_R_NEED_RCPT;
}

static void
proceed_data(struct smtp_server *s, struct span arg UNUSED)
{
    s->pending = P_DATA;
    if (s->hooks.data_start)
        s->hooks.data_start(s->ctx);
    else
        smtp_server_reply(s, smtp_reply_text(SMTP_R_DATA_GO));
}

static enum smtp_reply
check_no_arg(struct smtp_server *s UNUSED, struct span arg)
{
    return arg.n ? SMTP_R_SYNTAX : SMTP_R_NONE;
}

static void
proceed_rset(struct smtp_server *s, struct span arg UNUSED)
{
    txn_reset(s);
    say(s, SMTP_R_OK);
}

static void
proceed_noop(struct smtp_server *s, struct span arg UNUSED)
{
    say(s, SMTP_R_OK);
}

static void
proceed_quit(struct smtp_server *s, struct span arg UNUSED)
{
    say(s, SMTP_R_BYE);
    sess_close(s);
}

static enum smtp_reply
check_vrfy(struct smtp_server *s UNUSED, struct span arg)
{
    return arg.n ? SMTP_R_NONE : SMTP_R_SYNTAX_VRFY;
}

static void
proceed_vrfy(struct smtp_server *s, struct span arg UNUSED)
{
    say(s, SMTP_R_VRFY);
}

static void
proceed_help(struct smtp_server *s, struct span arg UNUSED)
{
    say(s, SMTP_R_HELP);
}

static enum smtp_reply
check_xforward(struct smtp_server *s, struct span arg)
{
    if (!s->cfg.xforward_allowed)
        return SMTP_R_XF_DENIED;
    if (s->mail_open)
        return SMTP_R_XF_IN_TXN;
    if (!arg.n)
        return SMTP_R_XF_SYNTAX;
    for (struct span w = next_word(&arg); w.n; w = next_word(&arg)) {
        enum smtp_reply r = xf_attr(s, w);
        if (r)
            return r;
    }
    return SMTP_R_NONE;
}

/* proceed_xforward - the first XFORWARD of a transaction starts from "all unavailable". */
static void
proceed_xforward(struct smtp_server *s, struct span arg UNUSED)
{
    if (!s->xf.present)
        xf_clear(&s->xf);
    s->xf.present = 1;
    for (int i = 0; i < XF_NATTR; i++) {
        if (!s->xf_set[i])
            continue;
        free(*xf_slot(&s->xf, i));
        *xf_slot(&s->xf, i) = s->xf_new[i];
        s->xf_new[i] = NULL;
    }
    say(s, SMTP_R_OK);
}

struct smtp_verb {
    const char *name;
    enum smtp_reply (*check)(struct smtp_server *s, struct span arg);
    void (*proceed)(struct smtp_server *s, struct span arg);
};

static const struct smtp_verb smtp_verbs[] = {
    {"EHLO", check_helo, proceed_ehlo},
    {"HELO", check_helo, proceed_helo},
    {"MAIL", check_mail, proceed_mail},
    {"RCPT", check_rcpt, proceed_rcpt},
    {"DATA", check_data, proceed_data},
    {"RSET", check_no_arg, proceed_rset},
    {"NOOP", NULL, proceed_noop},
    {"QUIT", NULL, proceed_quit},
    {"VRFY", check_vrfy, proceed_vrfy},
    {"HELP", NULL, proceed_help},
    {"XFORWARD", check_xforward, proceed_xforward},
};

/* cmd_line - one command line, without its line end. */
static void
cmd_line(struct smtp_server *s, struct span line)
{
    for (size_t i = 0; i < line.n; i++) {
        unsigned char c = (unsigned char)line.p[i];
        if ((c < 32 && c != '\t') || c == 127) {
            say(s, SMTP_R_BAD_CHAR);
            return;
        }
    }
    struct span arg = line;
    struct span verb = next_word(&arg);
    skip_sp(&arg);
    while (arg.n && (arg.p[arg.n - 1] == ' ' || arg.p[arg.n - 1] == '\t'))
        arg.n--;
    const struct smtp_verb *v = NULL;
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof *smtp_verbs && !v; i++) {
        if (span_caseeq_str(verb, smtp_verbs[i].name))
            v = &smtp_verbs[i];
    }
    if (!v) {
        say(s, SMTP_R_UNKNOWN_CMD);
        return;
    }
    cmd_clear(&s->cmd);
    xf_clear_new(s);
    enum smtp_reply r = v->check ? v->check(s, arg) : SMTP_R_NONE;
    if (r) {
        cmd_clear(&s->cmd);
        xf_clear_new(s);
        say(s, r);
        return;
    }
    v->proceed(s, arg);
}

/* line_feed - collect a command line (bounded; the excess is skipped); n > 0. */
static size_t
line_feed(struct smtp_server *s, const char *p, size_t n)
{
    const char *lf = memchr(p, '\n', n);
    size_t take = lf ? (size_t)(lf - p) + 1 : n;
    if (!s->line_skip && buf_append(&s->line, p, take) < 0) {
        s->line_skip = 1;
        buf_reset(&s->line);
    }
    if (!lf)
        return take;
    if (s->line_skip) {
        s->line_skip = 0;
        say(s, SMTP_R_LINE_TOO_LONG);
    } else {
        struct span l = {s->line.data, s->line.len - 1};
        if (l.n && l.p[l.n - 1] == '\r')
            l.n--;
        cmd_line(s, l);
    }
    buf_reset(&s->line);
    return take;
}

/* ---- DATA -------------------------------------------------------------------------- */

/* data_reject - discard the rest of the message; r is the reply at its end. */
static void
data_reject(struct smtp_server *s, enum smtp_reply r, const char *why)
{
    if (s->d.rej)
        return;
    s->d.rej = r;
    if (s->hooks.data_abort)
        s->hooks.data_abort(s->ctx, why);
}

/* hdr_scan - count header section bytes and fields in unstuffed output. */
static void
hdr_scan(struct smtp_server *s, const char *p, size_t n)
{
    struct data_st *d = &s->d;
    for (size_t i = 0; i < n && d->in_hdr; i++) {
        if (d->hdr_line == 0) {
            d->hdr_first = p[i];
            if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
                d->hdr_fields++;
        }
        d->hdr_line++;
        if (p[i] != '\n')
            continue;
        if (d->hdr_line == 2 && d->hdr_first == '\r')
            d->in_hdr = 0;
        else
            d->hdr_bytes += d->hdr_line;
        d->hdr_line = 0;
    }
    const struct smtp_server_cfg *c = &s->cfg;
    if ((c->max_header_bytes && d->hdr_bytes + d->hdr_line > c->max_header_bytes) ||
        (c->max_header_fields && d->hdr_fields > c->max_header_fields))
        data_reject(s, SMTP_R_HDR_EXCEEDED, "header section over the limit");
}

/* data_emit - account for message bytes and pass them on (unless discarding). */
static void
data_emit(struct smtp_server *s, const char *p, size_t n)
{
    struct data_st *d = &s->d;
    if (n == 0 || d->rej)
        return;
    d->size += n;
    if (s->cfg.max_msg_size && d->size > s->cfg.max_msg_size) {
        data_reject(s, SMTP_R_SIZE_EXCEEDED, "message over the size limit");
        return;
    }
    if (d->in_hdr) {
        hdr_scan(s, p, n);
        if (d->rej)
            return;
    }
    if (s->hooks.data)
        s->hooks.data(s->ctx, p, n);
}

/* data_bare_lf - a LF not after CR: reject, or a line end written as CRLF. kept is
 * what was held back at the line start ("." or ""). */
static void
data_bare_lf(struct smtp_server *s, const char *kept)
{
    if (s->cfg.bare_lf == SMTP_BARE_LF_REJECT) {
        data_reject(s, SMTP_R_BARE_LF, "bare LF in message");
    } else {
        data_emit(s, kept, strlen(kept));
        data_emit(s, "\r\n", 2);
    }
    s->d.st = D_BOL;
    s->d.bol_crlf = 0;
}

static void
data_bare_cr(struct smtp_server *s)
{
    if (s->cfg.bare_lf == SMTP_BARE_LF_REJECT)
        data_reject(s, SMTP_R_BARE_LF, "bare CR in message");
    s->d.st = D_TEXT;
}

/* data_done - CRLF "." CRLF seen: the reply for a discarded message, or the event. */
static void
data_done(struct smtp_server *s)
{
    s->phase = PH_CMD;
    if (s->d.rej) {
        say(s, s->d.rej);
        txn_reset(s);
        return;
    }
    s->pending = P_DOT;
    if (s->hooks.data_end)
        s->hooks.data_end(s->ctx, s->d.size);
    else
        smtp_server_reply(s, smtp_reply_text(SMTP_R_OK));
}

/* data_text - skip ordinary bytes; the index of the CR or LF that stops the run. */
static size_t
data_text(struct smtp_server *s, const char *p, size_t n, size_t i, size_t *run)
{
    while (i < n && p[i] != '\r' && p[i] != '\n')
        i++;
    if (i == n)
        return i;
    if (p[i] == '\r') {
        s->d.st = D_CR;
        return i + 1;
    }
    data_emit(s, p + *run, i - *run);
    data_bare_lf(s, "");
    *run = i + 1;
    return i + 1;
}

/* data_step - one transition at p[i]: returns the next index (i itself when p[i] must be
 * looked at again in the new state), or n + 1 at the end of data. *run is where the
 * bytes not yet passed on start; bytes held back (a dot, ".\r") are outside it. */
static size_t
data_step(struct smtp_server *s, const char *p, size_t n, size_t i, size_t *run)
{
    struct data_st *d = &s->d;
    char c = p[i];
    switch (d->st) {
    case D_TEXT:
        return data_text(s, p, n, i, run);
    case D_BOL:
        if (c == '.' || c == '\n') {
            data_emit(s, p + *run, i - *run);
            *run = i + 1;
            if (c == '.')
                d->st = D_DOT;
            else
                data_bare_lf(s, "");
            return i + 1;
        }
        d->st = D_TEXT;
        return i;
    case D_CR:
        if (c != '\n') {
            data_bare_cr(s);
            return i;
        }
        d->st = D_BOL;
        d->bol_crlf = 1;
        return i + 1;
    case D_DOT:
        if (c != '\r' && c != '\n') {
            d->st = D_TEXT; /* the dot was a stuffing dot: dropped */
            *run = i;
            return i;
        }
        if (c == '\r')
            d->st = D_DOT_CR;
        else
            data_bare_lf(s, ".");
        *run = i + 1;
        return i + 1;
    case D_DOT_CR:
        if (c == '\n' && d->bol_crlf)
            return n + 1;
        if (c == '\n') {
            data_emit(s, ".\r\n", 3); /* "\n.\r\n": a dot line, not the end */
            d->st = D_BOL;
            d->bol_crlf = 1;
            *run = i + 1;
            return i + 1;
        }
        data_bare_cr(s);
        data_emit(s, "\r", 1);
        *run = i;
        return i;
    }
    return i + 1;
}

/* data_feed - message bytes; returns bytes consumed (through the final LF at the end). */
static size_t
data_feed(struct smtp_server *s, const char *p, size_t n)
{
    size_t i = 0, run = 0;
    while (i < n) {
        size_t next = data_step(s, p, n, i, &run);
        if (next == n + 1) {
            data_done(s);
            return i + 1;
        }
        i = next;
    }
    data_emit(s, p + run, n - run);
    return n;
}

static void
data_begin(struct smtp_server *s)
{
    memset(&s->d, 0, sizeof s->d);
    s->d.st = D_BOL;
    s->d.bol_crlf = 1; /* the CRLF of "DATA" */
    s->d.in_hdr = 1;
    s->phase = PH_DATA;
}

/* process - input while not pending; returns bytes consumed. */
static size_t
process(struct smtp_server *s, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !s->pending && !s->closing) {
        if (s->phase == PH_DATA)
            off += data_feed(s, p + off, n - off);
        else
            off += line_feed(s, p + off, n - off);
    }
    return off;
}

/* ---- public ------------------------------------------------------------------------ */

void
smtp_server_cfg_default(struct smtp_server_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->hostname = "localhost";
    c->max_msg_size = 50u * 1024 * 1024;
    c->max_rcpts = 1000;
    c->max_line = 2048;
    c->max_header_bytes = 256u * 1024;
    c->max_header_fields = 1000;
    c->max_pipeline = 64u * 1024;
    c->max_errors = 20;
    c->bare_lf = SMTP_BARE_LF_REJECT;
    c->offer_dsn = c->offer_smtputf8 = c->offer_8bitmime = 1;
}

struct smtp_server *
smtp_server_new(const struct smtp_server_cfg *cfg, const struct smtp_server_hooks *hooks, void *ctx)
{
    struct smtp_server *s = xcalloc(1, sizeof *s);
    struct smtp_server_cfg def;
    smtp_server_cfg_default(&def);
    s->cfg = *cfg;
    if (!s->cfg.max_line)
        s->cfg.max_line = def.max_line;
    if (!s->cfg.max_pipeline)
        s->cfg.max_pipeline = def.max_pipeline;
    s->hostname = xstrdup(cfg->hostname ? cfg->hostname : def.hostname);
    s->cfg.hostname = s->hostname;
    if (hooks)
        s->hooks = *hooks;
    s->ctx = ctx;
    buf_init(&s->out, 0);
    buf_init(&s->line, s->cfg.max_line);
    buf_init(&s->pipe, s->cfg.max_pipeline);
    buf_printf(&s->out, "220 %s ESMTP arcproxy\r\n", s->hostname);
    return s;
}

struct smtp_server *
smtp_server_free(struct smtp_server *s)
{
    if (!s)
        return NULL;
    cmd_clear(&s->cmd);
    xf_clear_new(s);
    xf_clear(&s->xf);
    buf_free(&s->out);
    buf_free(&s->line);
    buf_free(&s->pipe);
    free(s->helo);
    free(s->hostname);
    free(s);
    return NULL;
}

int
smtp_server_input(struct smtp_server *s, const char *p, size_t n)
{
    if (s->depth)
        return -ARC_ESTATE;
    if (s->closing || n == 0)
        return 0;
    if (s->pending) {
        hold(s, p, n);
        return 0;
    }
    s->depth++;
    size_t used = process(s, p, n);
    s->depth--;
    if (used < n && s->pending)
        hold(s, p + used, n - used);
    return 0;
}

/* reply_check - each line starts with 3 digits, CR only before LF; the code or -1. */
static int
reply_check(const char *r)
{
    for (const char *cr = strchr(r, '\r'); cr; cr = strchr(cr + 1, '\r')) {
        if (cr[1] != '\n' && cr[1] != '\0')
            return -1;
    }
    const char *l = r;
    for (;;) {
        if (!is_digit((unsigned char)l[0]) || !is_digit((unsigned char)l[1]) ||
            !is_digit((unsigned char)l[2]) || (l[3] && !strchr(" -\r\n", l[3])))
            return -1;
        const char *nl = strchr(l, '\n');
        if (!nl || !nl[1])
            break;
        l = nl + 1;
    }
    return (r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0');
}

/* reply_out - the owner's text, every line ended with CRLF. */
static void
reply_out(struct smtp_server *s, const char *r)
{
    while (*r) {
        size_t k = strcspn(r, "\n");
        size_t len = k && r[k - 1] == '\r' ? k - 1 : k;
        buf_append(&s->out, r, len);
        buf_puts(&s->out, "\r\n");
        r += r[k] ? k + 1 : k;
    }
}

/* reply_effect - what the owner's answer means for the pending command. */
static void
reply_effect(struct smtp_server *s, enum pend p, int code)
{
    switch (p) {
    case P_MAIL:
        s->mail_open = code / 100 == 2;
        s->tx_utf8 = s->mail_open && s->cmd_utf8;
        break;
    case P_RCPT:
        s->nrcpt += code / 100 == 2;
        break;
    case P_DATA:
        if (code / 100 == 3)
            data_begin(s);
        break;
    case P_DOT:
        txn_reset(s);
        break;
    case P_NONE:
        break;
    }
    if (p == P_MAIL || p == P_RCPT)
        cmd_clear(&s->cmd);
}

int
smtp_server_reply(struct smtp_server *s, const char *reply)
{
    if (s->closing || s->pending == P_NONE)
        return -ARC_ESTATE;
    int code = reply_check(reply);
    if (code < 0)
        return -ARC_EINVAL;
    enum pend p = s->pending;
    s->pending = P_NONE;
    reply_out(s, reply);
    reply_effect(s, p, code);
    if (s->pipe_full) {
        out_line(s, smtp_reply_text(SMTP_R_PIPE_FULL));
        sess_close(s);
        return 0;
    }
    if (!s->depth && s->pipe.len)
        drain(s);
    return 0;
}

struct span
smtp_server_out(const struct smtp_server *s)
{
    return buf_span(&s->out);
}

void
smtp_server_out_consumed(struct smtp_server *s, size_t n)
{
    if (n >= s->out.len) {
        buf_reset(&s->out);
        return;
    }
    memmove(s->out.data, s->out.data + n, s->out.len - n);
    s->out.len -= n;
    s->out.data[s->out.len] = '\0';
}

int
smtp_server_pending(const struct smtp_server *s)
{
    return s->pending != P_NONE;
}

int
smtp_server_in_data(const struct smtp_server *s)
{
    return s->phase == PH_DATA && !s->pending && !s->closing;
}

int
smtp_server_closing(const struct smtp_server *s)
{
    return s->closing;
}

void
smtp_server_timeout(struct smtp_server *s)
{
    abort_session(s, SMTP_R_TIMEOUT, "timeout");
}

void
smtp_server_shutdown(struct smtp_server *s)
{
    abort_session(s, SMTP_R_SHUTDOWN, "shutdown");
}

const struct smtp_xforward *
smtp_server_xforward(const struct smtp_server *s)
{
    return &s->xf;
}

const char *
smtp_server_helo(const struct smtp_server *s)
{
    return s->helo;
}
