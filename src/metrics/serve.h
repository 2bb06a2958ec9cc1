/* SPDX-License-Identifier: MIT */
/*
 * serve - the metrics port: a small HTTP/1.1 server on the libuv loop (http.h has the
 * routes). Meant for a loopback address; it answers one request per connection.
 *
 *   metrics_server_start(loop, addrs, n, &srv, e)  listen on n socket addresses
 *   metrics_server_draining(srv, on)               /health: 503 "draining" from now on
 *   metrics_server_close(srv)                      stop listening, close connections;
 *                                                  memory goes in the close callbacks
 *
 * Limits (constants): METRICS_MAX_CONNS open connections (more are accepted and closed
 * at once), HTTP_MAX_HEAD bytes of request (431), METRICS_READ_TIMEOUT_MS for the whole
 * request (408), METRICS_WRITE_TIMEOUT_MS for the response. Junk gets 400. Nothing here
 * blocks: the exposition is rendered on the loop (a few KiB).
 *
 * Threads: the loop thread only. Errors: start returns -ARC_EIO with e filled (bind or
 * listen failed); afterwards failures are per connection and only logged at debug level.
 */
#ifndef ARCPROXY_METRICS_SERVE_H
#define ARCPROXY_METRICS_SERVE_H

#include <sys/socket.h>

#include <uv.h>

#include "../util/err.h"

#define METRICS_MAX_LISTEN       4
#define METRICS_MAX_CONNS        16
#define METRICS_READ_TIMEOUT_MS  5000
#define METRICS_WRITE_TIMEOUT_MS 10000

struct metrics_server;

int metrics_server_start(uv_loop_t *loop, const struct sockaddr *const *addrs, size_t n,
                         struct metrics_server **srvp, struct err *e);
void metrics_server_draining(struct metrics_server *srv, int on);
void metrics_server_close(struct metrics_server *srv);

#endif
