/* SPDX-License-Identifier: MIT */
/*
 * dsn - build a delivery status notification (RFC 3464 inside an RFC 6522
 * multipart/report) for recipients that downstream rejected for good or that stayed too
 * long in the queue. Bytes only: the caller sends the result through downstream with
 * MAIL FROM:<> and RCPT TO:<in->sender> (never for the null sender).
 *
 *   dsn_build(in, r, nr, hdr, hdrlen, out, e)  the whole DSN message, CRLF line ends,
 *                                              appended to out
 *   dsn_needs_smtputf8(p, n)                   1 when the bytes are not all ASCII: the
 *                                              DSN must be sent with SMTPUTF8
 *   dsn_xtext_decode(s, out)                   RFC 3461 xtext ("a+2Bb" -> "a+b") into out
 *
 * What is written: Date, From: Mail Delivery System <MAILER-DAEMON@reporting_mta>,
 * To: <sender>, Subject, Message-ID, MIME-Version, Auto-Submitted: auto-replied
 * (RFC 3834), then three parts: a text/plain explanation; message/delivery-status
 * (Reporting-MTA, X-Arcproxy-Queue-ID, Original-Envelope-Id, Arrival-Date; per
 * recipient Original-Recipient, Final-Recipient, Action: failed, Status, Remote-MTA,
 * Diagnostic-Code); the original header section (only if orig_hdr_len > 0). Only the
 * header section is ever returned, also for RET=FULL (ret_hdrs 0): the body is not
 * kept in memory and a header section is enough for the sender to recognise the
 * message; the text part says so.
 *
 * Input hygiene: every input string is data, never structure. CR, LF and other control
 * bytes become one space each run, so no input can start a header line or a MIME part;
 * long values (diag text) are folded at spaces, hard-split past 900 bytes and cut at
 * DSN_MAX_TEXT bytes, so no line exceeds 998 octets. ENVID and ORCPT are xtext-decoded
 * (RFC 3461 §4: the DSN carries the decoded values). status, when given, must look like
 * an enhanced status code (class 2/4/5); otherwise, and when NULL, it is taken from the
 * diag text ("550 5.1.1 ..." -> 5.1.1, "550 ..." -> 5.0.0, "4xx ..." -> 4.0.0), else
 * 5.0.0.
 *
 * 8-bit / internationalized (RFC 6533), chosen so that the DSN is 7-bit unless it
 * cannot be:
 *  - all addresses ASCII: message/delivery-status, addresses as "rfc822;"; the original
 *    header section as text/rfc822-headers, 7bit when it is ASCII with lines <= 998,
 *    otherwise base64 (8-bit bytes, possibly not UTF-8, survive any relay intact);
 *  - the sender or a recipient (or decoded ORCPT) address is non-ASCII: the DSN can only
 *    travel with SMTPUTF8 anyway, so it is an RFC 6533 "global" DSN:
 *    message/global-delivery-status with "utf-8;" addresses as UTF-8, and the header
 *    section as message/global-headers when it is valid UTF-8 with lines <= 998
 *    (else text/rfc822-headers in base64). report-type stays delivery-status (as
 *    Postfix writes it). dsn_needs_smtputf8(out) tells the caller which case it got.
 *  Non-ASCII bytes in diag, reason, remote_mta, reporting_mta, envid and qid become '?'.
 *
 * Ownership: inputs are borrowed for the call; out is the caller's buffer (appended to;
 * a cap on it gives -ARC_ERANGE). The boundary and Message-ID come from getrandom();
 * the boundary is checked not to occur in any part.
 *
 * Errors: -ARC_EINVAL for a NULL/"" sender (also "<>"), a NULL/"" reporting_mta, no
 * recipients (nr == 0) or a recipient without addr; -ARC_ERANGE when out's cap is hit;
 * -ARC_EIO when no random bytes can be had. On error out is left as it was.
 *
 * Limits: original header section DSN_MAX_HDR bytes, cut at a line boundary (a note
 * says so); DSN_MAX_TEXT bytes per diag/reason text.
 * Threads: no shared state; call from any thread.
 */
#ifndef ARCPROXY_QUEUE_DSN_H
#define ARCPROXY_QUEUE_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

#define DSN_MAX_HDR  (64 * 1024)
#define DSN_MAX_TEXT 2000

struct dsn_rcpt {
    const char *addr;       /* final recipient (RCPT TO address) */
    const char *orcpt;      /* ORCPT= as received (xtext, e.g. "rfc822;a@b"), NULL if none */
    const char *status;     /* enhanced status "5.1.1"; derived from reply if NULL */
    const char *diag;       /* downstream's reply text, e.g. "550 5.1.1 <x>: unknown user" */
    const char *remote_mta; /* downstream host name or address, NULL: none */
};

struct dsn_info {
    const char *reporting_mta; /* our hostname */
    const char *sender;        /* original envelope sender (DSN goes to it); must not be "" */
    const char *envid;         /* ENVID= (xtext) or NULL */
    const char *qid;           /* original queue id */
    int64_t arrival;           /* unix seconds the original arrived */
    int64_t now;               /* unix seconds, for Date: */
    const char *reason;        /* short human reason ("rejected by downstream") */
    int ret_hdrs;              /* 1: RET=HDRS or none; 0: RET=FULL (still only headers returned) */
};

int dsn_build(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, const char *orig_hdr,
              size_t orig_hdr_len, struct buf *out, struct err *e);
int dsn_needs_smtputf8(const char *p, size_t n);
int dsn_xtext_decode(const char *s, struct buf *out);

#endif
