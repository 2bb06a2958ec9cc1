/* SPDX-License-Identifier: MIT */
/*
 * test_dsn - the DSN builder (src/queue/dsn.c). Each DSN is parsed by an independent
 * MIME parser, Python's email package (tests/queue/dsn_check.py, run with Debian's
 * /usr/bin/python3), which checks the structure (CRLF, line lengths, parts, boundary,
 * field sets) and prints what it found; the cases then look for exact values in that.
 * Covered: required fields, xtext decoding of ORCPT and ENVID, status derivation,
 * header injection through every input, long diagnostics, 8-bit header sections,
 * UTF-8 addresses (RFC 6533), the header section bound, argument errors, out's cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/dsn.h"
#include "test.h"
#include "util/buf.h"

static const char orig[] = "Received: from a.example by mx.example\r\n"
                           "From: Alice <alice@a.example>\r\n"
                           "To: bob@b.example\r\n"
                           "Subject: hello\r\n"
                           "\r\n"
                           "SECRET BODY\r\n";

static void
info_default(struct dsn_info *in)
{
    memset(in, 0, sizeof *in);
    in->reporting_mta = "mx.arc.example";
    in->sender = "alice@a.example";
    in->envid = "QQ314159";
    in->qid = "7F3A2B";
    in->arrival = 1700000000;
    in->now = 1700003600;
    in->reason = "rejected by downstream";
    in->ret_hdrs = 1;
}

/* check - run dsn_check.py over the DSN; returns its report (caller frees). */
static char *
check(const struct buf *dsn)
{
    char path[] = "/tmp/test_dsn.XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    ASSERT(write(fd, dsn->data, dsn->len) == (ssize_t)dsn->len);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", test_data_path("queue/dsn_check.py"), path);
    FILE *p = popen(cmd, "r");
    ASSERT(p != NULL);
    struct buf out;
    buf_init(&out, 0);
    buf_putc(&out, '\n');
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(&out, chunk, n);
    int st = pclose(p);
    unlink(path);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out.data, "\nok\n"))
        TEST_FAIL("dsn_check.py failed:\n%s\n--- DSN ---\n%s", out.data, dsn->data);
    return buf_take(&out, NULL);
}

/* has - the report has the line exactly. */
static void
has(const char *report, const char *line)
{
    char want[4096];
    snprintf(want, sizeof want, "\n%s\n", line);
    if (!strstr(report, want))
        TEST_FAIL("report lacks \"%s\":\n%s", line, report);
}

static void
lacks(const char *report, const char *text)
{
    if (strstr(report, text))
        TEST_FAIL("report has \"%s\":\n%s", text, report);
}

static char *
build_check(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, const char *hdr,
            size_t hlen, struct buf *dsn)
{
    struct err e;
    buf_init(dsn, 0);
    err_clear(&e);
    int rc = dsn_build(in, r, nr, hdr, hlen, dsn, &e);
    if (rc != 0)
        TEST_FAIL("dsn_build: %d %s", rc, e.text);
    return check(dsn);
}

static void
required_fields_and_parts(void)
{
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, "550 5.1.1 <bob@b.example>: unknown user",
                         "mx.b.example"};
    struct buf d;
    char *rep = build_check(&in, &r, 1, orig, sizeof orig - 1, &d);
    has(rep, "top.Date=Tue, 14 Nov 2023 23:13:20 +0000");
    has(rep, "top.From=Mail Delivery System <MAILER-DAEMON@mx.arc.example>");
    has(rep, "top.To=<alice@a.example>");
    has(rep, "top.Auto-Submitted=auto-replied");
    has(rep, "top.MIME-Version=1.0");
    has(rep, "part0.type=text/plain");
    has(rep, "part1.type=message/delivery-status");
    has(rep, "part2.type=text/rfc822-headers");
    has(rep, "msg.Reporting-MTA=dns; mx.arc.example");
    has(rep, "msg.X-Arcproxy-Queue-ID=7F3A2B");
    has(rep, "msg.Original-Envelope-Id=QQ314159");
    has(rep, "msg.Arrival-Date=Tue, 14 Nov 2023 22:13:20 +0000");
    has(rep, "rcpt0.Final-Recipient=rfc822; bob@b.example");
    has(rep, "rcpt0.Action=failed");
    has(rep, "rcpt0.Status=5.1.1");
    has(rep, "rcpt0.Remote-MTA=dns; mx.b.example");
    has(rep, "rcpt0.Diagnostic-Code=smtp; 550 5.1.1 <bob@b.example>: unknown user");
    has(rep, "rcpts=1");
    has(rep, "hdrs=Received: from a.example by mx.example|From: Alice <alice@a.example>|"
             "To: bob@b.example|Subject: hello|");
    lacks(rep, "SECRET BODY");
    lacks(rep, "Original-Recipient");
    ASSERT(strstr(rep, "rejected by downstream") != NULL);
    ASSERT_EQ_INT(dsn_needs_smtputf8(d.data, d.len), 0);
    ASSERT(strstr(d.data, "Message-ID: <20231114230000.") == NULL); /* now, not arrival */
    ASSERT(strstr(d.data, "Message-ID: <20231114231320.") != NULL);
    free(rep);
    buf_free(&d);
}

static void
orcpt_and_envid_are_xtext_decoded(void)
{
    struct dsn_info in;
    info_default(&in);
    in.envid = "id+2B1+3Dx";
    struct dsn_rcpt r = {"a+b@c.example", "rfc822;a+2Bb@c.example", "5.2.2", NULL, NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, NULL, 0, &d);
    has(rep, "rcpt0.Original-Recipient=rfc822;a+b@c.example");
    has(rep, "msg.Original-Envelope-Id=id+1=x");
    has(rep, "rcpt0.Status=5.2.2");
    lacks(rep, "part2.");
    free(rep);
    buf_free(&d);

    struct buf x;
    buf_init(&x, 0);
    ASSERT_EQ_INT(dsn_xtext_decode("a+2Bb+3d+zz+", &x), 0);
    ASSERT_EQ_STR(x.data, "a+b=+zz+");
    buf_free(&x);
}

static void
status_is_derived_from_the_reply(void)
{
    static const struct {
        const char *status, *diag, *want;
    } t[] = {
        {NULL, "550 5.7.1 rejected by policy", "5.7.1"},
        {NULL, "550-5.1.1 first line", "5.1.1"},
        {NULL, "550 rejected", "5.0.0"},
        {NULL, "452 4.2.2 mailbox full", "4.2.2"},
        {NULL, "421 try later", "4.0.0"},
        {NULL, "550 4.1.1 class does not match", "5.0.0"},
        {NULL, "garbage", "5.0.0"},
        {NULL, NULL, "5.0.0"},
        {"junk", "554 5.6.0 bad content", "5.6.0"},
        {"5.1.10", "550 5.1.1 x", "5.1.10"},
        {"5.1.1\r\nX: y", "550 5.2.1 x", "5.2.1"},
        {"4.4.7", NULL, "4.4.7"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        struct dsn_info in;
        info_default(&in);
        struct dsn_rcpt r = {"bob@b.example", NULL, t[i].status, t[i].diag, NULL};
        struct buf d;
        char *rep = build_check(&in, &r, 1, NULL, 0, &d);
        char want[64];
        snprintf(want, sizeof want, "rcpt0.Status=%s", t[i].want);
        has(rep, want);
        free(rep);
        buf_free(&d);
    }
}

static void
crlf_in_inputs_makes_no_new_lines(void)
{
    struct dsn_info in;
    info_default(&in);
    in.sender = "alice@a.example>\r\nBcc: victim@v.example\r\nX-Evil: <";
    in.reporting_mta = "mx.arc.example\r\nX-Evil-Host: 1";
    in.envid = "id\r\nX-Evil-Envid: 1";
    in.qid = "Q\nX-Evil-Qid: 1";
    in.reason = "because\r\n\r\n--=_dsn_\r\nContent-Type: text/html";
    struct dsn_rcpt r[2] = {
        {"bob@b.example\r\nX-Evil-Rcpt: 1", "rfc822;x+0D+0AX-Evil-Orcpt:+201@y",
         "5.1.1\r\nX-Evil-Status: 1", "550 5.1.1 no\r\n\r\nX-Evil-Diag: 1\r\n.\r\n",
         "mx\rX-Evil-Remote: 1"},
        {"carol@c.example", NULL, NULL, "550\n\nFinal-Recipient: rfc822; mallory@m.example", NULL},
    };
    struct buf d;
    char *rep = build_check(&in, r, 2, orig, sizeof orig - 1, &d);
    has(rep, "rcpts=2"); /* no recipient block smuggled in */
    has(rep, "top.To=<alice@a.example> Bcc: victim@v.example X-Evil: <>");
    has(rep, "rcpt0.Final-Recipient=rfc822; bob@b.example X-Evil-Rcpt: 1");
    has(rep, "rcpt0.Original-Recipient=rfc822;x X-Evil-Orcpt: 1@y");
    has(rep, "rcpt0.Status=5.1.1");
    has(rep, "rcpt0.Diagnostic-Code=smtp; 550 5.1.1 no X-Evil-Diag: 1 .");
    has(rep, "rcpt1.Diagnostic-Code=smtp; 550 Final-Recipient: rfc822; mallory@m.example");
    /* dsn_check.py already failed on any unexpected field name; be explicit anyway */
    ASSERT(strstr(d.data, "\r\nBcc:") == NULL);
    ASSERT(strstr(d.data, "\r\nX-Evil") == NULL);
    ASSERT(strstr(d.data, "\r\n.\r\n") == NULL);
    ASSERT(strstr(d.data, "\r\nContent-Type: text/html") == NULL);
    free(rep);
    buf_free(&d);
}

static void
long_diag_is_folded_and_cut(void)
{
    struct buf diag;
    buf_init(&diag, 0);
    buf_puts(&diag, "550 5.7.1 ");
    for (int i = 0; i < 400; i++)
        buf_puts(&diag, "word ");
    for (int i = 0; i < 5000; i++)
        buf_putc(&diag, 'x');
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, diag.data, NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, NULL, 0, &d); /* lines <= 998 checked there */
    has(rep, "rcpt0.Status=5.7.1");
    const char *dc = strstr(rep, "rcpt0.Diagnostic-Code=smtp; 550 5.7.1 word word");
    ASSERT(dc != NULL);
    size_t len = strcspn(dc, "\n");
    ASSERT(len < DSN_MAX_TEXT + 64);
    ASSERT(strncmp(dc + len - 3, "...", 3) == 0);
    /* the RFC 5322 ideal: fold near 78 columns where there are spaces */
    const char *f = strstr(d.data, "Diagnostic-Code:");
    ASSERT(f && strstr(f, "\r\n")[-1] != 'x' && strstr(f, "\r\n") - f <= 78);
    free(rep);
    buf_free(&d);
    buf_free(&diag);
}

static void
eight_bit_header_section_goes_base64(void)
{
    static const char h[] = "From: J\xfcrgen <j@a.example>\r\nSubject: caf\xc3\xa9\r\n\r\nbody";
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, "550 no", NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, h, sizeof h - 1, &d);
    ASSERT_EQ_INT(dsn_needs_smtputf8(d.data, d.len), 0);
    has(rep, "part2.type=text/rfc822-headers");
    has(rep, "part2.cte=base64");
    has(rep, "hdrs=From: J\xfcrgen <j@a.example>|Subject: caf\xc3\xa9|");
    ASSERT(strstr(d.data, "charset=unknown-8bit") != NULL);
    free(rep);
    buf_free(&d);
}

static void
utf8_addresses_make_a_global_dsn(void)
{
    static const char h[] = "From: J\xc3\xbcrgen <j\xc3\xbcrgen@a.example>\nSubject: x\n\n";
    struct dsn_info in;
    info_default(&in);
    in.sender = "j\xc3\xbcrgen@a.example";
    struct dsn_rcpt r = {"b\xc3\xb6@b.example", "utf-8;b\xc3\xb6@b.example", NULL,
                         "550 5.1.1 unknown", NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, h, sizeof h - 1, &d);
    ASSERT_EQ_INT(dsn_needs_smtputf8(d.data, d.len), 1);
    has(rep, "top.To=<j\xc3\xbcrgen@a.example>");
    has(rep, "part1.type=message/global-delivery-status");
    has(rep, "part2.type=message/global-headers");
    has(rep, "rcpt0.Final-Recipient=utf-8; b\xc3\xb6@b.example");
    has(rep, "rcpt0.Original-Recipient=utf-8;b\xc3\xb6@b.example");
    has(rep, "hdrs=From: J\xc3\xbcrgen <j\xc3\xbcrgen@a.example>|Subject: x|");
    free(rep);
    buf_free(&d);

    /* bytes that are not UTF-8 never reach a global DSN as they are */
    struct dsn_rcpt bad[2] = {{"b\xc3\xb6@b.example", NULL, NULL, NULL, NULL},
                              {"c\xff\xc3@c.example", "utf-8;x+C3+28@y", NULL, NULL, NULL}};
    rep = build_check(&in, bad, 2, NULL, 0, &d);
    has(rep, "rcpt1.Final-Recipient=utf-8; c??@c.example");
    has(rep, "rcpt1.Original-Recipient=utf-8;x?(@y");
    free(rep);
    buf_free(&d);
}

static void
header_section_is_bounded_at_a_field(void)
{
    struct buf h;
    buf_init(&h, 0);
    for (int i = 0; i < 3000; i++)
        buf_printf(&h, "X-Filler-%04d: 0123456789012345678901234\r\n continued\r\n", i);
    buf_puts(&h, "\r\nbody\r\n");
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, NULL, NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, h.data, h.len, &d);
    const char *hd = strstr(rep, "\nhdrs=") + 6;
    size_t n = strcspn(hd, "\n"), bytes = n; /* each '|' stands for CRLF */
    for (size_t i = 0; i < n; i++)
        bytes += hd[i] == '|';
    ASSERT(bytes <= DSN_MAX_HDR);
    ASSERT(bytes > DSN_MAX_HDR - 100);
    ASSERT(strncmp(hd + n - 11, " continued|", 11) == 0); /* whole fields only */
    ASSERT(strstr(rep, "only its beginning is attached") != NULL);
    free(rep);
    buf_free(&d);
    buf_free(&h);
}

static void
lf_only_and_long_lines_in_the_original(void)
{
    struct buf h;
    buf_init(&h, 0);
    buf_puts(&h, "Subject: lf only\nX-Long: ");
    for (int i = 0; i < 1200; i++)
        buf_putc(&h, 'y');
    buf_puts(&h, "\n\nbody\n");
    struct dsn_info in;
    info_default(&in);
    in.ret_hdrs = 0;
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, NULL, NULL};
    struct buf d;
    char *rep = build_check(&in, &r, 1, h.data, h.len, &d); /* no line > 998 in the DSN */
    has(rep, "part2.cte=base64");
    ASSERT(strstr(rep, "hdrs=Subject: lf only|X-Long: yyy") != NULL);
    ASSERT(strstr(rep, "returns only the header section") != NULL); /* RET=FULL noted */
    free(rep);
    buf_free(&d);
    buf_free(&h);
}

static void
several_recipients(void)
{
    struct dsn_info in;
    info_default(&in);
    in.envid = NULL;
    in.qid = NULL;
    struct dsn_rcpt r[3] = {
        {"a@x.example", NULL, NULL, "550 5.1.1 a", "10.0.0.1"},
        {"b@x.example", "rfc822;b@x.example", NULL, "552 5.2.2 b", NULL},
        {"c@x.example", "bogus-without-type", "4.4.7", NULL, NULL},
    };
    struct buf d;
    char *rep = build_check(&in, r, 3, orig, sizeof orig - 1, &d);
    has(rep, "rcpts=3");
    has(rep, "rcpt0.Remote-MTA=dns; 10.0.0.1");
    has(rep, "rcpt1.Original-Recipient=rfc822;b@x.example");
    has(rep, "rcpt1.Status=5.2.2");
    has(rep, "rcpt2.Status=4.4.7");
    has(rep, "rcpt2.Final-Recipient=rfc822; c@x.example");
    lacks(rep, "rcpt2.Original-Recipient");
    lacks(rep, "msg.Original-Envelope-Id");
    lacks(rep, "msg.X-Arcproxy-Queue-ID");
    free(rep);
    buf_free(&d);
}

static void
bad_arguments_are_einval(void)
{
    struct dsn_info in;
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, NULL, NULL};
    struct dsn_rcpt noaddr = {NULL, NULL, NULL, NULL, NULL};
    struct buf d;
    struct err e;
    buf_init(&d, 0);
    buf_puts(&d, "keep");
    info_default(&in);
    in.sender = "";
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, NULL, 0, &d, &e), -ARC_EINVAL);
    in.sender = "<>";
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, NULL, 0, &d, &e), -ARC_EINVAL);
    in.sender = NULL;
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, NULL, 0, &d, &e), -ARC_EINVAL);
    info_default(&in);
    ASSERT_EQ_INT(dsn_build(&in, &r, 0, NULL, 0, &d, &e), -ARC_EINVAL);
    ASSERT_EQ_INT(dsn_build(&in, NULL, 1, NULL, 0, &d, &e), -ARC_EINVAL);
    ASSERT_EQ_INT(dsn_build(&in, &noaddr, 1, NULL, 0, &d, NULL), -ARC_EINVAL);
    in.reporting_mta = "";
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, NULL, 0, &d, &e), -ARC_EINVAL);
    ASSERT_EQ_STR(d.data, "keep");
    buf_free(&d);
}

static void
out_cap_is_erange_and_out_unchanged(void)
{
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, NULL, NULL};
    struct buf d;
    struct err e;
    buf_init(&d, 500);
    buf_puts(&d, "keep");
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, orig, sizeof orig - 1, &d, &e), -ARC_ERANGE);
    ASSERT_EQ_STR(d.data, "keep");
    buf_free(&d);
}

static void
boundaries_differ_between_dsns(void)
{
    struct dsn_info in;
    info_default(&in);
    struct dsn_rcpt r = {"bob@b.example", NULL, NULL, NULL, NULL};
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, orig, sizeof orig - 1, &a, NULL), 0);
    ASSERT_EQ_INT(dsn_build(&in, &r, 1, orig, sizeof orig - 1, &b, NULL), 0);
    const char *ba = strstr(a.data, "boundary=\""), *bb = strstr(b.data, "boundary=\"");
    ASSERT(ba && bb && strncmp(ba, bb, 40) != 0);
    buf_free(&a);
    buf_free(&b);
}

static const struct test_case cases[] = {
    {"required_fields_and_parts", required_fields_and_parts},
    {"orcpt_and_envid_are_xtext_decoded", orcpt_and_envid_are_xtext_decoded},
    {"status_is_derived_from_the_reply", status_is_derived_from_the_reply},
    {"crlf_in_inputs_makes_no_new_lines", crlf_in_inputs_makes_no_new_lines},
    {"long_diag_is_folded_and_cut", long_diag_is_folded_and_cut},
    {"eight_bit_header_section_goes_base64", eight_bit_header_section_goes_base64},
    {"utf8_addresses_make_a_global_dsn", utf8_addresses_make_a_global_dsn},
    {"header_section_is_bounded_at_a_field", header_section_is_bounded_at_a_field},
    {"lf_only_and_long_lines_in_the_original", lf_only_and_long_lines_in_the_original},
    {"several_recipients", several_recipients},
    {"bad_arguments_are_einval", bad_arguments_are_einval},
    {"out_cap_is_erange_and_out_unchanged", out_cap_is_erange_and_out_unchanged},
    {"boundaries_differ_between_dsns", boundaries_differ_between_dsns},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
