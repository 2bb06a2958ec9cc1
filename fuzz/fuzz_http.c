/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http - libFuzzer driver for the metrics port's request parser http_parse and its
 * routes http_route (src/metrics/http.c), which face whatever connects to the port.
 *
 * The input is the bytes a client sent, copied into a heap buffer of exactly its size so
 * that ASan catches a read past n. Besides crashes it checks:
 *   - http_parse returns -1, 0 or a length within the input;
 *   - a complete head ends with LF and its method and target lie inside it;
 *   - http_parse of every prefix of a complete head is 0 or -1 (never complete earlier
 *     than the blank line... or malformed only if the whole is), checked for the head
 *     length minus one;
 *   - http_route answers 200, 404, 405 or 503 with "HTTP/1.1 <status> " in front,
 *     Connection: close, and a Content-Length equal to the body's length.
 * Seeds: fuzz/corpus/http/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/http.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
inside(struct span s, const char *p, size_t n)
{
    return s.p >= p && s.n <= n && (size_t)(s.p - p) <= n - s.n;
}

static void
check_response(const struct buf *out, int st)
{
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", st);
    if (strncmp(out->data, want, strlen(want)) != 0)
        abort();
    const char *sep = strstr(out->data, "\r\n\r\n");
    const char *cl = strstr(out->data, "\r\nContent-Length: ");
    if (!sep || !cl || cl > sep || !strstr(out->data, "\r\nConnection: close\r\n"))
        abort();
    if (strtoul(cl + 18, NULL, 10) != out->len - (size_t)(sep + 4 - out->data))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    struct http_req req;
    int rc = http_parse(p, size, &req);
    if (rc < -1 || (rc > 0 && (size_t)rc > size))
        abort();
    if (rc > 0) {
        if (p[rc - 1] != '\n' || !inside(req.method, p, size) || !inside(req.target, p, size) ||
            req.method.n == 0 || req.target.n == 0)
            abort();
        struct http_req r2;
        if (http_parse(p, (size_t)rc - 1, &r2) > 0)
            abort();
        struct buf out;
        buf_init(&out, 0);
        int st = http_route(&req, size & 1, &out);
        if (st != 200 && st != 404 && st != 405 && st != 503)
            abort();
        check_response(&out, st);
        buf_free(&out);
    }
    free(p);
    return 0;
}
