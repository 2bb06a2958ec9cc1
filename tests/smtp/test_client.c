/* SPDX-License-Identifier: MIT */
/* test_client - the re-injection SMTP client against a scripted fake server: the test
 * feeds canned replies and checks the exact bytes the client sends. Not covered here:
 * real sockets and timers (the adapter's tests), pipelining (the client is lock-step). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/client.h"
#include "test.h"

#define HELO_NAME "arcproxy.test"

static const char ehlo_full[] = "250-mx.test Hello\r\n"
                                "250-PIPELINING\r\n"
                                "250-SIZE 10240000\r\n"
                                "250-8BITMIME\r\n"
                                "250-SMTPUTF8\r\n"
                                "250-DSN\r\n"
                                "250-AUTH PLAIN LOGIN\r\n"
                                "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n"
                                "250 ENHANCEDSTATUSCODES\r\n";

/* what the fake server's side saw: the owner's view of the callbacks */
struct t {
    struct smtp_client *c;
    struct buf sent; /* bytes drained from the client since the last expect_sent */
    int nready;
    int nreply;
    int code;
    struct buf reply; /* last reply, as smtp_client_reply_format gives it */
    size_t nlines;
    int nfailed;
    enum smtp_client_fail cls;
    int fail_code; /* code of the reply given to failed, 0 for none */
    char why[256];
    /* optional action run inside the reply callback */
    void (*on_reply)(struct t *t, const struct smtp_client_reply *r);
    int free_in_cb;
};

static void
cb_ready(void *ctx)
{
    struct t *t = ctx;
    t->nready++;
}

static void
cb_reply(void *ctx, const struct smtp_client_reply *r)
{
    struct t *t = ctx;
    t->nreply++;
    t->code = r->code;
    t->nlines = r->nlines;
    buf_reset(&t->reply);
    ASSERT_EQ_INT(smtp_client_reply_format(r, 0, &t->reply), 0);
    if (t->on_reply)
        t->on_reply(t, r);
    if (t->free_in_cb)
        t->c = smtp_client_free(t->c);
}

static void
cb_failed(void *ctx, enum smtp_client_fail cls, const struct smtp_client_reply *r, const char *why)
{
    struct t *t = ctx;
    t->nfailed++;
    t->cls = cls;
    t->fail_code = r ? r->code : 0;
    snprintf(t->why, sizeof t->why, "%s", why);
    if (t->free_in_cb)
        t->c = smtp_client_free(t->c);
}

static const struct smtp_client_cb cbs = {cb_ready, cb_reply, cb_failed};

static void
t_init(struct t *t)
{
    memset(t, 0, sizeof *t);
    buf_init(&t->sent, 0);
    buf_init(&t->reply, 0);
    t->c = smtp_client_new(HELO_NAME, &cbs, t);
    ASSERT(t->c != NULL);
}

static void
t_done(struct t *t)
{
    t->c = smtp_client_free(t->c);
    buf_free(&t->sent);
    buf_free(&t->reply);
}

/* drain - move what the client wants to send into t->sent. */
static void
drain(struct t *t)
{
    if (!t->c)
        return;
    struct span s = smtp_client_out(t->c);
    buf_append(&t->sent, s.p, s.n);
    smtp_client_out_consumed(t->c, s.n);
}

static void
feed(struct t *t, const char *s)
{
    ASSERT_EQ_INT(smtp_client_input(t->c, s, strlen(s)), 0);
    drain(t);
}

static void
feed_bytewise(struct t *t, const char *s)
{
    for (size_t i = 0; s[i]; i++)
        ASSERT_EQ_INT(smtp_client_input(t->c, s + i, 1), 0);
    drain(t);
}

#define expect_sent(t, want)                                                                       \
    do {                                                                                           \
        drain(t);                                                                                  \
        ASSERT_EQ_STR((t)->sent.data ? (t)->sent.data : "", (want));                               \
        buf_reset(&(t)->sent);                                                                     \
    } while (0)

/* start - greeting and EHLO with the given reply; ready expected. */
static void
start(struct t *t, const char *ehlo_reply)
{
    t_init(t);
    ASSERT(smtp_client_pending(t->c));
    expect_sent(t, "");
    feed(t, "220 mx.test ESMTP\r\n");
    expect_sent(t, "EHLO " HELO_NAME "\r\n");
    ASSERT_EQ_INT(t->nready, 0);
    feed(t, ehlo_reply);
    ASSERT_EQ_INT(t->nready, 1);
    ASSERT_EQ_INT(t->nfailed, 0);
    ASSERT(!smtp_client_pending(t->c));
}

/* open_txn - MAIL and one RCPT, both 250. */
static void
open_txn(struct t *t)
{
    ASSERT_EQ_INT(smtp_client_mail(t->c, "a@x.test", NULL, 0, 0), 0);
    expect_sent(t, "MAIL FROM:<a@x.test>\r\n");
    feed(t, "250 2.1.0 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_rcpt(t->c, "b@y.test", NULL, 0), 0);
    expect_sent(t, "RCPT TO:<b@y.test>\r\n");
    feed(t, "250 2.1.5 Ok\r\n");
}

static void
expect_failed(struct t *t, enum smtp_client_fail cls)
{
    ASSERT_EQ_INT(t->nfailed, 1);
    ASSERT_EQ_INT(t->cls, cls);
    /* dead: every command refuses, input is ignored */
    ASSERT_EQ_INT(smtp_client_noop(t->c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_input(t->c, "250 x\r\n", 7), -ARC_ESTATE);
    ASSERT_EQ_INT(t->nfailed, 1);
}

/* ---- greeting and EHLO ---- */

static void
ehlo_extensions_are_parsed(void)
{
    struct t t;
    start(&t, ehlo_full);
    struct smtp_client *c = t.c;
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_PIPELINING));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_SIZE));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_8BITMIME));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_SMTPUTF8));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_DSN));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_XFORWARD));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_ENHANCEDSTATUSCODES));
    ASSERT(smtp_client_has_ext(c, SMTP_EXT_DSN | SMTP_EXT_SIZE));
    ASSERT_EQ_INT(smtp_client_size_limit(c), 10240000);
    ASSERT_EQ_INT(smtp_client_xforward_attrs(c), SMTP_XF_NAME | SMTP_XF_ADDR | SMTP_XF_PORT |
                                                     SMTP_XF_PROTO | SMTP_XF_HELO | SMTP_XF_IDENT |
                                                     SMTP_XF_SOURCE);
    t_done(&t);
}

static void
ehlo_keywords_are_case_insensitive_and_bare_lf_is_accepted(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "220 mx.test\n");
    expect_sent(&t, "EHLO " HELO_NAME "\r\n");
    feed(&t, "250-mx.test\n250-size\n250-XForward  addr\tname\n250 smtputf8\n");
    ASSERT_EQ_INT(t.nready, 1);
    ASSERT(smtp_client_has_ext(t.c, SMTP_EXT_SIZE));
    ASSERT_EQ_INT(smtp_client_size_limit(t.c), 0); /* SIZE without a number: no limit */
    ASSERT(smtp_client_has_ext(t.c, SMTP_EXT_SMTPUTF8));
    ASSERT(!smtp_client_has_ext(t.c, SMTP_EXT_PIPELINING));
    ASSERT(!smtp_client_has_ext(t.c, SMTP_EXT_DSN));
    ASSERT_EQ_INT(smtp_client_xforward_attrs(t.c), SMTP_XF_NAME | SMTP_XF_ADDR);
    t_done(&t);
}

static void
ehlo_single_line_offers_nothing(void)
{
    struct t t;
    start(&t, "250 mx.test\r\n");
    ASSERT(!smtp_client_has_ext(t.c, SMTP_EXT_PIPELINING));
    ASSERT(!smtp_client_has_ext(t.c, SMTP_EXT_XFORWARD));
    ASSERT_EQ_INT(smtp_client_xforward_attrs(t.c), 0);
    ASSERT_EQ_INT(smtp_client_xforward(t.c, NULL), -ARC_ENOENT);
    expect_sent(&t, "");
    t_done(&t);
}

static void
ehlo_5xx_falls_back_to_helo(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "220 old.test SMTP\r\n");
    expect_sent(&t, "EHLO " HELO_NAME "\r\n");
    feed(&t, "502 5.5.2 Error: command not recognized\r\n");
    ASSERT_EQ_INT(t.nready, 0);
    expect_sent(&t, "HELO " HELO_NAME "\r\n");
    feed(&t, "250 old.test\r\n");
    ASSERT_EQ_INT(t.nready, 1);
    ASSERT_EQ_INT(t.nreply, 0);
    ASSERT(!smtp_client_has_ext(t.c, SMTP_EXT_SIZE));
    ASSERT_EQ_INT(smtp_client_mail(t.c, "", NULL, 0, 0), 0);
    expect_sent(&t, "MAIL FROM:<>\r\n");
    t_done(&t);
}

static void
ehlo_4xx_is_refused(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "220 mx.test\r\n");
    feed(&t, "450 4.7.1 try later\r\n");
    expect_sent(&t, "EHLO " HELO_NAME "\r\n");
    ASSERT_EQ_INT(t.fail_code, 450);
    expect_failed(&t, SMTP_CLIENT_FAIL_REFUSED);
    t_done(&t);
}

static void
helo_refused_after_ehlo_5xx(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "220 mx.test\r\n500 no\r\n554 no HELO either\r\n");
    expect_sent(&t, "EHLO " HELO_NAME "\r\nHELO " HELO_NAME "\r\n");
    ASSERT_EQ_INT(t.fail_code, 554);
    expect_failed(&t, SMTP_CLIENT_FAIL_REFUSED);
    t_done(&t);
}

static void
greeting_554_is_refused(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "554-mx.test\r\n554 5.3.2 no service\r\n");
    expect_sent(&t, "");
    ASSERT_EQ_INT(t.nready, 0);
    ASSERT_EQ_INT(t.fail_code, 554);
    expect_failed(&t, SMTP_CLIENT_FAIL_REFUSED);
    t_done(&t);
}

static void
greeting_421_is_closed(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "421 4.3.2 too busy\r\n");
    ASSERT_EQ_INT(t.fail_code, 421);
    expect_failed(&t, SMTP_CLIENT_FAIL_CLOSED);
    t_done(&t);
}

static void
commands_before_ready_are_estate(void)
{
    struct t t;
    t_init(&t);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_noop(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_quit(t.c), -ARC_ESTATE);
    feed(&t, "220 mx\r\n");
    ASSERT_EQ_INT(smtp_client_rset(t.c), -ARC_ESTATE); /* EHLO in flight */
    expect_sent(&t, "EHLO " HELO_NAME "\r\n");
    t_done(&t);
}

static void
new_rejects_bad_helo_name(void)
{
    ASSERT(smtp_client_new("", &cbs, NULL) == NULL);
    ASSERT(smtp_client_new("a b", &cbs, NULL) == NULL);
    ASSERT(smtp_client_new("a\r\nMAIL", &cbs, NULL) == NULL);
    ASSERT(smtp_client_new(NULL, &cbs, NULL) == NULL);
    ASSERT(smtp_client_new("ok", NULL, NULL) == NULL);
    ASSERT(smtp_client_free(NULL) == NULL);
}

/* ---- XFORWARD ---- */

/* xtext_decode - for checking what was sent. */
static size_t
xtext_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' && i + 2 < n) {
            unsigned v;
            ASSERT(sscanf(s + i + 1, "%2X", &v) == 1);
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static void
xforward_is_xtext_encoded(void)
{
    struct t t;
    start(&t, ehlo_full);
    struct smtp_xforward xf = {
        .name = "host.example",
        .addr = "192.0.2.1",
        .port = NULL,
        .proto = "ESMTP",
        .helo = "a+b=c d\x01\x7f\xc3\xa9[x]",
        .ident = NULL,
        .source = "REMOTE",
    };
    ASSERT_EQ_INT(smtp_client_xforward(t.c, &xf), 0);
    ASSERT(smtp_client_pending(t.c));
    expect_sent(&t, "XFORWARD NAME=host.example ADDR=192.0.2.1 PORT=[UNAVAILABLE] PROTO=ESMTP "
                    "HELO=a+2Bb+3Dc+20d+01+7F+C3+A9[x] IDENT=[UNAVAILABLE] SOURCE=REMOTE\r\n");
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), -ARC_ESTATE);
    feed(&t, "250 2.0.0 Ok\r\n");
    ASSERT_EQ_INT(t.nreply, 1);
    ASSERT_EQ_INT(t.code, 250);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    t_done(&t);
}

static void
xforward_sends_only_offered_attributes(void)
{
    struct t t;
    start(&t, "250-mx\r\n250 XFORWARD ADDR NAME\r\n");
    struct smtp_xforward xf = {.name = "n", .addr = "a", .helo = "h", .source = "LOCAL"};
    ASSERT_EQ_INT(smtp_client_xforward(t.c, &xf), 0);
    expect_sent(&t, "XFORWARD NAME=n ADDR=a\r\n");
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(t.nreply, 1);
    /* NULL xf: every offered attribute unavailable */
    ASSERT_EQ_INT(smtp_client_xforward(t.c, NULL), 0);
    expect_sent(&t, "XFORWARD NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE]\r\n");
    t_done(&t);
}

/* collect_xforward - split sent bytes into lines; check each; return the line count. */
static int
collect_xforward(const char *sent, char attrs[][1024], int max)
{
    int nlines = 0, na = 0;
    const char *p = sent;
    while (*p) {
        const char *e = strstr(p, "\r\n");
        ASSERT(e != NULL);
        size_t len = (size_t)(e - p) + 2;
        if (len > 512)
            TEST_FAIL("XFORWARD line of %zu octets", len);
        ASSERT(strncmp(p, "XFORWARD ", 9) == 0);
        char line[600];
        memcpy(line, p + 9, len - 11);
        line[len - 11] = '\0';
        for (char *save, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            ASSERT(na < max);
            snprintf(attrs[na++], 1024, "%s", w);
        }
        nlines++;
        p = e + 2;
    }
    return nlines * 100 + na;
}

static void
xforward_splits_lines_at_512(void)
{
    struct t t;
    start(&t, ehlo_full);
    char v[7][256];
    for (int i = 0; i < 7; i++) {
        memset(v[i], 'a' + i, 200);
        v[i][200] = '\0';
    }
    struct smtp_xforward xf = {.name = v[0],
                               .addr = v[1],
                               .port = v[2],
                               .proto = v[3],
                               .helo = v[4],
                               .ident = v[5],
                               .source = v[6],
                               .present = 1};
    ASSERT_EQ_INT(smtp_client_xforward(t.c, &xf), 0);
    char all[4096] = "";
    int lines = 0;
    for (;;) {
        drain(&t);
        ASSERT(t.sent.len > 0);
        ASSERT(t.sent.len <= 512);
        ASSERT(strncmp(t.sent.data, "XFORWARD ", 9) == 0);
        strcat(all, t.sent.data);
        buf_reset(&t.sent);
        lines++;
        feed(&t, "250 Ok\r\n");
        if (t.nreply)
            break;
    }
    /* 7 x ~206 octets: two per line */
    ASSERT_EQ_INT(lines, 4);
    ASSERT_EQ_INT(t.nreply, 1);
    char attrs[16][1024];
    int r = collect_xforward(all, attrs, 16);
    ASSERT_EQ_INT(r, 4 * 100 + 7);
    static const char *names[] = {
        "NAME=", "ADDR=", "PORT=", "PROTO=", "HELO=", "IDENT=", "SOURCE="};
    for (int i = 0; i < 7; i++) {
        size_t kl = strlen(names[i]);
        ASSERT(strncmp(attrs[i], names[i], kl) == 0);
        ASSERT_EQ_STR(attrs[i] + kl, v[i]);
    }
    t_done(&t);
}

static void
xforward_long_encoded_value_is_cut_at_an_escape(void)
{
    struct t t;
    start(&t, ehlo_full);
    char v[300];
    memset(v, 0x01, 299); /* 299 control octets: 897 characters of xtext, cut to 255 */
    v[299] = '\0';
    char w[300];
    memset(w, 'x', 299); /* over SMTP_CLIENT_XF_VALUE: cut to 255 characters */
    w[299] = '\0';
    struct smtp_xforward xf = {.helo = v, .name = w};
    ASSERT_EQ_INT(smtp_client_xforward(t.c, &xf), 0);
    char all[8192] = "";
    while (!t.nreply) {
        drain(&t);
        ASSERT(t.sent.len > 0 && t.sent.len <= 512);
        strcat(all, t.sent.data);
        buf_reset(&t.sent);
        feed(&t, "250 Ok\r\n");
    }
    char attrs[16][1024];
    collect_xforward(all, attrs, 16);
    ASSERT(strncmp(attrs[0], "NAME=", 5) == 0);
    ASSERT_EQ_INT(strlen(attrs[0] + 5), SMTP_CLIENT_XF_VALUE);
    ASSERT(strncmp(attrs[4], "HELO=", 5) == 0);
    size_t enc = strlen(attrs[4] + 5);
    ASSERT_EQ_INT(enc % 3, 0); /* whole escapes only */
    char dec[1024];
    size_t dn = xtext_decode(attrs[4] + 5, enc, dec);
    ASSERT_EQ_INT(enc, SMTP_CLIENT_XF_VALUE);
    ASSERT_EQ_INT(dn, SMTP_CLIENT_XF_VALUE / 3);
    for (size_t i = 0; i < dn; i++)
        ASSERT_EQ_INT(dec[i], 0x01);
    t_done(&t);
}

static void
xforward_stops_at_the_first_error(void)
{
    struct t t;
    start(&t, ehlo_full);
    char v[256];
    memset(v, 'q', 250);
    v[250] = '\0';
    struct smtp_xforward xf = {.name = v,
                               .addr = v,
                               .port = v,
                               .proto = v,
                               .helo = v,
                               .ident = v,
                               .source = v,
                               .present = 1};
    ASSERT_EQ_INT(smtp_client_xforward(t.c, &xf), 0);
    drain(&t);
    buf_reset(&t.sent);
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(t.nreply, 0);
    drain(&t);
    ASSERT(t.sent.len > 0);
    buf_reset(&t.sent);
    feed(&t, "550-5.7.1 not\r\n550 5.7.1 authorized\r\n");
    ASSERT_EQ_INT(t.nreply, 1);
    ASSERT_EQ_INT(t.code, 550);
    expect_sent(&t, ""); /* the rest is not sent */
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    expect_sent(&t, "MAIL FROM:<a@x>\r\n");
    t_done(&t);
}

static void
xforward_inside_a_transaction_is_estate(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_xforward(t.c, NULL), -ARC_ESTATE);
    expect_sent(&t, "");
    t_done(&t);
}

/* ---- MAIL, RCPT, DATA ---- */

static void
transaction_flow_sends_exact_bytes(void)
{
    struct t t;
    start(&t, ehlo_full);
    struct smtp_param mp[] = {{"BODY", "8BITMIME"}, {"SMTPUTF8", NULL}};
    ASSERT_EQ_INT(smtp_client_mail(t.c, "s\xc3\xa9@x.test", mp, 2, 0), 0);
    expect_sent(&t, "MAIL FROM:<s\xc3\xa9@x.test> BODY=8BITMIME SMTPUTF8\r\n");
    feed(&t, "250 2.1.0 Ok\r\n");
    ASSERT_EQ_INT(t.nreply, 1);
    struct smtp_param rp[] = {{"NOTIFY", "SUCCESS,FAILURE"}, {"ORCPT", "rfc822;b+2B@y.test"}};
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y.test", rp, 2), 0);
    expect_sent(&t, "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B@y.test\r\n");
    feed(&t, "250 2.1.5 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    expect_sent(&t, "DATA\r\n");
    ASSERT_EQ_INT(smtp_client_body(t.c, "x", 1), -ARC_ESTATE); /* before 354 */
    feed(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
    ASSERT_EQ_INT(t.nreply, 3);
    ASSERT_EQ_INT(t.code, 354);
    ASSERT(!smtp_client_pending(t.c));
    ASSERT_EQ_INT(smtp_client_noop(t.c), -ARC_ESTATE); /* inside the body */
    const char body[] = "Subject: hi\r\n\r\nbody\r\n";
    ASSERT_EQ_INT(smtp_client_body(t.c, body, sizeof body - 1), 0);
    ASSERT_EQ_INT(smtp_client_body_end(t.c), 0);
    expect_sent(&t, "Subject: hi\r\n\r\nbody\r\n.\r\n");
    ASSERT(smtp_client_pending(t.c));
    ASSERT_EQ_INT(smtp_client_body_end(t.c), -ARC_ESTATE);
    feed(&t, "250 2.0.0 Ok: queued as ABC\r\n");
    ASSERT_EQ_INT(t.nreply, 4);
    ASSERT_EQ_STR(t.reply.data, "250 2.0.0 Ok: queued as ABC");
    /* transaction over: a second one may start */
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), -ARC_ESTATE);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_rset(t.c), 0);
    expect_sent(&t, "RSET\r\n");
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    expect_sent(&t, "NOOP\r\n");
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_quit(t.c), 0);
    expect_sent(&t, "QUIT\r\n");
    feed(&t, "221 2.0.0 Bye\r\n");
    ASSERT_EQ_INT(t.code, 221);
    ASSERT_EQ_INT(smtp_client_eof(t.c), 0);
    ASSERT_EQ_INT(t.nfailed, 0);
    ASSERT_EQ_INT(smtp_client_noop(t.c), -ARC_ESTATE);
    t_done(&t);
}

static void
mail_size_is_raised_or_dropped(void)
{
    struct t t;
    start(&t, ehlo_full);
    struct smtp_param mp[] = {{"SIZE", "1000"}, {"RET", "HDRS"}, {"ENVID", "q+2B1"}};
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", mp, 3, 500), 0);
    expect_sent(&t, "MAIL FROM:<a@x> SIZE=1500 RET=HDRS ENVID=q+2B1\r\n");
    t_done(&t);

    start(&t, "250-mx\r\n250 DSN\r\n"); /* no SIZE offered: SIZE= is not sent */
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", mp, 3, 500), 0);
    expect_sent(&t, "MAIL FROM:<a@x> RET=HDRS ENVID=q+2B1\r\n");
    t_done(&t);
}

static void
size_raise_parses_and_saturates(void)
{
    uint64_t v = 0;
    ASSERT_EQ_INT(smtp_client_size_raise("0", 0, &v), 0);
    ASSERT_EQ_INT(v, 0);
    ASSERT_EQ_INT(smtp_client_size_raise("12345", 100, &v), 0);
    ASSERT_EQ_INT(v, 12445);
    ASSERT_EQ_INT(smtp_client_size_raise("18446744073709551615", 1, &v), 0);
    ASSERT(v == UINT64_MAX);
    ASSERT_EQ_INT(smtp_client_size_raise("99999999999999999999", 0, &v), 0);
    ASSERT(v == UINT64_MAX);
    ASSERT_EQ_INT(smtp_client_size_raise("", 1, &v), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_size_raise("12a", 1, &v), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_size_raise("-1", 1, &v), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_size_raise("123456789012345678901", 1, &v), -ARC_EINVAL);
}

static void
injection_in_path_or_params_is_einval(void)
{
    struct t t;
    start(&t, ehlo_full);
    struct smtp_param bad_val[] = {{"RET", "HDRS\r\nRCPT TO:<x>"}};
    struct smtp_param space_val[] = {{"ENVID", "a b"}};
    struct smtp_param bad_key[] = {{"SI ZE", "1"}};
    struct smtp_param bad_size[] = {{"SIZE", "1k"}};
    struct smtp_param eq_val[] = {{"X", "a=b"}};
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x\r\nRSET", NULL, 0, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", bad_val, 1, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", space_val, 1, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", bad_key, 1, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", bad_size, 1, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", eq_val, 1, 0), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_mail(t.c, NULL, NULL, 0, 0), -ARC_EINVAL);
    expect_sent(&t, ""); /* nothing half-built left behind */
    ASSERT(!smtp_client_pending(t.c));
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    expect_sent(&t, "MAIL FROM:<a@x>\r\n");
    t_done(&t);
}

static void
replies_4xx_5xx_are_relayed_and_keep_sequence(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "451 4.3.0 try later\r\n");
    ASSERT_EQ_INT(t.code, 451);
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), -ARC_ESTATE); /* MAIL refused */
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), 0);
    feed(&t, "550 5.1.1 <b@y>: Recipient address rejected\r\n");
    ASSERT_EQ_INT(t.code, 550);
    ASSERT_EQ_STR(t.reply.data, "550 5.1.1 <b@y>: Recipient address rejected");
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "c@y", NULL, 0), 0);
    feed(&t, "452 4.5.3 Too many recipients\r\n");
    ASSERT_EQ_INT(smtp_client_data(t.c), -ARC_ESTATE); /* no recipient accepted */
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "d@y", NULL, 0), 0);
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "554 5.5.1 no\r\n");
    ASSERT_EQ_INT(t.code, 554);
    ASSERT_EQ_INT(smtp_client_body(t.c, "x", 1), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), -ARC_ESTATE); /* RSET first */
    ASSERT_EQ_INT(smtp_client_rset(t.c), 0);
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    ASSERT_EQ_INT(t.nfailed, 0);
    t_done(&t);
}

static void
final_4xx_ends_the_transaction(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "354 go\r\n");
    ASSERT_EQ_INT(smtp_client_body_end(t.c), 0);
    expect_sent(&t, "DATA\r\n.\r\n"); /* empty body: the DATA line's CRLF counts */
    feed(&t, "451 4.3.0 queue trouble\r\n");
    ASSERT_EQ_INT(t.code, 451);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    t_done(&t);
}

static void
data_answered_250_is_protocol_failure(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "250 sure\r\n");
    ASSERT_EQ_INT(t.fail_code, 250);
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
}

static void
mail_answered_354_is_protocol_failure(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "354 what\r\n");
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
}

static void
command_while_busy_is_estate(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_data(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_rset(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_noop(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_quit(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_xforward(t.c, NULL), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_body(t.c, "x", 1), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_body_end(t.c), -ARC_ESTATE);
    expect_sent(&t, "MAIL FROM:<a@x>\r\n");
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), 0);
    t_done(&t);
}

/* ---- body ---- */

/* stuff_ref - reference dot-stuffing, line by line, plus the end sequence. */
static void
stuff_ref(const char *p, size_t n, struct buf *out)
{
    int bol = 1;
    for (size_t i = 0; i < n; i++) {
        if (bol && p[i] == '.')
            buf_putc(out, '.');
        buf_putc(out, p[i]);
        bol = p[i] == '\n';
    }
    if (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n')
        ;
    else if (n == 0)
        ;
    else if (p[n - 1] == '\r')
        buf_putc(out, '\n');
    else
        buf_puts(out, "\r\n");
    buf_puts(out, ".\r\n");
}

/* body_in_pieces - send body with cuts at the given offsets; compare with want. */
static void
body_in_pieces(const char *body, size_t n, const size_t *cuts, size_t ncuts, const char *want,
               size_t wantlen)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "354 go\r\n");
    expect_sent(&t, "DATA\r\n");
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        ASSERT_EQ_INT(smtp_client_body(t.c, body + at, to - at), 0);
        drain(&t);
        at = to;
    }
    ASSERT_EQ_INT(smtp_client_body_end(t.c), 0);
    drain(&t);
    ASSERT_EQ_MEM(t.sent.data, t.sent.len, want, wantlen);
    t_done(&t);
}

static void
dot_stuffing_holds_at_every_split(void)
{
    static const char body[] = ".\r\n..\r\n.a\r\nb.\r\n\r\n.\r\n...x\r\n.";
    static const char want[] = "..\r\n...\r\n..a\r\nb.\r\n\r\n..\r\n....x\r\n..\r\n.\r\n";
    size_t n = sizeof body - 1;
    body_in_pieces(body, n, NULL, 0, want, sizeof want - 1);
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            body_in_pieces(body, n, cuts, 2, want, sizeof want - 1);
        }
    /* byte by byte */
    size_t every[sizeof body];
    for (size_t i = 0; i < n; i++)
        every[i] = i;
    body_in_pieces(body, n, every, n, want, sizeof want - 1);
}

static void
dot_stuffing_matches_reference_on_random_bodies(void)
{
    uint32_t seed = 12345;
    static const char alphabet[] = ".\r\na";
    for (int round = 0; round < 300; round++) {
        char body[64];
        size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 63;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            body[i] = alphabet[(seed >> 16) & 3];
        }
        size_t cuts[8], nc = 0;
        size_t last = 0;
        while (nc < 8 && n) {
            seed = seed * 1103515245u + 12345u;
            size_t cut = last + ((seed >> 16) % 9);
            if (cut > n)
                break;
            cuts[nc++] = last = cut;
        }
        struct buf want;
        buf_init(&want, 0);
        stuff_ref(body, n, &want);
        body_in_pieces(body, n, cuts, nc, want.data, want.len);
        buf_free(&want);
    }
}

static void
body_end_adds_crlf_when_missing(void)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"", ".\r\n"},
        {"abc", "abc\r\n.\r\n"},
        {"abc\r", "abc\r\n.\r\n"},   /* complete the CR, no bare CR left */
        {"abc\n", "abc\n\r\n.\r\n"}, /* a bare LF is not a CRLF */
        {"abc\r\n", "abc\r\n.\r\n"}, /* ends with CRLF: nothing added */
        {".", "..\r\n.\r\n"},        /* a lone '.' is stuffed, never an end */
        {"a\r\n.", "a\r\n..\r\n.\r\n"},
        {"\n.\r\n", "\n..\r\n.\r\n"}, /* after a bare LF too */
        {"8bit \xff\x80\r\n", "8bit \xff\x80\r\n.\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].body);
        /* whole, and split before the last byte */
        body_in_pieces(cases[i].body, n, NULL, 0, cases[i].want, strlen(cases[i].want));
        if (n) {
            size_t cut = n - 1;
            body_in_pieces(cases[i].body, n, &cut, 1, cases[i].want, strlen(cases[i].want));
        }
    }
}

static void
large_body_streams_through_out(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "354 go\r\n");
    buf_reset(&t.sent);
    char chunk[8192];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
    size_t total = 0;
    for (int k = 0; k < 1000; k++) { /* 8 MB; out is drained partially each time */
        ASSERT_EQ_INT(smtp_client_body(t.c, chunk, sizeof chunk), 0);
        struct span s = smtp_client_out(t.c);
        size_t take = s.n > 5000 ? s.n - 5000 : s.n;
        total += take;
        smtp_client_out_consumed(t.c, take);
        ASSERT(smtp_client_out(t.c).n <= sizeof chunk + 5000);
    }
    total += smtp_client_out(t.c).n;
    ASSERT_EQ_INT(total, 1000 * sizeof chunk);
    t_done(&t);
}

/* ---- reply parsing ---- */

static void
multiline_reply_fed_byte_by_byte(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "250 Ok\r\n");
    ASSERT_EQ_INT(smtp_client_rcpt(t.c, "b@y", NULL, 0), 0);
    feed_bytewise(&t, "550-5.1.1 first line\r\n550-\r\n550-second\n550 5.1.1 third\r\n");
    ASSERT_EQ_INT(t.nreply, 2);
    ASSERT_EQ_INT(t.code, 550);
    ASSERT_EQ_INT(t.nlines, 4);
    ASSERT_EQ_STR(t.reply.data, "550-5.1.1 first line\r\n550-\r\n550-second\r\n550 5.1.1 third");
    t_done(&t);
}

static void
ehlo_fed_byte_by_byte(void)
{
    struct t t;
    t_init(&t);
    feed_bytewise(&t, "220-mx.test\r\n220 ESMTP\r\n");
    expect_sent(&t, "EHLO " HELO_NAME "\r\n");
    feed_bytewise(&t, ehlo_full);
    ASSERT_EQ_INT(t.nready, 1);
    ASSERT_EQ_INT(smtp_client_xforward_attrs(t.c) & SMTP_XF_IDENT, SMTP_XF_IDENT);
    ASSERT_EQ_INT(smtp_client_size_limit(t.c), 10240000);
    t_done(&t);
}

static void
unsolicited_421_fails_closed(void)
{
    struct t t;
    start(&t, ehlo_full);
    feed(&t, "421 4.3.2 Service shutting down\r\n");
    ASSERT_EQ_INT(t.fail_code, 421);
    ASSERT_EQ_INT(t.nreply, 0);
    expect_failed(&t, SMTP_CLIENT_FAIL_CLOSED);
    t_done(&t);
}

static void
reply_421_to_a_command_fails_closed(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "354 go\r\n");
    ASSERT_EQ_INT(smtp_client_body(t.c, "x\r\n", 3), 0);
    ASSERT_EQ_INT(smtp_client_body_end(t.c), 0);
    feed(&t, "421-4.4.2 timeout\r\n421 4.4.2 closing\r\n");
    ASSERT_EQ_INT(t.fail_code, 421);
    expect_failed(&t, SMTP_CLIENT_FAIL_CLOSED);
    ASSERT_EQ_INT(smtp_client_eof(t.c), -ARC_ESTATE);
    ASSERT_EQ_INT(t.nfailed, 1);
    t_done(&t);
}

static void
unsolicited_250_is_protocol_failure(void)
{
    struct t t;
    start(&t, ehlo_full);
    feed(&t, "250 surprise\r\n");
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
}

static void
reply_during_body_is_protocol_failure(void)
{
    struct t t;
    start(&t, ehlo_full);
    open_txn(&t);
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    feed(&t, "354 go\r\n");
    feed(&t, "554 go away\r\n");
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    ASSERT_EQ_INT(smtp_client_body(t.c, "x", 1), -ARC_ESTATE);
    t_done(&t);
}

static void
garbage_reply_lines_fail_protocol(void)
{
    static const char
        *bad[] =
            {
                "hello\r\n",
                "\r\n",
                "25\r\n",
                "2500 x\r\n",
                "250x\r\n",
                "099 x\r\n",
                "650 x\r\n",
                "25a ok\r\n",
                "250 a\rb\r\n",
                "250 ok\r\r\n",
                " 250 x\r\n",
                "250\tx\r\n",
                "+OK\r\n",
                "250-a\r\n251 b\r\n", /* code changes within a reply */
                "250-a\r\n350 b\r\n",
            };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct t t;
        start(&t, ehlo_full);
        ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
        ASSERT_EQ_INT(smtp_client_input(t.c, bad[i], strlen(bad[i])), 0);
        if (t.nfailed != 1 || t.cls != SMTP_CLIENT_FAIL_PROTOCOL)
            TEST_FAIL("case %zu: nfailed %d cls %d", i, t.nfailed, (int)t.cls);
        ASSERT_EQ_INT(t.nreply, 0);
        t_done(&t);
    }
    /* a NUL inside a line */
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    ASSERT_EQ_INT(smtp_client_input(t.c, "250 a\0b\r\n", 9), 0);
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
}

static void
greeting_garbage_fails_protocol(void)
{
    struct t t;
    t_init(&t);
    feed(&t, "SSH-2.0-OpenSSH_9.2\r\n");
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
}

static void
reply_line_length_is_bounded(void)
{
    char *line = malloc(SMTP_CLIENT_MAX_LINE + 16);
    /* exactly the limit: fine */
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    memcpy(line, "250 ", 4);
    memset(line + 4, 'x', SMTP_CLIENT_MAX_LINE - 4);
    memcpy(line + SMTP_CLIENT_MAX_LINE, "\r\n", 3);
    feed(&t, line);
    ASSERT_EQ_INT(t.nreply, 1);
    ASSERT_EQ_INT(t.reply.len, SMTP_CLIENT_MAX_LINE);
    /* one more: failed */
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    memset(line + 4, 'x', SMTP_CLIENT_MAX_LINE - 3);
    memcpy(line + SMTP_CLIENT_MAX_LINE + 1, "\r\n", 3);
    feed(&t, line);
    ASSERT_EQ_INT(t.nreply, 1);
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);

    /* a line without end fails as soon as it passes the limit, and one byte at a time */
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    ASSERT_EQ_INT(smtp_client_input(t.c, "250 ", 4), 0);
    for (int i = 0; i < SMTP_CLIENT_MAX_LINE && !t.nfailed; i++)
        ASSERT_EQ_INT(smtp_client_input(t.c, "y", 1), 0);
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
    free(line);
}

static void
reply_line_count_is_bounded(void)
{
    struct buf r;
    buf_init(&r, 0);
    for (int i = 0; i < SMTP_CLIENT_MAX_LINES - 1; i++)
        buf_printf(&r, "250-line %d\r\n", i);
    buf_puts(&r, "250 last\r\n");
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    feed(&t, r.data);
    ASSERT_EQ_INT(t.nreply, 1);
    ASSERT_EQ_INT(t.nlines, SMTP_CLIENT_MAX_LINES);
    buf_reset(&r);
    for (int i = 0; i < SMTP_CLIENT_MAX_LINES; i++)
        buf_printf(&r, "250-line %d\r\n", i);
    buf_puts(&r, "250 last\r\n");
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    feed(&t, r.data);
    ASSERT_EQ_INT(t.nreply, 1);
    expect_failed(&t, SMTP_CLIENT_FAIL_PROTOCOL);
    t_done(&t);
    buf_free(&r);
}

/* ---- lifetime and owner paths ---- */

static void
eof_mid_session_fails_closed(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "250-partial\r\n");
    ASSERT_EQ_INT(smtp_client_eof(t.c), 0);
    ASSERT(strstr(t.why, "middle of a reply") != NULL);
    expect_failed(&t, SMTP_CLIENT_FAIL_CLOSED);
    t_done(&t);
}

static void
eof_after_quit_is_clean(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_quit(t.c), 0);
    ASSERT_EQ_INT(smtp_client_eof(t.c), 0); /* no 221: still fine */
    ASSERT_EQ_INT(t.nfailed, 0);
    ASSERT_EQ_INT(smtp_client_noop(t.c), -ARC_ESTATE);
    ASSERT(!smtp_client_pending(t.c));
    t_done(&t);
}

static void
owner_failures_use_the_same_path(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    ASSERT_EQ_INT(smtp_client_fail(t.c, SMTP_CLIENT_FAIL_TIMEOUT, NULL), 0);
    ASSERT_EQ_STR(t.why, "timeout");
    ASSERT_EQ_INT(t.fail_code, 0);
    ASSERT_EQ_INT(smtp_client_fail(t.c, SMTP_CLIENT_FAIL_INTERNAL, "again"), -ARC_ESTATE);
    ASSERT_EQ_INT(smtp_client_eof(t.c), -ARC_ESTATE);
    expect_failed(&t, SMTP_CLIENT_FAIL_TIMEOUT);
    ASSERT_EQ_STR(smtp_client_fail_name(SMTP_CLIENT_FAIL_PROTOCOL), "protocol error");
    t_done(&t);
}

static void
chain_next(struct t *t, const struct smtp_client_reply *r)
{
    if (r->code == 250 && t->nreply == 1)
        ASSERT_EQ_INT(smtp_client_rcpt(t->c, "b@y", NULL, 0), 0);
}

static void
command_from_the_reply_callback(void)
{
    struct t t;
    start(&t, ehlo_full);
    t.on_reply = chain_next;
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    feed(&t, "250 Ok\r\n250 Ok\r\n"); /* both replies in one read */
    ASSERT_EQ_INT(t.nreply, 2);
    expect_sent(&t, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
    ASSERT_EQ_INT(smtp_client_data(t.c), 0);
    t_done(&t);
}

static void
free_inside_callbacks_is_safe(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_noop(t.c), 0);
    t.free_in_cb = 1;
    struct smtp_client *c = t.c;
    ASSERT_EQ_INT(smtp_client_input(c, "250 Ok\r\n250 more\r\n", 18), 0); /* ASan: no UAF */
    ASSERT(t.c == NULL);
    ASSERT_EQ_INT(t.nreply, 1);

    struct t u;
    start(&u, ehlo_full);
    u.free_in_cb = 1;
    c = u.c;
    ASSERT_EQ_INT(smtp_client_input(c, "garbage\r\n", 9), 0);
    ASSERT(u.c == NULL);
    ASSERT_EQ_INT(u.nfailed, 1);
    t_done(&t);
    t_done(&u);
}

static void
out_is_drained_in_parts(void)
{
    struct t t;
    start(&t, ehlo_full);
    ASSERT_EQ_INT(smtp_client_mail(t.c, "a@x", NULL, 0, 0), 0);
    struct span s = smtp_client_out(t.c);
    ASSERT_EQ_MEM(s.p, s.n, "MAIL FROM:<a@x>\r\n", 17);
    smtp_client_out_consumed(t.c, 5);
    s = smtp_client_out(t.c);
    ASSERT_EQ_MEM(s.p, s.n, "FROM:<a@x>\r\n", 12);
    smtp_client_out_consumed(t.c, 100); /* more than there is: clamped */
    ASSERT_EQ_INT(smtp_client_out(t.c).n, 0);
    t_done(&t);
}

/* ---- relaying replies ---- */

static void
reply_format_relays_or_recodes(void)
{
    struct span l1[] = {SPAN_LIT("5.1.1 <b@y>: unknown"), SPAN_LIT("5.1.1 see docs")};
    struct smtp_client_reply r = {550, 2, l1};
    struct buf b;
    buf_init(&b, 0);
    ASSERT_EQ_INT(smtp_client_reply_format(&r, 0, &b), 0);
    ASSERT_EQ_STR(b.data, "550-5.1.1 <b@y>: unknown\r\n550 5.1.1 see docs");
    buf_reset(&b);
    ASSERT_EQ_INT(smtp_client_reply_format(&r, 451, &b), 0);
    ASSERT_EQ_STR(b.data, "451-4.1.1 <b@y>: unknown\r\n451 4.1.1 see docs");
    buf_reset(&b);

    struct span l2[] = {SPAN_LIT("5.7 not an esc"), SPAN_LIT("")};
    struct smtp_client_reply r2 = {554, 2, l2};
    ASSERT_EQ_INT(smtp_client_reply_format(&r2, 451, &b), 0);
    ASSERT_EQ_STR(b.data, "451-5.7 not an esc\r\n451");
    buf_reset(&b);

    struct span l3[] = {SPAN_LIT("")};
    struct smtp_client_reply r3 = {250, 1, l3};
    ASSERT_EQ_INT(smtp_client_reply_format(&r3, 0, &b), 0);
    ASSERT_EQ_STR(b.data, "250");
    buf_reset(&b);
    ASSERT_EQ_INT(smtp_client_reply_format(&r3, 99, &b), -ARC_EINVAL);
    ASSERT_EQ_INT(smtp_client_reply_format(&r3, 600, &b), -ARC_EINVAL);
    buf_free(&b);
}

static const struct test_case cases[] = {
    {"ehlo_extensions_are_parsed", ehlo_extensions_are_parsed},
    {"ehlo_keywords_are_case_insensitive_and_bare_lf_is_accepted",
     ehlo_keywords_are_case_insensitive_and_bare_lf_is_accepted},
    {"ehlo_single_line_offers_nothing", ehlo_single_line_offers_nothing},
    {"ehlo_5xx_falls_back_to_helo", ehlo_5xx_falls_back_to_helo},
    {"ehlo_4xx_is_refused", ehlo_4xx_is_refused},
    {"helo_refused_after_ehlo_5xx", helo_refused_after_ehlo_5xx},
    {"greeting_554_is_refused", greeting_554_is_refused},
    {"greeting_421_is_closed", greeting_421_is_closed},
    {"greeting_garbage_fails_protocol", greeting_garbage_fails_protocol},
    {"commands_before_ready_are_estate", commands_before_ready_are_estate},
    {"new_rejects_bad_helo_name", new_rejects_bad_helo_name},
    {"xforward_is_xtext_encoded", xforward_is_xtext_encoded},
    {"xforward_sends_only_offered_attributes", xforward_sends_only_offered_attributes},
    {"xforward_splits_lines_at_512", xforward_splits_lines_at_512},
    {"xforward_long_encoded_value_is_cut_at_an_escape",
     xforward_long_encoded_value_is_cut_at_an_escape},
    {"xforward_stops_at_the_first_error", xforward_stops_at_the_first_error},
    {"xforward_inside_a_transaction_is_estate", xforward_inside_a_transaction_is_estate},
    {"transaction_flow_sends_exact_bytes", transaction_flow_sends_exact_bytes},
    {"mail_size_is_raised_or_dropped", mail_size_is_raised_or_dropped},
    {"size_raise_parses_and_saturates", size_raise_parses_and_saturates},
    {"injection_in_path_or_params_is_einval", injection_in_path_or_params_is_einval},
    {"replies_4xx_5xx_are_relayed_and_keep_sequence",
     replies_4xx_5xx_are_relayed_and_keep_sequence},
    {"final_4xx_ends_the_transaction", final_4xx_ends_the_transaction},
    {"data_answered_250_is_protocol_failure", data_answered_250_is_protocol_failure},
    {"mail_answered_354_is_protocol_failure", mail_answered_354_is_protocol_failure},
    {"command_while_busy_is_estate", command_while_busy_is_estate},
    {"dot_stuffing_holds_at_every_split", dot_stuffing_holds_at_every_split},
    {"dot_stuffing_matches_reference_on_random_bodies",
     dot_stuffing_matches_reference_on_random_bodies},
    {"body_end_adds_crlf_when_missing", body_end_adds_crlf_when_missing},
    {"large_body_streams_through_out", large_body_streams_through_out},
    {"multiline_reply_fed_byte_by_byte", multiline_reply_fed_byte_by_byte},
    {"ehlo_fed_byte_by_byte", ehlo_fed_byte_by_byte},
    {"unsolicited_421_fails_closed", unsolicited_421_fails_closed},
    {"reply_421_to_a_command_fails_closed", reply_421_to_a_command_fails_closed},
    {"unsolicited_250_is_protocol_failure", unsolicited_250_is_protocol_failure},
    {"reply_during_body_is_protocol_failure", reply_during_body_is_protocol_failure},
    {"garbage_reply_lines_fail_protocol", garbage_reply_lines_fail_protocol},
    {"reply_line_length_is_bounded", reply_line_length_is_bounded},
    {"reply_line_count_is_bounded", reply_line_count_is_bounded},
    {"eof_mid_session_fails_closed", eof_mid_session_fails_closed},
    {"eof_after_quit_is_clean", eof_after_quit_is_clean},
    {"owner_failures_use_the_same_path", owner_failures_use_the_same_path},
    {"command_from_the_reply_callback", command_from_the_reply_callback},
    {"free_inside_callbacks_is_safe", free_inside_callbacks_is_safe},
    {"out_is_drained_in_parts", out_is_drained_in_parts},
    {"reply_format_relays_or_recodes", reply_format_relays_or_recodes},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
