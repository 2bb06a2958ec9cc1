/* SPDX-License-Identifier: MIT */
/*
 * dsn - TEMP stub (see dsn.h). Drop at merge.
 */
#include <stdio.h>
#include <string.h>

#include "dsn.h"

int
dsn_build(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, const char *orig_hdr,
          size_t orig_hdr_len, struct buf *out, struct err *e)
{
    if (!in->sender || !*in->sender || nr == 0)
        return err_set(e, ARC_EINVAL, "dsn: no sender or no recipient");
    const char *b = "=_arcproxy_dsn_stub";
    buf_printf(out,
               "From: MAILER-DAEMON@%s\r\nTo: <%s>\r\nSubject: Undelivered Mail Returned to "
               "Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: "
               "multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n",
               in->reporting_mta, in->sender, b);
    buf_printf(out, "--%s\r\nContent-Type: text/plain\r\n\r\nQueue id %s: %s.\r\n\r\n", b,
               in->qid ? in->qid : "-", in->reason ? in->reason : "delivery failed");
    buf_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; %s\r\n",
               b, in->reporting_mta);
    for (size_t i = 0; i < nr; i++) {
        const char *st = r[i].status ? r[i].status : "5.0.0";
        buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n",
                   r[i].addr, st);
        if (r[i].diag)
            buf_printf(out, "Diagnostic-Code: smtp; %s\r\n", r[i].diag);
    }
    buf_printf(out, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", b);
    buf_append(out, orig_hdr, orig_hdr_len);
    buf_printf(out, "\r\n--%s--\r\n", b);
    return 0;
}
