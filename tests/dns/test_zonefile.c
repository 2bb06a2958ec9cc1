/* SPDX-License-Identifier: MIT */
/*
 * test_zonefile - TXT lookups in master files read by src/dns/zonefile.c. Each case
 * writes its zone to a temporary file. Not covered: $INCLUDE, very large zones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/zonefile.h"
#include "test.h"

/* zone_write - write text to a fresh temporary file whose name goes into path (64 bytes). */
static void
zone_write(char *path, const char *text)
{
    strcpy(path, "/tmp/arcproxy-test-zone-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        TEST_FAIL("mkstemp failed");
    size_t n = strlen(text);
    ASSERT_EQ_INT(write(fd, text, n), (long long)n);
    close(fd);
}

static struct dns_zone *
zone_load_ok(const char *text)
{
    char path[64];
    zone_write(path, text);
    struct dns_zone *z = NULL;
    struct err e;
    err_clear(&e);
    int rc = dns_zone_load(path, &z, &e);
    unlink(path);
    if (rc != 0)
        TEST_FAIL("dns_zone_load: %d %s", rc, e.text);
    ASSERT(z != NULL);
    return z;
}

/* expect_txt - lookup of name gives exactly want. */
static void
expect_txt(const struct dns_zone *z, const char *name, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = dns_zone_lookup(z, name, &b);
    if (rc != 1)
        TEST_FAIL("dns_zone_lookup(%s): got %d, want 1", name, rc);
    ASSERT_EQ_MEM(buf_span(&b).p, b.len, want, strlen(want));
    buf_free(&b);
}

static void
expect_absent(const struct dns_zone *z, const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    ASSERT_EQ_INT(dns_zone_lookup(z, name, &b), 0);
    ASSERT_EQ_INT(b.len, 0);
    buf_free(&b);
}

static const char zone_basic[] = "$ORIGIN example.org.\n"
                                 "$TTL 300\n"
                                 "@ IN SOA ns.example.org. admin.example.org. 1 7200 900 "
                                 "1209600 300\n"
                                 "@ IN NS ns\n"
                                 "ns IN A 192.0.2.1\n"
                                 "; a comment line\n"
                                 "sel._domainkey IN TXT \"v=DKIM1; k=rsa; p=AAAA\"\n"
                                 "abs._domainkey.example.net. 60 IN TXT \"v=DKIM1; p=BBBB\"\n"
                                 "@ IN TXT \"apex text\"\n";

static void
origin_makes_relative_names_absolute(void)
{
    struct dns_zone *z = zone_load_ok(zone_basic);
    expect_txt(z, "sel._domainkey.example.org", "v=DKIM1; k=rsa; p=AAAA");
    expect_txt(z, "abs._domainkey.example.net", "v=DKIM1; p=BBBB");
    expect_txt(z, "example.org", "apex text");
    dns_zone_free(z);
}

static void
lookup_ignores_case_and_trailing_dot(void)
{
    struct dns_zone *z = zone_load_ok(zone_basic);
    expect_txt(z, "sel._domainkey.example.org.", "v=DKIM1; k=rsa; p=AAAA");
    expect_txt(z, "SEL._DomainKey.Example.ORG", "v=DKIM1; k=rsa; p=AAAA");
    dns_zone_free(z);
}

static void
owner_case_is_folded(void)
{
    struct dns_zone *z = zone_load_ok("Upper._DOMAINKEY.Example.COM. IN TXT \"x\"\n");
    expect_txt(z, "upper._domainkey.example.com", "x");
    dns_zone_free(z);
}

static void
absent_name_is_zero(void)
{
    struct dns_zone *z = zone_load_ok(zone_basic);
    expect_absent(z, "other._domainkey.example.org");
    expect_absent(z, "_domainkey.example.org");
    expect_absent(z, "x.sel._domainkey.example.org");
    expect_absent(z, "sel._domainkey.example"); /* a prefix of a stored name */
    expect_absent(z, "ns.example.org");         /* an A record, no TXT */
    expect_absent(z, "");
    dns_zone_free(z);
}

/* a TXT value longer than 255 bytes must be split into character-strings; the lookup
 * joins them with no separator (RFC 6376 §3.6.2.2) */
static void
multi_string_txt_is_joined(void)
{
    char a[254], b[201];
    memset(a, 'a', 253); /* "p=" + 253 bytes: one full 255-byte string */
    a[253] = '\0';
    memset(b, 'b', 200);
    b[200] = '\0';
    char text[1024];
    snprintf(text, sizeof text,
             "$ORIGIN example.com.\n"
             "long._domainkey IN TXT ( \"v=DKIM1; k=rsa; \"\n"
             "    \"p=%s\"\n"
             "    \"%s\" )\n",
             a, b);
    struct dns_zone *z = zone_load_ok(text);
    char want[1024];
    snprintf(want, sizeof want, "v=DKIM1; k=rsa; p=%s%s", a, b);
    expect_txt(z, "long._domainkey.example.com", want);
    dns_zone_free(z);
}

static void
escapes_are_decoded(void)
{
    struct dns_zone *z = zone_load_ok("q.example. IN TXT \"say \\\"hi\\\"; \\059 ok\"\n");
    expect_txt(z, "q.example", "say \"hi\"; ; ok");
    dns_zone_free(z);
}

static void
first_txt_of_a_name_wins(void)
{
    struct dns_zone *z = zone_load_ok("$ORIGIN example.com.\n"
                                      "zz IN TXT \"later name\"\n"
                                      "dup IN TXT \"first\"\n"
                                      "aa IN TXT \"earlier name\"\n"
                                      "dup IN TXT \"second\"\n"
                                      "DUP IN TXT \"third\"\n");
    expect_txt(z, "dup.example.com", "first");
    expect_txt(z, "aa.example.com", "earlier name");
    expect_txt(z, "zz.example.com", "later name");
    dns_zone_free(z);
}

static void
empty_zone_loads(void)
{
    struct dns_zone *z = zone_load_ok("; nothing here\n");
    expect_absent(z, "example.com");
    dns_zone_free(z);
}

static void
parse_error_names_file_and_line(void)
{
    char path[64];
    zone_write(path, "$ORIGIN example.org.\n"
                     "a IN TXT \"fine\"\n"
                     "b IN TXT \"fine too\"\n"
                     "c IN BOGUSTYPE what\n"
                     "d IN TXT \"never reached\"\n");
    struct dns_zone *z = (struct dns_zone *)&z;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_zone_load(path, &z, &e), -ARC_EINVAL);
    ASSERT(z == NULL);
    char want[128];
    snprintf(want, sizeof want, "%s:4: ", path);
    if (strncmp(e.text, want, strlen(want)) != 0)
        TEST_FAIL("error text \"%s\" does not start with \"%s\"", e.text, want);
    unlink(path);
}

/* error_line - the line dns_zone_load reports for text (which must fail). */
static int
error_line(const char *text)
{
    char path[64];
    zone_write(path, text);
    struct dns_zone *z = NULL;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_zone_load(path, &z, &e), -ARC_EINVAL);
    unlink(path);
    const char *colon = strchr(e.text + strlen(path), ':');
    ASSERT(colon == e.text + strlen(path));
    return atoi(colon + 1);
}

static void
parse_error_line_is_first_line_of_record(void)
{
    /* after comments and blank lines */
    ASSERT_EQ_INT(error_line("; comment\n\n\n$ORIGIN example.org.\nx IN A 1.2.3\n"), 5);
    /* the last line, without a newline */
    ASSERT_EQ_INT(error_line("a.example. IN TXT \"ok\"\nb.example. IN BOGUS x"), 2);
    /* a record spanning lines reports where it starts */
    ASSERT_EQ_INT(error_line("a.example. IN TXT \"ok\"\n"
                             "b.example. IN TXT ( \"one\"\n"
                             "   \"two\" )\n"
                             "c.example. IN MX ( 10\n"
                             "   not..a..name )\n"),
                  4);
    /* a bad owner name after a good record */
    ASSERT_EQ_INT(error_line("a.example. IN TXT \"ok\"\nb..example. IN TXT \"x\"\n"), 2);
}

static void
include_is_refused(void)
{
    ASSERT_EQ_INT(error_line("$ORIGIN example.org.\n$INCLUDE /etc/passwd\n"), 2);
}

static void
missing_file_is_eio(void)
{
    struct dns_zone *z = NULL;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_zone_load("/nonexistent/arcproxy-zone", &z, &e), -ARC_EIO);
    ASSERT(z == NULL);
    ASSERT(strstr(e.text, "/nonexistent/arcproxy-zone") != NULL);
}

static void
lookup_appends_to_out(void)
{
    struct dns_zone *z = zone_load_ok(zone_basic);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "prefix:");
    ASSERT_EQ_INT(dns_zone_lookup(z, "example.org", &b), 1);
    ASSERT_EQ_STR(b.data, "prefix:apex text");
    buf_free(&b);
    dns_zone_free(z);
}

static void
free_accepts_null(void)
{
    ASSERT(dns_zone_free(NULL) == NULL);
}

static const struct test_case cases[] = {
    {"origin_makes_relative_names_absolute", origin_makes_relative_names_absolute},
    {"lookup_ignores_case_and_trailing_dot", lookup_ignores_case_and_trailing_dot},
    {"owner_case_is_folded", owner_case_is_folded},
    {"absent_name_is_zero", absent_name_is_zero},
    {"multi_string_txt_is_joined", multi_string_txt_is_joined},
    {"escapes_are_decoded", escapes_are_decoded},
    {"first_txt_of_a_name_wins", first_txt_of_a_name_wins},
    {"empty_zone_loads", empty_zone_loads},
    {"parse_error_names_file_and_line", parse_error_names_file_and_line},
    {"parse_error_line_is_first_line_of_record", parse_error_line_is_first_line_of_record},
    {"include_is_refused", include_is_refused},
    {"missing_file_is_eio", missing_file_is_eio},
    {"lookup_appends_to_out", lookup_appends_to_out},
    {"free_accepts_null", free_accepts_null},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
