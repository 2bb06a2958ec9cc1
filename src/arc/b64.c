/* SPDX-License-Identifier: MIT */
/* b64 - base64 with FWS tolerance; see b64.h. */
#include "../util/err.h"
#include "b64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
arc_b64_decode(struct span s, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t count = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            count++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad)
            return -ARC_EINVAL;
        count++;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char byte = (unsigned char)(acc >> bits);
            int rc = buf_append(out, &byte, 1);
            if (rc < 0)
                return rc;
            acc &= (1u << bits) - 1;
        }
    }
    if (count % 4 != 0 || pad > 2)
        return -ARC_EINVAL;
    return 0;
}

int
arc_b64_encode(const void *p, size_t n, struct buf *out)
{
    const unsigned char *in = p;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        q[0] = b64_alphabet[(v >> 18) & 63];
        q[1] = b64_alphabet[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        int rc = buf_append(out, q, 4);
        if (rc < 0)
            return rc;
    }
    return 0;
}
