/* SPDX-License-Identifier: MIT */
/*
 * tags - DKIM tag-lists (RFC 6376 §3.2), the syntax of ARC-Seal,
 * ARC-Message-Signature and DKIM key records.
 *
 *   arc_tags_parse(s, &t)    split into (name, value) spans pointing into s
 *   arc_tags_get(&t, name)   value of a tag (case-sensitive name), NULL if absent
 *
 * Values are trimmed of surrounding FWS; inner FWS is kept (b= may be folded).
 * Errors: -ARC_EINVAL for bad syntax (tag-name not ALPHA *(ALNUM / "_"), missing "=",
 * bytes outside VALCHAR, an empty tag-spec, a duplicate tag: §3.2 "MUST NOT" repeat);
 * -ARC_ERANGE for more than ARC_TAGS_MAX tags.
 */
#ifndef ARCPROXY_ARC_TAGS_H
#define ARCPROXY_ARC_TAGS_H

#include "../util/buf.h"

#define ARC_TAGS_MAX 32

struct arc_tag {
    struct span name;
    struct span value;
};

struct arc_tags {
    struct arc_tag tag[ARC_TAGS_MAX];
    size_t n;
};

int arc_tags_parse(struct span s, struct arc_tags *t);
const struct span *arc_tags_get(const struct arc_tags *t, const char *name);

#endif
