/* SPDX-License-Identifier: MIT */
/*
 * config_int - the key table and the table-driven pieces shared by the files of src/config and the
 * unit tests: value parsing and formatting (value.c) and the YAML walk (load.c).
 *
 * Every function here takes the table as an argument (keys, nkeys) and a base pointer
 * to the struct the table's offsets point into, so that tests can drive the loader with
 * a table of their own; config.c binds them to cfg_keys[] and struct arcp_config.
 */
#ifndef ARCPROXY_CONFIG_INT_H
#define ARCPROXY_CONFIG_INT_H

#include <stddef.h>

#include "../util/buf.h"
#include "config.h"

enum cfg_type {
    CFG_T_STRING,   /* char *, never NULL */
    CFG_T_BOOL,     /* int 0/1: true false yes no on off */
    CFG_T_INT,      /* int within min..max */
    CFG_T_SIZE,     /* size_t bytes: 123, 64K, 50M, 2G (1024-based) */
    CFG_T_DURATION, /* uint64_t ms: 250ms, 30s, 5m, 1h, 2d; a bare number is seconds */
    CFG_T_ENUM,     /* int index into values[] */
    CFG_T_ADDRESS,  /* struct cfg_addr */
    CFG_T_STRLIST,  /* struct cfg_strs */
    CFG_T_ADDRLIST, /* struct cfg_addrs */
    CFG_T_CIDRLIST, /* struct cfg_cidrs */
};

#define CFG_F_DOMAIN   0x01 /* string: empty or a domain name */
#define CFG_F_HOSTDEF  0x02 /* string: empty means this host's name (filled in on load) */
#define CFG_F_NONEMPTY 0x04 /* list: at least one entry; string: not empty */
#define CFG_F_NOUNIX   0x08 /* address: IP only */
#define CFG_F_PATH     0x10 /* string: a file name (shown as "path" in the docs) */
#define CFG_F_KEYSPEC  0x20 /* string list: "domain selector key_file" entries */
#define CFG_F_HDRSPEC  0x40 /* string list: header names, (o)/(x) prefixes, ':' separated */

/* cfg_key - one configuration key. def is the default written as in the file (for
 * lists: the entries separated by spaces); it goes through the same parser as the file. */
struct cfg_key {
    const char *name; /* "limits.max_rcpts": a dot separates section and key */
    enum cfg_type type;
    unsigned flags;
    size_t off; /* offsetof the destination in the struct */
    const char *def;
    long long min, max;        /* INT, SIZE (bytes), DURATION (ms) */
    const char *const *values; /* ENUM: NULL-terminated, in the C enum's order */
    unsigned port;             /* ADDRESS*: port when none is given (0: required) */
    const char *doc;           /* one line for docs/configuration.md */
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* cfg_pos - where a key was set (1-based); line 0 = not set in the file. */
struct cfg_pos {
    unsigned line, col;
};

/* lists while being built (value.c): the member matching the key's type is used */
union cfg_list {
    struct cfg_strs s;
    struct cfg_addrs a;
    struct cfg_cidrs c;
};

/* value.c: on failure these return -1 and put the reason (without key or position)
 * in why. s is n bytes, not NUL-terminated. */
int cfg_value_parse(const struct cfg_key *k, void *base, const char *s, size_t n, char *why,
                    size_t whysz);
int cfg_elem_parse(const struct cfg_key *k, union cfg_list *l, const char *s, size_t n, char *why,
                   size_t whysz);
void cfg_list_assign(const struct cfg_key *k, void *base, union cfg_list *l);
void cfg_list_free(const struct cfg_key *k, union cfg_list *l);
int cfg_is_list(const struct cfg_key *k);
size_t cfg_list_len(const struct cfg_key *k, const void *base);
int cfg_value_default(const struct cfg_key *k, void *base, char *why, size_t whysz);
void cfg_value_free(const struct cfg_key *k, void *base);
/* cfg_value_format - the value as YAML (strings quoted, lists in flow style). */
void cfg_value_format(const struct cfg_key *k, const void *base, struct buf *out);
/* cfg_type_format - "integer, 1 to 100000", "one of `s`, `v`" ... for the docs. */
void cfg_type_format(const struct cfg_key *k, struct buf *out);
void cfg_format_size(unsigned long long v, struct buf *out);
void cfg_format_duration(unsigned long long ms, struct buf *out);
/* cfg_hostname - this host's name, or "localhost" when it is not a domain name. */
char *cfg_hostname(void);

/* load.c: walk one YAML document from memory into base (already holding defaults),
 * recording where each key was set in pos[nkeys]. Returns the number of problems
 * found (each reported in errs). */
size_t cfg_parse(const struct cfg_key *keys, size_t nkeys, void *base, const char *name,
                 const void *data, size_t len, struct config_errors *errs, struct cfg_pos *pos);
/* cfg_error - add one message to errs: "NAME:LINE:COL: KEY: text" (pos/key optional). */
void cfg_error(struct config_errors *errs, const char *name, const struct cfg_pos *pos,
               const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
