/* SPDX-License-Identifier: MIT */
/*
 * key - DKIM key records (RFC 6376 §3.6.1, RFC 8463) and the signing keys of arcproxy.
 *
 *   arc_pubkey_parse(txt, n, min_rsa_bits, &pk, e)   record text -> public key
 *   arc_pubkey_free(pk)                              NULL is fine; returns NULL
 *   arc_pubkey_verify(pk, alg, digest, sig, siglen)  1 valid, 0 invalid
 *   arc_privkey_load_pem(pem, n, &k, e)              PEM (PKCS#1 or PKCS#8) -> key
 *   arc_privkey_load_file(path, &k, e)               same, from a file
 *   arc_privkey_sign(k, digest, out, e)              signature bytes appended to out
 *   arc_privkey_type / arc_privkey_bits              what was loaded
 *   arc_privkey_free(k)                              NULL is fine; returns NULL
 *   arc_keygen(type, bits, &pem, &record, e)         new key: PEM text and the DKIM record
 *
 * Digests are SHA-256 (32 bytes): rsa-sha256 is RSASSA-PKCS1-v1_5 over the digest with
 * SHA-256's DigestInfo; ed25519-sha256 (RFC 8463) is PureEdDSA over the 32-byte digest.
 *
 * arc_pubkey_parse results: 0 with *pk set; -ARC_EINVAL for a syntax error, unknown v=,
 * k= or h= that excludes sha256, bad base64 or DER; -ARC_ENOENT for a revoked key
 * (empty p=); -ARC_ERANGE for an RSA key below min_rsa_bits. Each is a failed signature
 * for the caller; err text says which.
 */
#ifndef ARCPROXY_ARC_KEY_H
#define ARCPROXY_ARC_KEY_H

#include <stddef.h>

#include "../util/buf.h"
#include "../util/err.h"

enum arc_alg {
    ARC_ALG_RSA_SHA256,
    ARC_ALG_ED25519_SHA256,
};

struct arc_pubkey;
struct arc_privkey;

int arc_pubkey_parse(const char *txt, size_t n, unsigned min_rsa_bits, struct arc_pubkey **pk,
                     struct err *e);
struct arc_pubkey *arc_pubkey_free(struct arc_pubkey *pk);
enum arc_alg arc_pubkey_alg(const struct arc_pubkey *pk);
int arc_pubkey_testing(const struct arc_pubkey *pk); /* t=y */
int arc_pubkey_verify(const struct arc_pubkey *pk, enum arc_alg alg, const unsigned char digest[32],
                      const unsigned char *sig, size_t siglen);

int arc_privkey_load_pem(const char *pem, size_t n, struct arc_privkey **k, struct err *e);
int arc_privkey_load_file(const char *path, struct arc_privkey **k, struct err *e);
struct arc_privkey *arc_privkey_free(struct arc_privkey *k);
enum arc_alg arc_privkey_alg(const struct arc_privkey *k);
unsigned arc_privkey_bits(const struct arc_privkey *k);
int arc_privkey_sign(const struct arc_privkey *k, const unsigned char digest[32], struct buf *out,
                     struct err *e);

/* arc_keygen - new key; *pem and *record are heap strings (free()). record is the TXT
 * value "v=DKIM1; k=rsa; p=..." (not split into strings). */
int arc_keygen(enum arc_alg alg, unsigned bits, char **pem, char **record, struct err *e);

#endif
