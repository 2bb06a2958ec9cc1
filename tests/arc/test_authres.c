/* SPDX-License-Identifier: MIT */
/*
 * test_authres - Authentication-Results parsing (src/arc/authres.c).
 *
 * Unit cases name one behaviour each; every input is parsed from a heap copy of exactly
 * its length (no NUL after it), so ASan reports any read past n.
 *
 * Golden files: tests/arc/golden/authres/NAME.in holds one field value (what follows
 * "Authentication-Results:"); its final newline is dropped and every other bare LF
 * becomes CRLF, so a multi-line .in file is a folded header as it travels. NAME.ref is
 * the dump (see dump_authres): one line per fact, spans quoted with \\ \" \r \n \t \xHH
 * escapes. ARC_GOLDEN_UPDATE=1 rewrites the .ref files from the current parser; review
 * the diff before committing, or the goldens prove nothing.
 *
 * Not covered here: arbitrary byte strings (fuzz/fuzz_authres.c does that).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc/authres.h"
#include "util/buf.h"
#include "util/err.h"
#include "test.h"

/* parsed - one parse of a heap copy; spans in ar point into copy. */
struct parsed {
    char *copy;
    int rc;
    struct err e;
    struct arc_authres ar;
};

static struct parsed *
parse_n(const char *s, size_t n)
{
    struct parsed *p = calloc(1, sizeof *p);
    ASSERT(p);
    p->copy = malloc(n ? n : 1);
    ASSERT(p->copy);
    memcpy(p->copy, s, n);
    p->rc = arc_authres_parse(p->copy, n, &p->ar, &p->e);
    return p;
}

static struct parsed *
parse(const char *s)
{
    return parse_n(s, strlen(s));
}

static void
parsed_free(struct parsed *p)
{
    free(p->copy);
    free(p);
}

/* ASSERT_SPAN - span equals the C string (a {NULL, 0} span equals ""). */
#define ASSERT_SPAN(sp, want)                                                                      \
    do {                                                                                           \
        struct span s_ = (sp);                                                                     \
        ASSERT_EQ_MEM(s_.p ? s_.p : "", s_.n, (want), strlen(want));                               \
    } while (0)

/* parse_ok - parse s, which must succeed, with nresults and nbroken as given. */
static struct parsed *
parse_ok(const char *s, size_t nresults, size_t nbroken)
{
    struct parsed *p = parse(s);
    if (p->rc != 0)
        TEST_FAIL("parse \"%s\": rc %d (%s)", s, p->rc, p->e.text);
    ASSERT_EQ_INT(p->ar.nresults, nresults);
    ASSERT_EQ_INT(p->ar.nbroken, nbroken);
    return p;
}

/* parse_einval - parse s, which must fail with -ARC_EINVAL and a zeroed ar. */
static void
parse_einval(const char *s)
{
    struct parsed *p = parse(s);
    ASSERT_EQ_INT(p->rc, -ARC_EINVAL);
    ASSERT_EQ_INT(p->e.code, ARC_EINVAL);
    ASSERT(p->e.text[0] != '\0');
    ASSERT(p->ar.authserv_id.p == NULL);
    ASSERT_EQ_INT(p->ar.nresults, 0);
    parsed_free(p);
}

/* --- authserv-id and version --- */

static void
simple_result_gives_method_result_prop_and_text(void)
{
    struct parsed *p = parse_ok(" example.com; spf=pass smtp.mailfrom=example.net", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "example.com");
    ASSERT_EQ_INT(p->ar.version, 0);
    ASSERT_EQ_INT(p->ar.no_result, 0);
    const struct arc_authres_result *r = &p->ar.results[0];
    ASSERT_SPAN(r->method, "spf");
    ASSERT_SPAN(r->result, "pass");
    ASSERT_SPAN(r->reason, "");
    ASSERT_SPAN(r->text, "spf=pass smtp.mailfrom=example.net");
    ASSERT_EQ_INT(r->nprops, 1);
    ASSERT_SPAN(r->props[0].ptype, "smtp");
    ASSERT_SPAN(r->props[0].property, "mailfrom");
    ASSERT_SPAN(r->props[0].value, "example.net");
    parsed_free(p);
}

static void
authserv_id_alone_has_no_results(void)
{
    struct parsed *p = parse_ok("example.org", 0, 0);
    ASSERT_SPAN(p->ar.authserv_id, "example.org");
    ASSERT_EQ_INT(p->ar.no_result, 0);
    parsed_free(p);
    p = parse_ok("  example.org \r\n ", 0, 0);
    ASSERT_SPAN(p->ar.authserv_id, "example.org");
    parsed_free(p);
}

static void
authserv_id_with_trailing_semicolon_has_no_results(void)
{
    struct parsed *p = parse_ok("example.org;", 0, 0);
    ASSERT_SPAN(p->ar.authserv_id, "example.org");
    parsed_free(p);
    p = parse_ok("example.org ; ;\r\n\t; ", 0, 0);
    parsed_free(p);
}

static void
none_sets_no_result(void)
{
    struct parsed *p = parse_ok("example.org; none", 0, 0);
    ASSERT_EQ_INT(p->ar.no_result, 1);
    parsed_free(p);
    p = parse_ok("example.org 1 (v) ;\r\n (nothing) NONE (at all) ;", 0, 0);
    ASSERT_EQ_INT(p->ar.no_result, 1);
    ASSERT_EQ_INT(p->ar.version, 1);
    parsed_free(p);
}

static void
none_next_to_results_is_broken(void)
{
    struct parsed *p = parse_ok("example.org; none; spf=pass", 1, 1);
    ASSERT_EQ_INT(p->ar.no_result, 0);
    ASSERT_SPAN(p->ar.results[0].method, "spf");
    parsed_free(p);
}

static void
method_named_none_is_a_result_not_no_result(void)
{
    struct parsed *p = parse_ok("example.org; none=pass", 1, 0);
    ASSERT_EQ_INT(p->ar.no_result, 0);
    ASSERT_SPAN(p->ar.results[0].method, "none");
    parsed_free(p);
}

static void
microsoft_version_form_is_read(void)
{
    struct parsed *p = parse_ok("mx.microsoft.com 1; spf=pass smtp.mailfrom=example.com", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "mx.microsoft.com");
    ASSERT_EQ_INT(p->ar.version, 1);
    ASSERT_SPAN(p->ar.results[0].text, "spf=pass smtp.mailfrom=example.com");
    parsed_free(p);
}

static void
version_may_be_surrounded_by_comments(void)
{
    struct parsed *p = parse_ok("example.org (a) 1 (b;c) ; dkim=pass", 1, 0);
    ASSERT_EQ_INT(p->ar.version, 1);
    parsed_free(p);
    p = parse_ok("example.org(a)1(b);dkim=pass", 1, 0);
    ASSERT_EQ_INT(p->ar.version, 1);
    parsed_free(p);
}

static void
digits_glued_to_junk_are_not_a_version(void)
{
    struct parsed *p = parse_ok("example.org 1x; spf=pass", 1, 1);
    ASSERT_EQ_INT(p->ar.version, 0);
    parsed_free(p);
    p = parse_ok("example.org 1234567890; spf=pass", 1, 1);
    ASSERT_EQ_INT(p->ar.version, 0);
    parsed_free(p);
}

static void
authserv_id_may_be_followed_by_comment(void)
{
    struct parsed *p = parse_ok("mx.example.org (comment; with i=1); spf=pass", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "mx.example.org");
    ASSERT_SPAN(p->ar.results[0].text, "spf=pass");
    parsed_free(p);
}

static void
leading_comment_before_authserv_id_is_skipped(void)
{
    struct parsed *p = parse_ok(" (relay) \r\n\t(b (c)) mx.example.org; spf=pass", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "mx.example.org");
    parsed_free(p);
}

static void
quoted_authserv_id_gives_its_content(void)
{
    struct parsed *p = parse_ok("\"mx; example\" ; spf=pass", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "mx; example");
    parsed_free(p);
}

static void
junk_between_authserv_id_and_first_semicolon_is_broken(void)
{
    struct parsed *p = parse_ok("example.org spf=pass; dkim=pass", 1, 1);
    ASSERT_SPAN(p->ar.authserv_id, "example.org");
    ASSERT_SPAN(p->ar.results[0].method, "dkim");
    parsed_free(p);
}

static void
missing_authserv_id_is_einval(void)
{
    /* Some Microsoft servers leave the authserv-id out entirely. */
    parse_einval("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=none");
    parse_einval("dkim/1=pass");
    parse_einval("; spf=pass");
    parse_einval("@example.org; spf=pass");
}

static void
empty_or_cfws_only_value_is_einval(void)
{
    parse_einval("");
    parse_einval(" \r\n\t ");
    parse_einval(" (just a comment) ");
    parse_einval("\"\"; spf=pass");
}

static void
unterminated_comment_or_quote_before_authserv_id_is_einval(void)
{
    parse_einval("(oops example.org; spf=pass");
    parse_einval("\"example.org; spf=pass");
    parse_einval("\"example.org\\");
}

static void
null_value_with_length_is_einval(void)
{
    struct arc_authres ar;
    struct err e = {0};
    ASSERT_EQ_INT(arc_authres_parse(NULL, 5, &ar, &e), -ARC_EINVAL);
    ASSERT_EQ_INT(arc_authres_parse(NULL, 0, &ar, NULL), -ARC_EINVAL);
}

static void
error_is_reported_without_err_struct(void)
{
    struct arc_authres ar;
    ASSERT_EQ_INT(arc_authres_parse("spf=pass", 8, &ar, NULL), -ARC_EINVAL);
}

static void
failed_parse_leaves_ar_zeroed(void)
{
    struct parsed *p = parse("example.org; spf=pass");
    ASSERT_EQ_INT(p->rc, 0);
    ASSERT_EQ_INT(arc_authres_parse("x=y", 3, &p->ar, NULL), -ARC_EINVAL);
    ASSERT_EQ_INT(p->ar.nresults, 0);
    ASSERT_EQ_INT(p->ar.authserv_id.n, 0);
    parsed_free(p);
}

/* --- resinfo splitting, comments and quoted strings --- */

static void
semicolon_in_comment_does_not_split_resinfo(void)
{
    struct parsed *p =
        parse_ok("example.org; spf=pass (a; b; c=d) smtp.mailfrom=x; dkim=fail", 2, 0);
    ASSERT_SPAN(p->ar.results[0].text, "spf=pass (a; b; c=d) smtp.mailfrom=x");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "x");
    ASSERT_SPAN(p->ar.results[1].result, "fail");
    parsed_free(p);
}

static void
semicolon_in_quoted_string_does_not_split_resinfo(void)
{
    struct parsed *p = parse_ok("example.org; dkim=fail reason=\"bad; very bad\" header.d=a", 1, 0);
    ASSERT_SPAN(p->ar.results[0].reason, "bad; very bad");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "a");
    parsed_free(p);
}

static void
nested_comments_are_skipped_whole(void)
{
    struct parsed *p = parse_ok(
        "example.org; spf=pass (a (b; x.y=z) c) smtp.mailfrom=m (d (e (f))); dkim=pass", 2, 0);
    ASSERT_EQ_INT(p->ar.results[0].nprops, 1);
    ASSERT_SPAN(p->ar.results[0].props[0].value, "m");
    ASSERT_SPAN(p->ar.results[0].text, "spf=pass (a (b; x.y=z) c) smtp.mailfrom=m (d (e (f)))");
    parsed_free(p);
}

static void
escaped_parens_in_comment_do_not_nest(void)
{
    struct parsed *p =
        parse_ok("example.org; spf=pass (a \\( b; c) smtp.mailfrom=m; dkim=pass", 2, 0);
    ASSERT_SPAN(p->ar.results[0].props[0].value, "m");
    parsed_free(p);
    p = parse_ok("example.org; spf=pass (a \\) b; c) smtp.mailfrom=m", 1, 0);
    ASSERT_SPAN(p->ar.results[0].props[0].value, "m");
    parsed_free(p);
}

static void
quoted_string_escapes_are_kept_as_written(void)
{
    struct parsed *p =
        parse_ok("example.org; dkim=fail reason=\"say \\\"no\\\"; \\\\\" x.y=z", 1, 0);
    ASSERT_SPAN(p->ar.results[0].reason, "say \\\"no\\\"; \\\\");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "z");
    parsed_free(p);
}

static void
i_equals_inside_comment_is_not_a_prop(void)
{
    struct parsed *p = parse_ok("mx.google.com; arc=pass (i=1 spf=pass spfdomain=example.com "
                                "dkim=pass dkdomain=example.com)",
                                1, 0);
    ASSERT_SPAN(p->ar.results[0].method, "arc");
    ASSERT_EQ_INT(p->ar.results[0].nprops, 0);
    parsed_free(p);
}

static void
comment_adjacent_to_result_is_cfws(void)
{
    struct parsed *p =
        parse_ok("yahoo.com; dmarc=pass(p=REJECT,sp=QUARANTINE)header.from=x.com", 1, 0);
    ASSERT_SPAN(p->ar.results[0].result, "pass");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "x.com");
    parsed_free(p);
}

static void
text_keeps_comments_and_folding_but_not_outer_whitespace(void)
{
    struct parsed *p = parse_ok("example.org;\r\n\t(lead) arc=none (no signatures found)\r\n ;\r\n "
                                "spf=pass\r\n\t smtp.mailfrom=a@b \r\n",
                                2, 0);
    ASSERT_SPAN(p->ar.results[0].text, "(lead) arc=none (no signatures found)");
    ASSERT_SPAN(p->ar.results[1].text, "spf=pass\r\n\t smtp.mailfrom=a@b");
    ASSERT_SPAN(p->ar.results[1].props[0].value, "a@b");
    parsed_free(p);
}

static void
cfws_is_allowed_around_every_token(void)
{
    struct parsed *p = parse_ok(" (c0) example.org (c1) ; (c2) dkim (c3) / (c4) 1 (c5) = (c6) pass "
                                "(c7) reason (c8) = (c9) \"ok\" (c10) header (c11) . (c12) d (c13) "
                                "= (c14) example.com (c15) ",
                                1, 0);
    const struct arc_authres_result *r = &p->ar.results[0];
    ASSERT_SPAN(r->method, "dkim");
    ASSERT_SPAN(r->result, "pass");
    ASSERT_SPAN(r->reason, "ok");
    ASSERT_EQ_INT(r->nprops, 1);
    ASSERT_SPAN(r->props[0].ptype, "header");
    ASSERT_SPAN(r->props[0].property, "d");
    ASSERT_SPAN(r->props[0].value, "example.com");
    parsed_free(p);
}

/* --- methodspec, reason, props --- */

static void
method_version_is_checked_and_stripped(void)
{
    struct parsed *p = parse_ok("example.org; dkim/1=pass; spf / 2 = fail", 2, 0);
    ASSERT_SPAN(p->ar.results[0].method, "dkim");
    ASSERT_SPAN(p->ar.results[1].method, "spf");
    ASSERT_SPAN(p->ar.results[1].result, "fail");
    parsed_free(p);
}

static void
method_version_without_digits_is_broken(void)
{
    struct parsed *p = parse_ok("example.org; dkim/=pass; dkim/x=pass; spf=pass", 1, 2);
    ASSERT_SPAN(p->ar.results[0].method, "spf");
    parsed_free(p);
}

static void
resinfo_without_method_or_result_is_broken(void)
{
    struct parsed *p =
        parse_ok("example.org; spf; =pass; spf=; spf pass; dkim=pass; spf=pass junk", 1, 5);
    ASSERT_SPAN(p->ar.results[0].method, "dkim");
    parsed_free(p);
}

static void
reason_token_and_quoted_forms(void)
{
    struct parsed *p = parse_ok("example.org; compauth=pass reason=100; dkim=fail reason=\"bad "
                                "signature\"; spf=none reason=\"\"",
                                3, 0);
    ASSERT_SPAN(p->ar.results[0].reason, "100");
    ASSERT_SPAN(p->ar.results[1].reason, "bad signature");
    ASSERT_SPAN(p->ar.results[2].reason, "");
    parsed_free(p);
}

static void
reason_after_props_is_accepted_and_first_wins(void)
{
    struct parsed *p =
        parse_ok("example.org; dkim=fail header.d=a REASON=first reason=second", 1, 0);
    ASSERT_SPAN(p->ar.results[0].reason, "first");
    ASSERT_EQ_INT(p->ar.results[0].nprops, 1);
    parsed_free(p);
}

static void
bare_key_value_is_skipped_but_kept_in_text(void)
{
    struct parsed *p =
        parse_ok("example.org; dmarc=pass action=none header.from=example.com", 1, 0);
    ASSERT_EQ_INT(p->ar.results[0].nprops, 1);
    ASSERT_SPAN(p->ar.results[0].props[0].property, "from");
    ASSERT_SPAN(p->ar.results[0].text, "dmarc=pass action=none header.from=example.com");
    parsed_free(p);
}

static void
prop_values_in_every_form(void)
{
    struct parsed *p = parse_ok("example.org; dkim=pass header.i=@example.com "
                                "smtp.mailfrom=user@example.com header.b=\"a b\" "
                                "smtp.mailfrom=\"john doe\"@example.com header.b=Ab/c+D=1 "
                                "smtp.remote-ip=2001:db8::1 policy.is_org=yes "
                                "header.s=sel-1_2",
                                1, 0);
    const struct arc_authres_result *r = &p->ar.results[0];
    ASSERT_EQ_INT(r->nprops, 8);
    ASSERT_SPAN(r->props[0].value, "@example.com");
    ASSERT_SPAN(r->props[1].value, "user@example.com");
    ASSERT_SPAN(r->props[2].value, "a b");
    ASSERT_SPAN(r->props[3].value, "\"john doe\"@example.com");
    ASSERT_SPAN(r->props[4].value, "Ab/c+D=1");
    ASSERT_SPAN(r->props[5].property, "remote-ip");
    ASSERT_SPAN(r->props[5].value, "2001:db8::1");
    ASSERT_SPAN(r->props[6].property, "is_org");
    ASSERT_SPAN(r->props[7].value, "sel-1_2");
    parsed_free(p);
}

static void
property_may_contain_dots(void)
{
    struct parsed *p = parse_ok("example.org; x-dmarc=pass policy.dmarc.p=reject", 1, 0);
    ASSERT_SPAN(p->ar.results[0].props[0].ptype, "policy");
    ASSERT_SPAN(p->ar.results[0].props[0].property, "dmarc.p");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "reject");
    parsed_free(p);
}

static void
arc_oldest_pass_prop_is_found(void)
{
    struct parsed *p =
        parse_ok("example.org; arc=pass header.oldest-pass=2 smtp.remote-ip=192.0.2.1", 1, 0);
    ASSERT_SPAN(p->ar.results[0].props[0].ptype, "header");
    ASSERT_SPAN(p->ar.results[0].props[0].property, "oldest-pass");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "2");
    parsed_free(p);
}

static void
keywords_keep_their_case(void)
{
    struct parsed *p = parse_ok("EXAMPLE.org; SPF=Pass SMTP.MailFrom=X", 1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "EXAMPLE.org");
    ASSERT_SPAN(p->ar.results[0].method, "SPF");
    ASSERT_SPAN(p->ar.results[0].result, "Pass");
    ASSERT_SPAN(p->ar.results[0].props[0].ptype, "SMTP");
    parsed_free(p);
}

static void
eight_bit_bytes_pass_through(void)
{
    struct parsed *p = parse_ok("m\xc3\xbcller.example; spf=pass (gr\xc3\xbc\xc3\x9f) "
                                "smtp.mailfrom=j\xc3\xb6rg@b\xc3\xbc"
                                "cher.example",
                                1, 0);
    ASSERT_SPAN(p->ar.authserv_id, "m\xc3\xbcller.example");
    ASSERT_SPAN(p->ar.results[0].props[0].value, "j\xc3\xb6rg@b\xc3\xbc"
                                                 "cher.example");
    parsed_free(p);
}

static void
control_bytes_break_only_their_resinfo(void)
{
    static const char v[] = "example.org; spf=pass smtp.mailfrom=a\0b; dkim=pass\x01; arc=none";
    struct parsed *p = parse_n(v, sizeof v - 1);
    ASSERT_EQ_INT(p->rc, 0);
    ASSERT_EQ_INT(p->ar.nresults, 1);
    ASSERT_EQ_INT(p->ar.nbroken, 2);
    ASSERT_SPAN(p->ar.results[0].method, "arc");
    parsed_free(p);
}

/* --- broken input and limits --- */

static void
unterminated_comment_in_resinfo_swallows_the_rest(void)
{
    struct parsed *p = parse_ok("example.org; dkim=pass; spf=pass (oops; dmarc=pass", 1, 1);
    ASSERT_SPAN(p->ar.results[0].method, "dkim");
    parsed_free(p);
    p = parse_ok("example.org (oops; spf=pass", 0, 1);
    ASSERT_SPAN(p->ar.authserv_id, "example.org");
    parsed_free(p);
}

static void
unterminated_quote_in_resinfo_swallows_the_rest(void)
{
    struct parsed *p = parse_ok("example.org; dkim=pass; spf=fail reason=\"oops; dmarc=pass", 1, 1);
    parsed_free(p);
    p = parse_ok("example.org; spf=fail reason=\"oops\\", 0, 1);
    parsed_free(p);
}

static void
truncated_inputs_never_read_past_n(void)
{
    static const char v[] = "mx.example.org 1; dkim/1=pass (a (b) \\) c) reason=\"x\\\"y\" "
                            "header.i=\"q\"@example.com smtp.mailfrom=@d; none; arc=fail";
    /* every prefix, each in its own exact-size heap copy */
    for (size_t n = 0; n <= sizeof v - 1; n++) {
        struct parsed *p = parse_n(v, n);
        ASSERT(p->rc == 0 || p->rc == -ARC_EINVAL);
        ASSERT(p->ar.nresults <= 2);
        parsed_free(p);
    }
}

static void
results_beyond_max_are_counted_broken(void)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "example.org");
    for (int i = 0; i < ARC_AUTHRES_MAX_RESULTS + 6; i++)
        buf_printf(&b, "; dkim=pass header.s=s%d", i);
    struct parsed *p = parse_ok(b.data, ARC_AUTHRES_MAX_RESULTS, 6);
    char last[32];
    snprintf(last, sizeof last, "s%d", ARC_AUTHRES_MAX_RESULTS - 1);
    ASSERT_SPAN(p->ar.results[ARC_AUTHRES_MAX_RESULTS - 1].props[0].value, last);
    parsed_free(p);
    buf_free(&b);
}

static void
props_beyond_max_are_skipped(void)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "example.org; dkim=pass");
    for (int i = 0; i < ARC_AUTHRES_MAX_PROPS + 3; i++)
        buf_printf(&b, " header.p%d=v%d", i, i);
    buf_puts(&b, "; spf=pass");
    struct parsed *p = parse_ok(b.data, 2, 0);
    ASSERT_EQ_INT(p->ar.results[0].nprops, ARC_AUTHRES_MAX_PROPS);
    ASSERT_SPAN(p->ar.results[0].props[0].property, "p0");
    ASSERT_EQ_INT(p->ar.results[0].text.n,
                  strlen(b.data) - strlen("example.org; ") - strlen("; spf=pass"));
    parsed_free(p);
    buf_free(&b);
}

static void
reset_zeroes_everything(void)
{
    struct parsed *p = parse_ok("example.org 1; spf=pass smtp.mailfrom=x; foo", 1, 1);
    arc_authres_reset(&p->ar);
    ASSERT(p->ar.authserv_id.p == NULL);
    ASSERT_EQ_INT(p->ar.version, 0);
    ASSERT_EQ_INT(p->ar.nresults, 0);
    ASSERT_EQ_INT(p->ar.nbroken, 0);
    ASSERT(p->ar.results[0].method.p == NULL);
    arc_authres_reset(NULL);
    parsed_free(p);
}

/* --- arc_authres_find --- */

static void
find_returns_first_result_for_method(void)
{
    struct parsed *p =
        parse_ok("example.org; dkim=fail header.d=a; spf=pass; dkim=pass header.d=b", 3, 0);
    const struct arc_authres_result *r = arc_authres_find(&p->ar, "dkim");
    ASSERT(r == &p->ar.results[0]);
    ASSERT_SPAN(r->result, "fail");
    ASSERT(arc_authres_find(&p->ar, "spf") == &p->ar.results[1]);
    parsed_free(p);
}

static void
find_ignores_case(void)
{
    struct parsed *p = parse_ok("example.org; ARC=pass", 1, 0);
    ASSERT(arc_authres_find(&p->ar, "arc") == &p->ar.results[0]);
    ASSERT(arc_authres_find(&p->ar, "Arc") == &p->ar.results[0]);
    parsed_free(p);
}

static void
find_matches_whole_method_only(void)
{
    struct parsed *p = parse_ok("example.org; dkim-atps=pass; dkim/1=pass", 2, 0);
    ASSERT(arc_authres_find(&p->ar, "dkim") == &p->ar.results[1]);
    ASSERT(arc_authres_find(&p->ar, "dki") == NULL);
    ASSERT(arc_authres_find(&p->ar, "dkim/1") == NULL);
    ASSERT(arc_authres_find(&p->ar, "") == NULL);
    parsed_free(p);
}

static void
find_missing_or_null_gives_null(void)
{
    struct parsed *p = parse_ok("example.org; none", 0, 0);
    ASSERT(arc_authres_find(&p->ar, "arc") == NULL);
    ASSERT(arc_authres_find(&p->ar, NULL) == NULL);
    ASSERT(arc_authres_find(NULL, "arc") == NULL);
    parsed_free(p);
}

static void
find_skips_broken_resinfo(void)
{
    struct parsed *p = parse_ok("example.org; arc=pass (oops; dkim=pass", 0, 1);
    ASSERT(arc_authres_find(&p->ar, "arc") == NULL);
    ASSERT(arc_authres_find(&p->ar, "dkim") == NULL);
    parsed_free(p);
}

/* --- golden files --- */

static void
dump_span(struct buf *b, struct span s)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '\\' || ch == '"')
            buf_printf(b, "\\%c", ch);
        else if (ch == '\r')
            buf_puts(b, "\\r");
        else if (ch == '\n')
            buf_puts(b, "\\n");
        else if (ch == '\t')
            buf_puts(b, "\\t");
        else if (ch < 0x20 || ch >= 0x7f)
            buf_printf(b, "\\x%02x", ch);
        else
            buf_putc(b, ch);
    }
    buf_putc(b, '"');
}

/* dump_authres - the .ref format: "error CODE", or authserv-id, version, no-result, then
 * per result its method=result line, reason, text and props, and finally broken. */
static void
dump_authres(struct buf *b, int rc, const struct arc_authres *ar)
{
    if (rc < 0) {
        buf_printf(b, "error %s\n", err_name(-rc));
        return;
    }
    buf_puts(b, "authserv-id ");
    dump_span(b, ar->authserv_id);
    buf_printf(b, "\nversion %d\nno-result %d\n", ar->version, ar->no_result);
    for (size_t i = 0; i < ar->nresults; i++) {
        const struct arc_authres_result *r = &ar->results[i];
        buf_printf(b, "result %.*s=%.*s\n", (int)r->method.n, r->method.p, (int)r->result.n,
                   r->result.p);
        buf_puts(b, "  reason ");
        dump_span(b, r->reason);
        buf_puts(b, "\n  text ");
        dump_span(b, r->text);
        buf_putc(b, '\n');
        for (size_t k = 0; k < r->nprops; k++) {
            const struct arc_authres_prop *pr = &r->props[k];
            buf_printf(b, "  prop %.*s.%.*s ", (int)pr->ptype.n, pr->ptype.p, (int)pr->property.n,
                       pr->property.p);
            dump_span(b, pr->value);
            buf_putc(b, '\n');
        }
    }
    buf_printf(b, "broken %zu\n", ar->nbroken);
}

/* golden_input - the .in text as a header value: final newline dropped, bare LF -> CRLF;
 * a heap buffer of exactly *np bytes. */
static char *
golden_input(const char *raw, size_t rawlen, size_t *np)
{
    if (rawlen && raw[rawlen - 1] == '\n')
        rawlen--;
    if (rawlen && raw[rawlen - 1] == '\r')
        rawlen--;
    char *out = malloc(2 * rawlen + 1);
    ASSERT(out);
    size_t n = 0;
    for (size_t i = 0; i < rawlen; i++) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
            out[n++] = '\r';
        out[n++] = raw[i];
    }
    *np = n;
    return realloc(out, n ? n : 1);
}

static void
write_file(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        TEST_FAIL("cannot write %s", path);
}

/* golden_path - dir/name.ext into path (PATH_MAX-sized) or fail the case. */
static void
golden_path(char *path, size_t size, const char *dir, const char *name, const char *ext)
{
    if ((size_t)snprintf(path, size, "%s/%s%s", dir, name, ext) >= size)
        TEST_FAIL("path too long: %s/%s%s", dir, name, ext);
}

/* golden_one - parse dir/name.in, compare the dump with name.ref; 1 if they match. */
static int
golden_one(const char *dir, const char *name, int update)
{
    char path[4096];
    size_t rawlen, n;
    golden_path(path, sizeof path, dir, name, ".in");
    char *raw = test_read_file(path, &rawlen);
    char *in = golden_input(raw, rawlen, &n);
    struct arc_authres *ar = malloc(sizeof *ar);
    ASSERT(ar);
    int rc = arc_authres_parse(in, n, ar, NULL);
    struct buf got;
    buf_init(&got, 0);
    dump_authres(&got, rc, ar);

    golden_path(path, sizeof path, dir, name, ".ref");
    if (update)
        write_file(path, got.data, got.len);
    char *want = test_read_file(path, NULL);
    int ok = strcmp(got.data, want) == 0;
    if (!ok)
        fprintf(stderr, "golden %s differs\n--- got\n%s--- want (%s)\n%s", name, got.data, path,
                want);
    free(want);
    buf_free(&got);
    free(ar);
    free(in);
    free(raw);
    return ok;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
golden_files_match_refs(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data_path("arc/golden/authres"));
    DIR *d = opendir(dir);
    if (!d)
        TEST_FAIL("cannot open %s", dir);
    char *names[512];
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 3 || strcmp(de->d_name + len - 3, ".in") != 0)
            continue;
        ASSERT(count < sizeof names / sizeof names[0]);
        names[count++] = strndup(de->d_name, len - 3);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], cmp_names);

    int update = getenv("ARC_GOLDEN_UPDATE") != NULL;
    size_t nfail = 0;
    for (size_t i = 0; i < count; i++) {
        nfail += !golden_one(dir, names[i], update);
        free(names[i]);
    }
    if (nfail)
        TEST_FAIL("%zu of %zu golden files differ", nfail, count);
    /* an emptied or misplaced directory must not pass silently */
    ASSERT(count >= 15);
}

static const struct test_case cases[] = {
    {"simple_result_gives_method_result_prop_and_text",
     simple_result_gives_method_result_prop_and_text},
    {"authserv_id_alone_has_no_results", authserv_id_alone_has_no_results},
    {"authserv_id_with_trailing_semicolon_has_no_results",
     authserv_id_with_trailing_semicolon_has_no_results},
    {"none_sets_no_result", none_sets_no_result},
    {"none_next_to_results_is_broken", none_next_to_results_is_broken},
    {"method_named_none_is_a_result_not_no_result", method_named_none_is_a_result_not_no_result},
    {"microsoft_version_form_is_read", microsoft_version_form_is_read},
    {"version_may_be_surrounded_by_comments", version_may_be_surrounded_by_comments},
    {"digits_glued_to_junk_are_not_a_version", digits_glued_to_junk_are_not_a_version},
    {"authserv_id_may_be_followed_by_comment", authserv_id_may_be_followed_by_comment},
    {"leading_comment_before_authserv_id_is_skipped",
     leading_comment_before_authserv_id_is_skipped},
    {"quoted_authserv_id_gives_its_content", quoted_authserv_id_gives_its_content},
    {"junk_between_authserv_id_and_first_semicolon_is_broken",
     junk_between_authserv_id_and_first_semicolon_is_broken},
    {"missing_authserv_id_is_einval", missing_authserv_id_is_einval},
    {"empty_or_cfws_only_value_is_einval", empty_or_cfws_only_value_is_einval},
    {"unterminated_comment_or_quote_before_authserv_id_is_einval",
     unterminated_comment_or_quote_before_authserv_id_is_einval},
    {"null_value_with_length_is_einval", null_value_with_length_is_einval},
    {"error_is_reported_without_err_struct", error_is_reported_without_err_struct},
    {"failed_parse_leaves_ar_zeroed", failed_parse_leaves_ar_zeroed},
    {"semicolon_in_comment_does_not_split_resinfo", semicolon_in_comment_does_not_split_resinfo},
    {"semicolon_in_quoted_string_does_not_split_resinfo",
     semicolon_in_quoted_string_does_not_split_resinfo},
    {"nested_comments_are_skipped_whole", nested_comments_are_skipped_whole},
    {"escaped_parens_in_comment_do_not_nest", escaped_parens_in_comment_do_not_nest},
    {"quoted_string_escapes_are_kept_as_written", quoted_string_escapes_are_kept_as_written},
    {"i_equals_inside_comment_is_not_a_prop", i_equals_inside_comment_is_not_a_prop},
    {"comment_adjacent_to_result_is_cfws", comment_adjacent_to_result_is_cfws},
    {"text_keeps_comments_and_folding_but_not_outer_whitespace",
     text_keeps_comments_and_folding_but_not_outer_whitespace},
    {"cfws_is_allowed_around_every_token", cfws_is_allowed_around_every_token},
    {"method_version_is_checked_and_stripped", method_version_is_checked_and_stripped},
    {"method_version_without_digits_is_broken", method_version_without_digits_is_broken},
    {"resinfo_without_method_or_result_is_broken", resinfo_without_method_or_result_is_broken},
    {"reason_token_and_quoted_forms", reason_token_and_quoted_forms},
    {"reason_after_props_is_accepted_and_first_wins",
     reason_after_props_is_accepted_and_first_wins},
    {"bare_key_value_is_skipped_but_kept_in_text", bare_key_value_is_skipped_but_kept_in_text},
    {"prop_values_in_every_form", prop_values_in_every_form},
    {"property_may_contain_dots", property_may_contain_dots},
    {"arc_oldest_pass_prop_is_found", arc_oldest_pass_prop_is_found},
    {"keywords_keep_their_case", keywords_keep_their_case},
    {"eight_bit_bytes_pass_through", eight_bit_bytes_pass_through},
    {"control_bytes_break_only_their_resinfo", control_bytes_break_only_their_resinfo},
    {"unterminated_comment_in_resinfo_swallows_the_rest",
     unterminated_comment_in_resinfo_swallows_the_rest},
    {"unterminated_quote_in_resinfo_swallows_the_rest",
     unterminated_quote_in_resinfo_swallows_the_rest},
    {"truncated_inputs_never_read_past_n", truncated_inputs_never_read_past_n},
    {"results_beyond_max_are_counted_broken", results_beyond_max_are_counted_broken},
    {"props_beyond_max_are_skipped", props_beyond_max_are_skipped},
    {"reset_zeroes_everything", reset_zeroes_everything},
    {"find_returns_first_result_for_method", find_returns_first_result_for_method},
    {"find_ignores_case", find_ignores_case},
    {"find_matches_whole_method_only", find_matches_whole_method_only},
    {"find_missing_or_null_gives_null", find_missing_or_null_gives_null},
    {"find_skips_broken_resinfo", find_skips_broken_resinfo},
    {"golden_files_match_refs", golden_files_match_refs},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
