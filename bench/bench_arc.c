/* SPDX-License-Identifier: MIT */
/*
 * bench_arc - how fast the ARC engine seals, verifies and hashes bodies, next to what
 * OpenSSL itself does in the same process: RSA-2048 signatures and SHA-256.
 *
 *   bench_arc [-t SECONDS] [-s OPENSSL_SPEED_SIGN_PER_S] [-m OPENSSL_SPEED_SHA256_MB_PER_S]
 *   bench_arc [-t SECONDS] -o OP [-z 1|5|100|1M]   one operation alone, for a profiler
 *
 * Each figure is a tight loop run for about SECONDS (default 1), the method of
 * `openssl speed`. -s and -m take the figures bench/run.sh got from `openssl speed`, so
 * they are printed beside ours and the ratios are given against both.
 *
 * Messages: 7 header fields and a mail-like text body (words, single spaces, lines of
 * about 70 bytes ending in CRLF, an empty line between paragraphs) of 1 KB, 5 KB,
 * 100 KB and 1 MB; bodies are fed in 64 KiB pieces, as the proxy reads them.
 * Key: RSA-2048 made by arc_keygen at start. MB = 10^6 bytes (as `openssl speed`).
 *
 *   seal (no chain)  new, feed, finish, verify (nothing to check), seal i=1:
 *                    one AMS and one AS, i.e. two RSA signatures
 *   seal (1 set)     the same on a message carrying one valid ARC set: the key is
 *                    supplied, i=1 is verified (two RSA verifications), i=2 sealed
 *   verify (1 set)   new, feed, finish, key supplied, verify of a message with one set
 *   parse+hash       new, feed, finish only (no RSA): the engine's own cost
 *
 * Not a test: it checks that verification passes and that sealing succeeds, and exits 1
 * if not, but it asserts no speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "arc/arc.h"
#include "arc/arc_int.h"
#include "arc/key.h"
#include "util/buf.h"

#define NOW       1700000000
#define PIECE     65536
#define DOMAIN    "example.org"
#define SELECTOR  "bench"
#define AUTHSERV  "mx.example.org"
#define NSIZES    4
#define MB        1e6
#define SHA_BLOCK 1048576
#define SLICES    16
#define FLOWED    0x100

static const size_t sizes[NSIZES] = {1000, 5000, 100000, 1000000};
static const char *const size_names[NSIZES] = {"1 KB", "5 KB", "100 KB", "1 MB"};

static const char header[] = "From: Alice Example <alice@example.org>\r\n"
                             "To: Bob Example <bob@example.net>\r\n"
                             "Subject: Quarterly figures\r\n"
                             "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                             "Message-ID: <bench.1700000000@example.org>\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "\r\n";

struct bench {
    double seconds;          /* CPU seconds per figure */
    struct arc_privkey *key; /* ours */
    EVP_PKEY *pkey;          /* the same key, for OpenSSL's own loop */
    EVP_PKEY_CTX *signctx;   /* OpenSSL's loop: made once */
    EVP_MD_CTX *mdctx;
    unsigned char *block; /* SHA_BLOCK bytes */
    char *record;         /* DKIM key record */
    struct arc_signer signer;
    struct buf msg[NSIZES];    /* header + body */
    struct buf sealed[NSIZES]; /* msg with one ARC set on top */
    struct buf body;           /* 1 MB body alone */
    struct buf flowed;         /* the same, format=flowed */
    struct buf out;            /* scratch for new sets */
    struct arc_bodyhash *bh;
};

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_arc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* text_body - n bytes of mail-like text (deterministic): words, single spaces, lines of
 * about 70 bytes, an empty line every 8 lines. flowed: a SP before each line end inside
 * a paragraph (format=flowed, RFC 3676), which relaxed canonicalization must drop. */
static void
text_body(struct buf *b, size_t n, int flowed)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    size_t col = 0, lines = 0, start = b->len;
    while (b->len - start + 16 < n) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (col > 62 + s % 12) {
            lines++;
            if (lines % 8 == 0)
                buf_append(b, "\r\n\r\n", 4);
            else
                buf_puts(b, flowed ? " \r\n" : "\r\n");
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

static void
feed_all(struct arc_msg *m, const struct buf *msg)
{
    struct err e;
    for (size_t i = 0; i < msg->len; i += PIECE) {
        size_t k = msg->len - i < PIECE ? msg->len - i : PIECE;
        if (arc_msg_feed(m, msg->data + i, k, &e) < 0)
            die("feed", e.text);
    }
    if (arc_msg_finish(m, &e) < 0)
        die("finish", e.text);
}

static void
supply_keys(const struct bench *b, struct arc_msg *m)
{
    struct arc_keyreq req[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(m, req, ARC_MAX_KEYREQS);
    for (size_t i = 0; i < n; i++)
        arc_msg_key_supply(m, req[i].selector, req[i].domain, ARC_KEY_FOUND, b->record,
                           strlen(b->record));
}

/* one_seal - the whole sealing path for one message; the new set goes to out. */
static void
one_seal(const struct bench *b, const struct buf *msg, struct buf *out)
{
    struct arc_opts o;
    arc_opts_default(&o);
    o.want_seal = 1;
    struct arc_msg *m = arc_msg_new(&o);
    feed_all(m, msg);
    supply_keys(b, m);
    struct arc_verdict v;
    struct err e;
    if (arc_msg_verify(m, NOW, &v, &e) < 0)
        die("verify", e.text);
    if (v.result != ARC_RESULT_NONE && v.result != ARC_RESULT_PASS)
        die("chain does not validate", v.reason);
    if (arc_msg_seal(m, &b->signer, &v, out, &e) != ARC_SEALED)
        die("seal", e.text);
    arc_msg_free(m);
}

/* ---- the measured operations: op(b, k), k a message size index or a canon ---- */

static void
op_seal_new(struct bench *b, int k)
{
    buf_reset(&b->out);
    one_seal(b, &b->msg[k], &b->out);
}

static void
op_seal_chain(struct bench *b, int k)
{
    buf_reset(&b->out);
    one_seal(b, &b->sealed[k], &b->out);
}

static void
op_verify(struct bench *b, int k)
{
    struct arc_msg *m = arc_msg_new(NULL);
    feed_all(m, &b->sealed[k]);
    supply_keys(b, m);
    struct arc_verdict v;
    struct err e;
    if (arc_msg_verify(m, NOW, &v, &e) < 0)
        die("verify", e.text);
    if (v.result != ARC_RESULT_PASS)
        die("verify does not pass", v.reason);
    arc_msg_free(m);
}

static void
op_parse(struct bench *b, int k)
{
    struct arc_opts o;
    arc_opts_default(&o);
    o.want_seal = 1;
    struct arc_msg *m = arc_msg_new(&o);
    feed_all(m, &b->msg[k]);
    arc_msg_free(m);
}

/* op_bodyhash - arc_bodyhash over a 1 MB body in 64 KiB pieces; k is the canon, plus
 * FLOWED for the format=flowed body. */
static void
op_bodyhash(struct bench *b, int k)
{
    struct arc_bodyhash *bh = b->bh;
    const struct buf *body = k & FLOWED ? &b->flowed : &b->body;
    arc_bodyhash_init(bh, (enum arc_canon)(k & ~FLOWED), -1);
    for (size_t i = 0; i < body->len; i += PIECE)
        arc_bodyhash_update(bh, body->data + i, body->len - i < PIECE ? body->len - i : PIECE);
    arc_bodyhash_final(bh);
    arc_bodyhash_free(bh);
}

/* op_ossl_sign - one RSA-2048 PKCS#1 v1.5 signature of a SHA-256 digest, context made
 * once (as `openssl speed rsa2048` does). */
static void
op_ossl_sign(struct bench *b, int k)
{
    unsigned char digest[32] = {1, 2, 3}, sig[512];
    size_t len = sizeof sig;
    if (EVP_PKEY_sign(b->signctx, sig, &len, digest, sizeof digest) != 1)
        die("EVP_PKEY_sign", NULL);
}

/* op_ossl_sha256 - EVP SHA-256 of one 1 MiB block (`openssl speed -bytes 1048576`). */
static void
op_ossl_sha256(struct bench *b, int k)
{
    unsigned char md[32];
    unsigned int len = 32;
    EVP_DigestInit_ex(b->mdctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(b->mdctx, b->block, SHA_BLOCK);
    EVP_DigestFinal_ex(b->mdctx, md, &len);
}

struct meter {
    void (*op)(struct bench *b, int k);
    int k;
    double best; /* operations per CPU second, best slice */
};

/* cpu_now - CPU time of this thread: what `openssl speed` divides by (user time), and
 * steadier than wall time on a shared machine. */
static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* measure - run each meter in SLICES interleaved slices, `seconds` of CPU in all per
 * meter, and keep its best slice: operations that are compared run side by side. */
static void
measure(struct bench *b, struct meter *m, size_t n, double seconds)
{
    for (int r = 0; r < SLICES; r++) {
        for (size_t i = 0; i < n; i++) {
            long count = 0;
            double t0 = cpu_now(), t;
            do {
                m[i].op(b, m[i].k);
                count++;
            } while ((t = cpu_now() - t0) < seconds / SLICES);
            if ((double)count / t > m[i].best)
                m[i].best = (double)count / t;
        }
    }
}

static void
setup(struct bench *b)
{
    char *pem;
    struct err e;
    if (arc_keygen(ARC_ALG_RSA_SHA256, 2048, &pem, &b->record, &e) < 0 ||
        arc_privkey_load_pem(pem, strlen(pem), &b->key, &e) < 0)
        die("key", e.text);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    b->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    if (!b->pkey)
        die("PEM_read_bio_PrivateKey", NULL);
    b->signctx = EVP_PKEY_CTX_new_from_pkey(NULL, b->pkey, NULL);
    if (!b->signctx || EVP_PKEY_sign_init(b->signctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(b->signctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(b->signctx, EVP_sha256()) != 1)
        die("EVP_PKEY_sign_init", NULL);
    b->mdctx = EVP_MD_CTX_new();
    b->block = malloc(SHA_BLOCK);
    memset(b->block, 'x', SHA_BLOCK);
    b->bh = malloc(sizeof *b->bh);

    memset(&b->signer, 0, sizeof b->signer);
    b->signer.domain = DOMAIN;
    b->signer.selector = SELECTOR;
    b->signer.authserv_id = AUTHSERV;
    b->signer.key = b->key;
    b->signer.hdr_canon = b->signer.body_canon = ARC_CANON_RELAXED;
    b->signer.timestamp = NOW;
    buf_init(&b->out, 0);
    buf_init(&b->body, 0);
    buf_init(&b->flowed, 0);
    text_body(&b->body, 1000000, 0);
    text_body(&b->flowed, 1000000, 1);
    for (int k = 0; k < NSIZES; k++) {
        buf_init(&b->msg[k], 0);
        buf_init(&b->sealed[k], 0);
        buf_append(&b->msg[k], header, sizeof header - 1);
        text_body(&b->msg[k], sizes[k], 0);
        one_seal(b, &b->msg[k], &b->sealed[k]);
        buf_append(&b->sealed[k], b->msg[k].data, b->msg[k].len);
    }
}

static void
teardown(struct bench *b)
{
    for (int k = 0; k < NSIZES; k++) {
        buf_free(&b->msg[k]);
        buf_free(&b->sealed[k]);
    }
    buf_free(&b->body);
    buf_free(&b->flowed);
    buf_free(&b->out);
    free(b->bh);
    free(b->block);
    EVP_MD_CTX_free(b->mdctx);
    EVP_PKEY_CTX_free(b->signctx);
    arc_privkey_free(b->key);
    EVP_PKEY_free(b->pkey);
    free(b->record);
}

static const char *
verdict(double v, double target, int at_most)
{
    return (at_most ? v <= target : v >= target) ? "meets target" : "MISSES target";
}

static void
report(struct bench *b, double speed_sign, double speed_sha)
{
    /* the compared pairs side by side: RSA vs 5 KB seal; SHA-256 vs body hashing */
    struct meter rsa[] = {{op_ossl_sign, 0, 0}, {op_seal_new, 1, 0}};
    struct meter sha[] = {{op_ossl_sha256, 0, 0},
                          {op_bodyhash, ARC_CANON_RELAXED, 0},
                          {op_bodyhash, ARC_CANON_SIMPLE, 0},
                          {op_bodyhash, ARC_CANON_RELAXED | FLOWED, 0},
                          {op_bodyhash, ARC_CANON_SIMPLE | FLOWED, 0}};
    measure(b, rsa, 2, b->seconds);
    measure(b, sha, 5, b->seconds);
    double sign = rsa[0].best, seal5 = rsa[1].best;
    double shamb = sha[0].best * SHA_BLOCK / MB;
    double rel = sha[1].best * (double)b->body.len / MB,
           sim = sha[2].best * (double)b->body.len / MB;
    double frel = sha[3].best * (double)b->flowed.len / MB;
    double fsim = sha[4].best * (double)b->flowed.len / MB;

    printf("OpenSSL %s, in-process EVP loops (%.1f s CPU each, best of %d slices):\n",
           OpenSSL_version(OPENSSL_VERSION), b->seconds, SLICES);
    printf("  RSA-2048 sign (PKCS#1 v1.5, SHA-256)  %9.1f /s  %8.1f us", sign, 1e6 / sign);
    if (speed_sign > 0)
        printf("   (openssl speed: %.1f /s)", speed_sign);
    printf("\n  SHA-256, 1 MiB blocks                 %9.1f MB/s", shamb);
    if (speed_sha > 0)
        printf("          (openssl speed: %.1f MB/s)", speed_sha);
    printf("\n\nbody hash, 1 MB body in 64 KiB pieces:\n");
    printf("  text       relaxed %7.1f MB/s (%.3f of SHA-256)   simple %7.1f MB/s (%.3f)\n", rel,
           rel / shamb, sim, sim / shamb);
    printf("  flowed     relaxed %7.1f MB/s (%.3f of SHA-256)   simple %7.1f MB/s (%.3f)\n", frel,
           frel / shamb, fsim, fsim / shamb);
    printf("\n%-8s %16s %16s %16s %16s\n", "message", "seal (no chain)", "seal (1 set)",
           "verify (1 set)", "parse+hash");
    for (int k = 0; k < NSIZES; k++) {
        struct meter row[] = {
            {op_seal_new, k, 0}, {op_seal_chain, k, 0}, {op_verify, k, 0}, {op_parse, k, 0}};
        measure(b, row, 4, b->seconds / 2);
        printf("%-8s %14.1f/s %14.1f/s %14.1f/s %14.1f/s\n", size_names[k], row[0].best,
               row[1].best, row[2].best, row[3].best);
    }

    double ra = sign / (2 * seal5);
    printf("\nratios (targets: a <= 1.15, b >= 0.80):\n");
    printf("  (a) one seal of 5 KB (no chain) / two RSA-2048 signatures  %.3f  %s"
           "   (seal %.1f us)\n",
           ra, verdict(ra, 1.15, 1), 1e6 / seal5);
    printf("  (b) relaxed body hash 1 MB text / SHA-256                  %.3f  %s\n", rel / shamb,
           verdict(rel / shamb, 0.80, 0));
    printf("      simple body hash 1 MB text / SHA-256                   %.3f  %s\n", sim / shamb,
           verdict(sim / shamb, 0.80, 0));
    if (speed_sign > 0 && speed_sha > 0)
        printf("  against the `openssl speed` figures: (a) %.3f  (b) relaxed %.3f, simple %.3f\n",
               speed_sign / (2 * seal5), rel / speed_sha, sim / speed_sha);
}

/* only - run one operation alone (for perf record / callgrind); name as in usage(). */
static int
only(struct bench *b, const char *name, const char *size)
{
    static const struct {
        const char *name;
        void (*op)(struct bench *b, int k);
        int k; /* -1: the size index */
    } ops[] = {
        {"seal", op_seal_new, -1},
        {"seal-chain", op_seal_chain, -1},
        {"verify", op_verify, -1},
        {"parse", op_parse, -1},
        {"relaxed", op_bodyhash, ARC_CANON_RELAXED},
        {"simple", op_bodyhash, ARC_CANON_SIMPLE},
        {"relaxed-flowed", op_bodyhash, ARC_CANON_RELAXED | FLOWED},
        {"simple-flowed", op_bodyhash, ARC_CANON_SIMPLE | FLOWED},
        {"rsa-sign", op_ossl_sign, 0},
        {"sha256", op_ossl_sha256, 0},
    };
    static const char *const size_args[NSIZES] = {"1", "5", "100", "1M"};
    int k = -1;
    for (int i = 0; i < NSIZES; i++) {
        if (strcmp(size, size_args[i]) == 0)
            k = i;
    }
    if (k < 0)
        return -1;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (strcmp(name, ops[i].name) != 0)
            continue;
        struct meter m = {ops[i].op, ops[i].k < 0 ? k : ops[i].k, 0};
        measure(b, &m, 1, b->seconds);
        if (ops[i].op == op_bodyhash)
            printf("%s, 1 MB body: %.1f MB/s\n", name, m.best * (double)b->body.len / MB);
        else
            printf("%s%s%s: %.1f /s\n", name, ops[i].k < 0 ? " " : "",
                   ops[i].k < 0 ? size_names[k] : "", m.best);
        return 0;
    }
    return -1;
}

static int
usage(void)
{
    fprintf(stderr, "usage: bench_arc [-t SECONDS] [-s SIGN_PER_S] [-m SHA256_MB_S]\n"
                    "       bench_arc [-t SECONDS] -o OP [-z 1|5|100|1M]\n"
                    "OP: seal seal-chain verify parse relaxed simple relaxed-flowed "
                    "simple-flowed rsa-sign sha256\n");
    return 2;
}

int
main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    b.seconds = 1.0;
    double speed_sign = 0, speed_sha = 0;
    const char *op = NULL, *size = "5";
    int c, rc = 0;
    while ((c = getopt(argc, argv, "t:s:m:o:z:")) != -1) {
        switch (c) {
        case 't':
            b.seconds = atof(optarg);
            break;
        case 's':
            speed_sign = atof(optarg);
            break;
        case 'm':
            speed_sha = atof(optarg);
            break;
        case 'o':
            op = optarg;
            break;
        case 'z':
            size = optarg;
            break;
        default:
            return usage();
        }
    }
    if (b.seconds <= 0)
        b.seconds = 1.0;
    setup(&b);
    if (op)
        rc = only(&b, op, size) < 0 ? usage() : 0;
    else
        report(&b, speed_sign, speed_sha);
    teardown(&b);
    return rc;
}
