/* SPDX-License-Identifier: MIT */
/*
 * authres - Authentication-Results parsing (RFC 8601) for what ARC needs of it.
 *
 *   arc_authres_parse(value, n, &ar, e)  parse one field value (after the colon)
 *   arc_authres_reset(&ar)               clear ar for reuse (parse allocates nothing)
 *   arc_authres_find(&ar, method)        first result for a method ("arc", "dkim"), or NULL
 *
 * The parser survives CFWS everywhere, nested comments, quoted strings, "i=" inside
 * comments, Microsoft's "authserv-id 1;" version form, "none" (no results), missing
 * or empty resinfo. The spans point into the caller's value, which must outlive ar.
 *
 * Each result keeps `text`: the resinfo exactly as written (comments kept, also at its
 * ends), trimmed of surrounding whitespace and of the separating ';', so that ARC can copy results into an
 * ARC-Authentication-Results field (RFC 8617 §4.1.1) one per line.
 *
 * Errors: -ARC_EINVAL when not even an authserv-id can be found (ar is then zeroed); a
 * broken resinfo is dropped (and counted in ar.nbroken) rather than failing the whole
 * field. An ARC-Authentication-Results value must have its "i=N;" removed first.
 * Limits: at most ARC_AUTHRES_MAX_RESULTS results, ARC_AUTHRES_MAX_PROPS props each.
 */
#ifndef ARCPROXY_ARC_AUTHRES_H
#define ARCPROXY_ARC_AUTHRES_H

#include <stddef.h>

#include "../util/buf.h"
#include "../util/err.h"

#define ARC_AUTHRES_MAX_RESULTS 64
#define ARC_AUTHRES_MAX_PROPS   16

struct arc_authres_prop {
    struct span ptype;    /* "smtp", "header", "body", "policy" */
    struct span property; /* "mailfrom", "d", "oldest-pass" */
    struct span value;    /* unquoted token or the quoted-string's content */
};

struct arc_authres_result {
    struct span text;   /* whole resinfo as written, trimmed */
    struct span method; /* "spf", "dkim", "arc" (without /version) */
    struct span result; /* "pass", "fail", "none" ... */
    struct span reason; /* reason= value, may be empty */
    struct arc_authres_prop props[ARC_AUTHRES_MAX_PROPS];
    size_t nprops;
};

struct arc_authres {
    struct span authserv_id;
    int version;   /* 0 if absent */
    int no_result; /* "none" */
    struct arc_authres_result results[ARC_AUTHRES_MAX_RESULTS];
    size_t nresults;
    size_t nbroken;
};

int arc_authres_parse(const char *value, size_t n, struct arc_authres *ar, struct err *e);
void arc_authres_reset(struct arc_authres *ar);
const struct arc_authres_result *arc_authres_find(const struct arc_authres *ar, const char *method);

#endif
