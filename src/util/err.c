/* SPDX-License-Identifier: MIT */
/* err - error convention helpers; see err.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int
err_set(struct err *e, int code, const char *fmt, ...)
{
    if (e) {
        e->code = code;
        e->sys = errno;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->text, sizeof e->text, fmt, ap);
        va_end(ap);
    }
    return -code;
}

void
err_clear(struct err *e)
{
    if (e) {
        e->code = 0;
        e->sys = 0;
        e->text[0] = '\0';
    }
}

const char *
err_name(int code)
{
    switch (code < 0 ? -code : code) {
    case ARC_OK:
        return "ok";
    case ARC_EINVAL:
        return "invalid";
    case ARC_ERANGE:
        return "limit";
    case ARC_ENOENT:
        return "not found";
    case ARC_EIO:
        return "i/o error";
    case ARC_ECRYPTO:
        return "crypto error";
    case ARC_ETEMP:
        return "temporary error";
    case ARC_ESTATE:
        return "bad state";
    }
    return "unknown error";
}
