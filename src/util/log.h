/* SPDX-License-Identifier: MIT */
/*
 * log - the one logging path. log_error/warn/info/debug take printf formats; the
 * *_errno variants append ": strerror(errno)". Lines go to stderr (default) or
 * syslog. Peer bytes must go through log_escape() first; key material never.
 *
 *   log_init(ident, level, use_syslog, facility)   start (again: a reload may switch
 *                                    destination and level; ident must stay valid)
 *   log_set_level(level) / log_get_level()
 *
 * stderr lines: "IDENT: LEVEL: text". syslog: openlog(ident, LOG_PID | LOG_NDELAY,
 * facility), each line at LOG_ERR/LOG_WARNING/LOG_INFO/LOG_DEBUG without the prefix.
 * Threads: any thread may log; lines longer than 2047 bytes are cut.
 */
#ifndef ARCPROXY_LOG_H
#define ARCPROXY_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, enum log_level level, int use_syslog, int facility);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...)       log_msg(LOG_LVL_ERROR, 0, __VA_ARGS__)
#define log_error_errno(...) log_msg(LOG_LVL_ERROR, 1, __VA_ARGS__)
#define log_warn(...)        log_msg(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_warn_errno(...)  log_msg(LOG_LVL_WARN, 1, __VA_ARGS__)
#define log_info(...)        log_msg(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_debug(...)       log_msg(LOG_LVL_DEBUG, 0, __VA_ARGS__)

/* log_escape - copy at most n bytes of p into out (size outsz), escaping control and
 * 8-bit bytes as \xHH; always NUL-terminates; returns out. */
char *log_escape(char *out, size_t outsz, const char *p, size_t n);

#endif
