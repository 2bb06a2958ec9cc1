/* SPDX-License-Identifier: MIT */
/*
 * err - the one error convention: functions return int, 0 on success and a negative
 * ARC_E* code on failure; detail for humans travels in a struct err the caller owns
 * and may pass as NULL. A verdict (a signature that does not verify) is not an error.
 */
#ifndef ARCPROXY_ERR_H
#define ARCPROXY_ERR_H

enum {
    ARC_OK = 0,
    ARC_EINVAL = 1,  /* malformed input or argument */
    ARC_ERANGE = 2,  /* a limit was reached */
    ARC_ENOENT = 3,  /* not found */
    ARC_EIO = 4,     /* I/O error (errno saved in struct err) */
    ARC_ECRYPTO = 5, /* OpenSSL failure */
    ARC_ETEMP = 6,   /* temporary: try again later */
    ARC_ESTATE = 7,  /* call out of order */
};

struct err {
    int code; /* positive ARC_E* value, 0 if none */
    int sys;  /* errno, when relevant */
    char text[256];
};

/* err_set - record code and text in e (if not NULL) and return -code. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void err_clear(struct err *e);
const char *err_name(int code);

#endif
