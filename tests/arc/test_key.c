/* SPDX-License-Identifier: MIT */
/*
 * test_key - DKIM key records, private keys, sign/verify and keygen (src/arc/key.c).
 * Every key is generated at test time; there are no key files in the tree.
 * Not covered: interop with keys published by other signers (the conformance suite and
 * tests/interop do that), RSA keys above 2048 bits (slow to generate).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "arc/b64.h"
#include "arc/key.h"
#include "test.h"

/* digest_of - SHA-256 of a string, the stand-in for a header hash. */
static void
digest_of(const char *s, unsigned char d[32])
{
    SHA256((const unsigned char *)s, strlen(s), d);
}

static void
keygen_ok(enum arc_alg alg, unsigned bits, char **pem, char **record)
{
    struct err e;
    err_clear(&e);
    int rc = arc_keygen(alg, bits, pem, record, &e);
    if (rc != 0)
        TEST_FAIL("arc_keygen: %d %s", rc, e.text);
}

static struct arc_pubkey *
parse_ok(const char *record, unsigned min_bits)
{
    struct arc_pubkey *pk = NULL;
    struct err e;
    err_clear(&e);
    int rc = arc_pubkey_parse(record, strlen(record), min_bits, &pk, &e);
    if (rc != 0)
        TEST_FAIL("arc_pubkey_parse(\"%s\"): %d %s", record, rc, e.text);
    ASSERT(pk != NULL);
    return pk;
}

/* parse_rc - result code of parsing record; checks that *pk stays NULL on failure. */
static int
parse_rc(const char *record, unsigned min_bits)
{
    struct arc_pubkey *pk = (struct arc_pubkey *)&pk; /* poison: must be overwritten */
    struct err e;
    err_clear(&e);
    int rc = arc_pubkey_parse(record, strlen(record), min_bits, &pk, &e);
    if (rc < 0) {
        ASSERT(pk == NULL);
        ASSERT(e.code == -rc);
        ASSERT(e.text[0] != '\0');
    }
    arc_pubkey_free(rc == 0 ? pk : NULL);
    return rc;
}

static struct arc_privkey *
load_ok(const char *pem)
{
    struct arc_privkey *k = NULL;
    struct err e;
    err_clear(&e);
    int rc = arc_privkey_load_pem(pem, strlen(pem), &k, &e);
    if (rc != 0)
        TEST_FAIL("arc_privkey_load_pem: %d %s", rc, e.text);
    return k;
}

/* sign_ok - signature of digest by k in a fresh buffer. */
static void
sign_ok(const struct arc_privkey *k, const unsigned char d[32], struct buf *sig)
{
    struct err e;
    err_clear(&e);
    buf_init(sig, 0);
    int rc = arc_privkey_sign(k, d, sig, &e);
    if (rc != 0)
        TEST_FAIL("arc_privkey_sign: %d %s", rc, e.text);
}

/* record_with_p - "prefix" + base64(der) + "suffix" as a heap string. */
static char *
record_with_p(const char *prefix, const unsigned char *der, size_t n, const char *suffix)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, prefix);
    arc_b64_encode(der, n, &b);
    buf_puts(&b, suffix);
    return buf_take(&b, NULL);
}

/* rsa_record - a DKIM record for a fresh RSA key of bits generated with OpenSSL
 * directly (arc_keygen refuses sizes below 1024). pkcs1: publish RSAPublicKey, not SPKI. */
static char *
rsa_record(unsigned bits, int pkcs1, const char *prefix, const char *suffix)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    ASSERT(pkey != NULL);
    unsigned char *der = NULL;
    int n = pkcs1 ? i2d_PublicKey(pkey, &der) : i2d_PUBKEY(pkey, &der);
    ASSERT(n > 0);
    char *r = record_with_p(prefix, der, (size_t)n, suffix);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return r;
}

/* fold_p - copy of record with CRLF+TAB inserted every 40 characters after "p=", the
 * way a multi-string TXT record or a YAML fixture folds it. */
static char *
fold_p(const char *record)
{
    const char *p = strstr(record, "p=");
    ASSERT(p != NULL);
    p += 2;
    struct buf b;
    buf_init(&b, 0);
    buf_append(&b, record, (size_t)(p - record));
    for (size_t i = 0; p[i]; i++) {
        if (i && i % 40 == 0)
            buf_puts(&b, "\r\n\t");
        buf_putc(&b, p[i]);
    }
    return buf_take(&b, NULL);
}

static void
rsa_record_with_folded_p_parses(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_RSA_SHA256, 1024, &pem, &record);
    char *folded = fold_p(record);
    ASSERT(strchr(folded, '\n') != NULL);
    struct arc_pubkey *pk = parse_ok(folded, 1024);
    ASSERT_EQ_INT(arc_pubkey_alg(pk), ARC_ALG_RSA_SHA256);
    ASSERT_EQ_INT(arc_pubkey_testing(pk), 0);

    /* the folded record verifies what the key signs */
    struct arc_privkey *k = load_ok(pem);
    unsigned char d[32];
    digest_of("folded", d);
    struct buf sig;
    sign_ok(k, d, &sig);
    ASSERT_EQ_INT(arc_pubkey_verify(pk, ARC_ALG_RSA_SHA256, d, (unsigned char *)sig.data, sig.len),
                  1);
    buf_free(&sig);
    arc_privkey_free(k);
    arc_pubkey_free(pk);
    free(folded);
    free(record);
    free(pem);
}

static void
record_without_v_and_k_defaults_to_rsa(void)
{
    char *r = rsa_record(1024, 0, "p=", "");
    struct arc_pubkey *pk = parse_ok(r, 1024);
    ASSERT_EQ_INT(arc_pubkey_alg(pk), ARC_ALG_RSA_SHA256);
    arc_pubkey_free(pk);
    free(r);
}

static void
record_optional_tags_accepted(void)
{
    char *r = rsa_record(
        1024, 0, "v=DKIM1; h=sha1 : sha256; k=rsa; s=email; t=y:s; n=note; p=", "; x=unknown-tag;");
    struct arc_pubkey *pk = parse_ok(r, 1024);
    ASSERT_EQ_INT(arc_pubkey_testing(pk), 1);
    arc_pubkey_free(pk);
    free(r);
    r = rsa_record(1024, 0, "v=DKIM1; s=*; t=s; p=", "");
    pk = parse_ok(r, 1024);
    ASSERT_EQ_INT(arc_pubkey_testing(pk), 0);
    arc_pubkey_free(pk);
    free(r);
}

static void
pkcs1_public_key_accepted(void)
{
    char *r = rsa_record(1024, 1, "v=DKIM1; k=rsa; p=", "");
    struct arc_pubkey *pk = parse_ok(r, 1024);
    ASSERT_EQ_INT(arc_pubkey_alg(pk), ARC_ALG_RSA_SHA256);
    arc_pubkey_free(pk);
    free(r);
}

static void
revoked_key_is_enoent(void)
{
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa; p=", 1024), -ARC_ENOENT);
    ASSERT_EQ_INT(parse_rc("v=DKIM1; p= ;", 1024), -ARC_ENOENT);
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=ed25519; p=", 1024), -ARC_ENOENT);
}

static void
missing_p_is_invalid(void)
{
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa", 1024), -ARC_EINVAL);
    ASSERT_EQ_INT(parse_rc("", 1024), -ARC_EINVAL);
}

static void
rsa_512_below_minimum_is_erange(void)
{
    char *r = rsa_record(512, 0, "v=DKIM1; k=rsa; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_ERANGE);
    /* the minimum is the caller's: 512 passes a 512 floor */
    ASSERT_EQ_INT(parse_rc(r, 512), 0);
    free(r);
}

static void
h_sha1_only_is_invalid(void)
{
    char *r = rsa_record(1024, 0, "v=DKIM1; h=sha1; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
    r = rsa_record(1024, 0, "v=DKIM1; h=sha1:sha256; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), 0);
    free(r);
}

static void
unknown_k_is_invalid(void)
{
    char *r = rsa_record(1024, 0, "v=DKIM1; k=dsa; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
}

static void
v_not_first_is_invalid(void)
{
    char *r = rsa_record(1024, 0, "k=rsa; v=DKIM1; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
}

static void
v_other_than_dkim1_is_invalid(void)
{
    char *r = rsa_record(1024, 0, "v=DKIM2; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
}

static void
s_without_email_is_invalid(void)
{
    char *r = rsa_record(1024, 0, "v=DKIM1; s=tlsrpt; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
}

static void
bad_base64_is_invalid(void)
{
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa; p=MIGf!A0G", 1024), -ARC_EINVAL);
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa; p=MIGfM", 1024), -ARC_EINVAL);
}

static void
bad_der_is_invalid(void)
{
    /* valid base64, not a key */
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa; p=aGVsbG8gd29ybGQ=", 1024), -ARC_EINVAL);
    /* a good SPKI followed by a stray byte */
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    ASSERT(n > 0);
    unsigned char *longer = malloc((size_t)n + 1);
    memcpy(longer, der, (size_t)n);
    longer[n] = 0;
    char *r = record_with_p("v=DKIM1; p=", longer, (size_t)n + 1, "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
    free(longer);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
}

static void
bad_tag_list_is_invalid(void)
{
    ASSERT_EQ_INT(parse_rc("v=DKIM1; k=rsa; k=rsa; p=AAAA", 1024), -ARC_EINVAL);
    ASSERT_EQ_INT(parse_rc("v=DKIM1; novalue; p=AAAA", 1024), -ARC_EINVAL);
}

static void
ed25519_record_wrong_length_is_invalid(void)
{
    unsigned char raw[33] = {0};
    char *r = record_with_p("v=DKIM1; k=ed25519; p=", raw, sizeof raw, "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
    /* an RSA SPKI is not an ed25519 key */
    r = rsa_record(1024, 0, "v=DKIM1; k=ed25519; p=", "");
    ASSERT_EQ_INT(parse_rc(r, 1024), -ARC_EINVAL);
    free(r);
}

/* round_trip - keygen, load, sign, verify; then the failures a verifier must see. */
static void
round_trip(enum arc_alg alg, unsigned bits, unsigned want_bits, size_t want_siglen)
{
    char *pem, *record;
    keygen_ok(alg, bits, &pem, &record);
    struct arc_privkey *k = load_ok(pem);
    ASSERT_EQ_INT(arc_privkey_alg(k), alg);
    ASSERT_EQ_INT(arc_privkey_bits(k), want_bits);
    struct arc_pubkey *pk = parse_ok(record, 1024);
    ASSERT_EQ_INT(arc_pubkey_alg(pk), alg);

    unsigned char d[32];
    digest_of("message", d);
    struct buf sig;
    sign_ok(k, d, &sig);
    ASSERT_EQ_INT(sig.len, want_siglen);
    unsigned char *s = (unsigned char *)sig.data;
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, s, sig.len), 1);

    /* the other algorithm never verifies */
    enum arc_alg other = alg == ARC_ALG_RSA_SHA256 ? ARC_ALG_ED25519_SHA256 : ARC_ALG_RSA_SHA256;
    ASSERT_EQ_INT(arc_pubkey_verify(pk, other, d, s, sig.len), 0);
    /* a different digest */
    unsigned char d2[32];
    digest_of("messagf", d2);
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d2, s, sig.len), 0);
    /* a truncated signature */
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, s, sig.len - 1), 0);
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, s, 0), 0);
    /* one flipped bit, at both ends */
    s[0] ^= 0x01;
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, s, sig.len), 0);
    s[0] ^= 0x01;
    s[sig.len - 1] ^= 0x80;
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, s, sig.len), 0);

    /* appends: a second signature lands after the first */
    size_t first = sig.len;
    struct err e;
    ASSERT_EQ_INT(arc_privkey_sign(k, d, &sig, &e), 0);
    ASSERT_EQ_INT(sig.len, 2 * first);
    ASSERT_EQ_INT(arc_pubkey_verify(pk, alg, d, (unsigned char *)sig.data + first, first), 1);

    buf_free(&sig);
    arc_pubkey_free(pk);
    arc_privkey_free(k);
    free(pem);
    free(record);
}

static void
rsa1024_sign_verify_round_trip(void)
{
    round_trip(ARC_ALG_RSA_SHA256, 1024, 1024, 128);
}

static void
rsa2048_sign_verify_round_trip(void)
{
    round_trip(ARC_ALG_RSA_SHA256, 2048, 2048, 256);
}

static void
ed25519_sign_verify_round_trip(void)
{
    round_trip(ARC_ALG_ED25519_SHA256, 0, 256, 64);
}

/* rsa_signature_is_pkcs1_sha256 - our digest-based signature equals what OpenSSL's
 * one-shot RSA-SHA256 over the message produces (PKCS#1 v1.5 is deterministic), and
 * OpenSSL verifies ours: the DigestInfo is right. */
static void
rsa_signature_is_pkcs1_sha256(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_RSA_SHA256, 1024, &pem, &record);
    struct arc_privkey *k = load_ok(pem);
    const char *msg = "header hash input";
    unsigned char d[32];
    digest_of(msg, d);
    struct buf sig;
    sign_ok(k, d, &sig);

    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    ASSERT(pkey != NULL);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char ref[512];
    size_t reflen = sizeof ref;
    ASSERT_EQ_INT(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pkey), 1);
    ASSERT_EQ_INT(EVP_DigestSign(m, ref, &reflen, (const unsigned char *)msg, strlen(msg)), 1);
    ASSERT_EQ_MEM(sig.data, sig.len, ref, reflen);

    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    buf_free(&sig);
    arc_privkey_free(k);
    free(pem);
    free(record);
}

/* pkcs1_pem - the traditional "BEGIN RSA PRIVATE KEY" form of a PKCS#8 PEM. */
static char *
pkcs1_pem(const char *pkcs8)
{
    BIO *in = BIO_new_mem_buf(pkcs8, -1);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    ASSERT(pkey != NULL);
    BIO *out = BIO_new(BIO_s_mem());
    ASSERT_EQ_INT(PEM_write_bio_PrivateKey_traditional(out, pkey, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long n = BIO_get_mem_data(out, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(out);
    BIO_free(in);
    EVP_PKEY_free(pkey);
    return s;
}

static void
pkcs1_and_pkcs8_pem_both_load(void)
{
    char *pem8, *record;
    keygen_ok(ARC_ALG_RSA_SHA256, 1024, &pem8, &record);
    ASSERT(strstr(pem8, "-----BEGIN PRIVATE KEY-----") != NULL);
    char *pem1 = pkcs1_pem(pem8);
    ASSERT(strstr(pem1, "-----BEGIN RSA PRIVATE KEY-----") != NULL);

    struct arc_pubkey *pk = parse_ok(record, 1024);
    const char *pems[] = {pem8, pem1};
    for (int i = 0; i < 2; i++) {
        struct arc_privkey *k = load_ok(pems[i]);
        ASSERT_EQ_INT(arc_privkey_alg(k), ARC_ALG_RSA_SHA256);
        ASSERT_EQ_INT(arc_privkey_bits(k), 1024);
        unsigned char d[32];
        digest_of(pems[i], d);
        struct buf sig;
        sign_ok(k, d, &sig);
        ASSERT_EQ_INT(
            arc_pubkey_verify(pk, ARC_ALG_RSA_SHA256, d, (unsigned char *)sig.data, sig.len), 1);
        buf_free(&sig);
        arc_privkey_free(k);
    }
    arc_pubkey_free(pk);
    free(pem1);
    free(pem8);
    free(record);
}

static void
ed25519_pem_is_pkcs8(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_ED25519_SHA256, 0, &pem, &record);
    ASSERT(strstr(pem, "-----BEGIN PRIVATE KEY-----") != NULL);
    ASSERT(strncmp(record, "v=DKIM1; k=ed25519; p=", 22) == 0);
    ASSERT_EQ_INT(strlen(record + 22), 44); /* 32 bytes in base64 */
    free(pem);
    free(record);
}

static void
rsa_record_format(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_RSA_SHA256, 1024, &pem, &record);
    ASSERT(strncmp(record, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ", 56) == 0);
    free(pem);
    free(record);
}

static void
private_key_errors(void)
{
    struct arc_privkey *k = (struct arc_privkey *)&k;
    struct err e;
    const char *junk = "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n";
    ASSERT_EQ_INT(arc_privkey_load_pem(junk, strlen(junk), &k, &e), -ARC_EINVAL);
    ASSERT(k == NULL);
    ASSERT_EQ_INT(arc_privkey_load_pem("", 0, &k, &e), -ARC_EINVAL);

    /* encrypted PEM is refused, never prompted for */
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *out = BIO_new(BIO_s_mem());
    ASSERT_EQ_INT(PEM_write_bio_PrivateKey(out, pkey, EVP_aes_128_cbc(), (unsigned char *)"secret",
                                           6, NULL, NULL),
                  1);
    char *data;
    long n = BIO_get_mem_data(out, &data);
    ASSERT_EQ_INT(arc_privkey_load_pem(data, (size_t)n, &k, &e), -ARC_EINVAL);
    BIO_free(out);
    EVP_PKEY_free(pkey);

    /* a 512-bit RSA key cannot sign (RFC 8301) */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
    out = BIO_new(BIO_s_mem());
    ASSERT_EQ_INT(PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(out, &data);
    ASSERT_EQ_INT(arc_privkey_load_pem(data, (size_t)n, &k, &e), -ARC_ERANGE);
    ASSERT(k == NULL);
    BIO_free(out);
    EVP_PKEY_free(pkey);

    /* neither RSA nor ed25519 */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    out = BIO_new(BIO_s_mem());
    ASSERT_EQ_INT(PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(out, &data);
    ASSERT_EQ_INT(arc_privkey_load_pem(data, (size_t)n, &k, &e), -ARC_EINVAL);
    BIO_free(out);
    EVP_PKEY_free(pkey);
}

static void
private_key_file_loads(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_ED25519_SHA256, 0, &pem, &record);
    char path[] = "/tmp/arcproxy-test-key-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(write(fd, pem, strlen(pem)), (long long)strlen(pem));
    close(fd);

    struct arc_privkey *k = NULL;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(arc_privkey_load_file(path, &k, &e), 0);
    ASSERT_EQ_INT(arc_privkey_alg(k), ARC_ALG_ED25519_SHA256);
    arc_privkey_free(k);
    unlink(path);

    ASSERT_EQ_INT(arc_privkey_load_file(path, &k, &e), -ARC_EIO);
    ASSERT(k == NULL);
    ASSERT(strstr(e.text, path) != NULL);
    free(pem);
    free(record);
}

static void
keygen_bad_bits_is_invalid(void)
{
    char *pem = (char *)"x", *record = (char *)"x";
    struct err e;
    ASSERT_EQ_INT(arc_keygen(ARC_ALG_RSA_SHA256, 512, &pem, &record, &e), -ARC_EINVAL);
    ASSERT(pem == NULL && record == NULL);
    ASSERT_EQ_INT(arc_keygen(ARC_ALG_RSA_SHA256, 16384, &pem, &record, &e), -ARC_EINVAL);
    ASSERT_EQ_INT(arc_keygen((enum arc_alg)7, 2048, &pem, &record, &e), -ARC_EINVAL);
}

static void
free_accepts_null(void)
{
    ASSERT(arc_pubkey_free(NULL) == NULL);
    ASSERT(arc_privkey_free(NULL) == NULL);
}

static void
sign_into_full_buffer_is_erange(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_ED25519_SHA256, 0, &pem, &record);
    struct arc_privkey *k = load_ok(pem);
    unsigned char d[32];
    digest_of("x", d);
    struct buf small;
    buf_init(&small, 16);
    struct err e;
    ASSERT_EQ_INT(arc_privkey_sign(k, d, &small, &e), -ARC_ERANGE);
    ASSERT_EQ_INT(small.len, 0);
    buf_free(&small);
    arc_privkey_free(k);
    free(pem);
    free(record);
}

/* Threads: one key pair shared by several threads signing and verifying at once.
 * Under TSan (ARCPROXY_TSAN) this is the check that sign/verify share no state. */
struct shared_keys {
    const struct arc_privkey *k;
    const struct arc_pubkey *pk;
    int failures;
};

static void *
sign_verify_thread(void *arg)
{
    struct shared_keys *s = arg;
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "msg %p %d", (void *)&bad, i);
        unsigned char d[32];
        digest_of(msg, d);
        struct buf sig;
        buf_init(&sig, 0);
        if (arc_privkey_sign(s->k, d, &sig, NULL) != 0 ||
            arc_pubkey_verify(s->pk, arc_privkey_alg(s->k), d, (unsigned char *)sig.data,
                              sig.len) != 1)
            bad++;
        buf_free(&sig);
    }
    return (void *)(long)bad;
}

static void
shared_keys_threads(enum arc_alg alg, unsigned bits)
{
    char *pem, *record;
    keygen_ok(alg, bits, &pem, &record);
    struct shared_keys s = {load_ok(pem), parse_ok(record, 1024), 0};
    /* 16 threads: more than the key's signing slots (8), so that some signatures go
     * through the slots (each a copy of the key) and some through the shared key */
    pthread_t th[16];
    for (int i = 0; i < 16; i++)
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, sign_verify_thread, &s), 0);
    long bad = 0;
    for (int i = 0; i < 16; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    ASSERT_EQ_INT(bad, 0);
    arc_privkey_free((struct arc_privkey *)s.k);
    arc_pubkey_free((struct arc_pubkey *)s.pk);
    free(pem);
    free(record);
}

/* RSASSA-PKCS1-v1_5 is deterministic: what arc_privkey_sign makes, through its signing
 * slots (each a copy of the key with its own blinding and context), is byte for byte
 * what OpenSSL makes with the PEM key loaded on its own, call after call. */
static void
rsa_slot_signatures_equal_openssl(void)
{
    char *pem, *record;
    keygen_ok(ARC_ALG_RSA_SHA256, 1024, &pem, &record);
    struct arc_privkey *k = load_ok(pem);
    unsigned char d[32];
    digest_of("same digest", d);

    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *ref = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ASSERT(ref != NULL);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ref, NULL);
    unsigned char want[512];
    size_t wantlen = sizeof want;
    ASSERT(ctx && EVP_PKEY_sign_init(ctx) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
           EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
           EVP_PKEY_sign(ctx, want, &wantlen, d, 32) == 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(ref);

    struct buf sig;
    buf_init(&sig, 0);
    struct err e;
    for (int i = 0; i < 40; i++) {
        buf_reset(&sig);
        ASSERT_EQ_INT(arc_privkey_sign(k, d, &sig, &e), 0);
        ASSERT_EQ_MEM(sig.data, sig.len, want, wantlen);
    }
    buf_free(&sig);
    arc_privkey_free(k);
    free(pem);
    free(record);
}

static void
rsa_sign_verify_from_threads(void)
{
    shared_keys_threads(ARC_ALG_RSA_SHA256, 1024);
}

static void
ed25519_sign_verify_from_threads(void)
{
    shared_keys_threads(ARC_ALG_ED25519_SHA256, 0);
}

static const struct test_case cases[] = {
    {"rsa_record_with_folded_p_parses", rsa_record_with_folded_p_parses},
    {"rsa_slot_signatures_equal_openssl", rsa_slot_signatures_equal_openssl},
    {"record_without_v_and_k_defaults_to_rsa", record_without_v_and_k_defaults_to_rsa},
    {"record_optional_tags_accepted", record_optional_tags_accepted},
    {"pkcs1_public_key_accepted", pkcs1_public_key_accepted},
    {"revoked_key_is_enoent", revoked_key_is_enoent},
    {"missing_p_is_invalid", missing_p_is_invalid},
    {"rsa_512_below_minimum_is_erange", rsa_512_below_minimum_is_erange},
    {"h_sha1_only_is_invalid", h_sha1_only_is_invalid},
    {"unknown_k_is_invalid", unknown_k_is_invalid},
    {"v_not_first_is_invalid", v_not_first_is_invalid},
    {"v_other_than_dkim1_is_invalid", v_other_than_dkim1_is_invalid},
    {"s_without_email_is_invalid", s_without_email_is_invalid},
    {"bad_base64_is_invalid", bad_base64_is_invalid},
    {"bad_der_is_invalid", bad_der_is_invalid},
    {"bad_tag_list_is_invalid", bad_tag_list_is_invalid},
    {"ed25519_record_wrong_length_is_invalid", ed25519_record_wrong_length_is_invalid},
    {"rsa1024_sign_verify_round_trip", rsa1024_sign_verify_round_trip},
    {"rsa2048_sign_verify_round_trip", rsa2048_sign_verify_round_trip},
    {"ed25519_sign_verify_round_trip", ed25519_sign_verify_round_trip},
    {"rsa_signature_is_pkcs1_sha256", rsa_signature_is_pkcs1_sha256},
    {"pkcs1_and_pkcs8_pem_both_load", pkcs1_and_pkcs8_pem_both_load},
    {"ed25519_pem_is_pkcs8", ed25519_pem_is_pkcs8},
    {"rsa_record_format", rsa_record_format},
    {"private_key_errors", private_key_errors},
    {"private_key_file_loads", private_key_file_loads},
    {"keygen_bad_bits_is_invalid", keygen_bad_bits_is_invalid},
    {"free_accepts_null", free_accepts_null},
    {"sign_into_full_buffer_is_erange", sign_into_full_buffer_is_erange},
    {"rsa_sign_verify_from_threads", rsa_sign_verify_from_threads},
    {"ed25519_sign_verify_from_threads", ed25519_sign_verify_from_threads},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
