/* SPDX-License-Identifier: MIT */
/*
 * test - the unit-test harness (after libuv's task list and Postfix's ptest): a table of
 * named cases, each run in its own child process under a timeout, so that a crash or a
 * hang fails one case. Assertions print what was got and what was wanted.
 *
 *   static const struct test_case cases[] = { {"name", fn}, ..., {NULL, NULL} };
 *   int main(int argc, char **argv) { return test_main(argc, argv, cases); }
 *
 * argv[1], when given, runs only the cases whose name contains it.
 * Ends with the line "N passed, N failed".
 */
#ifndef ARCPROXY_TEST_H
#define ARCPROXY_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

int test_main(int argc, char **argv, const struct test_case *cases);
/* test_read_file - whole file (NUL-terminated) or abort; *lenp may be NULL. */
char *test_read_file(const char *path, size_t *lenp);
/* test_data_path - TEST_DATA_DIR "/" rel in a static buffer. */
const char *test_data_path(const char *rel);

#define TEST_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TEST_FAIL("assertion failed: %s", #c);                                                 \
    } while (0)

#define ASSERT_EQ_INT(got, want)                                                                   \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ != w_)                                                                              \
            TEST_FAIL("%s: got %lld, want %lld", #got, g_, w_);                                    \
    } while (0)

#define ASSERT_EQ_STR(got, want)                                                                   \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!g_ || !w_ || strcmp(g_, w_) != 0)                                                     \
            TEST_FAIL("%s:\n  got  \"%s\"\n  want \"%s\"", #got, g_ ? g_ : "(null)",               \
                      w_ ? w_ : "(null)");                                                         \
    } while (0)

#define ASSERT_EQ_MEM(got, gotlen, want, wantlen)                                                  \
    do {                                                                                           \
        size_t gl_ = (gotlen), wl_ = (wantlen);                                                    \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0)                                         \
            TEST_FAIL("%s:\n  got  \"%.*s\"\n  want \"%.*s\"", #got, (int)gl_,                     \
                      (const char *)(got), (int)wl_, (const char *)(want));                        \
    } while (0)

#endif
