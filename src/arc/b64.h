/* SPDX-License-Identifier: MIT */
/*
 * b64 - base64 for b=, bh= and p= (RFC 6376 §2.4): FWS inside the value is ignored.
 *   arc_b64_decode(s, out)  append the decoded bytes; -ARC_EINVAL on a bad character,
 *                           bad padding or a length that is not a multiple of 4
 *   arc_b64_encode(p, n, out)  append the encoding (with padding, no line breaks)
 */
#ifndef ARCPROXY_ARC_B64_H
#define ARCPROXY_ARC_B64_H

#include "../util/buf.h"

int arc_b64_decode(struct span s, struct buf *out);
int arc_b64_encode(const void *p, size_t n, struct buf *out);

#endif
