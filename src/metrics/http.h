/* SPDX-License-Identifier: MIT */
/*
 * http - the metrics port's HTTP/1.x: a request-head parser and the routes, no I/O
 * (serve.c moves the bytes). Shaped like picohttpparser: bytes in, "complete after N
 * bytes", "incomplete" or "malformed" out; the result points into the input.
 *
 *   http_parse(p, n, &req)        > 0: the head (request line + header fields + blank line)
 *                                 is complete and that long; 0: incomplete; -1: malformed
 *   http_route(&req, draining, out)   the whole response for req into out; returns the
 *                                 status: GET /metrics 200 (the exposition), GET /health
 *                                 200 "ok" or, draining, 503 "draining"; other paths 404;
 *                                 other methods 405
 *   http_error(status, out)       a response without a request (400, 408, 431, 503)
 *
 * Every response carries Content-Length and Connection: close (one request per
 * connection). A query string is ignored. A request body is never read: a GET has none
 * and every other method gets 405 before it.
 *
 * Limits: HTTP_MAX_HEAD bytes of head (the caller answers 431 past it); a method of up to
 * 16 bytes, a target of up to 1024; header lines must be "name: value" with no control
 * bytes but HTAB, and no obsolete line folding. CRLF or bare LF end lines.
 */
#ifndef ARCPROXY_HTTP_H
#define ARCPROXY_HTTP_H

#include <stddef.h>

#include "../util/buf.h"

#define HTTP_MAX_HEAD 8192

struct http_req {
    struct span method; /* "GET" */
    struct span target; /* "/metrics?x=1" */
    int minor;          /* HTTP/1.minor */
};

int http_parse(const char *p, size_t n, struct http_req *req);
int http_route(const struct http_req *req, int draining, struct buf *out);
void http_error(int status, struct buf *out);

#endif
