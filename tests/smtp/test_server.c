/* SPDX-License-Identifier: MIT */
/*
 * test_server - the SMTP server state machine (src/smtp/server.c) driven by scripted
 * input, with a fake owner that answers events and logs them. Each case checks the
 * exact reply bytes, the event log and the message bytes the owner received.
 *
 * Not covered here: sockets and timers (the adapter's tests), real MTAs (integration).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/reply.h"
#include "smtp/server.h"
#include "util/buf.h"
#include "util/err.h"
#include "test.h"

/* ---- the fake owner ---------------------------------------------------------------- */

struct owner {
    struct smtp_server *s;
    struct buf ev;   /* one line per event */
    struct buf data; /* message bytes as the data hook got them */
    const char *mail_reply, *rcpt_reply, *data_reply, *dot_reply; /* NULL: stay pending */
    size_t data_calls;
    size_t msg_bytes; /* data bytes since the last DATA event */
};

static void
ev_mail_rcpt(struct owner *o, const char *verb, const struct smtp_cmd *c)
{
    buf_printf(&o->ev, "%s <%s>", verb, c->path);
    for (size_t i = 0; i < c->nparams; i++) {
        buf_printf(&o->ev, " %s", c->params[i].key);
        if (c->params[i].value)
            buf_printf(&o->ev, "=%s", c->params[i].value);
    }
    buf_puts(&o->ev, "\n");
}

static void
ev_xforward(struct owner *o, const struct smtp_xforward *x)
{
    if (!x->present)
        return;
    const char *v[] = {x->name, x->addr, x->port, x->proto, x->helo, x->ident, x->source};
    buf_puts(&o->ev, "XF");
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        buf_printf(&o->ev, " %s", v[i] ? v[i] : "-");
    buf_puts(&o->ev, "\n");
}

static void
answer(struct owner *o, const char *reply)
{
    if (reply)
        ASSERT_EQ_INT(smtp_server_reply(o->s, reply), 0);
}

static void
on_helo(void *ctx, const char *name, int esmtp)
{
    struct owner *o = ctx;
    buf_printf(&o->ev, "%s %s\n", esmtp ? "EHLO" : "HELO", name);
}

static void
on_mail(void *ctx, const struct smtp_cmd *cmd, const struct smtp_xforward *xf)
{
    struct owner *o = ctx;
    ev_xforward(o, xf);
    ev_mail_rcpt(o, "MAIL", cmd);
    answer(o, o->mail_reply);
}

static void
on_rcpt(void *ctx, const struct smtp_cmd *cmd)
{
    struct owner *o = ctx;
    ev_mail_rcpt(o, "RCPT", cmd);
    answer(o, o->rcpt_reply);
}

static void
on_data_start(void *ctx)
{
    struct owner *o = ctx;
    buf_puts(&o->ev, "DATA\n");
    o->msg_bytes = 0;
    answer(o, o->data_reply);
}

static void
on_data(void *ctx, const char *p, size_t n)
{
    struct owner *o = ctx;
    ASSERT(n > 0);
    buf_append(&o->data, p, n);
    o->data_calls++;
    o->msg_bytes += n;
}

static void
on_data_end(void *ctx, size_t size)
{
    struct owner *o = ctx;
    buf_printf(&o->ev, "END %zu\n", size);
    ASSERT_EQ_INT(size, o->msg_bytes);
    answer(o, o->dot_reply);
}

static void
on_data_abort(void *ctx, const char *why)
{
    struct owner *o = ctx;
    buf_printf(&o->ev, "ABORT %s\n", why);
}

static void
on_reset(void *ctx)
{
    struct owner *o = ctx;
    buf_puts(&o->ev, "RESET\n");
}

static void
on_close(void *ctx)
{
    struct owner *o = ctx;
    buf_puts(&o->ev, "CLOSE\n");
}

static const struct smtp_server_hooks hooks = {
    .helo = on_helo,
    .mail = on_mail,
    .rcpt = on_rcpt,
    .data_start = on_data_start,
    .data = on_data,
    .data_end = on_data_end,
    .data_abort = on_data_abort,
    .reset = on_reset,
    .close = on_close,
};

#define MAIL_OK "250 2.1.0 Ok"
#define RCPT_OK "250 2.1.5 Ok"
#define DATA_GO "354 End data with <CR><LF>.<CR><LF>"
#define QUEUED  "250 2.0.0 Ok: queued as X"

#define R_MAIL_OK "250 2.1.0 Ok\r\n"
#define R_RCPT_OK "250 2.1.5 Ok\r\n"
#define R_DATA_GO "354 End data with <CR><LF>.<CR><LF>\r\n"
#define R_QUEUED  "250 2.0.0 Ok: queued as X\r\n"
#define R_OK      "250 2.0.0 Ok\r\n"

#define EHLO_REPLY                                                                                 \
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"       \
    "250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n"

static void
cfg_test(struct smtp_server_cfg *c)
{
    smtp_server_cfg_default(c);
    c->hostname = "mx.test";
}

/* take - everything the server wants to send, as a string; consumed. */
static char *
take(struct owner *o)
{
    struct span out = smtp_server_out(o->s);
    char *r = strndup(out.p, out.n);
    smtp_server_out_consumed(o->s, out.n);
    return r;
}

static char *
feedn(struct owner *o, const char *p, size_t n)
{
    ASSERT_EQ_INT(smtp_server_input(o->s, p, n), 0);
    return take(o);
}

static char *
feed(struct owner *o, const char *in)
{
    return feedn(o, in, strlen(in));
}

/* feed_bytes - one byte at a time. */
static char *
feed_bytes(struct owner *o, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_INT(smtp_server_input(o->s, p + i, 1), 0);
    return take(o);
}

#define EXPECT(o, in, want)                                                                        \
    do {                                                                                           \
        char *got_ = feed((o), (in));                                                              \
        ASSERT_EQ_STR(got_, (want));                                                               \
        free(got_);                                                                                \
    } while (0)

#define EXPECT_REPLY(o, text, want)                                                                \
    do {                                                                                           \
        ASSERT_EQ_INT(smtp_server_reply((o)->s, (text)), 0);                                       \
        char *got_ = take(o);                                                                      \
        ASSERT_EQ_STR(got_, (want));                                                               \
        free(got_);                                                                                \
    } while (0)

#define EXPECT_EV(o, want)                                                                         \
    do {                                                                                           \
        ASSERT_EQ_STR((o)->ev.data ? (o)->ev.data : "", (want));                                   \
        buf_reset(&(o)->ev);                                                                       \
    } while (0)

#define EXPECT_DATA_LIT(o, lit) EXPECT_DATA(o, lit, sizeof(lit) - 1)

#define EXPECT_DATA(o, want, wantlen)                                                              \
    do {                                                                                           \
        ASSERT_EQ_MEM((o)->data.data ? (o)->data.data : "", (o)->data.len, (want), (wantlen));     \
        buf_reset(&(o)->data);                                                                     \
    } while (0)

/* owner_new - a session whose owner answers everything at once; greeting checked. */
static struct owner *
owner_new(const struct smtp_server_cfg *cfg)
{
    struct owner *o = calloc(1, sizeof *o);
    buf_init(&o->ev, 0);
    buf_init(&o->data, 0);
    o->mail_reply = MAIL_OK;
    o->rcpt_reply = RCPT_OK;
    o->data_reply = DATA_GO;
    o->dot_reply = QUEUED;
    o->s = smtp_server_new(cfg, &hooks, o);
    char *g = take(o);
    ASSERT_EQ_STR(g, "220 mx.test ESMTP arcproxy\r\n");
    free(g);
    return o;
}

/* owner_ehlo - a session past EHLO with the test config (or cfg). */
static struct owner *
owner_ehlo(const struct smtp_server_cfg *cfg)
{
    struct smtp_server_cfg def;
    cfg_test(&def);
    struct owner *o = owner_new(cfg ? cfg : &def);
    char *r = feed(o, "EHLO client.test\r\n");
    ASSERT(!strncmp(r, "250-mx.test\r\n", 13));
    free(r);
    EXPECT_EV(o, "RESET\nEHLO client.test\n");
    return o;
}

static void
owner_free(struct owner *o)
{
    o->s = smtp_server_free(o->s);
    buf_free(&o->ev);
    buf_free(&o->data);
    free(o);
}

/* start_data - MAIL, RCPT, DATA accepted; events cleared. */
static void
start_data(struct owner *o)
{
    buf_reset(&o->ev);
    EXPECT(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
           R_MAIL_OK R_RCPT_OK R_DATA_GO);
    ASSERT(smtp_server_in_data(o->s));
    EXPECT_EV(o, "MAIL <a@b.test>\nRCPT <c@d.test>\nDATA\n");
}

/* ---- greeting, EHLO, simple commands -------------------------------------------------- */

static void
ehlo_lists_extensions(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct owner *o = owner_new(&c);
    EXPECT(o, "EHLO client.test\r\n", EHLO_REPLY);
    EXPECT_EV(o, "RESET\nEHLO client.test\n");
    ASSERT_EQ_STR(smtp_server_helo(o->s), "client.test");
    owner_free(o);
}

static void
ehlo_offers_xforward_only_when_allowed(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.xforward_allowed = 1;
    c.offer_dsn = 0;
    c.offer_smtputf8 = 0;
    c.offer_8bitmime = 0;
    c.max_msg_size = 1000;
    struct owner *o = owner_new(&c);
    EXPECT(o, "ehlo client.test\r\n",
           "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-ENHANCEDSTATUSCODES\r\n"
           "250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n");
    owner_free(o);
}

static void
helo_is_one_line_and_needs_a_name(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct owner *o = owner_new(&c);
    EXPECT(o, "HELO\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
    EXPECT(o, "EHLO \r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
    EXPECT(o, "HELO client.test\r\n", "250 mx.test\r\n");
    EXPECT_EV(o, "RESET\nHELO client.test\n");
    owner_free(o);
}

static void
noop_vrfy_help_rset(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "NOOP\r\nnoop whatever\r\n", R_OK R_OK);
    EXPECT(o, "VRFY postmaster\r\n",
           "252 2.0.0 Cannot verify the user; send mail and delivery will be tried\r\n");
    EXPECT(o, "VRFY\r\n", "501 5.5.4 Syntax: VRFY address\r\n");
    EXPECT(o, "HELP\r\n",
           "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP XFORWARD\r\n");
    EXPECT(o, "RSET\r\n", R_OK);
    EXPECT(o, "RSET now\r\n", "501 5.5.4 Syntax error in parameters or arguments\r\n");
    EXPECT_EV(o, "RESET\n");
    owner_free(o);
}

static void
unknown_command_is_500(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "FROB\r\n", "500 5.5.1 Error: command not recognized\r\n");
    EXPECT(o, "\r\n", "500 5.5.1 Error: command not recognized\r\n");
    EXPECT(o, "BDAT 10 LAST\r\n", "500 5.5.1 Error: command not recognized\r\n");
    EXPECT(o, "NO\x01OP\r\n", "500 5.5.2 Error: control character in command\r\n");
    EXPECT(o, "NOOP\rx\r\n", "500 5.5.2 Error: control character in command\r\n");
    owner_free(o);
}

static void
command_lines_may_end_in_lf(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "NOOP\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\n", R_OK R_MAIL_OK R_RCPT_OK);
    owner_free(o);
}

static void
quit_replies_221_and_closes(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "QUIT\r\nNOOP\r\n", "221 2.0.0 Bye\r\n");
    EXPECT_EV(o, "CLOSE\n");
    ASSERT(smtp_server_closing(o->s));
    EXPECT(o, "NOOP\r\n", "");
    EXPECT_EV(o, "");
    owner_free(o);
}

/* ---- sequence errors ------------------------------------------------------------------ */

static void
mail_before_helo_is_503(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct owner *o = owner_new(&c);
    EXPECT(o, "MAIL FROM:<a@b>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n");
    owner_free(o);
}

static void
rcpt_and_data_before_mail_are_503(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "RCPT TO:<a@b>\r\n", "503 5.5.1 Error: need MAIL command\r\n");
    EXPECT(o, "DATA\r\n", "503 5.5.1 Error: need MAIL command\r\n");
    EXPECT_EV(o, "");
    owner_free(o);
}

static void
nested_mail_is_503(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n",
           R_MAIL_OK "503 5.5.1 Error: nested MAIL command\r\n");
    owner_free(o);
}

static void
data_without_accepted_rcpt_is_503(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->rcpt_reply = "550 5.1.1 No such user";
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<x@d>\r\nDATA\r\n",
           R_MAIL_OK "550 5.1.1 No such user\r\n503 5.5.1 Error: no valid recipients\r\n");
    EXPECT_EV(o, "MAIL <a@b>\nRCPT <x@d>\n");
    o->rcpt_reply = RCPT_OK;
    EXPECT(o, "RCPT TO:<y@d>\r\nDATA\r\n", R_RCPT_OK R_DATA_GO);
    owner_free(o);
}

static void
data_with_arguments_is_501(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA now\r\n",
           R_MAIL_OK R_RCPT_OK "501 5.5.4 Syntax error in parameters or arguments\r\n");
    owner_free(o);
}

static void
mail_refused_by_owner_opens_nothing(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->mail_reply = "451 4.3.0 downstream busy";
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n",
           "451 4.3.0 downstream busy\r\n503 5.5.1 Error: need MAIL command\r\n");
    owner_free(o);
}

static void
data_refused_by_owner_keeps_command_mode(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->data_reply = "451 4.4.1 downstream unavailable";
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n.\r\nRSET\r\n",
           R_MAIL_OK R_RCPT_OK "451 4.4.1 downstream unavailable\r\n"
                               "500 5.5.1 Error: command not recognized\r\n"
                               "500 5.5.1 Error: command not recognized\r\n" R_OK);
    ASSERT(!smtp_server_in_data(o->s));
    owner_free(o);
}

/* ---- transactions ---------------------------------------------------------------------- */

static void
one_transaction_end_to_end(void)
{
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    EXPECT(o, "Subject: hi\r\n\r\nbody\r\n.\r\n", R_QUEUED);
    EXPECT_EV(o, "END 21\nRESET\n");
    EXPECT_DATA_LIT(o, "Subject: hi\r\n\r\nbody\r\n");
    ASSERT(!smtp_server_in_data(o->s));
    EXPECT(o, "QUIT\r\n", "221 2.0.0 Bye\r\n");
    owner_free(o);
}

static void
empty_message(void)
{
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    EXPECT(o, ".\r\n", R_QUEUED);
    EXPECT_EV(o, "END 0\nRESET\n");
    EXPECT_DATA(o, "", 0);
    owner_free(o);
}

static void
several_transactions_per_session(void)
{
    struct owner *o = owner_ehlo(NULL);
    for (int i = 0; i < 3; i++) {
        char body[64], want[64];
        snprintf(body, sizeof body, "Subject: %d\r\n\r\nmsg %d\r\n.\r\n", i, i);
        snprintf(want, sizeof want, "Subject: %d\r\n\r\nmsg %d\r\n", i, i);
        start_data(o);
        EXPECT(o, body, R_QUEUED);
        EXPECT_DATA(o, want, strlen(want));
        EXPECT_EV(o, "END 21\nRESET\n");
        EXPECT(o, "RSET\r\n", R_OK); /* Postfix probes a cached session with RSET */
        EXPECT_EV(o, "RESET\n");
    }
    owner_free(o);
}

static void
rset_ends_the_transaction(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRSET\r\nRCPT TO:<c@d>\r\nDATA\r\n",
           R_MAIL_OK R_RCPT_OK R_OK "503 5.5.1 Error: need MAIL command\r\n"
                                    "503 5.5.1 Error: need MAIL command\r\n");
    EXPECT_EV(o, "MAIL <a@b>\nRCPT <c@d>\nRESET\n");
    EXPECT(o, "MAIL FROM:<e@f>\r\n", R_MAIL_OK);
    owner_free(o);
}

static void
ehlo_ends_the_transaction(void)
{
    struct owner *o = owner_ehlo(NULL);
    char *r = feed(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nEHLO again\r\nDATA\r\n");
    ASSERT(strstr(r, "250 DSN\r\n503 5.5.1 Error: need MAIL command\r\n") != NULL);
    free(r);
    owner_free(o);
}

static void
pipelined_commands_in_one_chunk_wait_for_each_reply(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->mail_reply = o->rcpt_reply = o->data_reply = o->dot_reply = NULL;
    EXPECT(o, "MAIL FROM:<a@b>\r\nNOOP\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n", "");
    EXPECT_EV(o, "MAIL <a@b>\n");
    ASSERT(smtp_server_pending(o->s));
    EXPECT_REPLY(o, MAIL_OK, R_MAIL_OK R_OK); /* the NOOP waited behind MAIL */
    EXPECT_EV(o, "RCPT <c@d>\n");
    EXPECT_REPLY(o, "450 4.2.0 try later", "450 4.2.0 try later\r\n");
    EXPECT_EV(o, "RCPT <e@f>\n");
    EXPECT_REPLY(o, RCPT_OK, R_RCPT_OK);
    EXPECT_EV(o, "DATA\n");
    ASSERT(!smtp_server_in_data(o->s));
    EXPECT_REPLY(o, DATA_GO, R_DATA_GO);
    ASSERT(smtp_server_in_data(o->s));
    owner_free(o);
}

static void
pipelined_whole_transaction_with_async_owner(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->mail_reply = o->rcpt_reply = o->data_reply = o->dot_reply = NULL;
    EXPECT(o, "MAIL FROM:<a@b> SIZE=20\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n", "");
    EXPECT_REPLY(o, MAIL_OK, R_MAIL_OK);
    EXPECT_REPLY(o, RCPT_OK, R_RCPT_OK);
    EXPECT_REPLY(o, RCPT_OK, R_RCPT_OK);
    EXPECT_REPLY(o, DATA_GO, R_DATA_GO);
    ASSERT(smtp_server_in_data(o->s));
    EXPECT(o, "Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n", "");
    ASSERT(smtp_server_pending(o->s));
    ASSERT(!smtp_server_in_data(o->s));
    EXPECT_EV(o, "MAIL <a@b> SIZE=20\nRCPT <c@d>\nRCPT <e@f>\nDATA\nEND 18\n");
    EXPECT_REPLY(o, "250 2.0.0 Ok: queued as Y", "250 2.0.0 Ok: queued as Y\r\n221 2.0.0 Bye\r\n");
    EXPECT_EV(o, "RESET\nCLOSE\n");
    EXPECT_DATA_LIT(o, "Subject: x\r\n\r\nhi\r\n");
    owner_free(o);
}

/* the session script used by the split tests: pipelining, stuffing, two messages */
static const char split_script[] =
    "EHLO c.test\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\nRCPT TO:<c@d>\r\nDATA\r\n"
    "Subject: s\r\n\r\n..lead\r\n...\r\nx\r\r\n\r\n.\r\n"
    "MAIL FROM:<>\r\nRCPT TO:<e@f> NOTIFY=NEVER\r\nDATA\r\n\xc3\xa9\r\n.\r\nQUIT\r\n";

static void
run_split(const char *p, size_t n, size_t cut, struct buf *out, struct buf *ev, struct buf *data,
          int bytewise)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.bare_lf = SMTP_BARE_LF_ACCEPT;
    struct owner *o = owner_new(&c);
    char *a = bytewise ? feed_bytes(o, p, n) : feedn(o, p, cut);
    char *b = bytewise ? strdup("") : feedn(o, p + cut, n - cut);
    buf_puts(out, a);
    buf_puts(out, b);
    buf_append(ev, o->ev.data, o->ev.len);
    buf_append(data, o->data.data, o->data.len);
    free(a);
    free(b);
    owner_free(o);
}

static void
any_split_gives_the_same_session(void)
{
    size_t n = sizeof split_script - 1;
    struct buf out0, ev0, data0;
    buf_init(&out0, 0), buf_init(&ev0, 0), buf_init(&data0, 0);
    run_split(split_script, n, n, &out0, &ev0, &data0, 0);
    ASSERT(strstr(out0.data, "221 2.0.0 Bye\r\n"));
    static const char want[] = "Subject: s\r\n\r\n.lead\r\n..\r\nx\r\r\n\r\n\xc3\xa9\r\n";
    ASSERT_EQ_MEM(data0.data, data0.len, want, sizeof want - 1);
    for (size_t cut = 0; cut <= n; cut++) {
        struct buf out, ev, data;
        buf_init(&out, 0), buf_init(&ev, 0), buf_init(&data, 0);
        run_split(split_script, n, cut, &out, &ev, &data, 0);
        ASSERT_EQ_STR(out.data, out0.data);
        ASSERT_EQ_STR(ev.data, ev0.data);
        ASSERT_EQ_MEM(data.data, data.len, data0.data, data0.len);
        buf_free(&out), buf_free(&ev), buf_free(&data);
    }
    buf_free(&out0), buf_free(&ev0), buf_free(&data0);
}

static void
byte_by_byte_feeding(void)
{
    size_t n = sizeof split_script - 1;
    struct buf out0, ev0, data0, out, ev, data;
    buf_init(&out0, 0), buf_init(&ev0, 0), buf_init(&data0, 0);
    buf_init(&out, 0), buf_init(&ev, 0), buf_init(&data, 0);
    run_split(split_script, n, n, &out0, &ev0, &data0, 0);
    run_split(split_script, n, 0, &out, &ev, &data, 1);
    ASSERT_EQ_STR(out.data, out0.data);
    ASSERT_EQ_STR(ev.data, ev0.data);
    ASSERT_EQ_MEM(data.data, data.len, data0.data, data0.len);
    buf_free(&out0), buf_free(&ev0), buf_free(&data0);
    buf_free(&out), buf_free(&ev), buf_free(&data);
}

/* ---- message content ------------------------------------------------------------------- */

/* stuff - SMTP dot-stuffing (RFC 5321 §4.5.2) plus the terminator, as a client sends. */
static void
stuff(struct buf *w, const char *p, size_t n)
{
    int bol = 1;
    for (size_t i = 0; i < n; i++) {
        if (bol && p[i] == '.')
            buf_putc(w, '.');
        buf_putc(w, p[i]);
        bol = p[i] == '\n';
    }
    buf_puts(w, ".\r\n");
}

static void
dot_stuffed_body_round_trip(void)
{
    const char body[] = "Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.x\r\n..y.\r\n. \r\n.\r\n"
                        ".\r\n.....\r\nend.\r\n.\r\n";
    struct buf wire;
    buf_init(&wire, 0);
    stuff(&wire, body, sizeof body - 1);
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    char *r = feedn(o, wire.data, wire.len);
    ASSERT_EQ_STR(r, R_QUEUED);
    free(r);
    EXPECT_DATA(o, body, sizeof body - 1);
    /* and byte by byte */
    start_data(o);
    r = feed_bytes(o, wire.data, wire.len);
    ASSERT_EQ_STR(r, R_QUEUED);
    free(r);
    EXPECT_DATA(o, body, sizeof body - 1);
    buf_free(&wire);
    owner_free(o);
}

static void
eight_bit_body_is_byte_exact(void)
{
    struct buf body, wire;
    buf_init(&body, 0);
    buf_init(&wire, 0);
    buf_puts(&body, "Subject: bytes\r\n\r\n");
    for (int line = 0; line < 4; line++) {
        for (int c = 0; c < 256; c++) {
            int b = (c + line * 37) & 0xff;
            if (b != '\r' && b != '\n')
                buf_putc(&body, b);
        }
        buf_puts(&body, "\r\n");
    }
    static const char tail[] = "\xff\xfe\x00\x80 utf-8: \xc3\xa9\xe2\x82\xac\r\n";
    buf_append(&body, tail, sizeof tail - 1);
    stuff(&wire, body.data, body.len);
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    char *r = feedn(o, wire.data, wire.len);
    ASSERT_EQ_STR(r, R_QUEUED);
    free(r);
    EXPECT_DATA(o, body.data, body.len);
    buf_free(&body);
    buf_free(&wire);
    owner_free(o);
}

static void
data_is_streamed_in_runs_of_the_input(void)
{
    struct buf body, wire;
    buf_init(&body, 0);
    buf_init(&wire, 0);
    buf_puts(&body, "Subject: big\r\n\r\n");
    while (body.len < 1000000)
        buf_puts(&body,
                 "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n");
    stuff(&wire, body.data, body.len);
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    char *r = feedn(o, wire.data, wire.len);
    ASSERT_EQ_STR(r, R_QUEUED);
    free(r);
    ASSERT_EQ_INT(o->data_calls, 1); /* one run: nothing to unstuff */
    EXPECT_DATA(o, body.data, body.len);
    /* in 4 KiB reads: one call per read */
    start_data(o);
    o->data_calls = 0;
    for (size_t off = 0; off < wire.len; off += 4096) {
        size_t k = wire.len - off < 4096 ? wire.len - off : 4096;
        ASSERT_EQ_INT(smtp_server_input(o->s, wire.data + off, k), 0);
    }
    ASSERT(o->data_calls <= wire.len / 4096 + 1);
    EXPECT_DATA(o, body.data, body.len);
    buf_free(&body);
    buf_free(&wire);
    owner_free(o);
}

/* smuggle - a message whose body hides a fake end of data and a second transaction. */
static void
smuggle(const char *fake_end, int accept)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.bare_lf = accept ? SMTP_BARE_LF_ACCEPT : SMTP_BARE_LF_REJECT;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    struct buf in;
    buf_init(&in, 0);
    buf_printf(&in,
               "Subject: x\r\n\r\nhello%sMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\n"
               "DATA\r\nFrom: ceo\r\n\r\nsmuggled\r\n.\r\nNOOP\r\n",
               fake_end);
    char *r = feedn(o, in.data, in.len);
    if (accept) {
        ASSERT_EQ_STR(r, R_QUEUED R_OK);
        ASSERT(strstr(o->ev.data, "MAIL <evil@x>") == NULL);
        ASSERT(strstr(o->ev.data, "END ") != NULL);
        ASSERT(memmem(o->data.data, o->data.len, "MAIL FROM:<evil@x>\r\n", 20) != NULL);
        ASSERT(memmem(o->data.data, o->data.len, "\n", 1) != NULL);
        for (size_t i = 0; i < o->data.len; i++) /* every LF passed on is a CRLF */
            ASSERT(o->data.data[i] != '\n' || (i > 0 && o->data.data[i - 1] == '\r'));
    } else {
        ASSERT_EQ_STR(r, "550 5.5.2 Error: bare <LF> or <CR> received in message\r\n" R_OK);
        ASSERT_EQ_STR(o->ev.data, "ABORT bare LF in message\nRESET\n");
    }
    free(r);
    buf_free(&in);
    owner_free(o);
}

static void
bare_lf_smuggling_is_rejected(void)
{
    smuggle("\n.\n", 0);
    smuggle("\r\n.\n", 0);
    smuggle("\n.\r\n", 0);
    smuggle("\n\n.\n\n", 0);
}

static void
bare_lf_smuggling_never_ends_data_when_accepted(void)
{
    smuggle("\n.\n", 1);
    smuggle("\r\n.\n", 1);
    smuggle("\n.\r\n", 1);
    smuggle("\n\n.\n\n", 1);
}

static void
bare_cr_is_rejected(void)
{
    struct owner *o = owner_ehlo(NULL);
    start_data(o);
    EXPECT(o, "Subject: x\r\n\r\na\rb\r\n.\r\n",
           "550 5.5.2 Error: bare <LF> or <CR> received in message\r\n");
    EXPECT_EV(o, "ABORT bare CR in message\nRESET\n");
    start_data(o);
    EXPECT(o, "Subject: x\r\n\r\n\r.\r\r\n.\r\n",
           "550 5.5.2 Error: bare <LF> or <CR> received in message\r\n");
    EXPECT_EV(o, "ABORT bare CR in message\nRESET\n");
    owner_free(o);
}

static void
bare_lf_accepted_becomes_crlf(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.bare_lf = SMTP_BARE_LF_ACCEPT;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    EXPECT(o, "Subject: x\n\na\nb\r\n..c\n.\r\nx\ry\r\n.\rz\r\n.\r\n", R_QUEUED);
    EXPECT_DATA_LIT(o, "Subject: x\r\n\r\na\r\nb\r\n.c\r\n.\r\nx\ry\r\n\rz\r\n");
    owner_free(o);
}

static void
size_param_over_limit_is_552(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_msg_size = 100;
    struct owner *o = owner_ehlo(&c);
    EXPECT(o, "MAIL FROM:<a@b> SIZE=101\r\n",
           "552 5.3.4 Error: message size exceeds fixed limit\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=99999999999999999999\r\n",
           "552 5.3.4 Error: message size exceeds fixed limit\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=abc\r\n", "501 5.5.4 Bad SIZE parameter\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE\r\n", "501 5.5.4 Bad SIZE parameter\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=123456789012345678901\r\n", "501 5.5.4 Bad SIZE parameter\r\n");
    EXPECT_EV(o, "");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=100\r\n", R_MAIL_OK);
    EXPECT_EV(o, "MAIL <a@b> SIZE=100\n");
    owner_free(o);
}

static void
message_over_size_is_552_and_aborted(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_msg_size = 100;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    struct buf in;
    buf_init(&in, 0);
    buf_puts(&in, "Subject: big\r\n\r\n");
    for (int i = 0; i < 10; i++)
        buf_puts(&in, "0123456789abcdef\r\n");
    buf_puts(&in, ".\r\nNOOP\r\n");
    char *r = feedn(o, in.data, in.len);
    ASSERT_EQ_STR(r, "552 5.3.4 Error: message size exceeds fixed limit\r\n" R_OK);
    free(r);
    EXPECT_EV(o, "ABORT message over the size limit\nRESET\n");
    ASSERT(o->data.len <= 100);
    buf_free(&in);
    owner_free(o);
}

static void
message_at_size_limit_passes(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_msg_size = 20;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    EXPECT(o, "Subject: 1234567\r\n\r\n.\r\n", R_QUEUED); /* 20 bytes */
    EXPECT_EV(o, "END 20\nRESET\n");
    owner_free(o);
}

static void
header_field_limit_is_552(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_header_fields = 3;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    EXPECT(o, "A: 1\r\nB: 2\r\n folded\r\n\tagain\r\nC: 3\r\n\r\nD: body\r\nE: body\r\n.\r\n",
           R_QUEUED);
    EXPECT_EV(o, "END 55\nRESET\n");
    start_data(o);
    EXPECT(o, "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody\r\n.\r\n",
           "552 5.3.4 Error: message header section exceeds fixed limit\r\n");
    EXPECT_EV(o, "ABORT header section over the limit\nRESET\n");
    owner_free(o);
}

static void
header_bytes_limit_is_552(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_header_bytes = 30;
    struct owner *o = owner_ehlo(&c);
    start_data(o);
    /* 30 header bytes exactly, then a long body */
    EXPECT(o,
           "Subject: 0123456789abcdefghi\r\n\r\n"
           "body body body body body body body body body body\r\n.\r\n",
           R_QUEUED);
    start_data(o);
    EXPECT(o, "Subject: 0123456789abcdefghij\r\n\r\nbody\r\n.\r\n",
           "552 5.3.4 Error: message header section exceeds fixed limit\r\n");
    /* one endless header line is caught while it streams */
    start_data(o);
    EXPECT(o, "Subject: 0123456789abcdefghijklmnopqrstuvwxyz", "");
    EXPECT_EV(o, "ABORT header section over the limit\n");
    EXPECT(o, "\r\n.\r\n", "552 5.3.4 Error: message header section exceeds fixed limit\r\n");
    owner_free(o);
}

/* ---- limits on commands ---------------------------------------------------------------- */

static void
line_too_long_is_500_and_skipped(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_line = 64;
    struct owner *o = owner_ehlo(&c);
    char line[128];
    memset(line, 'x', sizeof line);
    memcpy(line, "NOOP ", 5);
    memcpy(line + 62, "\r\n", 2); /* 64 bytes with CRLF: fits */
    char *r = feedn(o, line, 64);
    ASSERT_EQ_STR(r, R_OK);
    free(r);
    memcpy(line + 62, "x\r\n", 3); /* 65: too long */
    r = feedn(o, line, 65);
    ASSERT_EQ_STR(r, "500 5.5.2 Error: line too long\r\n");
    free(r);
    /* a megabyte without a line end, in pieces, then the next command works */
    char chunk[4096];
    memset(chunk, 'y', sizeof chunk);
    for (int i = 0; i < 256; i++) {
        r = feedn(o, chunk, sizeof chunk);
        ASSERT_EQ_STR(r, "");
        free(r);
    }
    EXPECT(o, "MAIL FROM:<a@b>\r\nNOOP\r\n", "500 5.5.2 Error: line too long\r\n" R_OK);
    owner_free(o);
}

static void
too_many_recipients_is_452(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_rcpts = 2;
    struct owner *o = owner_ehlo(&c);
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    o->rcpt_reply = "550 5.1.1 unknown";
    EXPECT(o, "RCPT TO:<x@d>\r\n", "550 5.1.1 unknown\r\n"); /* not counted */
    o->rcpt_reply = RCPT_OK;
    EXPECT(o, "RCPT TO:<c@d>\r\nRCPT TO:<e@d>\r\nRCPT TO:<f@d>\r\n",
           R_RCPT_OK R_RCPT_OK "452 4.5.3 Error: too many recipients\r\n");
    EXPECT_EV(o, "MAIL <a@b>\nRCPT <x@d>\nRCPT <c@d>\nRCPT <e@d>\n");
    owner_free(o);
}

static void
too_many_errors_is_421(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_errors = 3;
    struct owner *o = owner_ehlo(&c);
    EXPECT(o, "FOO\r\nRCPT TO:<a@b>\r\nNOOP\r\nBAR\r\nNOOP\r\n",
           "500 5.5.1 Error: command not recognized\r\n503 5.5.1 Error: need MAIL command\r\n" R_OK
           "421 4.7.0 Error: too many errors\r\n");
    EXPECT_EV(o, "CLOSE\n");
    ASSERT(smtp_server_closing(o->s));
    owner_free(o);
}

static void
pipelining_overflow_is_421_after_the_reply(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_pipeline = 64;
    struct owner *o = owner_ehlo(&c);
    o->mail_reply = NULL;
    EXPECT(o, "MAIL FROM:<a@b>\r\n", "");
    char junk[100];
    memset(junk, 'z', sizeof junk);
    char *r = feedn(o, junk, sizeof junk);
    ASSERT_EQ_STR(r, "");
    free(r);
    EXPECT_REPLY(o, MAIL_OK, R_MAIL_OK "421 4.7.0 Error: too much input sent ahead of replies\r\n");
    ASSERT(smtp_server_closing(o->s));
    owner_free(o);
}

static void
timeout_and_shutdown_are_421(void)
{
    struct owner *o = owner_ehlo(NULL);
    smtp_server_timeout(o->s);
    char *r = take(o);
    ASSERT_EQ_STR(r, "421 4.4.2 Error: timeout exceeded\r\n");
    free(r);
    EXPECT_EV(o, "CLOSE\n");
    EXPECT(o, "NOOP\r\n", "");
    smtp_server_shutdown(o->s); /* already closing: nothing more */
    r = take(o);
    ASSERT_EQ_STR(r, "");
    free(r);
    owner_free(o);

    o = owner_ehlo(NULL);
    start_data(o);
    EXPECT(o, "Subject: x\r\n\r\npart", "");
    smtp_server_shutdown(o->s);
    r = take(o);
    ASSERT_EQ_STR(r, "421 4.3.2 Error: service shutting down\r\n");
    free(r);
    EXPECT_EV(o, "ABORT shutdown\nCLOSE\n");
    owner_free(o);

    /* while the owner works on the end of data: its late reply is refused */
    o = owner_ehlo(NULL);
    o->dot_reply = NULL;
    start_data(o);
    EXPECT(o, "x\r\n.\r\n", "");
    smtp_server_timeout(o->s);
    r = take(o);
    ASSERT_EQ_STR(r, "421 4.4.2 Error: timeout exceeded\r\n");
    free(r);
    EXPECT_EV(o, "END 3\nABORT timeout\nCLOSE\n");
    ASSERT_EQ_INT(smtp_server_reply(o->s, QUEUED), -ARC_ESTATE);
    owner_free(o);
}

/* ---- XFORWARD --------------------------------------------------------------------------- */

static struct owner *
xf_owner(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.xforward_allowed = 1;
    return owner_ehlo(&c);
}

static void
xforward_allowed_sets_attributes(void)
{
    struct owner *o = xf_owner();
    EXPECT(o,
           "XFORWARD NAME=spike.porcupine.org ADDR=168.100.189.2 PROTO=ESMTP\r\n"
           "xforward helo=spike+2Eporcupine.org PORT=4711 IDENT=[unavailable]\r\n"
           "XFORWARD SOURCE=REMOTE\r\n",
           R_OK R_OK R_OK);
    const struct smtp_xforward *x = smtp_server_xforward(o->s);
    ASSERT(x->present);
    ASSERT_EQ_STR(x->helo, "spike.porcupine.org");
    ASSERT(x->ident == NULL);
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    EXPECT_EV(o, "XF spike.porcupine.org 168.100.189.2 4711 ESMTP spike.porcupine.org - REMOTE\n"
                 "MAIL <a@b>\n");
    owner_free(o);
}

static void
xforward_refused_for_other_clients(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "XFORWARD ADDR=10.0.0.1\r\n", "550 5.7.0 Error: insufficient authorization\r\n");
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    EXPECT_EV(o, "MAIL <a@b>\n");
    ASSERT(!smtp_server_xforward(o->s)->present);
    owner_free(o);
}

static void
xforward_inside_transaction_is_503(void)
{
    struct owner *o = xf_owner();
    EXPECT(o,
           "MAIL FROM:<a@b>\r\nXFORWARD ADDR=10.0.0.1\r\nRCPT TO:<c@d>\r\n"
           "XFORWARD ADDR=10.0.0.1\r\nDATA\r\n",
           R_MAIL_OK "503 5.5.1 Error: MAIL transaction in progress\r\n" R_RCPT_OK
                     "503 5.5.1 Error: MAIL transaction in progress\r\n" R_DATA_GO);
    owner_free(o);
}

static void
xforward_reset_rules(void)
{
    struct owner *o = xf_owner();
    const struct smtp_xforward *x = smtp_server_xforward(o->s);
    EXPECT(o, "XFORWARD NAME=a.test ADDR=10.0.0.1\r\n", R_OK);
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n",
           R_MAIL_OK R_RCPT_OK R_DATA_GO R_QUEUED);
    EXPECT_EV(o, "XF a.test 10.0.0.1 - - - - -\nMAIL <a@b>\nRCPT <c@d>\nDATA\nEND 3\nRESET\n");
    ASSERT(!x->present && !x->name && !x->addr); /* cleared after end of data */
    EXPECT(o, "XFORWARD NAME=b.test\r\nXFORWARD ADDR=10.0.0.2\r\nRSET\r\n", R_OK R_OK R_OK);
    ASSERT(!x->present && !x->name && !x->addr); /* and by RSET */
    EXPECT(o, "XFORWARD ADDR=10.0.0.3\r\nXFORWARD ADDR=[UNAVAILABLE]\r\n", R_OK R_OK);
    ASSERT(x->present && !x->addr);
    EXPECT_EV(o, "RESET\n");
    owner_free(o);
}

static void
xforward_syntax_is_501_and_changes_nothing(void)
{
    struct owner *o = xf_owner();
    const struct smtp_xforward *x = smtp_server_xforward(o->s);
    char v255[300], line[400];
    memset(v255, 'a', sizeof v255);
    EXPECT(o, "XFORWARD NAME=keep.test\r\n", R_OK);
    EXPECT(o, "XFORWARD\r\n", "501 5.5.4 Syntax: XFORWARD attribute=value...\r\n");
    EXPECT(o, "XFORWARD NAME\r\n", "501 5.5.4 Syntax: XFORWARD attribute=value...\r\n");
    EXPECT(o, "XFORWARD =x\r\n", "501 5.5.4 Syntax: XFORWARD attribute=value...\r\n");
    EXPECT(o, "XFORWARD ADDR=1.2.3.4 COLOR=red\r\n", "501 5.5.4 Bad XFORWARD attribute name\r\n");
    EXPECT(o, "XFORWARD NAME=a+ZZ\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    EXPECT(o, "XFORWARD NAME=a+0A\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    EXPECT(o, "XFORWARD NAME=a+20b\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    EXPECT(o, "XFORWARD NAME=\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    EXPECT(o, "XFORWARD PORT=http\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    EXPECT(o, "XFORWARD NAME=\xc3\xa9.test\r\n", "501 5.5.4 Bad XFORWARD attribute value\r\n");
    snprintf(line, sizeof line, "XFORWARD NAME=%.256s\r\n", v255);
    EXPECT(o, line, "501 5.5.4 Bad XFORWARD attribute value\r\n");
    ASSERT_EQ_STR(x->name, "keep.test");
    snprintf(line, sizeof line, "XFORWARD NAME=%.255s\r\n", v255);
    EXPECT(o, line, R_OK);
    ASSERT_EQ_INT(strlen(x->name), 255);
    owner_free(o);
}

/* ---- MAIL and RCPT syntax and parameters ------------------------------------------------ */

static void
mail_path_syntax(void)
{
    struct owner *o = owner_ehlo(NULL);
    const char *bad[] = {
        "MAIL FROM:a@b\r\n",     "MAIL FROM:<a b@c>\r\n",    "MAIL FROM:<a@b\r\n",
        "MAIL FROM:<a@b>x\r\n",  "MAIL FROM:<@a:>\r\n",      "MAIL FROM:<\"a@b>\r\n",
        "MAIL FROM:<a@>\r\n",    "MAIL FROM:<@b>\r\n",       "MAIL FROM:<a@[1.2>\r\n",
        "MAIL FROM:<a<b@c>\r\n", "MAIL FROM:<a@b..c d>\r\n", "MAIL FROM:\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT(o, bad[i], "501 5.1.7 Bad sender address syntax\r\n");
    EXPECT(o, "MAIL TO:<a@b>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    EXPECT(o, "MAIL\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    EXPECT_EV(o, "");
    const char *good[][2] = {
        {"MAIL FROM:<>\r\n", ""},
        {"MAIL FROM: <a@b.test>\r\n", "a@b.test"},
        {"mail from:<\"john doe\"@b.test>\r\n", "\"john doe\"@b.test"},
        {"MAIL FROM:<\"a\\\"b\"@b.test>\r\n", "\"a\\\"b\"@b.test"},
        {"MAIL FROM:<@r1.test,@r2.test:a@b.test>\r\n", "a@b.test"},
        {"MAIL FROM:<a+tag/x=y@[192.0.2.1]>\r\n", "a+tag/x=y@[192.0.2.1]"},
        {"MAIL FROM:<a@[IPv6:2001:db8::1]>  \r\n", "a@[IPv6:2001:db8::1]"},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        EXPECT(o, good[i][0], R_MAIL_OK);
        char want[128];
        snprintf(want, sizeof want, "MAIL <%s>\nRESET\n", good[i][1]);
        EXPECT(o, "RSET\r\n", R_OK);
        EXPECT_EV(o, want);
    }
    owner_free(o);
}

static void
rcpt_path_syntax(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<>\r\n", R_MAIL_OK);
    EXPECT(o, "RCPT TO:<>\r\n", "501 5.1.3 Bad recipient address syntax\r\n");
    EXPECT(o, "RCPT TO:c@d\r\n", "501 5.1.3 Bad recipient address syntax\r\n");
    EXPECT(o, "RCPT FROM:<c@d>\r\n", "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
    EXPECT(o, "RCPT TO:<Postmaster>\r\nRCPT To:<c@d.test>\r\n", R_RCPT_OK R_RCPT_OK);
    EXPECT_EV(o, "MAIL <>\nRCPT <Postmaster>\nRCPT <c@d.test>\n");
    owner_free(o);
}

static void
dsn_params_pass_through_intact(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o,
           "MAIL FROM:<a@b> RET=HDRS ENVID=QQ314159+2Bx SIZE=100 BODY=8BITMIME\r\n"
           "RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d\r\n"
           "RCPT TO:<e@f> ORCPT=rfc822;e@f notify=never\r\n"
           "RCPT TO:<g@h> NOTIFY=delay\r\n",
           R_MAIL_OK R_RCPT_OK R_RCPT_OK R_RCPT_OK);
    EXPECT_EV(o, "MAIL <a@b> RET=HDRS ENVID=QQ314159+2Bx SIZE=100 BODY=8BITMIME\n"
                 "RCPT <c@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d\n"
                 "RCPT <e@f> ORCPT=rfc822;e@f NOTIFY=never\n"
                 "RCPT <g@h> NOTIFY=delay\n");
    owner_free(o);
}

static void
bad_param_values_are_501(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<a@b> BODY=BINARYMIME\r\n", "501 5.5.4 Bad BODY parameter\r\n");
    EXPECT(o, "MAIL FROM:<a@b> RET=ALL\r\n", "501 5.5.4 Bad RET parameter\r\n");
    EXPECT(o, "MAIL FROM:<a@b> ENVID=a+zz\r\n", "501 5.5.4 Bad ENVID parameter\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SMTPUTF8=yes\r\n", "501 5.5.4 Bad parameter syntax\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=1 SIZE=2\r\n", "501 5.5.4 Bad parameter syntax\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=\r\n", "501 5.5.4 Bad parameter syntax\r\n");
    EXPECT(o, "MAIL FROM:<a@b> -X=1\r\n", "501 5.5.4 Bad parameter syntax\r\n");
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    EXPECT(o, "RCPT TO:<c@d> NOTIFY=NEVER,DELAY\r\n", "501 5.5.4 Bad NOTIFY parameter\r\n");
    EXPECT(o, "RCPT TO:<c@d> NOTIFY=SUCCESS,SUCCESS\r\n", "501 5.5.4 Bad NOTIFY parameter\r\n");
    EXPECT(o, "RCPT TO:<c@d> NOTIFY=SUCCESS,\r\n", "501 5.5.4 Bad NOTIFY parameter\r\n");
    EXPECT(o, "RCPT TO:<c@d> ORCPT=rfc822\r\n", "501 5.5.4 Bad ORCPT parameter\r\n");
    EXPECT(o, "RCPT TO:<c@d> ORCPT=;c@d\r\n", "501 5.5.4 Bad ORCPT parameter\r\n");
    EXPECT_EV(o, "MAIL <a@b>\n");
    owner_free(o);
}

static void
unknown_or_unoffered_params_are_555(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<a@b> AUTH=<>\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b> NOTIFY=NEVER\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    EXPECT(o, "RCPT TO:<c@d> RET=FULL\r\n", "555 5.5.4 Unsupported option\r\n");
    owner_free(o);

    struct smtp_server_cfg c;
    cfg_test(&c);
    c.offer_dsn = c.offer_8bitmime = c.offer_smtputf8 = 0;
    o = owner_ehlo(&c);
    EXPECT(o, "MAIL FROM:<a@b> RET=FULL\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b> BODY=8BITMIME\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SMTPUTF8\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=10\r\n", R_MAIL_OK);
    owner_free(o);

    /* after HELO, no ESMTP parameters at all */
    cfg_test(&c);
    o = owner_new(&c);
    EXPECT(o, "HELO c.test\r\n", "250 mx.test\r\n");
    EXPECT(o, "MAIL FROM:<a@b> SIZE=10\r\n", "555 5.5.4 Unsupported option\r\n");
    EXPECT(o, "MAIL FROM:<a@b>\r\n", R_MAIL_OK);
    owner_free(o);
}

static void
smtputf8_addresses(void)
{
    struct owner *o = owner_ehlo(NULL);
    EXPECT(o, "MAIL FROM:<j\xc3\xb6ran@ex\xc3\xa4mple.org>\r\n",
           "553 5.6.7 Must declare SMTPUTF8 to send a non-ASCII address\r\n");
    EXPECT(o, "MAIL FROM:<a\xff@b> SMTPUTF8\r\n", "501 5.1.7 Bad sender address syntax\r\n");
    EXPECT(o, "MAIL FROM:<a\xc0\xaf@b> SMTPUTF8\r\n", "501 5.1.7 Bad sender address syntax\r\n");
    EXPECT(o, "MAIL FROM:<a@b>\r\nRCPT TO:<\xe7\x94\xa8@b>\r\nRSET\r\n",
           R_MAIL_OK "553 5.6.7 Must declare SMTPUTF8 to send a non-ASCII address\r\n" R_OK);
    EXPECT_EV(o, "MAIL <a@b>\nRESET\n");
    EXPECT(o,
           "MAIL FROM:<j\xc3\xb6ran@ex\xc3\xa4mple.org> SMTPUTF8 BODY=8BITMIME\r\n"
           "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a> "
           "ORCPT=utf-8;\xe7\x94\xa8@x\r\n",
           R_MAIL_OK R_RCPT_OK);
    EXPECT_EV(o,
              "MAIL <j\xc3\xb6ran@ex\xc3\xa4mple.org> SMTPUTF8 BODY=8BITMIME\n"
              "RCPT <\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a> "
              "ORCPT=utf-8;\xe7\x94\xa8@x\n");
    owner_free(o);
}

/* ---- smtp_server_reply ----------------------------------------------------------------- */

static void
owner_reply_is_checked_and_completed(void)
{
    struct owner *o = owner_ehlo(NULL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, MAIL_OK), -ARC_ESTATE); /* nothing pending */
    o->mail_reply = NULL;
    EXPECT(o, "MAIL FROM:<a@b>\r\n", "");
    ASSERT_EQ_INT(smtp_server_reply(o->s, "hello"), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, "25"), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, ""), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, "250 a\rb"), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, "250-a\r\nxyz b"), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_server_reply(o->s, "250x"), -ARC_EINVAL);
    ASSERT(smtp_server_pending(o->s));
    EXPECT_REPLY(o, "250-2.1.0 first\n250-2.1.0 second\r\n250 2.1.0 third\r\n",
                 "250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 third\r\n");
    ASSERT(!smtp_server_pending(o->s));
    o->rcpt_reply = NULL;
    EXPECT(o, "RCPT TO:<c@d>\r\n", "");
    EXPECT_REPLY(o, "250", "250\r\n");
    owner_free(o);
}

static void
default_replies_without_hooks(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct smtp_server *s = smtp_server_new(&c, NULL, NULL);
    const char in[] = "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n";
    ASSERT_EQ_INT(smtp_server_input(s, in, sizeof in - 1), 0);
    struct span out = smtp_server_out(s);
    const char *tail = R_MAIL_OK R_RCPT_OK R_DATA_GO R_OK "221 2.0.0 Bye\r\n";
    ASSERT(out.n > strlen(tail));
    ASSERT_EQ_MEM(out.p + out.n - strlen(tail), strlen(tail), tail, strlen(tail));
    ASSERT(smtp_server_closing(s));
    ASSERT(smtp_server_free(s) == NULL);
    ASSERT(smtp_server_free(NULL) == NULL);
}

static void
out_may_be_taken_in_pieces(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct smtp_server *s = smtp_server_new(&c, NULL, NULL);
    smtp_server_out_consumed(s, 4);
    struct span out = smtp_server_out(s);
    ASSERT_EQ_MEM(out.p, out.n, "mx.test ESMTP arcproxy\r\n", 24);
    smtp_server_out_consumed(s, 100);
    ASSERT_EQ_INT(smtp_server_out(s).n, 0);
    smtp_server_free(s);
}

static void
zero_limits_mean_default_or_unlimited(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    c.max_line = 0;     /* default 2048 */
    c.max_pipeline = 0; /* default 64 KiB */
    c.max_msg_size = 0; /* unlimited */
    c.max_rcpts = 0;
    struct owner *o = owner_new(&c);
    char *r = feed(o, "EHLO c\r\n");
    ASSERT(strstr(r, "250-SIZE\r\n") != NULL);
    free(r);
    EXPECT(o, "MAIL FROM:<a@b> SIZE=99999999999\r\n", R_MAIL_OK);
    char line[2100];
    memset(line, 'x', sizeof line);
    memcpy(line, "NOOP ", 5);
    memcpy(line + 2046, "\r\n", 2);
    r = feedn(o, line, 2048);
    ASSERT_EQ_STR(r, R_OK);
    free(r);
    owner_free(o);
}

static void
input_while_pending_is_held(void)
{
    struct owner *o = owner_ehlo(NULL);
    o->mail_reply = NULL;
    EXPECT(o, "MAIL FROM:<a@b>\r\n", "");
    /* outside any hook, input while pending is held and parsed after the reply */
    ASSERT_EQ_INT(smtp_server_input(o->s, "NOOP\r\n", 6), 0);
    EXPECT_REPLY(o, MAIL_OK, R_MAIL_OK R_OK);
    owner_free(o);
}

static int reentrant_rc = 1;

static void
helo_feeds_input(void *ctx, const char *name, int esmtp)
{
    (void)name;
    (void)esmtp;
    reentrant_rc = smtp_server_input(*(struct smtp_server **)ctx, "NOOP\r\n", 6);
}

static void
input_from_inside_a_hook_is_refused(void)
{
    struct smtp_server_cfg c;
    cfg_test(&c);
    struct smtp_server_hooks h = {.helo = helo_feeds_input};
    struct smtp_server *s = NULL;
    s = smtp_server_new(&c, &h, &s);
    ASSERT_EQ_INT(smtp_server_input(s, "HELO x\r\n", 8), 0);
    ASSERT_EQ_INT(reentrant_rc, -ARC_ESTATE);
    struct span out = smtp_server_out(s);
    static const char want[] = "220 mx.test ESMTP arcproxy\r\n250 mx.test\r\n";
    ASSERT_EQ_MEM(out.p, out.n, want, sizeof want - 1);
    smtp_server_free(s);
}

static void
reply_table_is_consistent(void)
{
    for (int r = 1; r < SMTP_R_COUNT; r++) {
        const char *t = smtp_reply_text((enum smtp_reply)r);
        int code = smtp_reply_code((enum smtp_reply)r);
        ASSERT(strlen(t) > 10);
        ASSERT(code >= 200 && code < 600);
        /* "ddd c.x.y text" with c the first digit of the code (3xx has none) */
        ASSERT(t[3] == ' ');
        ASSERT(code / 100 == 3 || (t[4] == t[0] && t[5] == '.'));
        ASSERT(!strchr(t, '\r') && !strchr(t, '\n'));
    }
    ASSERT_EQ_STR(smtp_reply_text(SMTP_R_NONE), "");
    ASSERT_EQ_INT(smtp_reply_code(SMTP_R_COUNT), 0);
}

static const struct test_case cases[] = {
    {"ehlo_lists_extensions", ehlo_lists_extensions},
    {"ehlo_offers_xforward_only_when_allowed", ehlo_offers_xforward_only_when_allowed},
    {"helo_is_one_line_and_needs_a_name", helo_is_one_line_and_needs_a_name},
    {"noop_vrfy_help_rset", noop_vrfy_help_rset},
    {"unknown_command_is_500", unknown_command_is_500},
    {"command_lines_may_end_in_lf", command_lines_may_end_in_lf},
    {"quit_replies_221_and_closes", quit_replies_221_and_closes},
    {"mail_before_helo_is_503", mail_before_helo_is_503},
    {"rcpt_and_data_before_mail_are_503", rcpt_and_data_before_mail_are_503},
    {"nested_mail_is_503", nested_mail_is_503},
    {"data_without_accepted_rcpt_is_503", data_without_accepted_rcpt_is_503},
    {"data_with_arguments_is_501", data_with_arguments_is_501},
    {"mail_refused_by_owner_opens_nothing", mail_refused_by_owner_opens_nothing},
    {"data_refused_by_owner_keeps_command_mode", data_refused_by_owner_keeps_command_mode},
    {"one_transaction_end_to_end", one_transaction_end_to_end},
    {"empty_message", empty_message},
    {"several_transactions_per_session", several_transactions_per_session},
    {"rset_ends_the_transaction", rset_ends_the_transaction},
    {"ehlo_ends_the_transaction", ehlo_ends_the_transaction},
    {"pipelined_commands_in_one_chunk_wait_for_each_reply",
     pipelined_commands_in_one_chunk_wait_for_each_reply},
    {"pipelined_whole_transaction_with_async_owner", pipelined_whole_transaction_with_async_owner},
    {"any_split_gives_the_same_session", any_split_gives_the_same_session},
    {"byte_by_byte_feeding", byte_by_byte_feeding},
    {"dot_stuffed_body_round_trip", dot_stuffed_body_round_trip},
    {"eight_bit_body_is_byte_exact", eight_bit_body_is_byte_exact},
    {"data_is_streamed_in_runs_of_the_input", data_is_streamed_in_runs_of_the_input},
    {"bare_lf_smuggling_is_rejected", bare_lf_smuggling_is_rejected},
    {"bare_lf_smuggling_never_ends_data_when_accepted",
     bare_lf_smuggling_never_ends_data_when_accepted},
    {"bare_cr_is_rejected", bare_cr_is_rejected},
    {"bare_lf_accepted_becomes_crlf", bare_lf_accepted_becomes_crlf},
    {"size_param_over_limit_is_552", size_param_over_limit_is_552},
    {"message_over_size_is_552_and_aborted", message_over_size_is_552_and_aborted},
    {"message_at_size_limit_passes", message_at_size_limit_passes},
    {"header_field_limit_is_552", header_field_limit_is_552},
    {"header_bytes_limit_is_552", header_bytes_limit_is_552},
    {"line_too_long_is_500_and_skipped", line_too_long_is_500_and_skipped},
    {"too_many_recipients_is_452", too_many_recipients_is_452},
    {"too_many_errors_is_421", too_many_errors_is_421},
    {"pipelining_overflow_is_421_after_the_reply", pipelining_overflow_is_421_after_the_reply},
    {"timeout_and_shutdown_are_421", timeout_and_shutdown_are_421},
    {"xforward_allowed_sets_attributes", xforward_allowed_sets_attributes},
    {"xforward_refused_for_other_clients", xforward_refused_for_other_clients},
    {"xforward_inside_transaction_is_503", xforward_inside_transaction_is_503},
    {"xforward_reset_rules", xforward_reset_rules},
    {"xforward_syntax_is_501_and_changes_nothing", xforward_syntax_is_501_and_changes_nothing},
    {"mail_path_syntax", mail_path_syntax},
    {"rcpt_path_syntax", rcpt_path_syntax},
    {"dsn_params_pass_through_intact", dsn_params_pass_through_intact},
    {"bad_param_values_are_501", bad_param_values_are_501},
    {"unknown_or_unoffered_params_are_555", unknown_or_unoffered_params_are_555},
    {"smtputf8_addresses", smtputf8_addresses},
    {"owner_reply_is_checked_and_completed", owner_reply_is_checked_and_completed},
    {"default_replies_without_hooks", default_replies_without_hooks},
    {"out_may_be_taken_in_pieces", out_may_be_taken_in_pieces},
    {"zero_limits_mean_default_or_unlimited", zero_limits_mean_default_or_unlimited},
    {"input_while_pending_is_held", input_while_pending_is_held},
    {"input_from_inside_a_hook_is_refused", input_from_inside_a_hook_is_refused},
    {"reply_table_is_consistent", reply_table_is_consistent},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
