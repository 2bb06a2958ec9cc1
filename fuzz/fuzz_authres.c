/* SPDX-License-Identifier: MIT */
/*
 * fuzz_authres - libFuzzer driver for arc_authres_parse (src/arc/authres.c).
 *
 * The input is one Authentication-Results field value, copied into a heap buffer of
 * exactly its size so that ASan catches a read past n. Besides crashes it checks:
 * only 0 or -ARC_EINVAL come back; every span lies inside the input; counts respect
 * the limits; every result has a method and a result; and each result's text, parsed
 * again alone after "x;", gives the same single result (ARC copies text into AAR).
 * Seeds: fuzz/corpus/authres/ (the golden .in files plus a few tricky ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arc/authres.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* span_inside - s is {NULL, 0} or lies within p[0..n). */
static int
span_inside(struct span s, const char *p, size_t n)
{
    if (!s.p)
        return s.n == 0;
    return s.p >= p && s.n <= n && (size_t)(s.p - p) <= n - s.n;
}

static void
check_result(const struct arc_authres_result *r, const char *p, size_t n)
{
    if (!r->method.n || !r->result.n || !r->text.n || r->nprops > ARC_AUTHRES_MAX_PROPS)
        abort();
    if (!span_inside(r->text, p, n) || !span_inside(r->method, p, n) ||
        !span_inside(r->result, p, n) || !span_inside(r->reason, p, n))
        abort();
    for (size_t k = 0; k < r->nprops; k++) {
        const struct arc_authres_prop *pr = &r->props[k];
        if (!pr->ptype.n || !pr->property.n || !span_inside(pr->ptype, p, n) ||
            !span_inside(pr->property, p, n) || !span_inside(pr->value, p, n))
            abort();
    }
}

/* check_text_roundtrip - "x;" + text parses to one result equal in method and result. */
static void
check_text_roundtrip(const struct arc_authres_result *r)
{
    size_t n = 2 + r->text.n;
    char *p = malloc(n);
    struct arc_authres *again = malloc(sizeof *again);
    if (!p || !again)
        abort();
    memcpy(p, "x;", 2);
    memcpy(p + 2, r->text.p, r->text.n);
    if (arc_authres_parse(p, n, again, NULL) != 0 || again->nresults != 1 || again->nbroken)
        abort();
    const struct arc_authres_result *a = &again->results[0];
    if (!span_eq(a->method, r->method) || !span_eq(a->result, r->result) ||
        !span_eq(a->text, r->text) || a->nprops != r->nprops)
        abort();
    free(again);
    free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    struct arc_authres *ar = malloc(sizeof *ar);
    if (!p || !ar)
        abort();
    if (size)
        memcpy(p, data, size);
    struct err e;
    int rc = arc_authres_parse(size ? p : NULL, size, ar, &e);
    if (rc != 0 && rc != -ARC_EINVAL)
        abort();
    if (rc == 0) {
        if (!ar->authserv_id.n || !span_inside(ar->authserv_id, p, size) ||
            ar->nresults > ARC_AUTHRES_MAX_RESULTS || (ar->no_result && ar->nresults))
            abort();
        for (size_t i = 0; i < ar->nresults; i++) {
            check_result(&ar->results[i], p, size);
            check_text_roundtrip(&ar->results[i]);
        }
        (void)arc_authres_find(ar, "arc");
        (void)arc_authres_find(ar, "dkim");
    }
    arc_authres_reset(ar);
    free(ar);
    free(p);
    return 0;
}
