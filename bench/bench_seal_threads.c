/* SPDX-License-Identifier: MIT */
/*
 * bench_seal_threads - does sealing spread over cores? Many seals of one message, made
 * by 1 thread and then by 2 (or more) threads at once, wall clock, in one process.
 *
 *   bench_seal_threads [-n SEALS] [-j MAX_THREADS] [-r ROUNDS] [-z 1|5|100|1M] [-c]
 *
 * Each run makes SEALS seals in all (default 2000), split evenly over T threads
 * (T = 1 .. MAX_THREADS, default 2). Each thread has its own arc_msg per seal (new,
 * feed in 64 KiB pieces, finish, verify, seal, free), as the proxy's worker threads do;
 * the signing key (arc_privkey, RSA-2048 from arc_keygen) is loaded once and shared by
 * all threads, as in the daemon. -c seals the message that already carries one ARC set
 * (its i=1 is verified first: two RSA verifications more per seal).
 *
 * The runs are interleaved (1, 2, 1, 2 ... threads) for ROUNDS rounds (default 3) and
 * each keeps its best round, so that a burst of other work on a shared machine hurts
 * both sides alike. Prints seals/s per thread count and the ratio to 1 thread; the
 * target (issue 3) is >= 1.8 with 2 threads on 2 cores. Also the process CPU time per
 * seal, so that lock contention (CPU burnt without progress) is visible.
 *
 * Not a test: it exits 1 if a seal fails, but asserts no speed. See docs/performance.md.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arc/arc.h"
#include "arc/key.h"
#include "util/buf.h"

#define NOW         1700000000
#define PIECE       65536
#define MAX_THREADS 64

static const char header[] = "From: Alice Example <alice@example.org>\r\n"
                             "To: Bob Example <bob@example.net>\r\n"
                             "Subject: Quarterly figures\r\n"
                             "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                             "Message-ID: <bench.1700000000@example.org>\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "\r\n";

struct shared {
    struct arc_privkey *key;
    char *record;
    struct arc_signer signer;
    struct buf msg; /* the message every seal works on */
};

struct worker {
    pthread_t tid;
    const struct shared *sh;
    long count;
    int failed;
};

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_seal_threads: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* text_body - n bytes of mail-like text, as bench_arc makes them. */
static void
text_body(struct buf *b, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    size_t col = 0, lines = 0, start = b->len;
    while (b->len - start + 16 < n) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (col > 62 + s % 12) {
            lines++;
            buf_puts(b, lines % 8 == 0 ? "\r\n\r\n" : "\r\n");
            col = 0;
            continue;
        }
        size_t w = 1 + s % 9;
        if (col)
            buf_putc(b, ' ');
        for (size_t k = 0; k < w; k++)
            buf_putc(b, 'a' + (int)((s >> (8 + 5 * k)) % 26));
        col += w + 1;
    }
    while (b->len - start + 2 < n)
        buf_putc(b, 'z');
    buf_append(b, "\r\n", 2);
}

/* seal_one - the whole sealing path for one message; 0 or -1. */
static int
seal_one(const struct shared *sh, const struct buf *msg, struct buf *out)
{
    struct arc_opts o;
    struct arc_verdict v;
    struct err e;
    struct arc_keyreq req[ARC_MAX_KEYREQS];
    int rc = -1;

    arc_opts_default(&o);
    o.want_seal = 1;
    struct arc_msg *m = arc_msg_new(&o);
    for (size_t i = 0; i < msg->len; i += PIECE) {
        size_t k = msg->len - i < PIECE ? msg->len - i : PIECE;
        if (arc_msg_feed(m, msg->data + i, k, &e) < 0)
            goto out;
    }
    if (arc_msg_finish(m, &e) < 0)
        goto out;
    size_t n = arc_msg_keyreqs(m, req, ARC_MAX_KEYREQS);
    for (size_t i = 0; i < n; i++)
        arc_msg_key_supply(m, req[i].selector, req[i].domain, ARC_KEY_FOUND, sh->record,
                           strlen(sh->record));
    if (arc_msg_verify(m, NOW, &v, &e) < 0)
        goto out;
    if (v.result != ARC_RESULT_NONE && v.result != ARC_RESULT_PASS)
        goto out;
    if (arc_msg_seal(m, &sh->signer, &v, out, &e) != ARC_SEALED)
        goto out;
    rc = 0;
out:
    arc_msg_free(m);
    return rc;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct buf out;
    buf_init(&out, 0);
    for (long i = 0; i < w->count; i++) {
        buf_reset(&out);
        if (seal_one(w->sh, &w->sh->msg, &out) < 0) {
            w->failed = 1;
            break;
        }
    }
    buf_free(&out);
    return NULL;
}

static double
clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* run - total seals over t threads; returns wall seconds, *cpu the process CPU seconds. */
static double
run(const struct shared *sh, int t, long total, double *cpu)
{
    struct worker w[MAX_THREADS];
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_s(CLOCK_MONOTONIC);
    for (int i = 0; i < t; i++) {
        w[i].sh = sh;
        w[i].count = total / t + (i < total % t);
        w[i].failed = 0;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            die("pthread_create", NULL);
    }
    for (int i = 0; i < t; i++) {
        pthread_join(w[i].tid, NULL);
        if (w[i].failed)
            die("seal failed", NULL);
    }
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return clock_s(CLOCK_MONOTONIC) - t0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: bench_seal_threads [-n SEALS] [-j MAX_THREADS] [-r ROUNDS] "
                    "[-z 1|5|100|1M] [-c]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    static const char *const size_args[] = {"1", "5", "100", "1M"};
    static const size_t sizes[] = {1000, 5000, 100000, 1000000};
    static const char *const size_names[] = {"1 KB", "5 KB", "100 KB", "1 MB"};
    long total = 2000;
    int maxt = 2, rounds = 3, chain = 0, k = 1, c;
    while ((c = getopt(argc, argv, "n:j:r:z:c")) != -1) {
        switch (c) {
        case 'n':
            total = atol(optarg);
            break;
        case 'j':
            maxt = atoi(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'z':
            k = -1;
            for (int i = 0; i < 4; i++) {
                if (strcmp(optarg, size_args[i]) == 0)
                    k = i;
            }
            if (k < 0)
                return usage();
            break;
        case 'c':
            chain = 1;
            break;
        default:
            return usage();
        }
    }
    if (total < 1 || maxt < 1 || maxt > MAX_THREADS || rounds < 1 || optind != argc)
        return usage();

    struct shared sh;
    struct err e;
    char *pem;
    memset(&sh, 0, sizeof sh);
    if (arc_keygen(ARC_ALG_RSA_SHA256, 2048, &pem, &sh.record, &e) < 0 ||
        arc_privkey_load_pem(pem, strlen(pem), &sh.key, &e) < 0)
        die("key", e.text);
    free(pem);
    sh.signer.domain = "example.org";
    sh.signer.selector = "bench";
    sh.signer.authserv_id = "mx.example.org";
    sh.signer.key = sh.key;
    sh.signer.hdr_canon = sh.signer.body_canon = ARC_CANON_RELAXED;
    sh.signer.timestamp = NOW;

    struct buf plain;
    buf_init(&plain, 0);
    buf_init(&sh.msg, 0);
    buf_append(&plain, header, sizeof header - 1);
    text_body(&plain, sizes[k]);
    if (chain) {
        if (seal_one(&sh, &plain, &sh.msg) < 0)
            die("sealing the sample", NULL);
    }
    buf_append(&sh.msg, plain.data, plain.len);
    buf_free(&plain);

    double best[MAX_THREADS + 1] = {0}, cpu_best[MAX_THREADS + 1] = {0};
    for (int r = 0; r < rounds; r++) {
        for (int t = 1; t <= maxt; t++) {
            double cpu, wall = run(&sh, t, total, &cpu);
            if ((double)total / wall > best[t]) {
                best[t] = (double)total / wall;
                cpu_best[t] = cpu / (double)total;
            }
        }
    }

    printf("seal %s (%s), RSA-2048, shared key, %ld seals per run, best of %d rounds, wall "
           "clock; %ld CPU(s) online\n",
           size_names[k], chain ? "1 set: verify i=1, seal i=2" : "no chain: seal i=1", total,
           rounds, sysconf(_SC_NPROCESSORS_ONLN));
    for (int t = 1; t <= maxt; t++)
        printf("  threads %2d  %9.1f seals/s  %7.1f us CPU/seal  %.2fx of 1 thread\n", t, best[t],
               cpu_best[t] * 1e6, best[t] / best[1]);
    if (maxt >= 2)
        printf("ratio 2 threads / 1 thread: %.2f  (target >= 1.8: %s)\n", best[2] / best[1],
               best[2] / best[1] >= 1.8 ? "meets target" : "MISSES target");

    buf_free(&sh.msg);
    arc_privkey_free(sh.key);
    free(sh.record);
    return 0;
}
