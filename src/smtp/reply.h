/* SPDX-License-Identifier: MIT */
/*
 * reply - the one table of SMTP replies with enhanced status codes (RFC 3463), after
 * OpenSMTPD's esc.c: each condition has one entry, so the same condition always yields
 * the same code, enhanced code and text, whoever sends it (the server state machine,
 * the adapter, the re-injection side).
 *
 *   smtp_reply_text(r)   "250 2.0.0 Ok" (static, no CRLF); "" for SMTP_R_NONE
 *   smtp_reply_code(r)   250; 0 for SMTP_R_NONE
 *
 * Texts never carry peer data or the host name; replies that must (greeting, EHLO,
 * HELO) are built by their sender.
 */
#ifndef ARCPROXY_SMTP_REPLY_H
#define ARCPROXY_SMTP_REPLY_H

enum smtp_reply {
    SMTP_R_NONE = 0,
    /* 2xx, 3xx */
    SMTP_R_OK,      /* 250 2.0.0 generic success (NOOP, RSET, XFORWARD) */
    SMTP_R_MAIL_OK, /* 250 2.1.0 sender accepted (for the owner) */
    SMTP_R_RCPT_OK, /* 250 2.1.5 recipient accepted (for the owner) */
    SMTP_R_DATA_GO, /* 354 go ahead with the message (for the owner) */
    SMTP_R_BYE,     /* 221 2.0.0 QUIT */
    SMTP_R_VRFY,    /* 252 2.0.0 VRFY is never answered */
    SMTP_R_HELP,    /* 214 2.0.0 */
    /* 4xx */
    SMTP_R_BUSY,          /* 421 4.3.2 all sessions in use (adapter, before a session) */
    SMTP_R_SHUTDOWN,      /* 421 4.3.2 the proxy is stopping */
    SMTP_R_TIMEOUT,       /* 421 4.4.2 the client was silent or too slow */
    SMTP_R_TOO_MANY_ERR,  /* 421 4.7.0 max_errors protocol errors */
    SMTP_R_PIPE_FULL,     /* 421 4.7.0 more than max_pipeline bytes sent ahead */
    SMTP_R_LOCAL_ERROR,   /* 451 4.3.0 our own failure; the MTA retries */
    SMTP_R_TOO_MANY_RCPT, /* 452 4.5.3 max_rcpts reached */
    /* 5xx: syntax and sequence */
    SMTP_R_UNKNOWN_CMD,   /* 500 5.5.1 */
    SMTP_R_LINE_TOO_LONG, /* 500 5.5.2 command line over max_line */
    SMTP_R_BAD_CHAR,      /* 500 5.5.2 NUL, bare CR or another control byte in a command */
    SMTP_R_SYNTAX,        /* 501 5.5.4 arguments where none are allowed, or missing */
    SMTP_R_SYNTAX_HELO,   /* 501 5.5.4 EHLO/HELO without a name */
    SMTP_R_SYNTAX_MAIL,   /* 501 5.5.4 not "FROM:<path>" */
    SMTP_R_SYNTAX_RCPT,   /* 501 5.5.4 not "TO:<path>" */
    SMTP_R_SYNTAX_VRFY,   /* 501 5.5.4 VRFY without an argument */
    SMTP_R_BAD_SENDER,    /* 501 5.1.7 reverse-path syntax */
    SMTP_R_BAD_RCPT,      /* 501 5.1.3 forward-path syntax (or <>) */
    SMTP_R_BAD_PARAM,     /* 501 5.5.4 keyword[=value] syntax, or a keyword given twice */
    SMTP_R_BAD_SIZE,      /* 501 5.5.4 SIZE= not a number */
    SMTP_R_BAD_BODY,      /* 501 5.5.4 BODY= not 7BIT or 8BITMIME */
    SMTP_R_BAD_RET,       /* 501 5.5.4 RET= not FULL or HDRS */
    SMTP_R_BAD_ENVID,     /* 501 5.5.4 ENVID= not xtext of at most 100 characters */
    SMTP_R_BAD_NOTIFY,    /* 501 5.5.4 NOTIFY= not NEVER or SUCCESS,FAILURE,DELAY */
    SMTP_R_BAD_ORCPT,     /* 501 5.5.4 ORCPT= not addr-type;xtext */
    SMTP_R_NEED_HELO,     /* 503 5.5.1 MAIL before EHLO/HELO */
    SMTP_R_NESTED_MAIL,   /* 503 5.5.1 MAIL inside a transaction */
    SMTP_R_NEED_MAIL,     /* 503 5.5.1 RCPT or DATA before MAIL */
    SMTP_R_NEED_RCPT,     /* 503 5.5.1 DATA with no accepted recipient (RFC 2920 §3.1) */
    SMTP_R_UNKNOWN_PARAM, /* 555 5.5.4 MAIL/RCPT parameter not offered or unknown */
    SMTP_R_NEED_UTF8,     /* 553 5.6.7 non-ASCII address without MAIL ... SMTPUTF8 */
    /* 5xx: message */
    SMTP_R_SIZE_EXCEEDED, /* 552 5.3.4 SIZE= or the message over max_msg_size */
    SMTP_R_HDR_EXCEEDED,  /* 552 5.3.4 header section over max_header_bytes/_fields */
    SMTP_R_BARE_LF,       /* 550 5.5.2 bare LF or bare CR in the message (smuggling) */
    /* XFORWARD (Postfix XFORWARD_README) */
    SMTP_R_XF_DENIED,    /* 550 5.7.0 client not allowed */
    SMTP_R_XF_IN_TXN,    /* 503 5.5.1 between MAIL and the end of the transaction */
    SMTP_R_XF_SYNTAX,    /* 501 5.5.4 no attribute, or not name=value */
    SMTP_R_XF_BAD_NAME,  /* 501 5.5.4 unknown attribute */
    SMTP_R_XF_BAD_VALUE, /* 501 5.5.4 bad xtext, over 255, control or 8-bit bytes */
    SMTP_R_COUNT
};

const char *smtp_reply_text(enum smtp_reply r);
int smtp_reply_code(enum smtp_reply r);

#endif
