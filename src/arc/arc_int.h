/* SPDX-License-Identifier: MIT */
/*
 * arc_int - internals shared by the files of src/arc (not for callers).
 *
 * Files: hdr.c (header section: fields, LF->CRLF), canon.c (RFC 6376 §3.4 header and
 * streaming body canonicalization + SHA-256), chain.c (ARC set structure, §5.2
 * validation), ams.c (ARC-Message-Signature compute/verify), seal.c (ARC-Seal and the
 * new set, §5.1), fold.c (writing folded fields), msg.c (the public arc_msg calls),
 * edit.c (dropped fields, field counts, the header section as sent).
 */
#ifndef ARCPROXY_ARC_INT_H
#define ARCPROXY_ARC_INT_H

#include <stdint.h>

#include <openssl/evp.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "arc.h"
#include "key.h"
#include "tags.h"

/* One header field; spans point into arc_msg.hdr (CRLF-normalized copy). */
struct arc_field {
    struct span raw;   /* whole field, folding included, with its final CRLF */
    struct span name;  /* field name as written (no trailing WSP) */
    struct span value; /* after the colon, up to but not including the final CRLF */
    int dropped;       /* arc_msg_drop_*: absent for sealing and header_out */
};

/* hdr.c */
int arc_hdr_split(struct span section, struct arc_field *fields, size_t max, size_t *nfields);
int arc_hdr_name_is(const struct arc_field *f, const char *name);

/* canon.c: header canonicalization appends to out (with CRLF unless nocrlf). */
int arc_canon_header(enum arc_canon c, const struct arc_field *f, int nocrlf, struct buf *out);
/* arc_canon_header_strip_b - same, with the value of the b= tag deleted (§3.7). */
int arc_canon_header_strip_b(enum arc_canon c, const struct arc_field *f, struct buf *out);
int arc_sha256(const void *p, size_t n, unsigned char out[32]);
const EVP_MD *arc_sha256_md(void);

/* Streaming body canonicalizer + SHA-256 (RFC 6376 §3.4.3, §3.4.4, l= limit). */
struct arc_bodyhash {
    enum arc_canon canon;
    int64_t limit; /* l= value, -1: whole body */
    EVP_MD_CTX *md;
    uint64_t emitted;  /* canonical bytes hashed so far */
    uint64_t pending;  /* empty lines seen but not yet emitted */
    int line_has_data; /* current line has emitted content */
    int pending_wsp;   /* relaxed: whitespace seen since the last content byte */
    int prev_cr;       /* the previous input byte was CR (not yet interpreted) */
    int any;           /* simple: anything emitted */
    int portable;      /* 1: use the portable scanner even where SSE2 exists (tests) */
    unsigned char stage[16384];
    size_t nstage;
    unsigned char digest[32];
    int done;
};

void arc_bodyhash_init(struct arc_bodyhash *bh, enum arc_canon canon, int64_t limit);
void arc_bodyhash_update(struct arc_bodyhash *bh, const char *p, size_t n);
void arc_bodyhash_final(struct arc_bodyhash *bh);
void arc_bodyhash_free(struct arc_bodyhash *bh);

/* chain.c: one ARC set, parsed */
struct arc_set {
    const struct arc_field *aar, *ams, *as;
    int dup; /* more than one field of a kind at this instance */
    struct arc_tags ams_tags, as_tags;
    int ams_ok, as_ok; /* tag-lists parsed */
};

struct arc_keyent {
    char *selector;
    char *domain;
    int supplied;
    enum arc_key_status status;
    struct arc_pubkey *pk;
    int parse_rc;  /* arc_pubkey_parse result when FOUND */
    char why[200]; /* why the key is unusable */
};

#define ARC_MAX_BODYHASH 8

struct arc_msg {
    struct arc_opts opts;
    int state; /* 0 header, 1 body, 2 finished */
    int lf_only;
    struct buf raw; /* header section as received: while in state 0; afterwards only
                     * when it differs from hdr (raw_kept), for arc_msg_header_out */
    size_t scan;    /* bytes of raw already scanned for the empty line */
    struct buf hdr; /* header section, CRLF-normalized */
    int raw_kept;
    size_t hdr_in_len; /* header section as received, with the empty line after it */
    char eoh[2];       /* that empty line as received: "\r\n", "\n" or none */
    size_t eoh_len;
    struct arc_field *fields;
    size_t nfields;
    int body_prev_cr;

    struct arc_bodyhash *bh[ARC_MAX_BODYHASH];
    size_t nbh;
    struct arc_bodyhash *seal_bh;

    /* chain structure, from chain.c at the end of the header section */
    struct arc_set *sets; /* [ARC_MAX_INSTANCE + 1], index = instance; NULL until an ARC
                           * field is seen (most mail has none: keep arc_msg small) */
    int nsets;            /* highest instance */
    int any_arc;          /* any ARC field present */
    int struct_fail;      /* structure invalid: reason in struct_why */
    char struct_why[128];

    struct arc_keyent *keys; /* [ARC_MAX_KEYREQS], allocated with the first key asked for
                              * (24 KB that mail without a chain never needs) */
    size_t nkeys;

    int verified;
    struct arc_verdict verdict;
    int arc_dropped; /* arc_msg_drop_arc_sets: the next seal starts a chain at i=1 */
    int sealed;      /* arc_msg_seal was called: no more drops */
};

/* chain.c */
void arc_chain_parse(struct arc_msg *m);
int arc_chain_verify(struct arc_msg *m, int64_t now, struct arc_verdict *v);
struct arc_keyent *arc_msg_key(struct arc_msg *m, struct span selector, struct span domain);
int arc_aar_instance(struct span value, int *inst);

/* ams.c */
struct arc_bodyhash *arc_msg_bodyhash(struct arc_msg *m, enum arc_canon c, int64_t limit);
int arc_ams_parse_canon(const struct span *c, enum arc_canon *hc, enum arc_canon *bc);
/* arc_ams_verify - 1 pass, 0 fail, -ARC_ETEMP key temperror; why gets the reason */
int arc_ams_verify(struct arc_msg *m, int inst, int64_t now, char *why, size_t whysz);
/* arc_hash_headers - h= selection bottom-up into the digest context */
int arc_hash_headers(const struct arc_field *const *fields, size_t n, enum arc_canon c,
                     struct span hlist, EVP_MD_CTX *md, struct buf *scratch);

int arc_sig_check(struct arc_msg *m, struct span s, struct span d, struct span a, struct span b,
                  const unsigned char digest[32], char *why, size_t whysz);

/* arc_why - format a verdict's reason into why; returns 0 (the "fail" of a check). */
int arc_why(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* seal.c */
int arc_as_verify(struct arc_msg *m, int inst, char *why, size_t whysz);

/* fold.c: append "Name: value" folded at 78 columns where possible, with CRLF. */
struct arc_fold {
    struct buf *out;
    size_t col;
};
void arc_fold_begin(struct arc_fold *f, struct buf *out, const char *name);
/* arc_fold_word - append text that must stay on one line, preceded by a space
 * (folding point) unless first. */
void arc_fold_word(struct arc_fold *f, const char *p, size_t n, int space_before);
/* arc_fold_b64 - append a base64 value that may be broken anywhere (FWS inside). */
void arc_fold_b64(struct arc_fold *f, const char *p, size_t n);
void arc_fold_end(struct arc_fold *f);

#endif
