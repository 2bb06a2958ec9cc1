/* SPDX-License-Identifier: MIT */
/*
 * authres - Authentication-Results (RFC 8601) parser; see authres.h for the API.
 *
 *   arc_authres_parse   authserv-id [version], then one result per ';'-separated resinfo
 *   arc_authres_reset   zero ar (parse allocates nothing)
 *   arc_authres_find    first result for a method, compared case-insensitively
 *
 * How: after the authserv-id the value is cut at every ';' that is outside comments and
 * quoted-strings, and each segment is parsed on its own, so a broken resinfo cannot
 * disturb its neighbours. Every read is bounded by n; nothing is copied.
 *
 * Leniency beyond the ABNF, because real mail needs it:
 *  - keywords may contain '_' (Fastmail "policy.is_org"); a property may contain '.';
 *  - an unquoted pvalue or reason is any run of bytes up to FWS, '(' or '"' (so base64
 *    header.b with '/', '+', '=', and UTF-8 addresses), or a quoted-string, optionally
 *    followed by "@domain" (a quoted local-part: the value is then the whole address);
 *  - a bare "key=value" after the result other than reason= (Microsoft "action=none",
 *    Fastmail "score=-100") is skipped: it stays in text but is not a prop;
 *  - reason= is accepted anywhere after the result; the first one wins;
 *  - empty and comment-only segments (";;", a trailing ';') are ignored, not broken.
 *
 * text is the segment trimmed of whitespace and CR/LF only: comments at either end stay
 * ("arc=none (no signatures found)"), since ARC copies them into its AAR.
 *
 * Errors: -ARC_EINVAL when there is no authserv-id: the value is empty or CFWS only, an
 * empty quoted-string, an unterminated comment or quoted-string before it, or a token
 * glued to something other than CFWS or ';' (e.g. "spf=pass ..." with the authserv-id
 * left out, as some Microsoft servers write it). On error ar is left zeroed.
 * Counted in nbroken and dropped: a segment without method=result, with an unterminated
 * comment or quoted-string (it runs to the end of the value), or with junk after the
 * result; anything other than CFWS and a version between authserv-id and the first ';';
 * "none" when real results are present too; segments beyond ARC_AUTHRES_MAX_RESULTS.
 * Limits: props beyond ARC_AUTHRES_MAX_PROPS are skipped (they stay in text).
 * Gaps: quoted-pairs are not unescaped (spans show "\"" as written); a method's version
 * ("dkim/1") is checked but not reported; a version above 999999999 is not a version.
 */
#include <string.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "authres.h"

/* cur - a cursor over p[0..n); every read checks i < n first. */
struct cur {
    const char *p;
    size_t n;
    size_t i;
};

static int
is_fws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_keychar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_';
}

/* is_tokenchar - RFC 2045 token: no SPACE, CTL or tspecial; 8-bit allowed (U-labels). */
static int
is_tokenchar(unsigned char c)
{
    return c > 0x20 && c != 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* is_valuechar - bytes of an unquoted pvalue or reason. */
static int
is_valuechar(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '(' && c != '"' && c != ';';
}

static int
cur_at(const struct cur *c, char ch)
{
    return c->i < c->n && c->p[c->i] == ch;
}

/* cur_at_delim - at the end, FWS, a comment or ';': what may follow a token. */
static int
cur_at_delim(const struct cur *c)
{
    return c->i == c->n || is_fws((unsigned char)c->p[c->i]) || cur_at(c, '(') || cur_at(c, ';');
}

/* skip_delimited - at open: past the matching close, quoted-pairs honoured, nesting
 * counted when open and close differ (comments); -1 (cursor at the end) if unterminated. */
static int
skip_delimited(struct cur *c, char open, char close)
{
    size_t depth = 0;
    while (c->i < c->n) {
        char ch = c->p[c->i];
        if (ch == '\\') {
            if (c->i + 1 >= c->n)
                break;
            c->i += 2;
            continue;
        }
        c->i++;
        if (ch == close && depth > 0 && --depth == 0)
            return 0;
        if (ch == open)
            depth++;
    }
    c->i = c->n;
    return -1;
}

/* skip_comment - at '(': past the matching ')'; skip_quoted - at '"': past the closing '"'. */
static int
skip_comment(struct cur *c)
{
    return skip_delimited(c, '(', ')');
}

static int
skip_quoted(struct cur *c)
{
    return skip_delimited(c, '"', '"');
}

/* skip_cfws - past whitespace, CR/LF and comments; -1 on an unterminated comment. */
static int
skip_cfws(struct cur *c)
{
    for (;;) {
        while (c->i < c->n && is_fws((unsigned char)c->p[c->i]))
            c->i++;
        if (!cur_at(c, '('))
            return 0;
        if (skip_comment(c) < 0)
            return -1;
    }
}

/* scan_keyword - the run of keyword bytes (and '.' if dots) at the cursor, maybe empty. */
static struct span
scan_keyword(struct cur *c, int dots)
{
    size_t start = c->i;
    while (c->i < c->n && (is_keychar((unsigned char)c->p[c->i]) || (dots && c->p[c->i] == '.')))
        c->i++;
    return (struct span){c->p + start, c->i - start};
}

/* scan_value - a pvalue or reason value: quoted-string content, a quoted local-part
 * with its "@domain" (kept whole), or a run of value bytes (maybe empty). */
static int
scan_value(struct cur *c, struct span *out)
{
    size_t start = c->i;
    if (cur_at(c, '"')) {
        if (skip_quoted(c) < 0)
            return -1;
        if (!cur_at(c, '@')) {
            *out = (struct span){c->p + start + 1, c->i - start - 2};
            return 0;
        }
    }
    while (c->i < c->n && is_valuechar((unsigned char)c->p[c->i]))
        c->i++;
    *out = (struct span){c->p + start, c->i - start};
    return 0;
}

/* parse_methodspec - [CFWS] method [ [CFWS] "/" [CFWS] version ] [CFWS] "=" [CFWS] result */
static int
parse_methodspec(struct cur *c, struct arc_authres_result *r)
{
    if (skip_cfws(c) < 0)
        return -1;
    r->method = scan_keyword(c, 0);
    if (!r->method.n || skip_cfws(c) < 0)
        return -1;
    if (cur_at(c, '/')) {
        c->i++;
        if (skip_cfws(c) < 0)
            return -1;
        size_t start = c->i;
        while (c->i < c->n && is_digit((unsigned char)c->p[c->i]))
            c->i++;
        if (c->i == start || skip_cfws(c) < 0)
            return -1;
    }
    if (!cur_at(c, '='))
        return -1;
    c->i++;
    if (skip_cfws(c) < 0)
        return -1;
    r->result = scan_keyword(c, 0);
    return r->result.n ? 0 : -1;
}

/* parse_prop - after "ptype": [CFWS] "." [CFWS] property [CFWS] "=" pvalue. */
static int
parse_prop(struct cur *c, struct span ptype, struct arc_authres_result *r)
{
    c->i++; /* the '.' */
    if (skip_cfws(c) < 0)
        return -1;
    struct span property = scan_keyword(c, 1);
    if (!property.n || skip_cfws(c) < 0 || !cur_at(c, '='))
        return -1;
    c->i++;
    struct span value;
    if (skip_cfws(c) < 0 || scan_value(c, &value) < 0)
        return -1;
    if (r->nprops < ARC_AUTHRES_MAX_PROPS)
        r->props[r->nprops++] = (struct arc_authres_prop){ptype, property, value};
    return 0;
}

/* parse_tail - what follows the result: reason=, ptype.property=, bare key=value. */
static int
parse_tail(struct cur *c, struct arc_authres_result *r)
{
    int have_reason = 0;
    for (;;) {
        if (skip_cfws(c) < 0)
            return -1;
        if (c->i == c->n)
            return 0;
        struct span key = scan_keyword(c, 0);
        if (!key.n || skip_cfws(c) < 0)
            return -1;
        if (cur_at(c, '.')) {
            if (parse_prop(c, key, r) < 0)
                return -1;
            continue;
        }
        if (!cur_at(c, '='))
            return -1;
        c->i++;
        struct span value;
        if (skip_cfws(c) < 0 || scan_value(c, &value) < 0)
            return -1;
        if (!have_reason && span_caseeq_str(key, "reason")) {
            r->reason = value;
            have_reason = 1;
        }
    }
}

/* seg_is_empty - nothing but CFWS (an unterminated comment is not empty). */
static int
seg_is_empty(struct span seg)
{
    struct cur c = {seg.p, seg.n, 0};
    return skip_cfws(&c) == 0 && c.i == c.n;
}

/* seg_is_none - [CFWS] "none" [CFWS]: the no-result form. */
static int
seg_is_none(struct span seg)
{
    struct cur c = {seg.p, seg.n, 0};
    if (skip_cfws(&c) < 0 || !span_caseeq_str(scan_keyword(&c, 0), "none"))
        return 0;
    return skip_cfws(&c) == 0 && c.i == c.n;
}

/* seg_end - index of the next ';' outside comments and quoted-strings, or n. */
static size_t
seg_end(const char *p, size_t n, size_t i)
{
    struct cur c = {p, n, i};
    while (c.i < c.n && c.p[c.i] != ';') {
        if (c.p[c.i] == '(')
            (void)skip_comment(&c);
        else if (c.p[c.i] == '"')
            (void)skip_quoted(&c);
        else
            c.i++;
    }
    return c.i;
}

/* seg_add - one resinfo segment (without its ';'): a result, "none", nothing or broken. */
static void
seg_add(struct arc_authres *ar, struct span seg, size_t *nnone)
{
    if (seg_is_empty(seg))
        return;
    if (seg_is_none(seg)) {
        (*nnone)++;
        return;
    }
    if (ar->nresults == ARC_AUTHRES_MAX_RESULTS) {
        ar->nbroken++;
        return;
    }
    struct arc_authres_result *r = &ar->results[ar->nresults];
    struct cur c = {seg.p, seg.n, 0};
    if (parse_methodspec(&c, r) < 0 || parse_tail(&c, r) < 0) {
        memset(r, 0, sizeof *r);
        ar->nbroken++;
        return;
    }
    r->text = span_trim(seg);
    ar->nresults++;
}

/* parse_authserv - [CFWS] authserv-id, which must be followed by CFWS, ';' or the end. */
static int
parse_authserv(struct cur *c, struct arc_authres *ar, struct err *e)
{
    if (skip_cfws(c) < 0)
        return err_set(e, ARC_EINVAL, "unterminated comment before authserv-id");
    size_t start = c->i;
    if (cur_at(c, '"')) {
        if (skip_quoted(c) < 0)
            return err_set(e, ARC_EINVAL, "unterminated quoted authserv-id");
        ar->authserv_id = (struct span){c->p + start + 1, c->i - start - 2};
    } else {
        while (c->i < c->n && is_tokenchar((unsigned char)c->p[c->i]))
            c->i++;
        ar->authserv_id = (struct span){c->p + start, c->i - start};
    }
    if (!ar->authserv_id.n)
        return err_set(e, ARC_EINVAL, "no authserv-id");
    if (!cur_at_delim(c))
        return err_set(e, ARC_EINVAL, "no authserv-id (junk after \"%.*s\")",
                       (int)(c->i - start < 64 ? c->i - start : 64), c->p + start);
    return 0;
}

/* parse_version - [CFWS] 1*DIGIT before the first ';' (Microsoft writes "mx... 1;").
 * Digits glued to anything but CFWS or ';' are not a version; the cursor then stays. */
static void
parse_version(struct cur *c, struct arc_authres *ar)
{
    struct cur v = *c;
    if (skip_cfws(&v) < 0)
        return;
    size_t start = v.i;
    int version = 0;
    while (v.i < v.n && is_digit((unsigned char)v.p[v.i]) && v.i - start < 9)
        version = version * 10 + (v.p[v.i++] - '0');
    if (v.i == start || !cur_at_delim(&v))
        return;
    ar->version = version;
    c->i = v.i;
}

int
arc_authres_parse(const char *value, size_t n, struct arc_authres *ar, struct err *e)
{
    arc_authres_reset(ar);
    if (!value && n)
        return err_set(e, ARC_EINVAL, "no value");
    struct cur c = {value ? value : "", n, 0};
    int rc = parse_authserv(&c, ar, e);
    if (rc < 0) {
        arc_authres_reset(ar);
        return rc;
    }
    parse_version(&c, ar);

    /* Before the first ';' only CFWS may remain ("mx.example.org (comment);"). */
    size_t end = seg_end(c.p, n, c.i);
    if (!seg_is_empty((struct span){c.p + c.i, end - c.i}))
        ar->nbroken++;
    size_t nnone = 0;
    while (end < n) {
        size_t start = end + 1;
        end = seg_end(c.p, n, start);
        seg_add(ar, (struct span){c.p + start, end - start}, &nnone);
    }
    if (nnone && ar->nresults == 0)
        ar->no_result = 1;
    else
        ar->nbroken += nnone;
    return 0;
}

void
arc_authres_reset(struct arc_authres *ar)
{
    if (ar)
        memset(ar, 0, sizeof *ar);
}

const struct arc_authres_result *
arc_authres_find(const struct arc_authres *ar, const char *method)
{
    if (!ar || !method)
        return NULL;
    for (size_t i = 0; i < ar->nresults; i++) {
        if (span_caseeq_str(ar->results[i].method, method))
            return &ar->results[i];
    }
    return NULL;
}
