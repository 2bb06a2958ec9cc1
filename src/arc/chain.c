/* SPDX-License-Identifier: MIT */
/*
 * chain - the ARC sets of a message: structure (RFC 8617 §4.2, §5.2 steps 1-3) and
 * chain validation (§5.2 steps 4-7), by instance (i=), never by position.
 *
 *   arc_chain_parse(m)           at the end of the header section: find AAR/AMS/AS per
 *                                instance, note structural faults, register the keys
 *   arc_chain_verify(m, now, v)  the verdict, once keys were supplied
 *
 * Structural faults (duplicates, gaps, unparseable i=, > 50 sets) make the chain fail
 * without looking at a key. A key lookup temperror for a signature that decides the
 * verdict (the newest AMS, any AS) gives temperror, never fail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../util/xalloc.h"
#include "arc_int.h"

enum { KIND_AAR, KIND_AMS, KIND_AS };

static int
arc_kind(const struct arc_field *f)
{
    if (arc_hdr_name_is(f, "ARC-Seal"))
        return KIND_AS;
    if (arc_hdr_name_is(f, "ARC-Message-Signature"))
        return KIND_AMS;
    if (arc_hdr_name_is(f, "ARC-Authentication-Results"))
        return KIND_AAR;
    return -1;
}

/* parse_instance - i= value: 1*DIGIT within 1..ARC_MAX_INSTANCE (else 0 / -1). */
static int
parse_instance(struct span v)
{
    if (v.n == 0 || v.n > 3)
        return v.n > 3 ? -1 : 0;
    int i = 0;
    for (size_t k = 0; k < v.n; k++) {
        if (v.p[k] < '0' || v.p[k] > '9')
            return 0;
        i = i * 10 + (v.p[k] - '0');
    }
    return i > ARC_MAX_INSTANCE ? -1 : i;
}

int
arc_aar_instance(struct span v, int *inst)
{
    size_t i = 0;
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
        i++;
    if (i + 2 > v.n || v.p[i] != 'i')
        return -ARC_EINVAL;
    i++;
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    if (i >= v.n || v.p[i] != '=')
        return -ARC_EINVAL;
    i++;
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    size_t d0 = i;
    while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9')
        i++;
    int n = parse_instance((struct span){v.p + d0, i - d0});
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
        i++;
    if (i >= v.n || v.p[i] != ';')
        return -ARC_EINVAL;
    *inst = n;
    return n > 0 ? 0 : -ARC_EINVAL;
}

static void __attribute__((format(printf, 2, 3)))
chain_fail(struct arc_msg *m, const char *fmt, ...)
{
    if (m->struct_fail)
        return;
    m->struct_fail = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->struct_why, sizeof m->struct_why, fmt, ap);
    va_end(ap);
}

struct arc_keyent *
arc_msg_key(struct arc_msg *m, struct span selector, struct span domain)
{
    for (size_t i = 0; i < m->nkeys; i++) {
        struct arc_keyent *k = &m->keys[i];
        if (span_caseeq_str(selector, k->selector) && span_caseeq_str(domain, k->domain))
            return k;
    }
    if (m->nkeys == ARC_MAX_KEYREQS)
        return NULL;
    if (!m->keys)
        m->keys = xcalloc(ARC_MAX_KEYREQS, sizeof *m->keys);
    struct arc_keyent *k = &m->keys[m->nkeys++];
    memset(k, 0, sizeof *k);
    k->selector = span_dup(selector);
    k->domain = span_dup(domain);
    return k;
}

/* register_key - ask for the key of a signature whose s= and d= look sane. */
static void
register_key(struct arc_msg *m, const struct arc_tags *t)
{
    const struct span *s = arc_tags_get(t, "s"), *d = arc_tags_get(t, "d");
    if (s && d && arc_is_domain(*s) && arc_is_domain(*d))
        arc_msg_key(m, *s, *d);
}

static void
place(struct arc_msg *m, const struct arc_field *f, int kind)
{
    int inst = 0;
    struct arc_tags tags;
    if (kind == KIND_AAR) {
        if (arc_aar_instance(f->value, &inst) < 0) {
            chain_fail(m, "ARC-Authentication-Results without a valid i= prefix");
            return;
        }
    } else {
        if (arc_tags_parse(f->value, &tags) < 0) {
            chain_fail(m, "%s tag-list does not parse",
                       kind == KIND_AS ? "ARC-Seal" : "ARC-Message-Signature");
            return;
        }
        const struct span *iv = arc_tags_get(&tags, "i");
        inst = iv ? parse_instance(*iv) : 0;
    }
    if (inst < 0) {
        chain_fail(m, "more than %d ARC sets", ARC_MAX_INSTANCE);
        return;
    }
    if (inst == 0) {
        chain_fail(m, "ARC field with a missing or invalid i=");
        return;
    }
    struct arc_set *set = &m->sets[inst];
    const struct arc_field **slot = kind == KIND_AAR   ? &set->aar
                                    : kind == KIND_AMS ? &set->ams
                                                       : &set->as;
    if (*slot) {
        set->dup = 1;
        chain_fail(m, "more than one ARC field of a kind at i=%d", inst);
        return;
    }
    *slot = f;
    if (kind == KIND_AMS) {
        set->ams_tags = tags;
        set->ams_ok = 1;
    } else if (kind == KIND_AS) {
        set->as_tags = tags;
        set->as_ok = 1;
    }
    if (inst > m->nsets)
        m->nsets = inst;
}

void
arc_chain_parse(struct arc_msg *m)
{
    for (size_t i = 0; i < m->nfields; i++) {
        int kind = arc_kind(&m->fields[i]);
        if (kind < 0)
            continue;
        if (!m->sets)
            m->sets = xcalloc(ARC_MAX_INSTANCE + 1, sizeof *m->sets);
        m->any_arc = 1;
        place(m, &m->fields[i], kind);
    }
    for (int i = 1; i <= m->nsets; i++) {
        struct arc_set *set = &m->sets[i];
        if (!set->aar || !set->ams || !set->as)
            chain_fail(m, "ARC set i=%d is incomplete or missing", i);
    }
    if (m->struct_fail)
        return;
    for (int i = m->nsets; i >= 1; i--) {
        register_key(m, &m->sets[i].ams_tags);
        register_key(m, &m->sets[i].as_tags);
    }
}

/* newest_cv - the cv= of the highest-instance ARC-Seal, or NULL. */
static const struct span *
newest_cv(struct arc_msg *m)
{
    if (m->nsets < 1 || !m->sets[m->nsets].as_ok)
        return NULL;
    return arc_tags_get(&m->sets[m->nsets].as_tags, "cv");
}

static int __attribute__((format(printf, 3, 4)))
verdict(struct arc_verdict *v, enum arc_result r, const char *fmt, ...)
{
    v->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof v->reason, fmt, ap);
    va_end(ap);
    return 0;
}

/* check_cvs - §5.2 step 3.3: cv=none at i=1, cv=pass above. */
static int
check_cvs(struct arc_msg *m, struct arc_verdict *v)
{
    for (int i = 1; i <= m->nsets; i++) {
        const struct span *cv = arc_tags_get(&m->sets[i].as_tags, "cv");
        const char *want = i == 1 ? "none" : "pass";
        if (!cv || !span_caseeq_str(*cv, want)) {
            verdict(v, ARC_RESULT_FAIL, "ARC-Seal i=%d has a wrong cv=", i);
            return -1;
        }
    }
    return 0;
}

int
arc_chain_verify(struct arc_msg *m, int64_t now, struct arc_verdict *v)
{
    char why[128];
    memset(v, 0, sizeof *v);
    v->instances = m->nsets;
    if (!m->any_arc)
        return verdict(v, ARC_RESULT_NONE, "no ARC sets");
    const struct span *cv = newest_cv(m);
    if (cv && span_caseeq_str(*cv, "fail")) {
        v->newest_cv_fail = 1;
        return verdict(v, ARC_RESULT_FAIL, "newest ARC-Seal (i=%d) says cv=fail", m->nsets);
    }
    if (m->struct_fail) {
        v->parse_error = 1;
        v->result = ARC_RESULT_FAIL;
        snprintf(v->reason, sizeof v->reason, "%s", m->struct_why);
        return 0;
    }
    if (check_cvs(m, v) < 0)
        return 0;
    int rc = arc_ams_verify(m, m->nsets, now, why, sizeof why);
    if (rc != 1) {
        v->result = rc < 0 ? ARC_RESULT_TEMPERROR : ARC_RESULT_FAIL;
        snprintf(v->reason, sizeof v->reason, "AMS i=%d: %s", m->nsets, why);
        return 0;
    }
    v->oldest_pass = 0;
    for (int i = m->nsets - 1; i >= 1; i--) {
        if (arc_ams_verify(m, i, now, why, sizeof why) != 1) {
            v->oldest_pass = i + 1;
            break;
        }
    }
    for (int i = m->nsets; i >= 1; i--) {
        rc = arc_as_verify(m, i, why, sizeof why);
        if (rc != 1) {
            v->result = rc < 0 ? ARC_RESULT_TEMPERROR : ARC_RESULT_FAIL;
            snprintf(v->reason, sizeof v->reason, "AS i=%d: %s", i, why);
            return 0;
        }
    }
    return verdict(v, ARC_RESULT_PASS, "%d sets validate", m->nsets);
}
