/* SPDX-License-Identifier: MIT */
/*
 * arc - the ARC (RFC 8617) engine: bytes in, header fields and verdicts out.
 *
 * Pure: no sockets, no event loop, no clock, no DNS. The caller feeds a message as it
 * arrives, supplies the key records the engine asks for, and passes the time in.
 *
 *   arc_msg_new(opts)               start a message (opts may be NULL: defaults)
 *   arc_msg_feed(m, p, n, e)        more message bytes (header section, then body), any split
 *   arc_msg_finish(m, e)            end of message
 *   arc_msg_keyreqs(m, out, max)    the (selector, domain) key records verification needs
 *   arc_msg_key_supply(m, s, d, st, txt, n)   hand in one record or a lookup failure
 *   arc_msg_verify(m, now, v, e)    chain validation (RFC 8617 §5.2) -> verdict
 *   arc_msg_seal(m, signer, v, out, e)  new ARC set (§5.1) as three header fields
 *   arc_msg_free(m)                 release (NULL is fine); returns NULL
 *
 *   arc_msg_field_count(m, name)    header fields of that name (not counting dropped ones)
 *   arc_msg_field_values(m, name, out, max)  the values of those fields, top to bottom
 *   arc_msg_sealer(m, inst)         d= of the ARC-Seal of instance inst (1..N), as written
 *   arc_msg_drop_authres(m, id)     after verify, before seal: Authentication-Results with
 *                                   authserv-id id are absent for sealing and output
 *                                   (RFC 8601 §5); returns how many
 *   arc_msg_drop_arc_sets(m)        after verify, before seal: every ARC field is absent;
 *                                   the next seal starts a new chain (i=1, cv=none)
 *   arc_msg_header_len(m)           bytes of the header section as received, with the
 *                                   empty line that ends it (0 before the header is complete)
 *   arc_msg_header_out(m, out)      that section as it should be sent: byte-exact, minus
 *                                   the lines of dropped fields
 *
 * Sending a message with dropped fields: the new set from arc_msg_seal, then
 * arc_msg_header_out, then the original stream from offset arc_msg_header_len (the body).
 * Verification always judges the message as received; drops only change what is sealed
 * and sent.
 *
 * Ownership: arc_msg owns copies of everything fed to it (the header section, bounded
 * by opts.max_header_bytes, kept twice when it has bare LFs or no final line end; the
 * body is only hashed, never kept). Strings in results
 * point into the arc_msg and live until arc_msg_free.
 *
 * Errors: negative ARC_E* with detail in struct err (may be NULL). A chain that does
 * not validate is a verdict (ARC_RESULT_FAIL), not an error. A message that cannot be
 * parsed (header limits, garbage) gives -ARC_EINVAL/-ARC_ERANGE from feed/finish.
 *
 * Thread use: one arc_msg at a time on one thread; different messages on different
 * threads in parallel. Private keys are read-only after load and may be shared.
 *
 * Limits: header section size and field count (opts), 50 ARC sets (RFC 8617 §4.2.1),
 * at most ARC_MAX_KEYREQS distinct keys per message.
 */
#ifndef ARCPROXY_ARC_H
#define ARCPROXY_ARC_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

#define ARC_MAX_INSTANCE 50
#define ARC_MAX_KEYREQS  (2 * ARC_MAX_INSTANCE)

enum arc_result {
    ARC_RESULT_NONE,
    ARC_RESULT_PASS,
    ARC_RESULT_FAIL,
    ARC_RESULT_TEMPERROR,
    ARC_RESULT_PERMERROR,
};

enum arc_canon {
    ARC_CANON_SIMPLE,
    ARC_CANON_RELAXED,
};

enum arc_key_status {
    ARC_KEY_FOUND,    /* txt holds the record (several TXT strings already joined) */
    ARC_KEY_MISSING,  /* NXDOMAIN / no TXT record: the signature fails */
    ARC_KEY_TEMPFAIL, /* SERVFAIL, timeout, refused: temperror, never fail */
    ARC_KEY_PERMFAIL, /* lookup permanently broken (e.g. bad name): permerror */
};

struct arc_opts {
    size_t max_header_bytes;  /* whole header section; default 256 KiB */
    size_t max_header_fields; /* default 1000 */
    unsigned min_rsa_bits;    /* RSA keys below this fail; default 1024 */
    /* body canonicalization the caller will seal with (hashed while bytes arrive) */
    enum arc_canon seal_body_canon;
    int want_seal; /* hash the body for a seal too */
};

struct arc_keyreq {
    const char *selector;
    const char *domain;
};

struct arc_verdict {
    enum arc_result result; /* chain validation status */
    int instances;          /* N: highest instance seen (0: no chain) */
    int oldest_pass;        /* RFC 8617 §7 header.oldest-pass (0: every AMS passed) */
    int newest_cv_fail;     /* the newest AS already says cv=fail (do not seal) */
    int parse_error;        /* an ARC field could not be parsed (for reasons/logging) */
    char reason[160];       /* human-readable: why not pass */
};

struct arc_privkey; /* loaded signing key, see key.h */

struct arc_signer {
    const char *domain;
    const char *selector;
    const char *authserv_id;
    const struct arc_privkey *key;
    /* h= candidates for the AMS; NULL: a default list. Each name picks the next
     * instance bottom-up; a name with no instance left is still listed (oversigning). */
    const char *const *headers;
    size_t nheaders;
    int headers_literal;      /* 1: use headers exactly as h= (CLI --headers) */
    enum arc_canon hdr_canon; /* AMS c= header part; default relaxed */
    enum arc_canon body_canon;
    int64_t timestamp;     /* t=; < 0: omit */
    const char *remote_ip; /* smtp.remote-ip for the AAR; NULL: omit */
    int cv_from_authres;   /* take cv from our A-R arc= result instead of the verdict */
};

/* arc_msg_seal return values >= 0 */
enum {
    ARC_SEALED = 0,
    ARC_SEAL_SKIPPED = 1, /* nothing to add: reason in err.text */
};

struct arc_msg;

void arc_opts_default(struct arc_opts *o);
struct arc_msg *arc_msg_new(const struct arc_opts *opts);
struct arc_msg *arc_msg_free(struct arc_msg *m);
int arc_msg_feed(struct arc_msg *m, const char *p, size_t n, struct err *e);
int arc_msg_finish(struct arc_msg *m, struct err *e);

size_t arc_msg_keyreqs(struct arc_msg *m, struct arc_keyreq *out, size_t max);
int arc_msg_key_supply(struct arc_msg *m, const char *selector, const char *domain,
                       enum arc_key_status st, const char *txt, size_t n);
int arc_msg_verify(struct arc_msg *m, int64_t now, struct arc_verdict *v, struct err *e);
int arc_msg_seal(struct arc_msg *m, const struct arc_signer *s, const struct arc_verdict *v,
                 struct buf *out, struct err *e);

size_t arc_msg_field_count(const struct arc_msg *m, const char *name);
/* arc_msg_field_values - the values (after the colon, folding kept, without the final
 * CRLF) of the fields named name, top to bottom, dropped ones left out; up to max are
 * stored in out, the return is how many there are. Spans point into m. 0 before the
 * header section is complete. */
size_t arc_msg_field_values(const struct arc_msg *m, const char *name, struct span *out,
                            size_t max);
/* arc_msg_sealer - the d= tag of instance inst's ARC-Seal (points into m); an empty span
 * when there is no such seal or it does not parse. */
struct span arc_msg_sealer(const struct arc_msg *m, int inst);
/* arc_msg_drop_* - number of fields dropped (>= 0), -ARC_ESTATE outside verify..seal,
 * -ARC_EINVAL for an empty authserv_id. An A-R field that does not parse is dropped
 * when its first token is authserv_id (it may still claim to be ours downstream). */
int arc_msg_drop_authres(struct arc_msg *m, const char *authserv_id);
int arc_msg_drop_arc_sets(struct arc_msg *m);
size_t arc_msg_header_len(const struct arc_msg *m);
/* arc_msg_header_out - appends to out; -ARC_ESTATE before the header section is
 * complete, -ARC_ERANGE when out's cap is reached. */
int arc_msg_header_out(const struct arc_msg *m, struct buf *out);

/* arc_msg_uses_lf - the message's header section ends lines with bare LF. */
int arc_msg_uses_lf(const struct arc_msg *m);

/* arc_is_domain - s is a DNS name of letters, digits, '-' and '_' labels (d=, s=). */
int arc_is_domain(struct span s);

const char *arc_result_name(enum arc_result r);
const char *arc_cv_name(enum arc_result r);

#endif
