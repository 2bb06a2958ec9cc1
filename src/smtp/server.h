/* SPDX-License-Identifier: MIT */
/*
 * server - the SMTP server protocol state machine of the filter port (RFC 5321, ESMTP
 * extensions, Postfix XFORWARD). No socket, no timer, no clock: bytes in, replies out,
 * events to the owner (the libuv adapter, or a test).
 *
 *   smtp_server_new(cfg, hooks, ctx)         a session; the greeting is queued in out
 *   smtp_server_input(s, p, n)               bytes from the client (any split)
 *   smtp_server_reply(s, text)               answer the pending command (see below)
 *   smtp_server_out(s)                       replies to send (adapter drains, then
 *                                            smtp_server_out_consumed(s, n))
 *   smtp_server_pending(s) / _in_data(s)     waiting for the owner / inside DATA
 *   smtp_server_timeout(s) / _shutdown(s)    421 4.4.2 / 421 4.3.2 and close
 *   smtp_server_free(s)                      NULL is fine; returns NULL
 *
 * Commands that the owner must decide (MAIL, RCPT, DATA, end of data) raise an event and
 * leave the session "pending": input is buffered (bounded: pipelining) and not parsed
 * until smtp_server_reply() gives the reply line(s) ("250 2.1.0 Ok"). Everything else
 * (EHLO, HELO, NOOP, RSET, VRFY, HELP, QUIT, XFORWARD, syntax and sequence errors,
 * limits) is answered by the state machine itself, from one reply table (reply.h).
 * The owner may reply from inside the hook (synchronously) or later; what follows the
 * pending command is processed when the reply comes.
 *
 * smtp_server_reply(s, text): one reply, possibly multi-line (lines separated by CRLF
 * or LF, as downstream sent them); each line must start with 3 digits; CRLF is added
 * where missing. -ARC_EINVAL for a malformed text, -ARC_ESTATE when nothing is pending
 * (or the session is closing): nothing is sent then. By event: MAIL 2xx opens the
 * transaction; RCPT 2xx counts the recipient; DATA 3xx starts the message; the reply to
 * end of data (any code) ends the transaction: XFORWARD attributes are cleared and
 * hooks->reset runs. smtp_server_reply may thus run hooks before it returns: reset,
 * and the events of input held behind the answered command.
 *
 * DATA: after the owner accepts DATA with a 354 reply, message bytes are delivered
 * through hooks->data (dot-unstuffed, CRLF line ends, byte-exact otherwise) as they
 * arrive, in runs that point into the input (never the whole message); the end is
 * CRLF "." CRLF only. Bare LF or bare CR line ends (the SMTP smuggling class) are
 * rejected by default: the rest of the data is consumed and discarded up to CRLF "."
 * CRLF, hooks->data_abort tells the owner at once, and the reply is 550 5.5.2 (no event
 * to answer). Over max_msg_size or the header limits (header section = the lines before
 * the first empty line): the same, with 552 5.3.4. With SMTP_BARE_LF_ACCEPT a bare LF is
 * a line end (passed on as CRLF) and a bare CR an ordinary byte, but neither ever
 * takes part in the end of data: "\n.\n", "\r\n.\n" and "\n.\r\n" do not end it.
 * Command lines may end in LF alone (Postfix's smtpd accepts that too).
 *
 * Ownership: cfg is copied (hostname too). A struct smtp_cmd given to a hook stays
 * valid until the reply to it; a data run only during the call. Hooks must not call
 * smtp_server_input or smtp_server_free; they may call smtp_server_reply,
 * smtp_server_timeout and smtp_server_shutdown.
 *
 * Adapter duties: stop reading while smtp_server_pending() (so at most one read is
 * buffered; beyond max_pipeline bytes the session gets 421 4.7.0 after the pending
 * reply), and while out is large; run the command or data timer only while not
 * pending. smtp_server_timeout/_shutdown while pending cancel the event (the owner's
 * late reply gets -ARC_ESTATE; inside a message, or while its end is pending,
 * hooks->data_abort runs first), so the adapter should let a pending end of data
 * finish before shutting a session down.
 *
 * Errors: functions return 0 or -ARC_E*; a protocol error is a reply, never an error.
 * Limits (cfg; 0 = unlimited except max_line and max_pipeline, where 0 = default):
 * line length (the whole command line with its CRLF; 500 5.5.2 past max_line, the rest
 * of the line is skipped), recipients (452 4.5.3), message size (SIZE= and actual, 552
 * 5.3.4), header section bytes and fields (552 5.3.4), input buffered while pending
 * (max_pipeline), protocol errors (the state machine's own replies of class 5.5.x;
 * never the owner's replies) before 421 4.7.0: the max_errors-th error is answered
 * with 421 instead.
 */
#ifndef ARCPROXY_SMTP_SERVER_H
#define ARCPROXY_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

enum smtp_bare_lf {
    SMTP_BARE_LF_REJECT, /* default: 550 5.5.2 */
    SMTP_BARE_LF_ACCEPT, /* treat bare LF as a line end (CRLF written to hooks->data) */
};

struct smtp_server_cfg {
    const char *hostname;     /* in greeting and EHLO */
    size_t max_msg_size;      /* SIZE advertised and enforced; default 50 MiB */
    size_t max_rcpts;         /* per transaction; default 1000 */
    size_t max_line;          /* command line; default 2048 (> RFC's 512, as Postfix) */
    size_t max_header_bytes;  /* default 256 KiB */
    size_t max_header_fields; /* default 1000 */
    size_t max_pipeline;      /* bytes buffered while a command is pending; default 64 KiB */
    unsigned max_errors;      /* protocol errors before 421; default 20 */
    enum smtp_bare_lf bare_lf;
    int xforward_allowed; /* this client may use XFORWARD (adapter decides by IP) */
    int offer_dsn, offer_smtputf8, offer_8bitmime; /* default 1 each */
};

/* XFORWARD attributes (xtext-decoded; NULL when unset or "[UNAVAILABLE]", which
 * erases). present: an XFORWARD was accepted since the last end of transaction (then all
 * attributes NULL means "all unavailable", e.g. ADDR unavailable = local submission). */
struct smtp_xforward {
    char *name, *addr, *port, *proto, *helo, *ident, *source;
    int present;
};

struct smtp_param {
    char *key;   /* upper-cased: SIZE, BODY, RET, ENVID, SMTPUTF8, NOTIFY, ORCPT ... */
    char *value; /* NULL for a bare keyword */
};

struct smtp_cmd {
    char *path;                /* MAIL: reverse-path ("" for <>); RCPT: forward-path;
                                  without the brackets and any source route, quoting kept */
    struct smtp_param *params; /* as given, order kept */
    size_t nparams;
};

/* Hooks: mail, rcpt, data_start and data_end may be NULL (then the default 250/354/250
 * reply from reply.h is given); the others may be NULL (nothing to tell). */
struct smtp_server_hooks {
    /* EHLO/HELO seen (name kept in the session). No reply needed. */
    void (*helo)(void *ctx, const char *name, int esmtp);
    /* MAIL FROM accepted syntactically (SIZE already checked): reply with
     * smtp_server_reply; a 2xx opens the transaction. */
    void (*mail)(void *ctx, const struct smtp_cmd *cmd, const struct smtp_xforward *xf);
    /* RCPT TO syntactically fine and under max_rcpts: reply; 2xx counts it. */
    void (*rcpt)(void *ctx, const struct smtp_cmd *cmd);
    /* DATA with at least one accepted recipient: reply 354 to go on, or an error. */
    void (*data_start)(void *ctx);
    /* message bytes (unstuffed) */
    void (*data)(void *ctx, const char *p, size_t n);
    /* end of data: reply with the final status for the whole message. */
    void (*data_end)(void *ctx, size_t msg_size);
    /* the message was rejected by a limit or bare LF (reply already queued, 5xx). */
    void (*data_abort)(void *ctx, const char *why);
    /* transaction reset: every RSET and EHLO/HELO, and after the reply to end of data
     * (also the 550/552 of a rejected message). Must be idempotent. */
    void (*reset)(void *ctx);
    /* the session must be closed once out is drained (QUIT, 421); called once. */
    void (*close)(void *ctx);
};

struct smtp_server;

void smtp_server_cfg_default(struct smtp_server_cfg *c);
struct smtp_server *smtp_server_new(const struct smtp_server_cfg *cfg,
                                    const struct smtp_server_hooks *hooks, void *ctx);
struct smtp_server *smtp_server_free(struct smtp_server *s);
int smtp_server_input(struct smtp_server *s, const char *p, size_t n);
int smtp_server_reply(struct smtp_server *s, const char *reply);
struct span smtp_server_out(const struct smtp_server *s);
void smtp_server_out_consumed(struct smtp_server *s, size_t n);
int smtp_server_pending(const struct smtp_server *s); /* waiting for smtp_server_reply */
int smtp_server_in_data(const struct smtp_server *s); /* receiving message bytes */
int smtp_server_closing(const struct smtp_server *s);
void smtp_server_timeout(struct smtp_server *s);
void smtp_server_shutdown(struct smtp_server *s);
const struct smtp_xforward *smtp_server_xforward(const struct smtp_server *s);
const char *smtp_server_helo(const struct smtp_server *s);

#endif
