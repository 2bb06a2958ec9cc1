/* SPDX-License-Identifier: MIT */
/*
 * canon - RFC 6376 §3.4 canonicalization: header fields (simple, relaxed) and a
 * streaming body canonicalizer that hashes with SHA-256 as bytes arrive.
 *
 *   arc_canon_header(c, f, nocrlf, out)   one field, canonicalized, appended to out
 *   arc_canon_header_strip_b(c, f, out)   the same with the b= value deleted (§3.7)
 *   arc_sha256(p, n, out)                 one-shot SHA-256
 *   arc_sha256_md()                       the SHA-256 EVP_MD, fetched once per process
 *   arc_bodyhash_init(bh, c, l)           start a body hash (l = -1: no l= limit)
 *   arc_bodyhash_update(bh, p, n)         more body bytes, any split; p is not kept
 *   arc_bodyhash_final(bh)                end of body: bh->digest is set
 *   arc_bodyhash_free(bh)                 the OpenSSL context (bh itself is the caller's)
 *
 * Bodies with bare LF line ends are read as CRLF (a bare LF is a line end; §5.3); a
 * bare CR is ordinary content. The body is never held: the canonicalizer keeps a few
 * flags and a 16 KiB staging buffer. Bytes that canonicalization leaves alone (most of
 * a body) go to SHA-256 straight from the caller's chunk, in large pieces; finding the
 * few that matter uses SSE2 where the compiler targets it (__SSE2__), portable C
 * elsewhere or when bh->portable is set (tests run both). On text the cost on top of
 * SHA-256 is about 15% (docs/performance.md).
 * The l= limit hashes only the first l canonical octets (§3.5; kept for verification,
 * never produced when signing).
 * Every digest uses arc_sha256_md(): OpenSSL 3 fetches the algorithm (a property query
 * under a global read lock) at each EVP_DigestInit given EVP_sha256(), and a seal makes
 * several. The fetched EVP_MD lives as long as the process.
 * Known gap: RFC 6376 §5.3 asks a signer to turn a bare CR into CRLF too; we keep it as
 * content, for signing and verifying alike (one body, one hash).
 */
#include <pthread.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <openssl/err.h>
#include <openssl/evp.h>

#include "../util/xalloc.h"
#include "arc_int.h"

static int
is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* relaxed_value - §3.4.2: unfold, squeeze WSP runs to one SP, drop WSP at both ends. */
static int
relaxed_value(struct span v, struct buf *out)
{
    int space = 0, started = 0;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c == '\r' || c == '\n')
            continue;
        if (is_wsp(c)) {
            space = 1;
            continue;
        }
        if (space && started && buf_putc(out, ' ') < 0)
            return -ARC_ERANGE;
        space = 0;
        started = 1;
        if (buf_putc(out, c) < 0)
            return -ARC_ERANGE;
    }
    return 0;
}

int
arc_canon_header(enum arc_canon c, const struct arc_field *f, int nocrlf, struct buf *out)
{
    if (c == ARC_CANON_SIMPLE) {
        size_t n = f->raw.n;
        if (nocrlf && n >= 2 && f->raw.p[n - 2] == '\r' && f->raw.p[n - 1] == '\n')
            n -= 2;
        return buf_append(out, f->raw.p, n);
    }
    for (size_t i = 0; i < f->name.n; i++) {
        char ch = f->name.p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (buf_putc(out, ch) < 0)
            return -ARC_ERANGE;
    }
    if (buf_putc(out, ':') < 0 || relaxed_value(f->value, out) < 0)
        return -ARC_ERANGE;
    return nocrlf ? 0 : buf_append(out, "\r\n", 2);
}

/* find_b_value - the span of the b= tag's value inside v (empty span if none). */
static struct span
find_b_value(struct span v)
{
    size_t i = 0;
    while (i < v.n) {
        size_t k = i;
        while (k < v.n && (is_wsp(v.p[k]) || v.p[k] == '\r' || v.p[k] == '\n'))
            k++;
        if (k < v.n && v.p[k] == 'b') {
            size_t e = k + 1;
            while (e < v.n && (is_wsp(v.p[e]) || v.p[e] == '\r' || v.p[e] == '\n'))
                e++;
            if (e < v.n && v.p[e] == '=') {
                size_t end = e + 1;
                while (end < v.n && v.p[end] != ';')
                    end++;
                return (struct span){v.p + e + 1, end - e - 1};
            }
        }
        while (i < v.n && v.p[i] != ';')
            i++;
        i++;
    }
    return (struct span){NULL, 0};
}

int
arc_canon_header_strip_b(enum arc_canon c, const struct arc_field *f, struct buf *out)
{
    struct span b = find_b_value(f->value);
    if (!b.p)
        return arc_canon_header(c, f, 1, out);
    struct buf tmp;
    buf_init(&tmp, 0);
    size_t pre = (size_t)(b.p - f->raw.p);
    buf_append(&tmp, f->raw.p, pre);
    buf_append(&tmp, b.p + b.n, f->raw.n - pre - b.n);
    struct arc_field g;
    size_t vstart = (size_t)(f->value.p - f->raw.p);
    g.raw = buf_span(&tmp);
    g.name = (struct span){tmp.data, f->name.n};
    g.value = (struct span){tmp.data + vstart, f->value.n - b.n};
    int rc = arc_canon_header(c, &g, 1, out);
    buf_free(&tmp);
    return rc;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md)
        ERR_clear_error(); /* arc_sha256_md falls back on the implicit fetch */
}

const EVP_MD *
arc_sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

int
arc_sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    return EVP_Digest(p, n, out, &len, arc_sha256_md(), NULL) == 1 ? 0 : -ARC_ECRYPTO;
}

/* ---- body ----
 *
 * Two gears. While the current line has content and nothing is held back (no WSP run,
 * no CR, no empty lines: "quiet"), a scanner looks for the next byte whose canonical
 * form may differ from what came in (an "event"); every byte before it is passed
 * through as it is, line ends included. Passed-through bytes are not copied: they
 * form a run, a span of the caller's chunk that goes to SHA-256 in one call when
 * something else has to be emitted or the chunk ends (short runs are copied to the
 * stage instead, so that bodies with many events do not make many small calls). The
 * frequent events are dealt with in place (wsp_run: a WSP run inside a line or before
 * its end; line_ends: CRLF, empty lines, then content); at any other, the byte state
 * machine (step) takes over until the state is quiet again.
 *
 * Events at i (the scanner needs p[i - 1] and p[i + 1], so the first and last byte of
 * each chunk always go through step):
 *   relaxed  TAB; SP or LF followed by a byte <= 0x20; LF not preceded by CR
 *   simple   LF followed by CR or LF; LF not preceded by CR
 * A few are false alarms (SP before another control byte, LF before SP); step copes.
 * Why the gap between events may be passed through: an LF inside it follows a CR and
 * is followed by content, so no empty line starts there; a SP inside it (relaxed) is
 * followed by content; a CR inside it is followed by something other than LF, so it is
 * content. A gap ending in LF leaves the next line without content so far.
 */

/* runs shorter than this are copied to the stage rather than hashed on their own */
#define RUN_COPY_MAX 512
/* bytes scanned before they go to SHA-256 */
#define WINDOW 8192

/* run - bytes of the current chunk that are canonical output as they stand. */
struct run {
    const char *p;
    size_t n;
    const char *empty; /* the held empty lines as CRLFs in this chunk, or NULL */
};

void
arc_bodyhash_init(struct arc_bodyhash *bh, enum arc_canon canon, int64_t limit)
{
    memset(bh, 0, offsetof(struct arc_bodyhash, stage));
    bh->canon = canon;
    bh->limit = limit;
    bh->md = EVP_MD_CTX_new();
    if (!bh->md || EVP_DigestInit_ex(bh->md, arc_sha256_md(), NULL) != 1)
        xmalloc((size_t)-1); /* dies: no recovery from a broken libcrypto */
    bh->nstage = 0;
    bh->done = 0;
}

static void
stage_flush(struct arc_bodyhash *bh)
{
    if (bh->nstage) {
        EVP_DigestUpdate(bh->md, bh->stage, bh->nstage);
        bh->nstage = 0;
    }
}

/* stage_put - n <= sizeof stage bytes after everything staged. */
static void
stage_put(struct arc_bodyhash *bh, const char *p, size_t n)
{
    if (bh->nstage + n > sizeof bh->stage)
        stage_flush(bh);
    memcpy(bh->stage + bh->nstage, p, n);
    bh->nstage += n;
}

/* run_flush - the run goes out after the stage: copied if short, else hashed in place. */
static void
run_flush(struct arc_bodyhash *bh, struct run *r)
{
    if (r->n <= RUN_COPY_MAX) {
        if (r->n)
            stage_put(bh, r->p, r->n);
    } else {
        stage_flush(bh);
        EVP_DigestUpdate(bh->md, r->p, r->n);
    }
    r->p = NULL;
    r->n = 0;
}

/* room - how many of n canonical bytes l= still lets through; counts them. */
static size_t
room(struct arc_bodyhash *bh, size_t n)
{
    bh->any = 1;
    if (bh->limit >= 0) {
        uint64_t left = (uint64_t)bh->limit > bh->emitted ? (uint64_t)bh->limit - bh->emitted : 0;
        if (n > left)
            n = (size_t)left;
    }
    bh->emitted += n;
    return n;
}

/* emit_ref - canonical bytes that are input bytes of this chunk: extend or start a run. */
static void
emit_ref(struct arc_bodyhash *bh, struct run *r, const char *p, size_t n)
{
    if (!(n = room(bh, n)))
        return;
    if (r->n && r->p + r->n == p) {
        r->n += n;
        return;
    }
    run_flush(bh, r);
    r->p = p;
    r->n = n;
}

/* emit_copy - canonical bytes that are not in the chunk (n is small). */
static void
emit_copy(struct arc_bodyhash *bh, struct run *r, const char *p, size_t n)
{
    if (!(n = room(bh, n)))
        return;
    run_flush(bh, r);
    stage_put(bh, p, n);
}

static void
emit_pending(struct arc_bodyhash *bh, struct run *r)
{
    if (r->empty && bh->pending) {
        emit_ref(bh, r, r->empty, 2 * (size_t)bh->pending);
        bh->pending = 0;
    }
    for (; bh->pending; bh->pending--)
        emit_copy(bh, r, "\r\n", 2);
    r->empty = NULL;
}

/* line_done - a line ends; crlf is where its CRLF is in the chunk, or NULL. */
static void
line_done(struct arc_bodyhash *bh, struct run *r, const char *crlf)
{
    if (bh->line_has_data) {
        if (crlf)
            emit_ref(bh, r, crlf, 2);
        else
            emit_copy(bh, r, "\r\n", 2);
    } else {
        /* an empty line: held until content shows it is not at the end of the body */
        if (!bh->pending)
            r->empty = crlf;
        else if (r->empty && crlf != r->empty + 2 * bh->pending)
            r->empty = NULL;
        bh->pending++;
    }
    bh->line_has_data = 0;
    bh->pending_wsp = 0;
}

/* content - a content byte (in the chunk at p, or a CR held from the last chunk). */
static void
content(struct arc_bodyhash *bh, struct run *r, const char *p, int in_chunk)
{
    if (!bh->line_has_data)
        emit_pending(bh, r);
    if (bh->pending_wsp) {
        emit_copy(bh, r, " ", 1);
        bh->pending_wsp = 0;
    }
    if (in_chunk)
        emit_ref(bh, r, p, 1);
    else
        emit_copy(bh, r, p, 1);
    bh->line_has_data = 1;
}

/* step - the byte state machine, for p[i]. */
static void
step(struct arc_bodyhash *bh, struct run *r, const char *p, size_t i)
{
    char c = p[i];
    if (bh->prev_cr) {
        bh->prev_cr = 0;
        if (c == '\n') {
            line_done(bh, r, i ? p + i - 1 : NULL);
            return;
        }
        content(bh, r, i ? p + i - 1 : "\r", i != 0); /* a bare CR is content */
    }
    if (c == '\r')
        bh->prev_cr = 1;
    else if (c == '\n')
        line_done(bh, r, NULL); /* bare LF: a line end */
    else if (bh->canon == ARC_CANON_RELAXED && (c == ' ' || c == '\t'))
        bh->pending_wsp = 1;
    else
        content(bh, r, p + i, 1);
}

/* scan_bytes - first relaxed event in [i, end) (end itself if none); 1 <= i, end < n. */
static size_t
scan_bytes(const unsigned char *p, size_t i, size_t end)
{
    for (; i < end; i++) {
        unsigned char c = p[i];
        if (c > ' ' || c == '\r')
            continue;
        if (c == '\t' || ((c == ' ' || c == '\n') && p[i + 1] <= ' ') ||
            (c == '\n' && p[i - 1] != '\r'))
            return i;
    }
    return end;
}

#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_LOW7 UINT64_C(0x7F7F7F7F7F7F7F7F)

/* swar_zero - the top bit of each byte of y that is 0 (exact: no carries between bytes). */
static inline uint64_t
swar_zero(uint64_t y)
{
    return ~(((y & SWAR_LOW7) + SWAR_LOW7) | y | SWAR_LOW7);
}

/* swar_ctl - the top bit of each byte of x that is <= 0x20. */
static inline uint64_t
swar_ctl(uint64_t x)
{
    return ~(((x & SWAR_LOW7) + 0x5F * SWAR_ONES) | x | SWAR_LOW7);
}

/* scan_relaxed_portable - the same, 8 bytes at a time: a word goes to scan_bytes only
 * if it holds a control byte other than SP and CR, or a SP before a byte <= 0x20 (any
 * byte order: the next bytes are loaded, not shifted in). */
static size_t
scan_relaxed_portable(const unsigned char *p, size_t i, size_t end)
{
    for (; i + 8 <= end; i += 8) {
        uint64_t x, next;
        memcpy(&x, p + i, 8);
        memcpy(&next, p + i + 1, 8);
        uint64_t sp = swar_zero(x ^ (0x20 * SWAR_ONES));
        uint64_t cr = swar_zero(x ^ (0x0D * SWAR_ONES));
        if ((swar_ctl(x) & ~sp & ~cr) | (sp & swar_ctl(next))) {
            size_t e = scan_bytes(p, i, i + 8);
            if (e < i + 8)
                return e;
        }
    }
    return scan_bytes(p, i, end);
}

/* scan_simple_portable - the same for simple: memchr finds the line ends. */
static size_t
scan_simple_portable(const unsigned char *p, size_t i, size_t end)
{
    const unsigned char *lf;
    while (i < end && (lf = memchr(p + i, '\n', end - i)) != NULL) {
        i = (size_t)(lf - p);
        if (p[i - 1] != '\r' || p[i + 1] == '\r' || p[i + 1] == '\n')
            return i;
        i++;
    }
    return end;
}

#ifdef __SSE2__
/* candidates_relaxed - mask of p[0..16) bytes that may be events: TAB, LF, SP followed by
 * a byte <= 0x20 (reads p[16]); an LF is one only after a look at its neighbours. */
static inline unsigned
candidates_relaxed(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i next = _mm_loadu_si128((const __m128i *)(p + 1));
    __m128i next_ctl = _mm_cmpeq_epi8(_mm_min_epu8(next, _mm_set1_epi8(' ')), next);
    __m128i sp = _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), next_ctl);
    __m128i tab_lf = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(sp, tab_lf));
}

/* lf_is_event - p[k] is LF: does it end a line the scanner may not pass? */
static inline int
lf_is_event(const unsigned char *p, size_t k, int relaxed)
{
    if (p[k - 1] != '\r')
        return 1;
    return relaxed ? p[k + 1] <= ' ' : p[k + 1] == '\r' || p[k + 1] == '\n';
}

/* first_event - the first event among candidate bits m of the block at p + i: 1 with
 * *at set, or 0. */
static inline int
first_event(const unsigned char *p, size_t i, unsigned m, int relaxed, size_t *at)
{
    for (; m; m &= m - 1) {
        size_t k = i + (size_t)__builtin_ctz(m);
        if (p[k] != '\n' || lf_is_event(p, k, relaxed)) {
            *at = k;
            return 1;
        }
    }
    return 0;
}

/* scan_relaxed_sse2 - first event in [i, end), 32 bytes at a time. */
static size_t
scan_relaxed_sse2(const unsigned char *p, size_t i, size_t end)
{
    size_t at;
    for (; i + 32 <= end; i += 32) {
        unsigned m = candidates_relaxed(p + i) | candidates_relaxed(p + i + 16) << 16;
        if (m && first_event(p, i, m, 1, &at))
            return at;
    }
    return scan_relaxed_portable(p, i, end);
}

/* scan_simple_sse2 - simple only cares about LF: find each, then look at its neighbours
 * (about one per line). */
static size_t
scan_simple_sse2(const unsigned char *p, size_t i, size_t end)
{
    const __m128i nl = _mm_set1_epi8('\n');
    size_t at;
    for (; i + 32 <= end; i += 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, nl)) |
                     (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, nl)) << 16;
        if (m && first_event(p, i, m, 0, &at))
            return at;
    }
    return scan_simple_portable(p, i, end);
}
#endif

/* scan - first event in [i, end), or end; end < chunk length. */
static size_t
scan(const struct arc_bodyhash *bh, const char *p, size_t i, size_t end)
{
    const unsigned char *u = (const unsigned char *)p;
    int relaxed = bh->canon == ARC_CANON_RELAXED;
#ifdef __SSE2__
    if (!bh->portable)
        return relaxed ? scan_relaxed_sse2(u, i, end) : scan_simple_sse2(u, i, end);
#endif
    return relaxed ? scan_relaxed_portable(u, i, end) : scan_simple_portable(u, i, end);
}

static int
limit_reached(const struct arc_bodyhash *bh)
{
    return bh->limit >= 0 && bh->emitted >= (uint64_t)bh->limit;
}

/* wsp_run - relaxed, quiet, p[i] is SP or TAB: a WSP run before content (one SP) or
 * before the CRLF ending the line (dropped), done here without step. Returns where to
 * go on, or i when step must decide (run at the end of the chunk, before a bare CR...). */
static size_t
wsp_run(struct arc_bodyhash *bh, struct run *r, const char *p, size_t i, size_t n)
{
    size_t j = i + 1;
    while (j < n && (p[j] == ' ' || p[j] == '\t'))
        j++;
    if (j + 1 < n && p[j] == '\r' && p[j + 1] == '\n') {
        emit_ref(bh, r, p + j, 2);
        /* content next (format=flowed text): the new line is as good as quiet, since
         * the byte is passed through next whatever comes after it */
        bh->line_has_data = j + 2 < n && (unsigned char)p[j + 2] > ' ';
        return j + 2;
    }
    if (j < n && (unsigned char)p[j] > ' ') {
        if (p[i] == ' ')
            emit_ref(bh, r, p + i, 1);
        else
            emit_copy(bh, r, " ", 1);
        return j;
    }
    return i;
}

/* line_ends - quiet, p[i..i+2) is CRLF: that CRLF and any empty lines after it, when
 * content follows in the chunk (the empty lines cannot be at the end of the body), are
 * passed through here without step. Returns where to go on, or i. */
static size_t
line_ends(struct arc_bodyhash *bh, struct run *r, const char *p, size_t i, size_t n)
{
    size_t j = i + 2;
    while (j + 1 < n && p[j] == '\r' && p[j + 1] == '\n')
        j += 2;
    if (j >= n)
        return i;
    unsigned char c = (unsigned char)p[j];
    if (bh->canon == ARC_CANON_RELAXED ? c <= ' ' : c == '\r' || c == '\n')
        return i;
    emit_ref(bh, r, p + i, j - i);
    return j; /* content at j: as good as quiet */
}

/* quiet_pass - from a quiet state at i: pass bytes through up to the next event, deal
 * with WSP runs in place, and so on while the state stays quiet. Returns where step
 * must take over. */
static size_t
quiet_pass(struct arc_bodyhash *bh, struct run *r, const char *p, size_t i, size_t n)
{
    while (i + 1 < n) {
        /* a window at a time, hashed while it is still in L1 */
        size_t end = n - 1 - i > WINDOW ? i + WINDOW : n - 1;
        size_t e = scan(bh, p, i, end);
        if (e > i && p[e] == '\n' && p[e - 1] == '\r')
            e--; /* a CRLF that needs a look: line_ends or step decide, from its CR */
        if (e > i) {
            emit_ref(bh, r, p + i, e - i);
            i = e;
            if (p[e - 1] == '\n') {
                bh->line_has_data = 0;
                return i;
            }
        }
        if (e == end && end < n - 1) {
            if (r->n >= WINDOW)
                run_flush(bh, r);
            continue;
        }
        size_t next = i;
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            next = line_ends(bh, r, p, i, n);
        else if (bh->canon == ARC_CANON_RELAXED && (p[i] == ' ' || p[i] == '\t'))
            next = wsp_run(bh, r, p, i, n);
        if (next == i || !bh->line_has_data)
            return next;
        i = next;
    }
    return i;
}

void
arc_bodyhash_update(struct arc_bodyhash *bh, const char *p, size_t n)
{
    struct run r = {NULL, 0, NULL};
    size_t i = 0;
    while (i < n && !limit_reached(bh)) {
        step(bh, &r, p, i++);
        if (bh->line_has_data && !bh->pending_wsp && !bh->prev_cr)
            i = quiet_pass(bh, &r, p, i, n);
    }
    run_flush(bh, &r);
}

void
arc_bodyhash_final(struct arc_bodyhash *bh)
{
    if (bh->done)
        return;
    struct run r = {NULL, 0, NULL};
    if (bh->prev_cr) {
        bh->prev_cr = 0;
        content(bh, &r, "\r", 0);
    }
    if (bh->line_has_data)
        emit_copy(bh, &r, "\r\n", 2); /* no CRLF at the end of the body: add one */
    if (bh->canon == ARC_CANON_SIMPLE && !bh->any)
        emit_copy(bh, &r, "\r\n", 2); /* simple: an empty body is one CRLF */
    stage_flush(bh);
    unsigned int len = 32;
    EVP_DigestFinal_ex(bh->md, bh->digest, &len);
    bh->done = 1;
}

void
arc_bodyhash_free(struct arc_bodyhash *bh)
{
    if (bh)
        EVP_MD_CTX_free(bh->md);
}
