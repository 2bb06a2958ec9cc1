/* SPDX-License-Identifier: MIT */
/*
 * test_spool_commit - the two ways to publish a spool file: SPOOL_NOSYNC (proxy mode: no
 * fsync at all, still complete and readable) and the durable commit whose directory fsync
 * is a group commit (src/queue/gsync.c): the leader/waiter logic driven step by step with
 * a blocking fake fsync, a failing fsync, and many threads committing real files at once.
 * Correctness only (who fsyncs, who is covered, nothing lost); timing is bench/'s.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/gsync.h"
#include "queue/spool.h"
#include "test.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            TEST_FAIL("%s: %d %s", #call, rc_, e.text);                                            \
    } while (0)

static char root[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void
cleanup(void)
{
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct spool *
open_tmp(void)
{
    snprintf(root, sizeof root, "/tmp/arcgsync-XXXXXX");
    if (!mkdtemp(root))
        TEST_FAIL("mkdtemp: %s", strerror(errno));
    atexit(cleanup);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/spool", root);
    struct spool *sp;
    struct err e;
    err_clear(&e);
    OK(spool_open(dir, &sp, &e));
    return sp;
}

static void
make_msg(struct spool *sp, const char *body, unsigned flags, char id[SPOOL_ID_MAX])
{
    struct spool_writer *w;
    struct err e;
    err_clear(&e);
    OK(spool_create(sp, &w, &e));
    OK(spool_put_sender(w, "a@example.org", &e));
    OK(spool_put_rcpt(w, "b@example.net", NULL, NULL, &e));
    OK(spool_write(w, body, strlen(body), &e));
    OK(spool_commit_flags(w, id, flags, &e));
}

static void
read_back(struct spool *sp, const char *id, const char *want)
{
    struct spool_reader *r;
    struct err e;
    char buf[256];
    err_clear(&e);
    OK(spool_read_open(sp, id, &r, &e));
    ssize_t n = spool_read_data(r, buf, sizeof buf, &e);
    ASSERT_EQ_MEM(buf, (size_t)(n < 0 ? 0 : n), want, strlen(want));
    spool_read_close(r);
}

/* ---- SPOOL_NOSYNC ---- */

static void
nosync_commit_publishes_without_fsync(void)
{
    struct spool *sp = open_tmp();
    char id[SPOOL_ID_MAX];
    struct spool_stats st;
    make_msg(sp, "hello\r\n", SPOOL_NOSYNC, id);
    read_back(sp, id, "hello\r\n");
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.commits_nosync, 1);
    ASSERT_EQ_INT(st.commits, 0);
    ASSERT_EQ_INT(st.file_fsyncs, 0);
    ASSERT_EQ_INT(st.dir_fsyncs, 0);
    struct err e;
    err_clear(&e);
    OK(spool_remove_flags(sp, id, SPOOL_NOSYNC, &e));
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.dir_fsyncs, 0);
    ASSERT_EQ_INT(spool_remove_flags(sp, id, SPOOL_NOSYNC, &e), -ARC_ENOENT);
    spool_close(sp);
}

static void
durable_commit_fsyncs_file_and_dir(void)
{
    struct spool *sp = open_tmp();
    char id[SPOOL_ID_MAX];
    struct spool_stats st;
    make_msg(sp, "durable\r\n", 0, id);
    read_back(sp, id, "durable\r\n");
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.commits, 1);
    ASSERT_EQ_INT(st.commits_nosync, 0);
    ASSERT_EQ_INT(st.file_fsyncs, 1);
    ASSERT_EQ_INT(st.dir_fsyncs, 1);
    struct err e;
    err_clear(&e);
    OK(spool_remove(sp, id, &e));
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.dir_fsyncs, 2);
    spool_close(sp);
}

static void
nosync_file_survives_recovery_as_complete(void)
{
    struct spool *sp = open_tmp();
    char id[SPOOL_ID_MAX];
    make_msg(sp, "x\r\n", SPOOL_NOSYNC, id);
    spool_close(sp);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/spool", root);
    struct err e;
    err_clear(&e);
    OK(spool_open(dir, &sp, &e));
    read_back(sp, id, "x\r\n");
    spool_close(sp);
}

/* ---- gsync, step by step ---- */

struct fake {
    struct gsync g;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_open;   /* the fake fsync blocks until this is set */
    int in_fsync;    /* threads inside the fake fsync now */
    int max_in;      /* most at once: must stay 1 */
    int calls;       /* fake fsyncs run */
    int fail_next;   /* the next call fails */
    atomic_int done; /* waiters returned */
    atomic_int failed;
};

static int
fake_fsync(void *arg, struct err *e)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    if (++f->in_fsync > f->max_in)
        f->max_in = f->in_fsync;
    pthread_cond_broadcast(&f->cv);
    while (!f->gate_open)
        pthread_cond_wait(&f->cv, &f->mu);
    int fail = f->fail_next;
    f->fail_next = 0;
    f->in_fsync--;
    pthread_mutex_unlock(&f->mu);
    return fail ? err_set(e, ARC_EIO, "fake fsync failed") : 0;
}

struct waiter {
    struct fake *f;
    uint64_t ticket;
    int rc;
};

static void *
waiter_main(void *arg)
{
    struct waiter *w = arg;
    struct err e;
    err_clear(&e);
    w->rc = gsync_wait(&w->f->g, w->ticket, fake_fsync, w->f, &e);
    atomic_fetch_add(&w->f->done, 1);
    if (w->rc < 0)
        atomic_fetch_add(&w->f->failed, 1);
    return NULL;
}

static void
fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    gsync_init(&f->g);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

/* wait_calls - until the fake fsync has been entered n times (bounded: 10 s). */
static void
wait_calls(struct fake *f, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&f->mu);
    while (f->calls < n)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
            TEST_FAIL("fake fsync not entered %d times (%d)", n, f->calls);
    pthread_mutex_unlock(&f->mu);
}

static void
open_gate(struct fake *f, int open)
{
    pthread_mutex_lock(&f->mu);
    f->gate_open = open;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

#define NW 8

/* The first committer leads alone; the 7 that take their tickets while its fsync runs
 * are not covered by it (it may have started before their renames) and share exactly
 * one more fsync. */
static void
group_commit_covers_later_tickets_with_one_fsync(void)
{
    static struct fake f;
    fake_init(&f);
    struct waiter w[NW];
    pthread_t th[NW];
    w[0] = (struct waiter){&f, gsync_ticket(&f.g), 0};
    pthread_create(&th[0], NULL, waiter_main, &w[0]);
    wait_calls(&f, 1); /* leader 0 is inside its fsync, which saw only ticket 1 */
    for (int i = 1; i < NW; i++) {
        w[i] = (struct waiter){&f, gsync_ticket(&f.g), 0};
        pthread_create(&th[i], NULL, waiter_main, &w[i]);
    }
    usleep(50 * 1000); /* let them reach the wait (correct either way) */
    open_gate(&f, 1);
    for (int i = 0; i < NW; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ_INT(atomic_load(&f.done), NW);
    ASSERT_EQ_INT(atomic_load(&f.failed), 0);
    ASSERT_EQ_INT(f.calls, 2);
    ASSERT_EQ_INT(f.max_in, 1);
    struct gsync_stats st;
    gsync_stats(&f.g, &st);
    ASSERT_EQ_INT(st.fsyncs, 2);
    ASSERT_EQ_INT(st.covered, NW - 2);
    /* a ticket already covered returns at once, without a call */
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(gsync_wait(&f.g, w[3].ticket, fake_fsync, &f, &e), 0);
    ASSERT_EQ_INT(f.calls, 2);
}

/* A failed fsync fails its leader only; waiters are not released as durable by it: one
 * of them runs a new fsync. */
static void
failed_fsync_covers_nobody(void)
{
    static struct fake f;
    fake_init(&f);
    f.fail_next = 1;
    struct waiter w[3];
    pthread_t th[3];
    w[0] = (struct waiter){&f, gsync_ticket(&f.g), 0};
    pthread_create(&th[0], NULL, waiter_main, &w[0]);
    wait_calls(&f, 1);
    for (int i = 1; i < 3; i++) {
        w[i] = (struct waiter){&f, gsync_ticket(&f.g), 0};
        pthread_create(&th[i], NULL, waiter_main, &w[i]);
    }
    usleep(50 * 1000);
    open_gate(&f, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    ASSERT(w[0].rc < 0);
    ASSERT_EQ_INT(w[1].rc, 0);
    ASSERT_EQ_INT(w[2].rc, 0);
    ASSERT_EQ_INT(f.calls, 2);
    ASSERT(f.g.synced >= w[2].ticket);
}

/* ---- many threads committing real files ---- */

#define NT   8
#define PERT 40

struct committer {
    struct spool *sp;
    int idx;
    char ids[PERT][SPOOL_ID_MAX];
};

static void *
committer_main(void *arg)
{
    struct committer *c = arg;
    for (int i = 0; i < PERT; i++) {
        char body[64];
        snprintf(body, sizeof body, "thread %d message %d\r\n", c->idx, i);
        make_msg(c->sp, body, 0, c->ids[i]);
    }
    return NULL;
}

static void
concurrent_commits_all_readable_and_counted(void)
{
    struct spool *sp = open_tmp();
    static struct committer c[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        c[t].sp = sp;
        c[t].idx = t;
        pthread_create(&th[t], NULL, committer_main, &c[t]);
    }
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NT; t++)
        for (int i = 0; i < PERT; i++) {
            char body[64];
            snprintf(body, sizeof body, "thread %d message %d\r\n", t, i);
            read_back(sp, c[t].ids[i], body);
        }
    struct spool_stats st;
    spool_stats(sp, &st);
    ASSERT_EQ_INT(st.commits, NT * PERT);
    ASSERT_EQ_INT(st.file_fsyncs, NT * PERT);
    /* every commit either ran a directory fsync or was covered by one */
    ASSERT(st.dir_fsyncs + st.dir_fsyncs_shared >= NT * PERT);
    ASSERT(st.dir_fsyncs <= NT * PERT);
    printf("%d durable commits on %d threads: %llu directory fsyncs, %llu shared\n", NT * PERT, NT,
           (unsigned long long)st.dir_fsyncs, (unsigned long long)st.dir_fsyncs_shared);
    spool_close(sp);
}

static const struct test_case cases[] = {
    {"nosync_commit_publishes_without_fsync", nosync_commit_publishes_without_fsync},
    {"durable_commit_fsyncs_file_and_dir", durable_commit_fsyncs_file_and_dir},
    {"nosync_file_survives_recovery_as_complete", nosync_file_survives_recovery_as_complete},
    {"group_commit_covers_later_tickets_with_one_fsync",
     group_commit_covers_later_tickets_with_one_fsync},
    {"failed_fsync_covers_nobody", failed_fsync_covers_nobody},
    {"concurrent_commits_all_readable_and_counted", concurrent_commits_all_readable_and_counted},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
