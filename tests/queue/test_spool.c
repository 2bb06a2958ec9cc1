/* SPDX-License-Identifier: MIT */
/*
 * test_spool - the message spool (src/queue/spool.c): round trips, aborts, recovery,
 * detection of truncated and altered files, id uniqueness, limits, permissions, and a
 * crash test that SIGKILLs a writer at random moments and then checks that every message
 * it had reported as committed is complete and readable.
 *
 * Every case works in its own mkdtemp directory under /tmp and removes it at the end.
 * Not covered: power loss or a kernel crash (SIGKILL keeps the page cache, so it proves
 * the tmp/rename protocol and the checks, not the fsync ordering; that needs a VM or
 * dm-flakey); close() failing after fsync; a full disk (a file size limit stands in for
 * it); a directory fsync failing after the rename.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/spool.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
/* Any single allocation over 64 MiB fails the run: a corrupt length field must never be
 * able to ask for one (the cases below need a few MiB at most). */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "max_allocation_size_mb=64";
}
#endif

/* ---- helpers ---- */

struct tdir {
    char root[64];  /* the mkdtemp directory */
    char spool[96]; /* root/spool, created by spool_open */
};

static struct tdir *tdir_live; /* removed at exit when a case fails half-way */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void
tdir_remove(struct tdir *t)
{
    tdir_live = NULL;
    if (nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        TEST_FAIL("cannot remove %s", t->root);
}

static void
tdir_atexit(void)
{
    if (tdir_live)
        nftw(tdir_live->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
tdir_make(struct tdir *t)
{
    snprintf(t->root, sizeof t->root, "/tmp/arcspool-XXXXXX");
    if (!mkdtemp(t->root))
        TEST_FAIL("mkdtemp: %s", strerror(errno));
    snprintf(t->spool, sizeof t->spool, "%s/spool", t->root);
    tdir_live = t;
    atexit(tdir_atexit); /* each case runs in its own process: registered once per case */
}

static const char *
path_in(const struct tdir *t, const char *sub, const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s%s%s", t->spool, sub, name ? "/" : "", name ? name : "");
    return p;
}

static size_t
count_entries(const struct tdir *t, const char *sub)
{
    DIR *d = opendir(path_in(t, sub, NULL));
    if (!d)
        TEST_FAIL("opendir %s: %s", sub, strerror(errno));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static struct spool *
open_ok(const struct tdir *t)
{
    struct spool *sp;
    struct err e;
    err_clear(&e);
    int rc = spool_open(t->spool, &sp, &e);
    if (rc != 0)
        TEST_FAIL("spool_open: %d %s", rc, e.text);
    return sp;
}

/* OK - the call must succeed; it reports through the struct err e of the caller. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            TEST_FAIL("%s: %d %s", #call, rc_, e.text);                                            \
    } while (0)

static uint64_t
rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void
fill_pattern(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rnd_next(&s) >> 24);
}

/* commit_simple - a message with one recipient and the given data; returns its id. */
static void
commit_simple(struct spool *sp, const void *data, size_t n, char id[SPOOL_ID_MAX])
{
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "sender@example.org", &e));
    OK(spool_put_rcpt(w, "rcpt@example.net", NULL, NULL, &e));
    OK(spool_write(w, data, n, &e));
    OK(spool_commit(w, id, &e));
}

/* read_all - the message data of id (heap), via reads of at most cap bytes. */
static unsigned char *
read_all(struct spool *sp, const char *id, size_t cap, size_t *lenp)
{
    struct spool_reader *r;
    struct err e;
    err_clear(&e);
    OK(spool_read_open(sp, id, &r, &e));
    size_t len = 0, size = (size_t)spool_read_env(r)->size;
    unsigned char *p = malloc(size + cap);
    ssize_t n;
    while ((n = spool_read_data(r, p + len, cap, &e)) > 0) {
        len += (size_t)n;
        ASSERT(len <= size);
    }
    if (n < 0)
        TEST_FAIL("spool_read_data: %zd %s", n, e.text);
    ASSERT_EQ_INT(len, size);
    spool_read_close(r);
    *lenp = len;
    return p;
}

static unsigned char *
slurp(const char *path, size_t *lenp)
{
    return (unsigned char *)test_read_file(path, lenp);
}

static void
spew(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        TEST_FAIL("cannot write %s", path);
}

static int
read_open_rc(struct spool *sp, const char *id)
{
    struct spool_reader *r = NULL;
    struct err e;
    err_clear(&e);
    int rc = spool_read_open(sp, id, &r, &e);
    ASSERT((rc == 0) == (r != NULL));
    spool_read_close(r);
    return rc;
}

/* a recovery callback that collects ids */
struct idset {
    char (*ids)[SPOOL_ID_MAX];
    size_t n, cap;
};

static void
idset_add(struct idset *s, const char *id)
{
    if (s->n == s->cap)
        s->ids = realloc(s->ids, (s->cap = s->cap ? s->cap * 2 : 64) * sizeof *s->ids);
    snprintf(s->ids[s->n++], SPOOL_ID_MAX, "%s", id);
}

static int
idset_has(const struct idset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

static void
collect_cb(void *ctx, const char *id)
{
    idset_add(ctx, id);
}

static void
recover_ok(struct spool *sp, struct idset *got)
{
    struct err e;
    err_clear(&e);
    OK(spool_recover(sp, collect_cb, got, &e));
}

/* ---- round trips ---- */

static void
round_trip_envelope_and_8bit_data(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    unsigned char data[256 * 4 + 64];
    size_t n = 0;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 256; i++)
            data[n++] = (unsigned char)i;
    memcpy(data + n, "\r\n.\r\nline with \xc3\xa9t\xc3\xa9\r\n", 22);
    n += 22;
    OK(spool_create(sp, &w, &e));
    ASSERT(spool_id_valid(spool_writer_id(w)));
    char wid[SPOOL_ID_MAX];
    snprintf(wid, sizeof wid, "%s", spool_writer_id(w));
    OK(spool_put_attr(w, "client_addr", "192.0.2.7", &e));
    OK(spool_put_attr(w, "xforward_ident", NULL, &e));
    OK(spool_put_sender(w, "s\xc3\xa9nder@example.org", &e));
    OK(spool_put_param(w, "SIZE", "1046", &e));
    OK(spool_put_param(w, "BODY", "8BITMIME", &e));
    OK(spool_put_param(w, "SMTPUTF8", NULL, &e));
    OK(spool_put_param(w, "RET", "HDRS", &e));
    OK(spool_put_param(w, "ENVID", "QQ314159", &e));
    OK(spool_put_rcpt(w, "a@example.net", NULL, NULL, &e));
    OK(spool_put_rcpt(w, "b@example.net", "SUCCESS,FAILURE", "rfc822;b+2Bx@example.net", &e));
    OK(spool_put_rcpt(w, "", "NEVER", NULL, &e));
    OK(spool_put_attr(w, "arrival", "1700000000", &e));
    OK(spool_write(w, data, 100, &e));
    OK(spool_put_prepend(w, "ARC-Seal: i=1\r\n", 15, &e)); /* between data records */
    OK(spool_write(w, data + 100, n - 100, &e));
    OK(spool_put_prepend(w, "ARC-Message-Signature: i=1\r\n", 28, &e));
    char id[SPOOL_ID_MAX];
    OK(spool_commit(w, id, &e));
    ASSERT_EQ_STR(id, wid);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
    ASSERT_EQ_INT(count_entries(&t, "queue"), 1);

    struct spool_reader *r;
    OK(spool_read_open(sp, id, &r, &e));
    const struct spool_env *env = spool_read_env(r);
    ASSERT_EQ_STR(env->sender, "s\xc3\xa9nder@example.org");
    ASSERT_EQ_INT(env->nrcpts, 3);
    ASSERT_EQ_STR(env->rcpts[0].addr, "a@example.net");
    ASSERT(env->rcpts[0].notify == NULL && env->rcpts[0].orcpt == NULL);
    ASSERT_EQ_STR(env->rcpts[1].notify, "SUCCESS,FAILURE");
    ASSERT_EQ_STR(env->rcpts[1].orcpt, "rfc822;b+2Bx@example.net");
    ASSERT_EQ_STR(env->rcpts[2].addr, "");
    ASSERT_EQ_STR(env->rcpts[2].notify, "NEVER");
    ASSERT(env->rcpts[2].orcpt == NULL);
    ASSERT_EQ_INT(env->nparams, 5);
    ASSERT_EQ_STR(env->params[0].key, "SIZE");
    ASSERT_EQ_STR(env->params[0].value, "1046");
    ASSERT_EQ_STR(env->params[2].key, "SMTPUTF8");
    ASSERT(env->params[2].value == NULL);
    ASSERT_EQ_STR(env->params[4].value, "QQ314159");
    ASSERT_EQ_INT(env->nattrs, 3);
    ASSERT_EQ_STR(spool_env_attr(env, "client_addr"), "192.0.2.7");
    ASSERT_EQ_STR(spool_env_attr(env, "arrival"), "1700000000");
    ASSERT_EQ_STR(env->attrs[1].key, "xforward_ident");
    ASSERT(env->attrs[1].value == NULL);
    ASSERT(spool_env_attr(env, "nope") == NULL);
    ASSERT_EQ_MEM(env->prepend.p, env->prepend.n, "ARC-Seal: i=1\r\nARC-Message-Signature: i=1\r\n",
                  43);
    ASSERT_EQ_INT(env->size, n);
    unsigned char got[2048];
    size_t len = 0;
    ssize_t k;
    while ((k = spool_read_data(r, got + len, 33, &e)) > 0)
        len += (size_t)k;
    ASSERT_EQ_INT(k, 0);
    ASSERT_EQ_INT(spool_read_data(r, got, sizeof got, &e), 0); /* stays at the end */
    ASSERT_EQ_MEM(got, len, data, n);
    spool_read_close(r);

    OK(spool_remove(sp, id, &e));
    ASSERT_EQ_INT(count_entries(&t, "queue"), 0);
    ASSERT_EQ_INT(spool_remove(sp, id, &e), -ARC_ENOENT);
    spool_close(sp);
    tdir_remove(&t);
}

static void
round_trip_multi_megabyte_in_many_writes(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    const size_t n = 5 * 1024 * 1024 + 77;
    unsigned char *data = malloc(n);
    fill_pattern(data, n, 42);
    static char pre[100000];
    memset(pre, 'h', sizeof pre);
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "", &e));
    OK(spool_put_rcpt(w, "big@example.net", NULL, NULL, &e));
    uint64_t s = 7;
    size_t off = 0, writes = 0;
    while (off < n) {
        size_t k = 1 + rnd_next(&s) % (writes % 3 == 0 ? 100 : 150000);
        if (k > n - off)
            k = n - off;
        OK(spool_write(w, data + off, k, &e));
        off += k;
        writes++;
    }
    OK(spool_put_prepend(w, pre, sizeof pre, &e)); /* over one record: split */
    char id[SPOOL_ID_MAX];
    OK(spool_commit(w, id, &e));
    ASSERT(writes > 100);

    const size_t caps[] = {1 << 20, 4096, 65536, 65537, 7};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        if (caps[i] == 7) { /* tiny reads over a prefix are enough */
            struct spool_reader *r;
            OK(spool_read_open(sp, id, &r, &e));
            unsigned char b[7];
            for (size_t at = 0; at < 200000; at += 7) {
                ssize_t k = spool_read_data(r, b, 7, &e);
                ASSERT_EQ_INT(k, 7);
                ASSERT(memcmp(b, data + at, 7) == 0);
            }
            spool_read_close(r);
            continue;
        }
        size_t len;
        unsigned char *got = read_all(sp, id, caps[i], &len);
        ASSERT_EQ_INT(len, n);
        ASSERT(memcmp(got, data, n) == 0);
        free(got);
    }
    struct spool_reader *r;
    OK(spool_read_open(sp, id, &r, &e));
    ASSERT_EQ_INT(spool_read_env(r)->prepend.n, sizeof pre);
    ASSERT(memcmp(spool_read_env(r)->prepend.p, pre, sizeof pre) == 0);
    ASSERT_EQ_STR(spool_read_env(r)->sender, "");
    spool_read_close(r);
    free(data);
    spool_close(sp);
    tdir_remove(&t);
}

static void
empty_message_round_trips(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    char id[SPOOL_ID_MAX];
    commit_simple(sp, "", 0, id);
    size_t len;
    unsigned char *got = read_all(sp, id, 100, &len);
    ASSERT_EQ_INT(len, 0);
    free(got);
    spool_close(sp);
    tdir_remove(&t);
}

/* ---- abort and recovery ---- */

static void
abort_removes_tmp_file(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@b", &e));
    OK(spool_write(w, "hello\r\n", 7, &e));
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 1);
    ASSERT(spool_abort(w) == NULL);
    ASSERT(spool_abort(NULL) == NULL);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
    ASSERT_EQ_INT(count_entries(&t, "queue"), 0);
    spool_close(sp);
    tdir_remove(&t);
}

static void
recover_removes_tmp_leftovers(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    char keep[SPOOL_ID_MAX];
    commit_simple(sp, "kept\r\n", 6, keep);
    fflush(stderr);
    pid_t pid = fork(); /* a writer that dies mid-message */
    if (pid == 0) {
        struct spool_writer *w;
        struct err e;
        if (spool_create(sp, &w, &e) == 0 && spool_put_sender(w, "x@y", &e) == 0 &&
            spool_put_rcpt(w, "z@y", NULL, NULL, &e) == 0 && spool_write(w, "partial", 7, &e) == 0)
            _exit(0); /* no abort, no commit */
        _exit(1);
    }
    int st;
    ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    spew(path_in(&t, "tmp", "0123ABC.1.2.3"), "junk", 4);
    spew(path_in(&t, "tmp", "not an id"), "", 0);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 3);
    spool_close(sp);
    sp = open_ok(&t);
    struct idset got = {0};
    recover_ok(sp, &got);
    ASSERT_EQ_INT(got.n, 1);
    ASSERT_EQ_STR(got.ids[0], keep);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
    ASSERT_EQ_INT(count_entries(&t, "corrupt"), 0);
    free(got.ids);
    spool_close(sp);
    tdir_remove(&t);
}

/* a small complete file: every record type */
static void
commit_small_full(struct spool *sp, char id[SPOOL_ID_MAX])
{
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@b.example", &e));
    OK(spool_put_rcpt(w, "c@d.example", "FAILURE", "rfc822;c@d.example", &e));
    OK(spool_put_param(w, "BODY", "8BITMIME", &e));
    OK(spool_put_attr(w, "helo", "mx", &e));
    OK(spool_write(w, "Subject: x\r\n\r\nbody\xff\r\n", 21, &e));
    OK(spool_put_prepend(w, "X: y\r\n", 6, &e));
    OK(spool_commit(w, id, &e));
}

static void
truncated_file_at_every_offset_is_incomplete(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    char id[SPOOL_ID_MAX];
    commit_small_full(sp, id);
    size_t len;
    unsigned char *full = slurp(path_in(&t, "queue", id), &len);
    ASSERT(len > 50 && len < 400);
    for (size_t off = 0; off < len; off++) {
        char name[32];
        snprintf(name, sizeof name, "T%04zu", off);
        spew(path_in(&t, "queue", name), full, off);
        if (read_open_rc(sp, name) != -ARC_EINVAL)
            TEST_FAIL("truncated at %zu of %zu: not detected", off, len);
    }
    spool_close(sp);
    sp = open_ok(&t);
    struct idset got = {0};
    recover_ok(sp, &got);
    ASSERT_EQ_INT(got.n, 1); /* only the complete one */
    ASSERT_EQ_STR(got.ids[0], id);
    ASSERT_EQ_INT(count_entries(&t, "queue"), 1);
    ASSERT_EQ_INT(count_entries(&t, "corrupt"), len); /* moved, not deleted */
    size_t n0;
    free(slurp(path_in(&t, "corrupt", "T0000"), &n0));
    ASSERT_EQ_INT(n0, 0);
    free(got.ids);
    free(full);
    spool_close(sp);
    tdir_remove(&t);
}

static void
flipped_byte_is_detected(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    char id[SPOOL_ID_MAX];
    commit_small_full(sp, id);
    size_t len;
    unsigned char *full = slurp(path_in(&t, "queue", id), &len);
    const unsigned char masks[] = {0x01, 0x80, 0xff};
    for (size_t m = 0; m < sizeof masks; m++) {
        for (size_t off = 0; off < len; off++) {
            full[off] ^= masks[m];
            spew(path_in(&t, "queue", "FLIP"), full, len);
            full[off] ^= masks[m];
            if (read_open_rc(sp, "FLIP") != -ARC_EINVAL)
                TEST_FAIL("byte %zu ^ 0x%02x of %zu: not detected", off, masks[m], len);
        }
    }
    /* one extra byte at the end is not a complete file either */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, full, len);
    longer[len] = '\n';
    spew(path_in(&t, "queue", "FLIP"), longer, len + 1);
    ASSERT_EQ_INT(read_open_rc(sp, "FLIP"), -ARC_EINVAL);
    spew(path_in(&t, "queue", "FLIP"), full, len); /* the pristine copy reads */
    ASSERT_EQ_INT(read_open_rc(sp, "FLIP"), 0);
    full[len - 30] ^= 0x10; /* in the data */
    spew(path_in(&t, "queue", "FLIP"), full, len);
    spool_close(sp);
    sp = open_ok(&t);
    struct idset got = {0};
    recover_ok(sp, &got);
    ASSERT_EQ_INT(got.n, 1);
    ASSERT_EQ_STR(got.ids[0], id);
    ASSERT_EQ_INT(count_entries(&t, "corrupt"), 1);
    free(got.ids);
    free(longer);
    free(full);
    spool_close(sp);
    tdir_remove(&t);
}

static void
recover_quarantines_foreign_names(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    char id[SPOOL_ID_MAX];
    commit_simple(sp, "x", 1, id);
    size_t len;
    unsigned char *full = slurp(path_in(&t, "queue", id), &len);
    spew(path_in(&t, "queue", ".hidden"), full, len); /* complete, but not a queue id */
    spew(path_in(&t, "queue", "bad name\n"), "", 0);
    ASSERT_EQ_INT(mkdir(path_in(&t, "queue", "ADIR"), 0700), 0);
    spew(path_in(&t, "corrupt", "ADIR"), "older", 5); /* a name already taken there */
    struct idset got = {0};
    recover_ok(sp, &got);
    ASSERT_EQ_INT(got.n, 1);
    ASSERT_EQ_INT(count_entries(&t, "queue"), 1);
    ASSERT_EQ_INT(count_entries(&t, "corrupt"), 4);
    struct stat st;
    ASSERT(stat(path_in(&t, "corrupt", "ADIR.1"), &st) == 0 && S_ISDIR(st.st_mode));
    free(got.ids);
    free(full);
    spool_close(sp);
    tdir_remove(&t);
}

/* ---- ids, limits, permissions, errors ---- */

static int
cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void
create_ids(struct spool *sp, char (*ids)[SPOOL_ID_MAX], size_t n)
{
    struct err e;
    err_clear(&e);
    for (size_t i = 0; i < n; i++) {
        struct spool_writer *w;
        OK(spool_create(sp, &w, &e));
        snprintf(ids[i], SPOOL_ID_MAX, "%s", spool_writer_id(w));
        ASSERT(spool_id_valid(ids[i]));
        spool_abort(w);
    }
}

static void
ids_are_unique_across_10000_creates(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    enum { N = 10000, NCHILD = 2000 };
    char(*ids)[SPOOL_ID_MAX] = calloc(N + NCHILD, SPOOL_ID_MAX);
    char idfile[128];
    snprintf(idfile, sizeof idfile, "%s/child-ids", t.root);
    fflush(stderr);
    pid_t pid = fork(); /* another process at the same time: pid must tell them apart */
    if (pid == 0) {
        create_ids(sp, ids, NCHILD);
        spew(idfile, ids, (size_t)NCHILD * SPOOL_ID_MAX);
        _exit(0);
    }
    create_ids(sp, ids + NCHILD, N);
    int st;
    ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t len;
    char *child = test_read_file(idfile, &len);
    ASSERT_EQ_INT(len, (size_t)NCHILD * SPOOL_ID_MAX);
    memcpy(ids, child, len);
    free(child);
    qsort(ids, N + NCHILD, SPOOL_ID_MAX, cmp_id);
    for (size_t i = 1; i < N + NCHILD; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            TEST_FAIL("duplicate id %s", ids[i]);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
    free(ids);
    spool_close(sp);
    tdir_remove(&t);
}

static void
permissions_are_0700_and_0600(void)
{
    umask(022);
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    const char *dirs[] = {"", "tmp", "queue", "corrupt"};
    struct stat st;
    for (size_t i = 0; i < 4; i++) {
        ASSERT(stat(path_in(&t, dirs[i], NULL), &st) == 0);
        if ((st.st_mode & 0777) != 0700)
            TEST_FAIL("%s: mode %03o, want 700", dirs[i], (unsigned)(st.st_mode & 0777));
    }
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    ASSERT(stat(path_in(&t, "tmp", spool_writer_id(w)), &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    OK(spool_put_sender(w, "a@b", &e));
    OK(spool_put_rcpt(w, "c@d", NULL, NULL, &e));
    char id[SPOOL_ID_MAX];
    OK(spool_commit(w, id, &e));
    ASSERT(stat(path_in(&t, "queue", id), &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    spool_close(sp);
    tdir_remove(&t);
}

static void
second_open_of_a_spool_in_use_fails(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t), *sp2 = (struct spool *)&sp2;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(spool_open(t.spool, &sp2, &e), -ARC_ETEMP);
    ASSERT(sp2 == NULL);
    spool_close(sp);
    sp = open_ok(&t); /* released by close */
    spool_close(sp);
    ASSERT(spool_close(NULL) == NULL);
    tdir_remove(&t);
}

static void
open_fails_on_unusable_directory(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp;
    struct err e;
    err_clear(&e);
    char p[160];
    snprintf(p, sizeof p, "%s/missing/spool", t.root);
    ASSERT_EQ_INT(spool_open(p, &sp, &e), -ARC_EIO);
    ASSERT(sp == NULL && e.sys == ENOENT);
    spew(t.spool, "file", 4);
    ASSERT_EQ_INT(spool_open(t.spool, &sp, &e), -ARC_EIO);
    tdir_remove(&t);
}

static void
envelope_limits_and_order(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    ASSERT_EQ_INT(spool_commit(w, NULL, &e), -ARC_ESTATE); /* no sender, no rcpt */
    ASSERT_EQ_INT(count_entries(&t, "tmp") + count_entries(&t, "queue"), 0);

    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@b", &e));
    ASSERT_EQ_INT(spool_put_sender(w, "again@b", &e), -ARC_ESTATE);
    ASSERT_EQ_INT(spool_put_sender(w, NULL, &e), -ARC_EINVAL);
    for (int i = 0; i < SPOOL_MAX_RCPTS; i++) {
        char a[64];
        snprintf(a, sizeof a, "user%d@example.net", i);
        OK(spool_put_rcpt(w, a, "SUCCESS", NULL, &e));
    }
    ASSERT_EQ_INT(spool_put_rcpt(w, "one-too-many@x", NULL, NULL, &e), -ARC_ERANGE);
    char *longf = malloc(SPOOL_MAX_FIELD + 2);
    memset(longf, 'k', SPOOL_MAX_FIELD + 1);
    longf[SPOOL_MAX_FIELD + 1] = '\0';
    ASSERT_EQ_INT(spool_put_attr(w, "k", longf, &e), -ARC_ERANGE);
    longf[SPOOL_MAX_FIELD] = '\0';
    OK(spool_put_attr(w, "k", longf, &e)); /* exactly the limit */
    ASSERT_EQ_INT(spool_put_param(w, "", "x", &e), -ARC_EINVAL);
    for (int i = 0; i < SPOOL_MAX_PARAMS; i++)
        OK(spool_put_param(w, "P", NULL, &e));
    ASSERT_EQ_INT(spool_put_param(w, "P", NULL, &e), -ARC_ERANGE);
    OK(spool_write(w, "data\r\n", 6, &e));
    ASSERT_EQ_INT(spool_put_rcpt(w, "late@x", NULL, NULL, &e), -ARC_ESTATE);
    ASSERT_EQ_INT(spool_put_attr(w, "late", "x", &e), -ARC_ESTATE);
    char id[SPOOL_ID_MAX];
    OK(spool_commit(w, id, &e)); /* the refused calls left the writer usable */

    struct spool_reader *r;
    OK(spool_read_open(sp, id, &r, &e));
    ASSERT_EQ_INT(spool_read_env(r)->nrcpts, SPOOL_MAX_RCPTS);
    ASSERT_EQ_STR(spool_read_env(r)->rcpts[999].addr, "user999@example.net");
    ASSERT_EQ_STR(spool_env_attr(spool_read_env(r), "k"), longf);
    spool_read_close(r);

    ASSERT_EQ_INT(read_open_rc(sp, "../queue/x"), -ARC_EINVAL);
    ASSERT_EQ_INT(read_open_rc(sp, ".probe"), -ARC_EINVAL);
    ASSERT_EQ_INT(read_open_rc(sp, ""), -ARC_EINVAL);
    ASSERT_EQ_INT(read_open_rc(sp, "0000000000000.1.1.0"), -ARC_ENOENT);
    ASSERT_EQ_INT(spool_remove(sp, "a/b", &e), -ARC_EINVAL);
    free(longf);
    spool_close(sp);
    tdir_remove(&t);
}

static void
write_error_is_sticky_and_commit_cleans_up(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit stands in for a full disk: EFBIG */
    struct rlimit rl = {200000, 200000};
    ASSERT(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    static unsigned char big[300000];
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@b", &e));
    OK(spool_put_rcpt(w, "c@d", NULL, NULL, &e));
    ASSERT_EQ_INT(spool_write(w, big, sizeof big, &e), -ARC_EIO);
    ASSERT_EQ_INT(e.sys, EFBIG);
    ASSERT_EQ_INT(spool_write(w, "x", 1, &e), -ARC_ESTATE);
    ASSERT_EQ_INT(spool_put_prepend(w, "x", 1, &e), -ARC_ESTATE);
    ASSERT_EQ_INT(spool_commit(w, NULL, &e), -ARC_ESTATE);
    ASSERT_EQ_INT(count_entries(&t, "tmp") + count_entries(&t, "queue"), 0);

    /* the same limit hit by the END record inside commit */
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@b", &e));
    OK(spool_put_rcpt(w, "c@d", NULL, NULL, &e));
    OK(spool_write(w, big, 199990, &e)); /* buffered: the last record is still in memory */
    ASSERT_EQ_INT(spool_commit(w, NULL, &e), -ARC_EIO);
    ASSERT_EQ_INT(count_entries(&t, "tmp") + count_entries(&t, "queue"), 0);
    spool_close(sp);
    tdir_remove(&t);
}

/* ---- hand-made files: the documented format, and hostile length fields ---- */

static uint32_t
crc32_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

struct mk {
    unsigned char b[1 << 16];
    size_t n;
};

static void
mk_rec(struct mk *m, int type, uint32_t len, const void *p, size_t n)
{
    ASSERT(m->n + 5 + n <= sizeof m->b);
    m->b[m->n++] = (unsigned char)type;
    for (int i = 3; i >= 0; i--)
        m->b[m->n++] = (unsigned char)(len >> (8 * i));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void
mk_fields(struct mk *m, int type, const char *a, const char *b, const char *c, int nf)
{
    unsigned char d[1024];
    size_t n = 0;
    const char *f[3] = {a, b, c};
    for (int i = 0; i < nf; i++) {
        size_t l = f[i] ? strlen(f[i]) : 0xffff;
        d[n++] = (unsigned char)(l >> 8);
        d[n++] = (unsigned char)l;
        if (f[i]) {
            memcpy(d + n, f[i], l);
            n += l;
        }
    }
    mk_rec(m, type, (uint32_t)n, d, n);
}

static void
mk_end(struct mk *m, uint64_t size)
{
    unsigned char t[12];
    for (int i = 0; i < 8; i++)
        t[i] = (unsigned char)(size >> (56 - 8 * i));
    mk_rec(m, 'E', 12, t, 8);
    uint32_t c = crc32_bitwise(m->b, m->n);
    for (int i = 0; i < 4; i++)
        m->b[m->n++] = (unsigned char)(c >> (24 - 8 * i));
}

static void
mk_start(struct mk *m)
{
    m->n = 0;
    mk_rec(m, 'M', 16, "arcproxy spool 1", 16);
}

static void
hand_made_file_in_documented_format_reads(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    static struct mk m;
    mk_start(&m);
    mk_fields(&m, 'A', "helo", "mx.example", NULL, 2);
    mk_fields(&m, 'S', "s@example.org", NULL, NULL, 1);
    mk_fields(&m, 'R', "r@example.net", NULL, "rfc822;r@example.net", 3);
    mk_fields(&m, 'P', "SMTPUTF8", NULL, NULL, 2);
    mk_rec(&m, 'H', 6, "X: 1\r\n", 6);
    mk_rec(&m, 'D', 5, "hello", 5);
    mk_rec(&m, 'D', 0, "", 0);
    mk_rec(&m, 'D', 7, " world!", 7);
    mk_end(&m, 12);
    spew(path_in(&t, "queue", "HANDMADE"), m.b, m.n);
    struct spool_reader *r;
    struct err e;
    err_clear(&e);
    OK(spool_read_open(sp, "HANDMADE", &r, &e));
    const struct spool_env *env = spool_read_env(r);
    ASSERT_EQ_STR(env->sender, "s@example.org");
    ASSERT_EQ_STR(env->rcpts[0].orcpt, "rfc822;r@example.net");
    ASSERT(env->params[0].value == NULL);
    ASSERT_EQ_MEM(env->prepend.p, env->prepend.n, "X: 1\r\n", 6);
    char b[64];
    size_t len = 0;
    ssize_t k;
    while ((k = spool_read_data(r, b + len, sizeof b - len, &e)) > 0)
        len += (size_t)k;
    ASSERT_EQ_MEM(b, len, "hello world!", 12);
    spool_read_close(r);
    spool_close(sp);
    tdir_remove(&t);
}

static void
huge_length_field_does_not_allocate(void)
{
#ifndef TEST_ASAN
    struct rlimit rl = {1u << 30, 1u << 30}; /* ASan: max_allocation_size_mb instead */
    ASSERT(setrlimit(RLIMIT_AS, &rl) == 0);
#endif
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    static struct mk m;
    const int types[] = {'M', 'S', 'R', 'P', 'A', 'D', 'H', 'E', 'Z'};
    const uint32_t lens[] = {0xffffffffu, 0x80000000u, 0x7fffffffu, 0x10001u, 70000u};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            mk_start(&m);
            if (types[i] == 'M')
                m.n = 0;
            mk_rec(&m, types[i], lens[j], "xxxxxxxx", 8);
            memset(m.b + m.n, 'x', 20000); /* some bytes that would be read as data */
            m.n += 20000;
            spew(path_in(&t, "queue", "HUGE"), m.b, m.n);
            if (read_open_rc(sp, "HUGE") != -ARC_EINVAL)
                TEST_FAIL("type %c length %u: accepted", types[i], lens[j]);
        }
    }
    /* a field length inside a record over its limit, and one past the record */
    mk_start(&m);
    mk_rec(&m, 'S', 6,
           "\xff\xfe"
           "abcd",
           6);
    mk_fields(&m, 'R', "r@x", NULL, NULL, 3);
    mk_end(&m, 0);
    spew(path_in(&t, "queue", "HUGE"), m.b, m.n);
    ASSERT_EQ_INT(read_open_rc(sp, "HUGE"), -ARC_EINVAL);
    /* well-formed and checksummed, but over the recipient limit */
    mk_start(&m);
    mk_fields(&m, 'S', "", NULL, NULL, 1);
    for (int i = 0; i <= SPOOL_MAX_RCPTS; i++)
        mk_fields(&m, 'R', "r@example.net", NULL, NULL, 3);
    mk_end(&m, 0);
    spew(path_in(&t, "queue", "HUGE"), m.b, m.n);
    ASSERT_EQ_INT(read_open_rc(sp, "HUGE"), -ARC_EINVAL);
    /* the same with exactly the limit reads: the check is the limit, not the format */
    mk_start(&m);
    mk_fields(&m, 'S', "", NULL, NULL, 1);
    for (int i = 0; i < SPOOL_MAX_RCPTS; i++)
        mk_fields(&m, 'R', "r@example.net", NULL, NULL, 3);
    mk_end(&m, 0);
    spew(path_in(&t, "queue", "HUGE"), m.b, m.n);
    ASSERT_EQ_INT(read_open_rc(sp, "HUGE"), 0);
    spool_close(sp);
    tdir_remove(&t);
}

/* ---- crash safety ---- */

#define CRASH_ROUNDS 20

/* crash_child - commit messages forever, reporting each id after spool_commit returned. */
static void
crash_child(const char *dir, int wfd, unsigned round)
{
    struct spool *sp;
    struct err e;
    if (spool_open(dir, &sp, &e) != 0)
        _exit(2);
    static unsigned char data[300000];
    for (unsigned seq = 0;; seq++) {
        uint64_t seed = (uint64_t)round << 32 | seq;
        size_t n = (size_t)(seed * 2654435761u % sizeof data);
        fill_pattern(data, n, seed);
        char s[32], id[SPOOL_ID_MAX + 1];
        snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
        struct spool_writer *w;
        if (spool_create(sp, &w, &e) != 0 || spool_put_sender(w, "crash@example.org", &e) != 0 ||
            spool_put_rcpt(w, "sink@example.net", NULL, NULL, &e) != 0 ||
            spool_put_attr(w, "seed", s, &e) != 0)
            _exit(3);
        for (size_t off = 0; off < n; off += 8192)
            if (spool_write(w, data + off, n - off < 8192 ? n - off : 8192, &e) != 0)
                _exit(4);
        if (spool_commit(w, id, &e) != 0)
            _exit(5);
        size_t l = strlen(id);
        id[l++] = '\n';
        if (write(wfd, id, l) != (ssize_t)l) /* < PIPE_BUF: atomic */
            _exit(6);
    }
}

static void
check_message(struct spool *sp, const char *id)
{
    struct spool_reader *r;
    struct err e;
    err_clear(&e);
    OK(spool_read_open(sp, id, &r, &e));
    const char *s = spool_env_attr(spool_read_env(r), "seed");
    ASSERT(s != NULL);
    uint64_t seed = strtoull(s, NULL, 10);
    size_t n = (size_t)(seed * 2654435761u % 300000);
    ASSERT_EQ_INT(spool_read_env(r)->size, n);
    unsigned char *want = malloc(n + 1), *got = malloc(n + 1);
    fill_pattern(want, n, seed);
    size_t len = 0;
    ssize_t k;
    while ((k = spool_read_data(r, got + len, n + 1 - len, &e)) > 0)
        len += (size_t)k;
    ASSERT_EQ_INT(k, 0);
    ASSERT(len == n && memcmp(got, want, n) == 0);
    free(want);
    free(got);
    spool_read_close(r);
}

/* read_reported - the ids the child wrote to the pipe before it died. */
static void
read_reported(int rfd, struct idset *out)
{
    static char b[1 << 20];
    size_t n = 0;
    ssize_t k;
    while ((k = read(rfd, b + n, sizeof b - 1 - n)) > 0)
        n += (size_t)k;
    b[n] = '\0';
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n"))
        idset_add(out, line);
}

static void
crash_kill9_loses_no_committed_message(void)
{
    struct tdir t;
    tdir_make(&t);
    struct idset reported = {0};
    uint64_t rs = (uint64_t)time(NULL) | 1;
    size_t unreported = 0, torn = 0;
    for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
        int pfd[2];
        ASSERT(pipe(pfd) == 0);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            crash_child(t.spool, pfd[1], round);
        }
        close(pfd[1]);
        /* once the child has committed one message (however slow the disk), kill it
         * anywhere within the next 0-40 ms: in a write, an fsync, a rename, a report */
        struct pollfd pf = {pfd[0], POLLIN, 0};
        if (poll(&pf, 1, 30000) != 1)
            TEST_FAIL("round %u: no commit within 30 s", round);
        usleep((useconds_t)(rnd_next(&rs) % 40000));
        ASSERT(kill(pid, SIGKILL) == 0);
        int st;
        ASSERT(waitpid(pid, &st, 0) == pid);
        if (!WIFSIGNALED(st))
            TEST_FAIL("round %u: child exited %d before the kill", round, WEXITSTATUS(st));
        read_reported(pfd[0], &reported);
        close(pfd[0]);

        if (count_entries(&t, "tmp") > 0)
            torn++; /* killed inside a message */
        struct spool *sp = open_ok(&t);
        struct idset got = {0};
        recover_ok(sp, &got);
        ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
        ASSERT_EQ_INT(count_entries(&t, "corrupt"), 0);
        for (size_t i = 0; i < reported.n; i++)
            if (!idset_has(&got, reported.ids[i]))
                TEST_FAIL("round %u: committed %s was lost", round, reported.ids[i]);
        for (size_t i = 0; i < got.n; i++)
            check_message(sp, got.ids[i]);
        /* committed but killed before reporting: at most one per round (a duplicate in
         * real life, never a loss) */
        unreported = got.n - reported.n;
        ASSERT(unreported <= round + 1);
        free(got.ids);
        spool_close(sp);
    }
    printf("crash test: %u rounds (%zu killed inside a message), %zu messages committed and "
           "reported, %zu committed unreported, lost 0\n",
           CRASH_ROUNDS, torn, reported.n, unreported);
    ASSERT(reported.n >= CRASH_ROUNDS);
    free(reported.ids);
    tdir_remove(&t);
}

/* data_skip_leaves_out_the_rewritten_header - a K record (queue mode: the header section
 * was rewritten into the prepend) and spool_read_skip (proxy mode) make the reader start
 * past the old header, across data records; env.size shrinks accordingly. */
static void
data_skip_leaves_out_the_rewritten_header(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    const size_t n = 200000;
    unsigned char *data = malloc(n);
    fill_pattern(data, n, 9);
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@example.org", &e));
    OK(spool_put_rcpt(w, "b@example.net", NULL, NULL, &e));
    OK(spool_write(w, data, n, &e));
    ASSERT_EQ_INT(spool_put_data_skip(w, n + 1, &e), -ARC_ERANGE);
    OK(spool_put_data_skip(w, 70000, &e)); /* past the first data record */
    ASSERT_EQ_INT(spool_put_data_skip(w, 1, &e), -ARC_ESTATE);
    OK(spool_put_prepend(w, "X: new\r\n", 8, &e));
    char id[SPOOL_ID_MAX];
    OK(spool_commit(w, id, &e));
    size_t len;
    unsigned char *got = read_all(sp, id, 4096, &len);
    ASSERT_EQ_INT(len, n - 70000);
    ASSERT(memcmp(got, data + 70000, len) == 0);
    free(got);
    struct spool_reader *r;
    OK(spool_read_open(sp, id, &r, &e));
    ASSERT_EQ_INT(spool_read_env(r)->size, n - 70000);
    ASSERT_EQ_INT(spool_read_env(r)->data_skip, 70000);
    ASSERT_EQ_MEM(spool_read_env(r)->prepend.p, spool_read_env(r)->prepend.n, "X: new\r\n", 8);
    ASSERT_EQ_INT(spool_read_skip(r, n, &e), -ARC_ERANGE);
    OK(spool_read_skip(r, 30000, &e)); /* more, on the reader side */
    ASSERT_EQ_INT(spool_read_env(r)->size, n - 100000);
    unsigned char b[10];
    ASSERT_EQ_INT(spool_read_data(r, b, sizeof b, &e), 10);
    ASSERT(memcmp(b, data + 100000, 10) == 0);
    ASSERT_EQ_INT(spool_read_skip(r, 1, &e), -ARC_ESTATE);
    spool_read_close(r);
    free(data);
    spool_close(sp);
    tdir_remove(&t);
}

static void
count_cb(void *ctx, const char *id)
{
    (void)id;
    ++*(size_t *)ctx;
}

/* count_free - tmp/free.N files (removed messages kept for reuse). */
static size_t
count_free(const struct tdir *t)
{
    DIR *d = opendir(path_in(t, "tmp", NULL));
    if (!d)
        TEST_FAIL("opendir tmp: %s", strerror(errno));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "free.", 5) == 0)
            n++;
    closedir(d);
    return n;
}

static ino_t
inode_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        TEST_FAIL("stat %s: %s", path, strerror(errno));
    return st.st_ino;
}

/* A removed small file is reused by the next spool_create: same inode, truncated, so a
 * short message written into a long one's file reads back exactly (no old tail). */
static void
removed_file_is_reused_truncated(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    struct err e;
    err_clear(&e);
    unsigned char big[100000], small[10];
    fill_pattern(big, sizeof big, 1);
    fill_pattern(small, sizeof small, 2);
    char id1[SPOOL_ID_MAX], id2[SPOOL_ID_MAX];
    commit_simple(sp, big, sizeof big, id1);
    ino_t ino = inode_of(path_in(&t, "queue", id1));
    OK(spool_remove(sp, id1, &e));
    ASSERT_EQ_INT(count_entries(&t, "queue"), 0);
    ASSERT_EQ_INT(count_free(&t), 1);
    commit_simple(sp, small, sizeof small, id2);
    ASSERT_EQ_INT(count_free(&t), 0);
    ASSERT(strcmp(id1, id2) != 0);
    ASSERT_EQ_INT(inode_of(path_in(&t, "queue", id2)), ino);
    struct spool_stats st;
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.recycled, 1);
    size_t len;
    unsigned char *got = read_all(sp, id2, 4096, &len);
    ASSERT_EQ_MEM(got, len, small, sizeof small);
    free(got);
    spool_close(sp);
    tdir_remove(&t);
}

/* Only files up to 256 KiB are kept, at most 1024 of them and 32 MiB in all; a clean
 * close removes them; after a crash, recovery removes them quietly and nothing is queued
 * again. */
static void
recycling_bounds_and_recovery(void)
{
    struct tdir t;
    tdir_make(&t);
    struct spool *sp = open_ok(&t);
    struct err e;
    err_clear(&e);
    static unsigned char large[300 * 1024], mid[200 * 1024];
    char id[SPOOL_ID_MAX];
    commit_simple(sp, large, sizeof large, id);
    OK(spool_remove(sp, id, &e));
    ASSERT_EQ_INT(count_free(&t), 0); /* too large: unlinked */
    for (int i = 0; i < 70; i++) {
        char ids[SPOOL_ID_MAX];
        commit_simple(sp, "x", 1, ids);
        ASSERT_EQ_INT(count_entries(&t, "queue"), 1);
        OK(spool_remove_flags(sp, ids, SPOOL_NOSYNC, &e));
    }
    ASSERT_EQ_INT(count_free(&t), 1); /* each create took the one just freed */
    static char many[1100][SPOOL_ID_MAX];
    for (int i = 0; i < 1100; i++)
        commit_simple(sp, "y", 1, many[i]);
    for (int i = 0; i < 1100; i++)
        OK(spool_remove_flags(sp, many[i], SPOOL_NOSYNC, &e));
    ASSERT_EQ_INT(count_free(&t), 1024);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 1024);
    spool_close(sp);
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);

    sp = open_ok(&t); /* 200 KiB files: 32 MiB is 163 of them */
    for (int i = 0; i < 170; i++)
        commit_simple(sp, mid, sizeof mid, many[i]);
    for (int i = 0; i < 170; i++)
        OK(spool_remove_flags(sp, many[i], SPOOL_NOSYNC, &e));
    ASSERT_EQ_INT(count_free(&t), 163);
    spool_close(sp);

    /* a crash leaves free files behind: recovery drops them, queues nothing */
    sp = open_ok(&t);
    commit_simple(sp, "z", 1, id);
    OK(spool_remove(sp, id, &e));
    ASSERT_EQ_INT(count_free(&t), 1);
    /* a crash: the free file stays (spool_close would remove it), so keep its bytes and
     * put them back after the close */
    size_t n;
    DIR *d = opendir(path_in(&t, "tmp", NULL));
    struct dirent *de;
    char fname[256] = "";
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "free.", 5) == 0)
            snprintf(fname, sizeof fname, "%s", de->d_name);
    closedir(d);
    ASSERT(fname[0]);
    unsigned char *bytes = slurp(path_in(&t, "tmp", fname), &n);
    spool_close(sp);
    spew(path_in(&t, "tmp", fname), bytes, n); /* as a crash would have left it */
    free(bytes);
    sp = open_ok(&t);
    size_t found = 0;
    OK(spool_recover(sp, count_cb, &found, &e));
    ASSERT_EQ_INT(found, 0); /* its old message is not queued again */
    ASSERT_EQ_INT(count_entries(&t, "tmp"), 0);
    spool_close(sp);
    tdir_remove(&t);
}

static const struct test_case cases[] = {
    {"removed_file_is_reused_truncated", removed_file_is_reused_truncated},
    {"recycling_bounds_and_recovery", recycling_bounds_and_recovery},
    {"round_trip_envelope_and_8bit_data", round_trip_envelope_and_8bit_data},
    {"round_trip_multi_megabyte_in_many_writes", round_trip_multi_megabyte_in_many_writes},
    {"empty_message_round_trips", empty_message_round_trips},
    {"data_skip_leaves_out_the_rewritten_header", data_skip_leaves_out_the_rewritten_header},
    {"abort_removes_tmp_file", abort_removes_tmp_file},
    {"recover_removes_tmp_leftovers", recover_removes_tmp_leftovers},
    {"truncated_file_at_every_offset_is_incomplete", truncated_file_at_every_offset_is_incomplete},
    {"flipped_byte_is_detected", flipped_byte_is_detected},
    {"recover_quarantines_foreign_names", recover_quarantines_foreign_names},
    {"ids_are_unique_across_10000_creates", ids_are_unique_across_10000_creates},
    {"permissions_are_0700_and_0600", permissions_are_0700_and_0600},
    {"second_open_of_a_spool_in_use_fails", second_open_of_a_spool_in_use_fails},
    {"open_fails_on_unusable_directory", open_fails_on_unusable_directory},
    {"envelope_limits_and_order", envelope_limits_and_order},
    {"write_error_is_sticky_and_commit_cleans_up", write_error_is_sticky_and_commit_cleans_up},
    {"hand_made_file_in_documented_format_reads", hand_made_file_in_documented_format_reads},
    {"huge_length_field_does_not_allocate", huge_length_field_does_not_allocate},
    {"crash_kill9_loses_no_committed_message", crash_kill9_loses_no_committed_message},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
