/* SPDX-License-Identifier: MIT */
/*
 * client - the re-injection SMTP client (downstream side), as a protocol state machine
 * with no socket, timer or clock in it: the owner (libuv adapter, or a test) feeds the
 * bytes the server sent, drains the bytes to send, issues commands and gets results
 * through a fixed set of callbacks (after OpenSMTPD smtp_client.c).
 *
 *   smtp_client_new(helo, cb, ctx)       a session waiting for the greeting; NULL if helo
 *                                        is not a usable EHLO argument
 *   smtp_client_free(c)                  NULL is fine; returns NULL; legal inside a callback
 *   smtp_client_input(c, p, n)           bytes from the server (any split)
 *   smtp_client_eof(c)                   the server closed the connection
 *   smtp_client_fail(c, cls, why)        the adapter's own failures (timeout, write error)
 *   smtp_client_out(c) / _out_consumed(c, n)   bytes to send; the adapter drains them
 *   smtp_client_xforward(c, xf)          XFORWARD, split into commands of <= 512 octets
 *   smtp_client_mail(c, path, params, n, size_add) / smtp_client_rcpt(c, path, params, n)
 *   smtp_client_data(c)                  DATA; 354 opens the body
 *   smtp_client_body(c, p, n)            message bytes, dot-stuffed on the way out
 *   smtp_client_body_end(c)              [CRLF] "." CRLF
 *   smtp_client_rset(c) / _noop(c) / _quit(c)
 *   smtp_client_has_ext(c, ext) / _size_limit(c) / _xforward_attrs(c)   after ready
 *   smtp_client_pending(c)               a reply (or the greeting) is awaited
 *   smtp_client_reply_format(r, code, out)   a reply as text, for relaying upstream
 *   smtp_client_size_raise(value, add, &n)   a SIZE= value plus the bytes we add
 *   smtp_client_fail_name(cls)           "protocol error", ... for logs
 *
 * Flow: the greeting (220) is answered with EHLO by the machine itself; a 5xx to EHLO
 * falls back to HELO; then cb->ready runs and extensions can be queried. Commands run in
 * lock-step: one in flight at a time; a command issued while another is in flight,
 * before ready, or out of sequence (RCPT without an accepted MAIL, DATA without an
 * accepted RCPT, MAIL or XFORWARD inside a transaction, body outside DATA) returns
 * -ARC_ESTATE and sends nothing. Each command ends in exactly one cb->reply with the
 * server's complete reply (XFORWARD: the last reply, or the first that is not 2xx) or in
 * cb->failed. Commands may be issued from inside the callbacks.
 *
 * Failures (cb->failed, once; the client is dead afterwards and every call returns
 * -ARC_ESTATE): a 421 at any time, also unsolicited (SMTP_CLIENT_FAIL_CLOSED, with the
 * reply); the peer closed the connection (CLOSED; not after QUIT); the greeting, EHLO
 * and HELO refused (REFUSED, with the reply); a malformed reply line, a line over
 * SMTP_CLIENT_MAX_LINE octets, more than SMTP_CLIENT_MAX_LINES lines, a code that changes
 * within a reply, a reply class the command cannot get (354 to MAIL, 250 to DATA), a
 * reply when no command is in flight (PROTOCOL). TIMEOUT and INTERNAL are raised only by
 * the owner through smtp_client_fail(), so that every failure reaches the owner by one
 * path. The owner maps each class to the 4xx it owes the MTA.
 *
 * Replies: bare LF is accepted as a line end in replies; CR or NUL inside a line is a
 * protocol error (reply text is relayed upstream, so it must not carry line breaks).
 *
 * Body: dot-stuffing applies to a '.' that starts a line, a line starting after any LF
 * (also a bare one: a receiver that takes bare LF as a line end must not see an end of
 * data there); it is tracked across calls. Line ends are passed through unchanged. The
 * body is not held: each call appends its bytes (plus stuffing) to out, and the owner
 * must drain out before feeding more (out is not capped). A body cannot be aborted
 * without its ".": to drop a transaction mid-body, close the connection.
 *
 * Ownership: helo, path and params are copied into out; the reply given to callbacks
 * (and its line spans) and the why text are valid only during the callback.
 * Errors: functions return 0 or -ARC_E*: -ARC_ESTATE (see above), -ARC_EINVAL (control
 * characters in a path or parameter, malformed SIZE=), -ARC_ENOENT (XFORWARD not
 * offered). A call that fails up front sends nothing and runs no callback.
 *
 * Limits: SMTP_CLIENT_MAX_LINE per reply line and SMTP_CLIENT_MAX_LINES per reply bound
 * what a server can make us hold (4 KiB line buffer, reply text up to 256 KiB).
 * Gaps: no PIPELINING (lock-step only; the extension is reported, not used); no
 * STARTTLS, AUTH, CHUNKING/BDAT; MAIL/RCPT lines are not length-checked (the server's
 * limit applies); parameters other than SIZE= are passed whether or not the server
 * offers their extension (BODY=, SMTPUTF8, DSN): that policy is the owner's. The names
 * say "client_reply" because reply.h owns the tag "smtp_reply" (an enum).
 */
#ifndef ARCPROXY_SMTP_CLIENT_H
#define ARCPROXY_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "server.h"

#define SMTP_CLIENT_MAX_LINE  4096 /* octets per reply line, line end excluded */
#define SMTP_CLIENT_MAX_LINES 64   /* lines per reply */
#define SMTP_CLIENT_CMD_LINE  512  /* XFORWARD command lines, CRLF included (RFC 5321) */
#define SMTP_CLIENT_XF_VALUE  255  /* characters of one XFORWARD value, xtext-encoded */

/* ESMTP extensions the server offers (bits for smtp_client_has_ext). */
enum smtp_ext {
    SMTP_EXT_PIPELINING = 1u << 0,
    SMTP_EXT_SIZE = 1u << 1,
    SMTP_EXT_8BITMIME = 1u << 2,
    SMTP_EXT_SMTPUTF8 = 1u << 3,
    SMTP_EXT_DSN = 1u << 4,
    SMTP_EXT_XFORWARD = 1u << 5,
    SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 6,
};

/* XFORWARD attributes the server offers (bits for smtp_client_xforward_attrs). */
enum smtp_xf_attr {
    SMTP_XF_NAME = 1u << 0,
    SMTP_XF_ADDR = 1u << 1,
    SMTP_XF_PORT = 1u << 2,
    SMTP_XF_PROTO = 1u << 3,
    SMTP_XF_HELO = 1u << 4,
    SMTP_XF_IDENT = 1u << 5,
    SMTP_XF_SOURCE = 1u << 6,
};

enum smtp_client_fail {
    SMTP_CLIENT_FAIL_PROTOCOL, /* the server broke the protocol */
    SMTP_CLIENT_FAIL_CLOSED,   /* the server closed the connection, or said 421 */
    SMTP_CLIENT_FAIL_REFUSED,  /* greeting, EHLO and HELO refused: no session */
    SMTP_CLIENT_FAIL_TIMEOUT,  /* owner: the server did not answer in time */
    SMTP_CLIENT_FAIL_INTERNAL, /* owner: our side broke (write error, bug) */
};

/* One complete reply: the code and the text of each line, without "NNN-"/"NNN " and
 * without the line end (empty for a bare "250"). Borrowed: valid during the callback. */
struct smtp_client_reply {
    int code;
    size_t nlines;
    const struct span *lines;
};

struct smtp_client_cb {
    /* greeting and EHLO (or HELO) done; extensions can be queried. */
    void (*ready)(void *ctx);
    /* the complete reply to the command in flight. */
    void (*reply)(void *ctx, const struct smtp_client_reply *r);
    /* the session is dead; r is the reply that killed it, or NULL. */
    void (*failed)(void *ctx, enum smtp_client_fail cls, const struct smtp_client_reply *r,
                   const char *why);
};

struct smtp_client;

struct smtp_client *smtp_client_new(const char *helo, const struct smtp_client_cb *cb, void *ctx);
struct smtp_client *smtp_client_free(struct smtp_client *c);

int smtp_client_input(struct smtp_client *c, const char *p, size_t n);
int smtp_client_eof(struct smtp_client *c);
int smtp_client_fail(struct smtp_client *c, enum smtp_client_fail cls, const char *why);
struct span smtp_client_out(const struct smtp_client *c);
void smtp_client_out_consumed(struct smtp_client *c, size_t n);
int smtp_client_pending(const struct smtp_client *c);

/* smtp_client_xforward - send every attribute the server offers: xf's value
 * (xtext-encoded, cut to SMTP_CLIENT_XF_VALUE characters at an escape boundary: the
 * receiver, ours and Postfix's, refuses longer values) or [UNAVAILABLE] when NULL (xf may
 * be NULL; xf->present is the owner's business: whether to call this at all). Outside a
 * transaction only. */
int smtp_client_xforward(struct smtp_client *c, const struct smtp_xforward *xf);
/* smtp_client_mail - MAIL FROM:<path> (path "" for the null sender) with params as
 * given, except SIZE=: dropped when the server does not offer SIZE, else raised by
 * size_add octets (the header fields the proxy adds). */
int smtp_client_mail(struct smtp_client *c, const char *path, const struct smtp_param *params,
                     size_t nparams, uint64_t size_add);
int smtp_client_rcpt(struct smtp_client *c, const char *path, const struct smtp_param *params,
                     size_t nparams);
int smtp_client_data(struct smtp_client *c);
int smtp_client_body(struct smtp_client *c, const char *p, size_t n);
int smtp_client_body_end(struct smtp_client *c);
int smtp_client_rset(struct smtp_client *c);
int smtp_client_noop(struct smtp_client *c);
int smtp_client_quit(struct smtp_client *c);

int smtp_client_has_ext(const struct smtp_client *c, unsigned ext);
/* smtp_client_size_limit - the server's SIZE limit; 0 when none is declared. */
uint64_t smtp_client_size_limit(const struct smtp_client *c);
unsigned smtp_client_xforward_attrs(const struct smtp_client *c);

/* smtp_client_reply_format - append r to out as "CODE-text" CRLF ... "CODE text", no CRLF
 * after the last line (the form smtp_server_reply() takes). code 0 keeps r->code; another
 * code replaces it on every line, and the class digit of a leading enhanced status code
 * ("5.1.1") follows it. */
int smtp_client_reply_format(const struct smtp_client_reply *r, int code, struct buf *out);
/* smtp_client_size_raise - *out = value (decimal, as in SIZE=) + add, saturating. */
int smtp_client_size_raise(const char *value, uint64_t add, uint64_t *out);
const char *smtp_client_fail_name(enum smtp_client_fail cls);

#endif
