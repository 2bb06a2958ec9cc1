/* SPDX-License-Identifier: MIT */
/* test_main - runs a table of cases, each in a child under a timeout; see test.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "."
#endif

static int
run_case(const struct test_case *c)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm(120);
        c->fn();
        fflush(stdout);
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok      %s\n", c->name);
        return 1;
    }
    if (WIFSIGNALED(st))
        printf("FAILED  %s (signal %d%s)\n", c->name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? ": timeout" : "");
    else
        printf("FAILED  %s (exit %d)\n", c->name, WEXITSTATUS(st));
    return 0;
}

int
test_main(int argc, char **argv, const struct test_case *cases)
{
    int passed = 0, failed = 0;
    for (const struct test_case *c = cases; c->name; c++) {
        if (argc > 1 && !strstr(c->name, argv[1]))
            continue;
        if (run_case(c))
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}

char *
test_read_file(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        TEST_FAIL("cannot open %s", path);
    size_t cap = 4096, len = 0;
    char *p = malloc(cap);
    size_t n;
    while ((n = fread(p + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0)
            p = realloc(p, cap *= 2);
    }
    fclose(f);
    p[len] = '\0';
    if (lenp)
        *lenp = len;
    return p;
}

const char *
test_data_path(const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, rel);
    return path;
}
