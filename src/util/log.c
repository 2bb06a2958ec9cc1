/* SPDX-License-Identifier: MIT */
/* log - the one logging path; see log.h.
 *
 * The level and the destination are atomics: worker threads log while the loop thread
 * may apply a reloaded configuration (log_init again). syslog(3) has its own lock. */
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "arcproxy"; /* set once, before any thread starts */
static _Atomic int log_level = LOG_LVL_INFO;
static _Atomic int log_syslog;

void
log_init(const char *ident, enum log_level level, int use_syslog, int facility)
{
    log_ident = ident;
    atomic_store(&log_level, (int)level);
    if (use_syslog) {
        /* LOG_NDELAY: connect now, before a chroot or privilege drop could prevent it */
        openlog(ident, LOG_PID | LOG_NDELAY, facility);
        atomic_store(&log_syslog, 1);
    } else if (atomic_exchange(&log_syslog, 0)) {
        closelog();
    }
}

void
log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum log_level
log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level);
}

void
log_msg(enum log_level level, int with_errno, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    int saved = errno;
    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (with_errno && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ": %s", strerror(saved));
    if (atomic_load_explicit(&log_syslog, memory_order_relaxed)) {
        syslog(prio[level], "%s", line);
        return;
    }
    fprintf(stderr, "%s: %s: %s\n", log_ident, names[level], line);
}

char *
log_escape(char *out, size_t outsz, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outsz == 0)
        return out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= outsz)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= outsz)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
