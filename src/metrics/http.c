/* SPDX-License-Identifier: MIT */
/*
 * http - request-head parser and routes of the metrics port (http.h).
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

#define MAX_METHOD 16
#define MAX_TARGET 1024

static int
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* line_end - index of the LF ending the line starting at i, or n when there is none. */
static size_t
line_end(const char *p, size_t n, size_t i)
{
    const char *lf = memchr(p + i, '\n', n - i);
    return lf ? (size_t)(lf - p) : n;
}

/* line_len - length of p[i..lf) without a trailing CR. */
static size_t
line_len(const char *p, size_t i, size_t lf)
{
    return lf > i && p[lf - 1] == '\r' ? lf - i - 1 : lf - i;
}

static int
parse_request_line(const char *s, size_t n, struct http_req *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i > MAX_METHOD || i >= n || s[i] != ' ')
        return -1;
    req->method = (struct span){s, i};
    size_t t = ++i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (i == t || i - t > MAX_TARGET || i >= n || s[i] != ' ')
        return -1;
    req->target = (struct span){s + t, i - t};
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || s[i + 7] < '0' || s[i + 7] > '9')
        return -1;
    req->minor = s[i + 7] - '0';
    return 0;
}

static int
parse_field(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return -1; /* also refuses obs-fold (a line starting with SP or HTAB) */
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    return 0;
}

int
http_parse(const char *p, size_t n, struct http_req *req)
{
    size_t i = 0, lf;
    memset(req, 0, sizeof *req);
    /* request line */
    lf = line_end(p, n, 0);
    if (lf == n)
        return n > MAX_METHOD + MAX_TARGET + 16 ? -1 : 0;
    if (parse_request_line(p, line_len(p, 0, lf), req) < 0)
        return -1;
    i = lf + 1;
    for (;;) {
        lf = line_end(p, n, i);
        if (lf == n)
            return 0;
        size_t len = line_len(p, i, lf);
        if (len == 0)
            return lf + 1 > HTTP_MAX_HEAD ? -1 : (int)(lf + 1);
        if (parse_field(p + i, len) < 0)
            return -1;
        i = lf + 1;
    }
}

static const char *
reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* respond - status line, headers and body into out. */
static int
respond(struct buf *out, int status, const char *ctype, const char *extra, const char *body,
        size_t len)
{
    buf_printf(out,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
               "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
               status, reason(status), ctype, len, extra ? extra : "");
    buf_append(out, body, len);
    return status;
}

static int
respond_text(struct buf *out, int status, const char *extra, const char *body)
{
    return respond(out, status, "text/plain; charset=utf-8", extra, body, strlen(body));
}

void
http_error(int status, struct buf *out)
{
    char body[64];
    snprintf(body, sizeof body, "%s\n", reason(status));
    respond_text(out, status, NULL, body);
}

int
http_route(const struct http_req *req, int draining, struct buf *out)
{
    struct span path = req->target;
    const char *q = memchr(path.p, '?', path.n);
    if (q)
        path.n = (size_t)(q - path.p);
    if (!span_eq(req->method, SPAN_LIT("GET")))
        return respond_text(out, 405, "Allow: GET\r\n", "Method Not Allowed\n");
    if (span_eq(path, SPAN_LIT("/health")))
        return draining ? respond_text(out, 503, NULL, "draining\n")
                        : respond_text(out, 200, NULL, "ok\n");
    if (!span_eq(path, SPAN_LIT("/metrics")))
        return respond_text(out, 404, NULL, "Not Found\n");
    struct buf body;
    buf_init(&body, 0);
    metrics_render(&body);
    respond(out, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, body.data ? body.data : "",
            body.len);
    buf_free(&body);
    return 200;
}
