/* SPDX-License-Identifier: MIT */
/*
 * conformance - the ARC conformance suite (ValiMail arc_test_suite, see SOURCE.md next to
 * it) run against the engine in src/arc. The suite is read in place, never copied.
 *
 *   arc_conformance SUITE_DIR [FILTER]
 *
 * Reads SUITE_DIR/arc-draft-sign-tests.yml and SUITE_DIR/arc-draft-validation-tests.yml
 * with libyaml's event parser: a map-based loader keeps one of two entries with the same
 * name and would see 171 validation tests instead of 175. FILTER runs only the tests whose
 * name contains it. One line per test ("ok   ..." or "FAIL ..."), then
 * "sign: P/N passed; validation: P/N passed" and "N passed, N failed".
 * Exit 0 when every test passed, 1 otherwise, 77 when the suite is absent (CTest: skipped).
 *
 * Validation: the message (LF turned into CRLF) is fed whole, the key records the engine
 * asks for come from the scenario's txt-records (absent: ARC_KEY_MISSING), the clock is
 * fixed (CONF_NOW; the suite's t= values are all 12345..12349 and it has no x=). The
 * expected cv "None"/"Pass"/"Fail" must match exactly; an empty cv means fail (SOURCE.md).
 * A message that feed/finish rejects passes only when fail was expected.
 *
 * Sealing: signer from the scenario (domain, sel, privatekey) and the test (srv-id, t,
 * sig-headers as a literal h=), relaxed/relaxed, cv from our Authentication-Results.
 * The AS and AMS tag sets are compared after removing all whitespace, the AAR as a
 * whitespace-free string. A test whose AS, AMS and AAR are all empty expects no new set.
 *
 * Each test runs in its own child process under a timeout, so an engine crash fails one
 * test. Environment: ARC_CONFORMANCE_VERBOSE=1 dumps verdicts and produced header fields;
 * ARC_CONFORMANCE_CHUNK=N feeds messages in N-byte pieces instead of whole.
 *
 * Not covered here (nor by the suite): the 50-instance limit, DNS failures (temperror),
 * ed25519, simple canonicalization in seals, unused_tests.yml.
 */
#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml.h>

#include "arc/arc.h"
#include "arc/key.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"

#define SIGN_FILE       "arc-draft-sign-tests.yml"
#define VALIDATION_FILE "arc-draft-validation-tests.yml"
/* what the official files hold (SOURCE.md); fewer means the parser skipped entries */
#define SIGN_EXPECTED       17
#define VALIDATION_EXPECTED 175
#define CONF_NOW            ((int64_t)1700000000) /* 2023-11-14; every t= is near 1970 */
#define TEST_TIMEOUT        60                    /* seconds per test */
#define CHILD_FAILED        3 /* child exit: failed, line printed (sanitizers exit with 1) */

enum field {
    F_MESSAGE,
    F_CV,
    F_T,
    F_SIG_HEADERS,
    F_SRV_ID,
    F_AS,
    F_AMS,
    F_AAR,
    F_DESCRIPTION,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "message", "cv", "t", "sig-headers", "srv-id", "AS", "AMS", "AAR", "description",
};

struct test {
    char *name;
    int nth;            /* 1: first definition of this name in the file, 2: second, ... */
    unsigned long line; /* where the name stands in the YAML file */
    char *f[F_COUNT];   /* NULL: field absent */
    size_t flen[F_COUNT];
};

struct record {
    char *name; /* selector._domainkey.domain */
    char *txt;
    size_t len;
};

struct scenario {
    char *domain;
    char *sel;
    char *privatekey;
    size_t privatekey_len;
    struct record *rec;
    size_t nrec;
    struct test *tests;
    size_t ntests;
};

struct suite {
    char *path;
    struct scenario *sc;
    size_t nsc;
    size_t ntests;
};

struct parser {
    yaml_parser_t p;
    yaml_event_t ev;
    int have_ev;
    const char *path;
};

static int verbose;
static size_t feed_chunk;

/* ---- YAML (event parser) ---------------------------------------------------------------- */

static int
perr(struct parser *ps, const char *what)
{
    unsigned long line = ps->have_ev ? ps->ev.start_mark.line + 1 : ps->p.problem_mark.line + 1;
    fprintf(stderr, "arc_conformance: %s:%lu: %s\n", ps->path, line, what);
    return -1;
}

static int
ev_next(struct parser *ps)
{
    if (ps->have_ev)
        yaml_event_delete(&ps->ev);
    ps->have_ev = 0;
    if (!yaml_parser_parse(&ps->p, &ps->ev)) {
        fprintf(stderr, "arc_conformance: %s:%lu:%lu: YAML error: %s%s%s\n", ps->path,
                (unsigned long)ps->p.problem_mark.line + 1,
                (unsigned long)ps->p.problem_mark.column + 1, ps->p.problem ? ps->p.problem : "?",
                ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
        return -1;
    }
    ps->have_ev = 1;
    return 0;
}

static int
ev_is(struct parser *ps, yaml_event_type_t t)
{
    return ps->have_ev && ps->ev.type == t;
}

static char *
ev_scalar(struct parser *ps, size_t *lenp)
{
    size_t n = ps->ev.data.scalar.length;
    if (lenp)
        *lenp = n;
    return xstrndup((const char *)ps->ev.data.scalar.value, n);
}

static int
ev_key_is(struct parser *ps, const char *s)
{
    return ps->ev.data.scalar.length == strlen(s) &&
           memcmp(ps->ev.data.scalar.value, s, ps->ev.data.scalar.length) == 0;
}

/* skip_value - the current event starts a value; consume it whole. */
static int
skip_value(struct parser *ps)
{
    int depth = 0;
    for (;;) {
        switch (ps->ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            break;
        default:
            return perr(ps, "unexpected event inside a value");
        }
        if (depth == 0)
            return 0;
        if (ev_next(ps) < 0)
            return -1;
    }
}

static int
parse_test(struct parser *ps, struct test *t)
{
    for (;;) {
        if (ev_next(ps) < 0)
            return -1;
        if (ev_is(ps, YAML_MAPPING_END_EVENT))
            return 0;
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "test field name is not a scalar");
        int f = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (ev_key_is(ps, field_names[i]))
                f = i;
        if (ev_next(ps) < 0)
            return -1;
        if (f < 0) {
            if (skip_value(ps) < 0)
                return -1;
            continue;
        }
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "test field value is not a scalar");
        if (t->f[f])
            return perr(ps, "test field given twice");
        t->f[f] = ev_scalar(ps, &t->flen[f]);
    }
}

static int
parse_tests(struct parser *ps, struct scenario *sc)
{
    for (;;) {
        if (ev_next(ps) < 0)
            return -1;
        if (ev_is(ps, YAML_MAPPING_END_EVENT))
            return 0;
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "test name is not a scalar");
        sc->tests = xrealloc(sc->tests, (sc->ntests + 1) * sizeof *sc->tests);
        struct test *t = &sc->tests[sc->ntests++];
        memset(t, 0, sizeof *t);
        t->name = ev_scalar(ps, NULL);
        t->line = (unsigned long)ps->ev.start_mark.line + 1;
        if (ev_next(ps) < 0)
            return -1;
        if (!ev_is(ps, YAML_MAPPING_START_EVENT))
            return perr(ps, "test is not a mapping");
        if (parse_test(ps, t) < 0)
            return -1;
    }
}

static int
parse_records(struct parser *ps, struct scenario *sc)
{
    for (;;) {
        if (ev_next(ps) < 0)
            return -1;
        if (ev_is(ps, YAML_MAPPING_END_EVENT))
            return 0;
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "txt record name is not a scalar");
        sc->rec = xrealloc(sc->rec, (sc->nrec + 1) * sizeof *sc->rec);
        struct record *r = &sc->rec[sc->nrec++];
        r->name = ev_scalar(ps, NULL);
        r->txt = NULL;
        if (ev_next(ps) < 0)
            return -1;
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "txt record value is not a scalar");
        r->txt = ev_scalar(ps, &r->len);
    }
}

static int
scenario_scalar(struct parser *ps, char **dst, size_t *lenp)
{
    if (!ev_is(ps, YAML_SCALAR_EVENT))
        return perr(ps, "scenario value is not a scalar");
    free(*dst);
    *dst = ev_scalar(ps, lenp);
    return 0;
}

static int
parse_scenario(struct parser *ps, struct suite *s)
{
    s->sc = xrealloc(s->sc, (s->nsc + 1) * sizeof *s->sc);
    struct scenario *sc = &s->sc[s->nsc++];
    memset(sc, 0, sizeof *sc);
    for (;;) {
        if (ev_next(ps) < 0)
            return -1;
        if (ev_is(ps, YAML_MAPPING_END_EVENT))
            return 0;
        if (!ev_is(ps, YAML_SCALAR_EVENT))
            return perr(ps, "scenario key is not a scalar");
        int tests = ev_key_is(ps, "tests");
        int recs = ev_key_is(ps, "txt-records") || ev_key_is(ps, "txt_records");
        char **dst = ev_key_is(ps, "domain")       ? &sc->domain
                     : ev_key_is(ps, "sel")        ? &sc->sel
                     : ev_key_is(ps, "privatekey") ? &sc->privatekey
                                                   : NULL;
        if (ev_next(ps) < 0)
            return -1;
        int rc;
        if (tests || recs) {
            if (ev_is(ps, YAML_SCALAR_EVENT) && ps->ev.data.scalar.length == 0)
                continue; /* "tests:" with nothing under it */
            if (!ev_is(ps, YAML_MAPPING_START_EVENT))
                return perr(ps, tests ? "tests is not a mapping" : "txt-records is not a mapping");
            rc = tests ? parse_tests(ps, sc) : parse_records(ps, sc);
        } else if (dst) {
            rc = scenario_scalar(ps, dst, dst == &sc->privatekey ? &sc->privatekey_len : NULL);
        } else {
            rc = skip_value(ps);
        }
        if (rc < 0)
            return -1;
    }
}

/* parse_file - every document of path is a scenario; returns 0, -1 (message printed). */
static int
parse_file(const char *path, struct suite *s)
{
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    struct parser ps = {.path = path};
    yaml_parser_initialize(&ps.p);
    yaml_parser_set_input_file(&ps.p, fp);
    int rc = -1;
    if (ev_next(&ps) < 0)
        goto out;
    if (!ev_is(&ps, YAML_STREAM_START_EVENT)) {
        perr(&ps, "no stream start");
        goto out;
    }
    for (;;) {
        if (ev_next(&ps) < 0)
            goto out;
        if (ev_is(&ps, YAML_STREAM_END_EVENT))
            break;
        if (!ev_is(&ps, YAML_DOCUMENT_START_EVENT)) {
            perr(&ps, "expected a document");
            goto out;
        }
        if (ev_next(&ps) < 0)
            goto out;
        if (ev_is(&ps, YAML_MAPPING_START_EVENT)) {
            if (parse_scenario(&ps, s) < 0)
                goto out;
        } else if (!ev_is(&ps, YAML_SCALAR_EVENT) || ps.ev.data.scalar.length != 0) {
            perr(&ps, "document is not a mapping (scenario)");
            goto out;
        }
        if (ev_next(&ps) < 0)
            goto out;
        if (!ev_is(&ps, YAML_DOCUMENT_END_EVENT)) {
            perr(&ps, "expected the end of the document");
            goto out;
        }
    }
    rc = 0;
    /* number the definitions of a name so that a repeated one can be told apart */
    for (size_t i = 0; i < s->nsc; i++) {
        for (size_t j = 0; j < s->sc[i].ntests; j++) {
            struct test *t = &s->sc[i].tests[j];
            t->nth = 1;
            for (size_t k = 0; k <= i; k++)
                for (size_t l = 0; l < (k == i ? j : s->sc[k].ntests); l++)
                    if (strcmp(s->sc[k].tests[l].name, t->name) == 0)
                        t->nth++;
            s->ntests++;
        }
    }
out:
    if (ps.have_ev)
        yaml_event_delete(&ps.ev);
    yaml_parser_delete(&ps.p);
    fclose(fp);
    return rc;
}

static void
suite_free(struct suite *s)
{
    for (size_t i = 0; i < s->nsc; i++) {
        struct scenario *sc = &s->sc[i];
        for (size_t j = 0; j < sc->ntests; j++) {
            free(sc->tests[j].name);
            for (int f = 0; f < F_COUNT; f++)
                free(sc->tests[j].f[f]);
        }
        for (size_t j = 0; j < sc->nrec; j++) {
            free(sc->rec[j].name);
            free(sc->rec[j].txt);
        }
        free(sc->tests);
        free(sc->rec);
        free(sc->domain);
        free(sc->sel);
        free(sc->privatekey);
    }
    free(s->sc);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* to_crlf - YAML blocks end lines in LF; the wire form ends them in CRLF. */
static char *
to_crlf(const char *s, size_t n, size_t *outlen)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            buf_putc(&b, '\r');
        buf_putc(&b, s[i]);
    }
    return buf_take(&b, outlen);
}

static int
is_blank(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* trim_dup - s without leading and trailing white space, as a heap string. */
static char *
trim_dup(const char *s)
{
    if (!s)
        return NULL;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

/* strip_ws - every space, tab, CR and LF removed. */
static char *
strip_ws(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            out[k++] = s[i];
    out[k] = '\0';
    return out;
}

static const char *
label(const struct test *t, char *tmp, size_t n)
{
    if (t->nth <= 1)
        return t->name;
    snprintf(tmp, n, "%s#%d", t->name, t->nth);
    return tmp;
}

static const struct record *
find_record(const struct scenario *sc, const char *sel, const char *dom)
{
    char name[512];
    int n = snprintf(name, sizeof name, "%s._domainkey.%s", sel, dom);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    if (n > 0 && name[n - 1] == '.')
        name[--n] = '\0';
    for (size_t i = 0; i < sc->nrec; i++) {
        const char *r = sc->rec[i].name;
        size_t rl = strlen(r);
        if (rl > 0 && r[rl - 1] == '.')
            rl--;
        if (rl == (size_t)n && strncasecmp(r, name, rl) == 0)
            return &sc->rec[i];
    }
    return NULL;
}

static int
feed_message(struct arc_msg *m, const char *msg, size_t n, struct err *e)
{
    size_t step = feed_chunk ? feed_chunk : (n ? n : 1);
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        int rc = arc_msg_feed(m, msg + off, k, e);
        if (rc < 0)
            return rc;
    }
    return arc_msg_finish(m, e);
}

/* supply_keys - answer every key request from the scenario's txt-records. */
static void
supply_keys(struct arc_msg *m, const struct scenario *sc)
{
    struct arc_keyreq req[ARC_MAX_KEYREQS];
    size_t n = arc_msg_keyreqs(m, req, ARC_MAX_KEYREQS);
    for (size_t i = 0; i < n && i < ARC_MAX_KEYREQS; i++) {
        const char *sel = req[i].selector ? req[i].selector : "";
        const char *dom = req[i].domain ? req[i].domain : "";
        const struct record *r = find_record(sc, sel, dom);
        int rc = r ? arc_msg_key_supply(m, sel, dom, ARC_KEY_FOUND, r->txt, r->len)
                   : arc_msg_key_supply(m, sel, dom, ARC_KEY_MISSING, NULL, 0);
        if (verbose || rc < 0)
            printf("    key %s._domainkey.%s: %s%s%d\n", sel, dom, r ? "found" : "missing",
                   rc < 0 ? ", arc_msg_key_supply returned " : ", rc ", rc);
    }
}

static void
dump_verdict(const struct arc_verdict *v)
{
    printf("    verdict: %s instances=%d oldest_pass=%d newest_cv_fail=%d parse_error=%d "
           "reason=\"%s\"\n",
           arc_result_name(v->result), v->instances, v->oldest_pass, v->newest_cv_fail,
           v->parse_error, v->reason);
}

static void
dump_block(const char *p, size_t n)
{
    printf("    | ");
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            continue;
        if (p[i] == '\n') {
            if (i + 1 < n)
                printf("\n    | ");
            continue;
        }
        if (p[i] == '\r')
            printf("\\r");
        else
            putchar(p[i]);
    }
    putchar('\n');
}

/* ---- validation ------------------------------------------------------------------------- */

static int
expected_cv(const char *cv, enum arc_result *r)
{
    char *s = trim_dup(cv ? cv : "");
    int rc = 0;
    if (*s == '\0' || strcasecmp(s, "fail") == 0)
        *r = ARC_RESULT_FAIL; /* three tests give an empty cv for fail (SOURCE.md) */
    else if (strcasecmp(s, "pass") == 0)
        *r = ARC_RESULT_PASS;
    else if (strcasecmp(s, "none") == 0)
        *r = ARC_RESULT_NONE;
    else
        rc = -1;
    free(s);
    return rc;
}

static int
run_validation(const struct scenario *sc, const struct test *t, const char *name)
{
    enum arc_result want;
    if (!t->f[F_MESSAGE]) {
        printf("FAIL validation %s: the suite entry has no message\n", name);
        return 0;
    }
    if (expected_cv(t->f[F_CV], &want) < 0) {
        printf("FAIL validation %s: unknown expected cv \"%s\"\n", name, t->f[F_CV]);
        return 0;
    }
    size_t n;
    char *msg = to_crlf(t->f[F_MESSAGE], t->flen[F_MESSAGE], &n);
    struct arc_opts o;
    arc_opts_default(&o);
    struct arc_msg *m = arc_msg_new(&o);
    struct err e;
    err_clear(&e);
    int ok = 0;
    int rc = feed_message(m, msg, n, &e);
    if (rc < 0) {
        if (want == ARC_RESULT_FAIL) {
            printf("ok   validation %s (message rejected: %s: %s)\n", name, err_name(rc), e.text);
            ok = 1;
        } else {
            printf("FAIL validation %s: got message rejected by feed/finish (%s: %s) want %s\n",
                   name, err_name(rc), e.text, arc_result_name(want));
        }
        goto out;
    }
    supply_keys(m, sc);
    struct arc_verdict v;
    memset(&v, 0, sizeof v);
    rc = arc_msg_verify(m, CONF_NOW, &v, &e);
    if (rc < 0) {
        printf("FAIL validation %s: arc_msg_verify error %s: %s (want %s)\n", name, err_name(rc),
               e.text, arc_result_name(want));
        goto out;
    }
    if (verbose)
        dump_verdict(&v);
    if (v.result == want) {
        printf("ok   validation %s\n", name);
        ok = 1;
    } else {
        printf("FAIL validation %s: got %s want %s (reason: %s)\n", name, arc_result_name(v.result),
               arc_result_name(want), v.reason[0] ? v.reason : "-");
    }
out:
    arc_msg_free(m);
    free(msg);
    return ok;
}

/* ---- sealing ---------------------------------------------------------------------------- */

struct hfield {
    const char *name;
    size_t nlen;
    const char *val; /* after the colon, up to (not including) the final line end */
    size_t vlen;
};

/* split_fields - header fields of p; problems (bare LF, no colon, no final CRLF) noted. */
static size_t
split_fields(const char *p, size_t n, struct hfield *out, size_t max, struct buf *why)
{
    size_t nf = 0, i = 0;
    for (size_t k = 0; k < n; k++)
        if (p[k] == '\n' && (k == 0 || p[k - 1] != '\r')) {
            buf_printf(why, "output has a bare LF at byte %zu; ", k);
            break;
        }
    if (n > 0 && (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n'))
        buf_puts(why, "output does not end in CRLF; ");
    while (i < n) {
        size_t start = i, end = n, next = n;
        for (size_t k = i; k < n; k++) {
            if (p[k] == '\n' && (k + 1 >= n || (p[k + 1] != ' ' && p[k + 1] != '\t'))) {
                end = (k > start && p[k - 1] == '\r') ? k - 1 : k;
                next = k + 1;
                break;
            }
        }
        const char *colon = memchr(p + start, ':', end - start);
        if (nf < max) {
            if (colon) {
                out[nf] = (struct hfield){p + start, (size_t)(colon - (p + start)), colon + 1,
                                          (size_t)(p + end - colon - 1)};
            } else {
                buf_printf(why, "output line without a colon: \"%.*s\"; ", (int)(end - start),
                           p + start);
                out[nf] = (struct hfield){p + start, end - start, "", 0};
            }
        }
        nf++;
        i = next;
    }
    return nf;
}

struct tag {
    char *name;
    char *val;
};

/* split_tags - s (whitespace removed) split on ';' into name=value; empty items dropped. */
static size_t
split_tags(char *s, struct tag *out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *it = strtok_r(s, ";", &save); it; it = strtok_r(NULL, ";", &save)) {
        if (n >= max)
            break;
        char *eq = strchr(it, '=');
        if (eq)
            *eq = '\0';
        out[n].name = it;
        out[n].val = eq ? eq + 1 : NULL;
        n++;
    }
    return n;
}

static const struct tag *
find_tag(const struct tag *t, size_t n, const char *name, size_t *count)
{
    const struct tag *hit = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) {
            if (!hit)
                hit = &t[i];
            (*count)++;
        }
    return hit;
}

/* compare_tags - AS/AMS tag sets; differences described in why; returns 1 when equal. */
static int
compare_tags(const char *what, const char *got, size_t gotlen, const char *want, struct buf *why)
{
    char *g = strip_ws(got, gotlen), *w = strip_ws(want, strlen(want));
    struct tag gt[64], wt[64];
    size_t ng = split_tags(g, gt, 64), nw = split_tags(w, wt, 64);
    int equal = 1, b_differs = 0;
    for (size_t i = 0; i < nw; i++) {
        size_t cg, cw;
        if (find_tag(wt, nw, wt[i].name, &cw) != &wt[i])
            continue; /* a repeated tag is judged at its first occurrence */
        const struct tag *x = find_tag(gt, ng, wt[i].name, &cg);
        if (!x) {
            equal = 0;
            buf_printf(why, "%s %s= missing (want \"%s\"); ", what, wt[i].name,
                       wt[i].val ? wt[i].val : "");
            continue;
        }
        if (cg != cw) {
            equal = 0;
            buf_printf(why, "%s %s= appears %zu times, want %zu; ", what, wt[i].name, cg, cw);
            continue;
        }
        if ((x->val == NULL) != (wt[i].val == NULL) || (x->val && strcmp(x->val, wt[i].val) != 0)) {
            equal = 0;
            if (strcmp(wt[i].name, "b") == 0)
                b_differs = 1;
            else
                buf_printf(why, "%s %s=: got \"%s\" want \"%s\"; ", what, wt[i].name,
                           x->val ? x->val : "(no =)", wt[i].val ? wt[i].val : "(no =)");
        }
    }
    for (size_t i = 0; i < ng; i++) {
        size_t c;
        if (!find_tag(wt, nw, gt[i].name, &c)) {
            equal = 0;
            buf_printf(why, "%s unexpected tag %s=%s; ", what, gt[i].name,
                       gt[i].val ? gt[i].val : "");
        }
    }
    if (b_differs)
        buf_printf(why, "%s b= (signature) differs; ", what);
    free(g);
    free(w);
    return equal;
}

static int
compare_aar(const char *got, size_t gotlen, const char *want, struct buf *why)
{
    char *g = strip_ws(got, gotlen), *w = strip_ws(want, strlen(want));
    int equal = strcmp(g, w) == 0;
    if (!equal) {
        size_t k = 0;
        while (g[k] && g[k] == w[k])
            k++;
        size_t from = k > 24 ? k - 24 : 0;
        buf_printf(
            why, "AAR differs at byte %zu (whitespace removed): got \"%s%.60s\" want \"%s%.60s\"; ",
            k, from ? "..." : "", g + from, from ? "..." : "", w + from);
    }
    free(g);
    free(w);
    return equal;
}

static const struct hfield *
find_field(const struct hfield *h, size_t n, const char *name, struct buf *why)
{
    const struct hfield *hit = NULL;
    for (size_t i = 0; i < n; i++)
        if (h[i].nlen == strlen(name) && strncasecmp(h[i].name, name, h[i].nlen) == 0) {
            if (hit)
                buf_printf(why, "%s appears more than once; ", name);
            else
                hit = &h[i];
        }
    if (!hit)
        buf_printf(why, "no %s in the output; ", name);
    return hit;
}

static int
run_sign(const struct scenario *sc, const struct test *t, const char *name)
{
    struct buf why, out;
    buf_init(&why, 0);
    buf_init(&out, 0);
    struct err e;
    err_clear(&e);
    struct arc_privkey *key = NULL;
    struct arc_msg *m = NULL;
    char *msg = NULL, *hdrs = NULL, *srv_id = NULL, *dom = NULL, *sel = NULL;
    const char **hv = NULL;
    int ok = 0, rc;

    if (!t->f[F_MESSAGE] || !sc->privatekey || !sc->domain || !sc->sel) {
        printf("FAIL sign %s: the suite entry lacks message, privatekey, domain or sel\n", name);
        goto out;
    }
    rc = arc_privkey_load_pem(sc->privatekey, sc->privatekey_len, &key, &e);
    if (rc < 0) {
        printf("FAIL sign %s: arc_privkey_load_pem: %s: %s\n", name, err_name(rc), e.text);
        goto out;
    }

    /* sig-headers "a:b:c" -> h= exactly as given */
    hdrs = xstrdup(t->f[F_SIG_HEADERS] ? t->f[F_SIG_HEADERS] : "");
    size_t nh = 0;
    hv = xcalloc(strlen(hdrs) / 2 + 2, sizeof *hv);
    for (char *save = NULL, *it = strtok_r(hdrs, ":", &save); it; it = strtok_r(NULL, ":", &save)) {
        while (isspace((unsigned char)*it))
            it++;
        size_t l = strlen(it);
        while (l > 0 && isspace((unsigned char)it[l - 1]))
            it[--l] = '\0';
        if (l > 0)
            hv[nh++] = it;
    }
    srv_id = trim_dup(t->f[F_SRV_ID]);
    dom = trim_dup(sc->domain);
    sel = trim_dup(sc->sel);
    struct arc_signer s;
    memset(&s, 0, sizeof s);
    s.domain = dom;
    s.selector = sel;
    s.authserv_id = srv_id;
    s.key = key;
    s.headers = hv;
    s.nheaders = nh;
    s.headers_literal = 1;
    s.hdr_canon = ARC_CANON_RELAXED;
    s.body_canon = ARC_CANON_RELAXED;
    s.timestamp = t->f[F_T] ? strtoll(t->f[F_T], NULL, 10) : -1;
    s.remote_ip = NULL;
    s.cv_from_authres = 1;

    struct arc_opts o;
    arc_opts_default(&o);
    o.want_seal = 1;
    o.seal_body_canon = ARC_CANON_RELAXED;
    size_t n;
    msg = to_crlf(t->f[F_MESSAGE], t->flen[F_MESSAGE], &n);
    m = arc_msg_new(&o);
    rc = feed_message(m, msg, n, &e);
    if (rc < 0) {
        printf("FAIL sign %s: message rejected by feed/finish: %s: %s\n", name, err_name(rc),
               e.text);
        goto out;
    }
    supply_keys(m, sc);
    struct arc_verdict v;
    memset(&v, 0, sizeof v);
    rc = arc_msg_verify(m, CONF_NOW, &v, &e);
    if (rc < 0) {
        printf("FAIL sign %s: arc_msg_verify error %s: %s\n", name, err_name(rc), e.text);
        goto out;
    }
    if (verbose)
        dump_verdict(&v);
    err_clear(&e);
    rc = arc_msg_seal(m, &s, &v, &out, &e);
    if (verbose) {
        printf("    arc_msg_seal returned %d%s%s\n", rc, e.text[0] ? ": " : "", e.text);
        if (out.len)
            dump_block(out.data, out.len);
    }
    if (rc < 0) {
        printf("FAIL sign %s: arc_msg_seal error %s: %s (verdict %s)\n", name, err_name(rc), e.text,
               arc_result_name(v.result));
        goto out;
    }

    int want_none = is_blank(t->f[F_AS]) && is_blank(t->f[F_AMS]) && is_blank(t->f[F_AAR]);
    if (want_none) {
        if (rc == ARC_SEAL_SKIPPED || out.len == 0) {
            printf("ok   sign %s (no new set%s%s)\n", name, e.text[0] ? ": " : "", e.text);
            ok = 1;
        } else {
            printf("FAIL sign %s: got a new ARC set, want none (verdict %s, reason: %s)\n", name,
                   arc_result_name(v.result), v.reason[0] ? v.reason : "-");
            if (!verbose)
                dump_block(out.data, out.len);
        }
        goto out;
    }
    if (rc == ARC_SEAL_SKIPPED || out.len == 0) {
        printf("FAIL sign %s: got no new set (%s; verdict %s, reason: %s), want one\n", name,
               e.text[0] ? e.text : "no reason given", arc_result_name(v.result),
               v.reason[0] ? v.reason : "-");
        goto out;
    }

    struct hfield hf[16];
    size_t nf = split_fields(out.data, out.len, hf, 16, &why);
    if (nf != 3)
        buf_printf(&why, "output has %zu header fields, want 3; ", nf);
    if (nf > 16)
        nf = 16;
    const struct hfield *as = find_field(hf, nf, "ARC-Seal", &why);
    const struct hfield *ams = find_field(hf, nf, "ARC-Message-Signature", &why);
    const struct hfield *aar = find_field(hf, nf, "ARC-Authentication-Results", &why);
    int same = why.len == 0;
    if (as && !compare_tags("AS", as->val, as->vlen, t->f[F_AS] ? t->f[F_AS] : "", &why))
        same = 0;
    if (ams && !compare_tags("AMS", ams->val, ams->vlen, t->f[F_AMS] ? t->f[F_AMS] : "", &why))
        same = 0;
    if (aar && !compare_aar(aar->val, aar->vlen, t->f[F_AAR] ? t->f[F_AAR] : "", &why))
        same = 0;
    if (same) {
        printf("ok   sign %s\n", name);
        ok = 1;
    } else {
        while (why.len >= 2 && why.data[why.len - 2] == ';') {
            why.len -= 2; /* drop the separator after the last item */
            why.data[why.len] = '\0';
        }
        printf("FAIL sign %s: %s\n", name, why.data);
        if (!verbose)
            dump_block(out.data, out.len);
    }
out:
    arc_msg_free(m);
    arc_privkey_free(key);
    free(msg);
    free(hv);
    free(hdrs);
    free(srv_id);
    free(dom);
    free(sel);
    buf_free(&why);
    buf_free(&out);
    return ok;
}

/* ---- driver ----------------------------------------------------------------------------- */

enum kind { K_SIGN, K_VALIDATION };

/* run_isolated - one test in a child under a timeout; the child prints its own line. */
static int
run_isolated(enum kind k, const struct scenario *sc, const struct test *t, const char *name)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm(TEST_TIMEOUT);
        int ok = k == K_SIGN ? run_sign(sc, t, name) : run_validation(sc, t, name);
        /* exit, not _exit: LeakSanitizer checks each test (stdio was flushed before fork) */
        exit(ok ? 0 : CHILD_FAILED);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == CHILD_FAILED))
        return WEXITSTATUS(st) == 0;
    if (WIFEXITED(st)) {
        printf("FAIL %s %s: exit status %d (a sanitizer report on stderr?)\n",
               k == K_SIGN ? "sign" : "validation", name, WEXITSTATUS(st));
        return 0;
    }
    printf("FAIL %s %s: crashed (signal %d%s)\n", k == K_SIGN ? "sign" : "validation", name,
           WIFSIGNALED(st) ? WTERMSIG(st) : 0,
           WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": timeout" : "");
    return 0;
}

static void
run_suite(enum kind k, const struct suite *s, const char *filter, int *passed, int *run)
{
    char tmp[256];
    for (size_t i = 0; i < s->nsc; i++)
        for (size_t j = 0; j < s->sc[i].ntests; j++) {
            const struct test *t = &s->sc[i].tests[j];
            if (filter && !strstr(t->name, filter))
                continue;
            (*run)++;
            if (run_isolated(k, &s->sc[i], t, label(t, tmp, sizeof tmp)))
                (*passed)++;
        }
}

static char *
join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: arc_conformance SUITE_DIR [FILTER]\n");
        return 2;
    }
    const char *dir = argv[1];
    const char *filter = argc > 2 && argv[2][0] ? argv[2] : NULL;
    const char *ev = getenv("ARC_CONFORMANCE_VERBOSE");
    verbose = ev && *ev && strcmp(ev, "0") != 0;
    ev = getenv("ARC_CONFORMANCE_CHUNK");
    feed_chunk = ev ? strtoul(ev, NULL, 10) : 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    char *sign_path = join(dir, SIGN_FILE), *val_path = join(dir, VALIDATION_FILE);
    if (access(sign_path, R_OK) != 0 || access(val_path, R_OK) != 0) {
        printf("arc conformance suite not found at %s: skipped\n", dir);
        free(sign_path);
        free(val_path);
        return 77;
    }
    struct suite sign, val;
    int bad = parse_file(sign_path, &sign) < 0;
    bad |= parse_file(val_path, &val) < 0;
    free(sign_path);
    free(val_path);
    if (bad) {
        suite_free(&sign);
        suite_free(&val);
        return 1;
    }
    printf("parsed %zu sign tests in %zu scenarios, %zu validation tests in %zu scenarios\n",
           sign.ntests, sign.nsc, val.ntests, val.nsc);
    int count_bad = 0;
    if (sign.ntests != SIGN_EXPECTED) {
        printf("error: %s held %zu sign tests, the official suite has %d: entries skipped by the "
               "parser, or a different suite\n",
               SIGN_FILE, sign.ntests, SIGN_EXPECTED);
        count_bad = 1;
    }
    if (val.ntests != VALIDATION_EXPECTED) {
        printf("error: %s held %zu validation tests, the official suite has %d: entries skipped "
               "by the parser, or a different suite\n",
               VALIDATION_FILE, val.ntests, VALIDATION_EXPECTED);
        count_bad = 1;
    }

    int sp = 0, sr = 0, vp = 0, vr = 0;
    run_suite(K_SIGN, &sign, filter, &sp, &sr);
    run_suite(K_VALIDATION, &val, filter, &vp, &vr);
    printf("sign: %d/%d passed; validation: %d/%d passed\n", sp, sr, vp, vr);
    printf("%d passed, %d failed\n", sp + vp, (sr - sp) + (vr - vp));
    suite_free(&sign);
    suite_free(&val);
    if (count_bad)
        return 1;
    return sp == sr && vp == vr && sr + vr > 0 ? 0 : 1;
}
