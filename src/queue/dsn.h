/* SPDX-License-Identifier: MIT */
/*
 * dsn - TEMP stub of the DSN builder (the real one is another helper's branch): the API
 * the queue runner calls, with a minimal RFC 3464 body. Drop at merge.
 */
#ifndef ARCPROXY_DSN_H
#define ARCPROXY_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

struct dsn_rcpt {
    const char *addr;
    const char *orcpt;
    const char *status;
    const char *diag;
    const char *remote_mta;
};

struct dsn_info {
    const char *reporting_mta;
    const char *sender;
    const char *envid;
    const char *qid;
    int64_t arrival;
    int64_t now;
    const char *reason;
    int ret_hdrs;
};

int dsn_build(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr,
              const char *orig_hdr, size_t orig_hdr_len, struct buf *out, struct err *e);

#endif
