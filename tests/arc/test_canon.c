/* SPDX-License-Identifier: MIT */
/*
 * test_canon - RFC 6376 §3.4 canonicalization (canon.c) against golden files.
 *
 * Golden files, tests/arc/golden/canon/ (their README says what each case is for):
 *   NAME.in            input: a body, or a header section (hdr_*)
 *   NAME.simple.ref    the exact canonical bytes, simple
 *   NAME.relaxed.ref   the exact canonical bytes, relaxed
 * The .ref files were written by hand from RFC 6376 §3.4.2-§3.4.4, not dumped from
 * our output. arc_bodyhash only gives a digest, so body cases compare it with
 * SHA-256(ref). Every body case is fed whole, one byte at a time, in random pieces and
 * split in two at every offset, through the SSE2 scanner and the portable one, and
 * again under l= limits (the first l bytes of the ref). Each piece is copied to its own
 * heap block, so that ASan sees any read outside it.
 *
 * A slow line-by-line canonicalizer written from the RFC (naive_canon) is checked
 * against the golden refs and then drives randomized differential tests.
 *
 * Not covered here: which canonicalization a message asks for (c= parsing is tested
 * through the conformance suite) and the header selection of h= (ams.c). The SSE2
 * scanner runs only where the compiler targets SSE2 (x86-64); elsewhere both passes
 * test the portable scanner.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc/arc_int.h"
#include "test.h"
#include "util/buf.h"

#define GOLDEN_DIR "arc/golden/canon/"

enum feed_plan {
    FEED_WHOLE,
    FEED_BYTES,
    FEED_RANDOM,
};

/* rng_next - xorshift64*: reproducible pieces and inputs, no global state. */
static uint64_t
rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static char *
golden_read(const char *name, const char *ext, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof rel, GOLDEN_DIR "%.100s%.20s", name, ext);
    return test_read_file(test_data_path(rel), n);
}

static const char *
canon_name(enum arc_canon c)
{
    return c == ARC_CANON_SIMPLE ? "simple" : "relaxed";
}

/* feed - one piece, copied to a block of exactly its size (ASan catches over-reads). */
static void
feed(struct arc_bodyhash *bh, const char *p, size_t n)
{
    char *piece = malloc(n ? n : 1);
    memcpy(piece, p, n);
    arc_bodyhash_update(bh, piece, n);
    free(piece);
}

/* body_digest - canonicalize and hash in with the given plan; cut > 0 splits there. */
static void
body_digest(enum arc_canon c, int64_t limit, int portable, const char *in, size_t n,
            enum feed_plan plan, uint64_t seed, unsigned char out[32])
{
    struct arc_bodyhash *bh = malloc(sizeof *bh);
    arc_bodyhash_init(bh, c, limit);
    bh->portable = portable;
    size_t i = 0;
    while (i < n) {
        size_t k = n - i;
        if (plan == FEED_BYTES)
            k = 1;
        else if (plan == FEED_RANDOM)
            k = 1 + (size_t)(rng_next(&seed) % (rng_next(&seed) % 4 ? 24 : 5000));
        if (k > n - i)
            k = n - i;
        feed(bh, in + i, k);
        i += k;
    }
    arc_bodyhash_final(bh);
    memcpy(out, bh->digest, 32);
    arc_bodyhash_free(bh);
    free(bh);
}

static void
hex(const unsigned char d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
expect_digest(const unsigned char got[32], const unsigned char want[32], const char *what,
              enum arc_canon c, int portable, int64_t limit, const char *how)
{
    if (memcmp(got, want, 32) == 0)
        return;
    char g[65], w[65];
    hex(got, g);
    hex(want, w);
    TEST_FAIL("%s (%s, %s scanner, l=%lld, fed %s):\n  got  %s\n  want %s", what, canon_name(c),
              portable ? "portable" : "default", (long long)limit, how, g, w);
}

/* check_body - every way of feeding in gives SHA-256(ref[0..l)). */
static void
check_body(const char *what, enum arc_canon c, const char *in, size_t n, const char *ref,
           size_t refn)
{
    unsigned char want[32], got[32];
    ASSERT_EQ_INT(arc_sha256(ref, refn, want), 0);
    for (int portable = 0; portable <= 1; portable++) {
        body_digest(c, -1, portable, in, n, FEED_WHOLE, 0, got);
        expect_digest(got, want, what, c, portable, -1, "whole");
        body_digest(c, -1, portable, in, n, FEED_BYTES, 0, got);
        expect_digest(got, want, what, c, portable, -1, "one byte at a time");
        for (uint64_t seed = 1; seed <= 16; seed++) {
            body_digest(c, -1, portable, in, n, FEED_RANDOM, seed * 0x9E3779B97F4A7C15ULL, got);
            expect_digest(got, want, what, c, portable, -1, "in random pieces");
        }
        for (size_t cut = 1; cut < n && n <= 400; cut++) {
            struct arc_bodyhash bh;
            arc_bodyhash_init(&bh, c, -1);
            bh.portable = portable;
            feed(&bh, in, cut);
            feed(&bh, in + cut, n - cut);
            arc_bodyhash_final(&bh);
            arc_bodyhash_free(&bh);
            expect_digest(bh.digest, want, what, c, portable, -1, "in two pieces");
        }
        int64_t limits[] = {
            0, 1, (int64_t)refn / 2, (int64_t)refn - 1, (int64_t)refn, (int64_t)refn + 7};
        for (size_t k = 0; k < sizeof limits / sizeof *limits; k++) {
            int64_t l = limits[k];
            if (l < 0)
                continue;
            unsigned char lw[32];
            ASSERT_EQ_INT(arc_sha256(ref, (size_t)l < refn ? (size_t)l : refn, lw), 0);
            body_digest(c, l, portable, in, n, FEED_WHOLE, 0, got);
            expect_digest(got, lw, what, c, portable, l, "whole");
            body_digest(c, l, portable, in, n, FEED_BYTES, 0, got);
            expect_digest(got, lw, what, c, portable, l, "one byte at a time");
        }
    }
}

/* naive_canon - RFC 6376 §3.4.3/§3.4.4 the obvious way: a line ends at CRLF or at a bare
 * LF (§5.3; a bare CR is content); relaxed reduces each WSP run to one SP and drops
 * WSP at the end of the line; empty lines at the end are dropped; every line ends with
 * CRLF; simple turns an empty result into CRLF. out must hold 2 * n + 2 bytes. */
static size_t
naive_canon(enum arc_canon c, const char *in, size_t n, char *out)
{
    size_t o = 0, keep = 0, i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && in[e] != '\n')
            e++;
        size_t le = e;
        if (e < n && le > i && in[le - 1] == '\r')
            le--;
        size_t start = o;
        int wsp = 0;
        for (size_t k = i; k < le; k++) {
            char b = in[k];
            if (c == ARC_CANON_RELAXED && (b == ' ' || b == '\t')) {
                wsp = 1;
                continue;
            }
            if (wsp)
                out[o++] = ' ';
            wsp = 0;
            out[o++] = b;
        }
        int nonempty = o > start;
        out[o++] = '\r';
        out[o++] = '\n';
        if (nonempty)
            keep = o;
        i = e < n ? e + 1 : n;
    }
    o = keep;
    if (c == ARC_CANON_SIMPLE && o == 0) {
        memcpy(out, "\r\n", 2);
        o = 2;
    }
    return o;
}

/* golden_body - NAME.in against NAME.{simple,relaxed}.ref, and naive_canon against both. */
static void
golden_body(const char *name)
{
    size_t n;
    char *in = golden_read(name, ".in", &n);
    char *naive = malloc(2 * n + 2);
    for (int ci = 0; ci < 2; ci++) {
        enum arc_canon c = ci ? ARC_CANON_RELAXED : ARC_CANON_SIMPLE;
        size_t refn;
        char *ref = golden_read(name, ci ? ".relaxed.ref" : ".simple.ref", &refn);
        size_t nn = naive_canon(c, in, n, naive);
        ASSERT_EQ_MEM(naive, nn, ref, refn);
        check_body(name, c, in, n, ref, refn);
        free(ref);
    }
    free(naive);
    free(in);
}

/* golden_hdr - every field of NAME.in through arc_canon_header, against the refs. */
static void
golden_hdr(const char *name)
{
    size_t n;
    char *in = golden_read(name, ".in", &n);
    struct arc_field fields[32];
    size_t nf;
    ASSERT_EQ_INT(arc_hdr_split((struct span){in, n}, fields, 32, &nf), 0);
    for (int ci = 0; ci < 2; ci++) {
        enum arc_canon c = ci ? ARC_CANON_RELAXED : ARC_CANON_SIMPLE;
        size_t refn;
        char *ref = golden_read(name, ci ? ".relaxed.ref" : ".simple.ref", &refn);
        struct buf out, one;
        buf_init(&out, 0);
        buf_init(&one, 0);
        for (size_t i = 0; i < nf; i++) {
            size_t before = out.len;
            ASSERT_EQ_INT(arc_canon_header(c, &fields[i], 0, &out), 0);
            /* nocrlf: the same bytes without the final CRLF */
            buf_reset(&one);
            ASSERT_EQ_INT(arc_canon_header(c, &fields[i], 1, &one), 0);
            ASSERT_EQ_MEM(one.data, one.len, out.data + before, out.len - before - 2);
        }
        ASSERT_EQ_MEM(out.data, out.len, ref, refn);
        buf_free(&out);
        buf_free(&one);
        free(ref);
    }
    free(in);
}

#define GOLDEN_BODY(fn, file)                                                                      \
    static void fn(void)                                                                           \
    {                                                                                              \
        golden_body(file);                                                                         \
    }
#define GOLDEN_HDR(fn, file)                                                                       \
    static void fn(void)                                                                           \
    {                                                                                              \
        golden_hdr(file);                                                                          \
    }

GOLDEN_BODY(trailing_empty_lines_are_dropped, "body_trailing_empty_lines")
GOLDEN_BODY(trailing_wsp_dropped_in_relaxed_only, "body_trailing_wsp")
GOLDEN_BODY(wsp_runs_become_one_space_in_relaxed, "body_wsp_runs")
GOLDEN_BODY(tabs_become_spaces_in_relaxed, "body_tabs")
GOLDEN_BODY(empty_body_is_crlf_simple_empty_relaxed, "body_empty")
GOLDEN_BODY(body_of_only_crlfs_is_crlf_simple_empty_relaxed, "body_only_crlf")
GOLDEN_BODY(missing_final_crlf_is_added, "body_no_final_crlf")
GOLDEN_BODY(bare_lf_ends_a_line, "body_bare_lf")
GOLDEN_BODY(bare_cr_is_content, "body_bare_cr")
GOLDEN_BODY(eight_bit_bytes_pass_unchanged, "body_8bit")
GOLDEN_BODY(wsp_only_line_in_middle_is_empty_in_relaxed, "body_wsp_line_middle")
GOLDEN_BODY(trailing_wsp_only_lines_dropped_in_relaxed, "body_trailing_wsp_lines")
GOLDEN_BODY(empty_lines_in_middle_are_kept, "body_empty_lines_middle")
GOLDEN_BODY(wsp_only_body_without_crlf, "body_wsp_only_no_crlf")
GOLDEN_BODY(paragraphs_with_double_spaces, "body_paragraphs")
GOLDEN_BODY(limit_cuts_mid_line, "body_limit_mid_line")

GOLDEN_HDR(relaxed_header_name_lowercased, "hdr_name_case")
GOLDEN_HDR(relaxed_header_unfolded, "hdr_unfold")
GOLDEN_HDR(relaxed_header_wsp_around_colon_dropped, "hdr_colon_wsp")
GOLDEN_HDR(relaxed_header_trailing_wsp_dropped, "hdr_trailing_wsp")
GOLDEN_HDR(relaxed_header_obs_fold_with_tabs, "hdr_obs_fold_tabs")
GOLDEN_HDR(relaxed_header_wsp_runs_squeezed, "hdr_wsp_runs")
GOLDEN_HDR(header_8bit_bytes_kept, "hdr_8bit")

/* l= far inside one long line, with the line spanning many feeds. */
static void
limit_inside_long_line(void)
{
    size_t n = 70000;
    char *in = malloc(n + 2);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    memcpy(in + n, "\r\n", 2);
    int64_t limits[] = {16383, 16384, 16385, 40000, 70001};
    for (size_t k = 0; k < sizeof limits / sizeof *limits; k++) {
        unsigned char want[32], got[32];
        ASSERT_EQ_INT(arc_sha256(in, (size_t)limits[k], want), 0);
        for (int ci = 0; ci < 2; ci++) {
            enum arc_canon c = ci ? ARC_CANON_RELAXED : ARC_CANON_SIMPLE;
            for (int portable = 0; portable <= 1; portable++) {
                body_digest(c, limits[k], portable, in, n + 2, FEED_RANDOM, 7, got);
                expect_digest(got, want, "long line", c, portable, limits[k], "in random pieces");
            }
        }
    }
    free(in);
}

static void
header_strip_b_deletes_the_value_only(void)
{
    static const char sec[] = "ARC-Message-Signature: i=1; a=rsa-sha256; b=abc\r\n def; bh=xyz\r\n";
    struct arc_field f;
    size_t nf;
    ASSERT_EQ_INT(arc_hdr_split((struct span){sec, sizeof sec - 1}, &f, 1, &nf), 0);
    struct buf out;
    buf_init(&out, 0);
    ASSERT_EQ_INT(arc_canon_header_strip_b(ARC_CANON_RELAXED, &f, &out), 0);
    ASSERT_EQ_STR(out.data, "arc-message-signature:i=1; a=rsa-sha256; b=; bh=xyz");
    buf_reset(&out);
    ASSERT_EQ_INT(arc_canon_header_strip_b(ARC_CANON_SIMPLE, &f, &out), 0);
    ASSERT_EQ_STR(out.data, "ARC-Message-Signature: i=1; a=rsa-sha256; b=; bh=xyz");
    buf_free(&out);
}

/* random_body - bytes that stress the canonicalizer: WSP, CR, LF, NBSP, VT, text. */
static size_t
random_body(uint64_t *s, char *out, size_t max)
{
    static const char alphabet[] = "aaaabx   \t\r\r\n\n\xa0\x0b";
    size_t n = (size_t)(rng_next(s) % (rng_next(s) % 8 ? 80 : max));
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rng_next(s) % (sizeof alphabet - 1)];
    return n;
}

/* text_body - mail-like text: words, mostly single spaces, CRLF line ends, paragraphs;
 * now and then what canonicalization changes: trailing WSP (format=flowed), WSP runs,
 * tabs, whitespace-only and leading-WSP lines, bare LF, bare CR. */
static size_t
text_body(uint64_t *s, char *out, size_t n)
{
    static const char *const eols[] = {
        "\r\n",   "\r\n",   "\r\n",      "\r\n",         "\r\n",      "\r\n", " \r\n",
        " \r\n",  " \r\n",  "\r\n\r\n",  "\r\n\r\n\r\n", " \t\r\n",   "\n",   "\r\n \r\n",
        "\r\n\t", "\r\n  ", "\r\n\r\n ", "\r",           " \r\n\r\n",
    };
    static const char *const seps[] = {" ", " ", " ", " ", " ", " ", " ", "  ", "\t", " \t"};
    size_t i = 0, col = 0;
    while (i + 16 < n) {
        uint64_t r = rng_next(s);
        const char *add;
        if (col > 60 + r % 16) {
            add = eols[(r >> 8) % (sizeof eols / sizeof *eols)];
            col = 0;
        } else {
            size_t w = 1 + r % 9;
            for (size_t k = 0; k < w; k++)
                out[i++] = (char)('a' + (r >> (8 + k * 4)) % 26);
            add = seps[(r >> 48) % (sizeof seps / sizeof *seps)];
            col += w + 1;
        }
        memcpy(out + i, add, strlen(add));
        i += strlen(add);
    }
    for (; i < n; i++)
        out[i] = (char)"\r\n"[i % 2];
    return n;
}

static void
check_against_naive(const char *in, size_t n, uint64_t *s)
{
    char *ref = malloc(2 * n + 2);
    for (int ci = 0; ci < 2; ci++) {
        enum arc_canon c = ci ? ARC_CANON_RELAXED : ARC_CANON_SIMPLE;
        size_t refn = naive_canon(c, in, n, ref);
        unsigned char want[32], got[32];
        ASSERT_EQ_INT(arc_sha256(ref, refn, want), 0);
        int64_t limit = rng_next(s) % 4 ? -1 : (int64_t)(rng_next(s) % (refn + 3));
        if (limit >= 0)
            ASSERT_EQ_INT(arc_sha256(ref, (size_t)limit < refn ? (size_t)limit : refn, want), 0);
        for (int portable = 0; portable <= 1; portable++) {
            uint64_t seed = rng_next(s);
            body_digest(c, limit, portable, in, n, FEED_RANDOM, seed, got);
            expect_digest(got, want, "random body", c, portable, limit, "in random pieces");
            if (n < 200) {
                body_digest(c, limit, portable, in, n, FEED_BYTES, 0, got);
                expect_digest(got, want, "random body", c, portable, limit, "one byte at a time");
            }
        }
    }
    free(ref);
}

static void
random_bodies_match_naive_canonicalizer(void)
{
    uint64_t s = 0x853c49e6748fea9bULL;
    char *in = malloc(3000);
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = random_body(&s, in, 3000);
        check_against_naive(in, n, &s);
    }
    free(in);
}

static void
text_bodies_match_naive_canonicalizer(void)
{
    uint64_t s = 0xda3e39cb94b95bdbULL;
    size_t max = 200000;
    char *in = malloc(max);
    for (int iter = 0; iter < 40; iter++) {
        size_t n = text_body(&s, in, 1 + rng_next(&s) % max);
        check_against_naive(in, n, &s);
    }
    free(in);
}

static const struct test_case cases[] = {
    {"trailing_empty_lines_are_dropped", trailing_empty_lines_are_dropped},
    {"trailing_wsp_dropped_in_relaxed_only", trailing_wsp_dropped_in_relaxed_only},
    {"wsp_runs_become_one_space_in_relaxed", wsp_runs_become_one_space_in_relaxed},
    {"tabs_become_spaces_in_relaxed", tabs_become_spaces_in_relaxed},
    {"empty_body_is_crlf_simple_empty_relaxed", empty_body_is_crlf_simple_empty_relaxed},
    {"body_of_only_crlfs_is_crlf_simple_empty_relaxed",
     body_of_only_crlfs_is_crlf_simple_empty_relaxed},
    {"missing_final_crlf_is_added", missing_final_crlf_is_added},
    {"bare_lf_ends_a_line", bare_lf_ends_a_line},
    {"bare_cr_is_content", bare_cr_is_content},
    {"eight_bit_bytes_pass_unchanged", eight_bit_bytes_pass_unchanged},
    {"wsp_only_line_in_middle_is_empty_in_relaxed", wsp_only_line_in_middle_is_empty_in_relaxed},
    {"trailing_wsp_only_lines_dropped_in_relaxed", trailing_wsp_only_lines_dropped_in_relaxed},
    {"empty_lines_in_middle_are_kept", empty_lines_in_middle_are_kept},
    {"wsp_only_body_without_crlf", wsp_only_body_without_crlf},
    {"paragraphs_with_double_spaces", paragraphs_with_double_spaces},
    {"limit_cuts_mid_line", limit_cuts_mid_line},
    {"limit_inside_long_line", limit_inside_long_line},
    {"relaxed_header_name_lowercased", relaxed_header_name_lowercased},
    {"relaxed_header_unfolded", relaxed_header_unfolded},
    {"relaxed_header_wsp_around_colon_dropped", relaxed_header_wsp_around_colon_dropped},
    {"relaxed_header_trailing_wsp_dropped", relaxed_header_trailing_wsp_dropped},
    {"relaxed_header_obs_fold_with_tabs", relaxed_header_obs_fold_with_tabs},
    {"relaxed_header_wsp_runs_squeezed", relaxed_header_wsp_runs_squeezed},
    {"header_8bit_bytes_kept", header_8bit_bytes_kept},
    {"header_strip_b_deletes_the_value_only", header_strip_b_deletes_the_value_only},
    {"random_bodies_match_naive_canonicalizer", random_bodies_match_naive_canonicalizer},
    {"text_bodies_match_naive_canonicalizer", text_bodies_match_naive_canonicalizer},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
