/* SPDX-License-Identifier: MIT */
/*
 * test_buf - the growable buffer (src/util/buf.h): growth, the NUL after the bytes, the
 * max bound with -ARC_ERANGE and nothing appended, for every append form (buf_putc has a
 * fast path of its own).
 */
#include "test.h"
#include "util/buf.h"
#include "util/err.h"

static void
putc_grows_and_terminates(void)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++) {
        ASSERT_EQ_INT(buf_putc(&b, 'a' + i % 26), 0);
        ASSERT_EQ_INT(b.len, (size_t)i + 1);
        ASSERT(b.cap > b.len);
        ASSERT_EQ_INT(b.data[b.len], '\0');
        ASSERT_EQ_INT(b.data[i], 'a' + i % 26);
    }
    buf_free(&b);
}

static void
putc_stops_at_max(void)
{
    struct buf b;
    buf_init(&b, 5);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(buf_putc(&b, 'x'), 0);
    ASSERT_EQ_INT(buf_putc(&b, 'y'), -ARC_ERANGE);
    ASSERT_EQ_INT(b.len, 5);
    ASSERT_EQ_STR(b.data, "xxxxx");
    buf_reset(&b); /* storage kept, room again */
    ASSERT_EQ_INT(buf_putc(&b, 'z'), 0);
    ASSERT_EQ_STR(b.data, "z");
    buf_free(&b);
}

static void
append_forms_respect_max(void)
{
    struct buf b;
    buf_init(&b, 8);
    ASSERT_EQ_INT(buf_puts(&b, "abcd"), 0);
    ASSERT_EQ_INT(buf_append(&b, "efghi", 5), -ARC_ERANGE); /* 9 > 8: nothing appended */
    ASSERT_EQ_STR(b.data, "abcd");
    ASSERT_EQ_INT(buf_printf(&b, "%d", 12345), -ARC_ERANGE);
    ASSERT_EQ_INT(buf_printf(&b, "%d", 1234), 0);
    ASSERT_EQ_STR(b.data, "abcd1234");
    ASSERT_EQ_INT(buf_append(&b, "", 0), 0);
    ASSERT_EQ_INT(buf_putc(&b, '!'), -ARC_ERANGE);
    ASSERT_EQ_INT(b.len, 8);
    buf_free(&b);
}

static void
mixed_appends_keep_bytes(void)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 200; i++) {
        buf_putc(&b, '<');
        buf_printf(&b, "%d", i);
        buf_append(&b, ">\0", 2); /* an embedded NUL is data */
    }
    size_t at = 0;
    for (int i = 0; i < 200; i++) {
        char want[16];
        int n = snprintf(want, sizeof want, "<%d>", i);
        ASSERT(memcmp(b.data + at, want, (size_t)n) == 0);
        ASSERT_EQ_INT(b.data[at + (size_t)n], '\0');
        at += (size_t)n + 1;
    }
    ASSERT_EQ_INT(b.len, at);
    buf_free(&b);
}

static const struct test_case cases[] = {
    {"putc_grows_and_terminates", putc_grows_and_terminates},
    {"putc_stops_at_max", putc_stops_at_max},
    {"append_forms_respect_max", append_forms_respect_max},
    {"mixed_appends_keep_bytes", mixed_appends_keep_bytes},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
