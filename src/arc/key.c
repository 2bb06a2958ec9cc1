/* SPDX-License-Identifier: MIT */
/*
 * key - DKIM key records (RFC 6376 §3.6.1, RFC 8463) and private keys; see key.h.
 *
 * Record rules: v= optional, but when present it is the first tag and is "DKIM1"; k=
 * rsa (default) or ed25519; h=, when present, must list sha256; s=, when present, must
 * list "*" or "email"; t=y marks a testing key (t=s and unknown flags are ignored);
 * p= is required and an empty p= is a revoked key. Unknown tags are ignored (§3.6.1).
 * RSA p= is a SubjectPublicKeyInfo DER; a bare PKCS#1 RSAPublicKey is accepted too
 * because some domains publish that. ed25519 p= is the raw 32-byte key (RFC 8463 §4.2).
 *
 * Threads: public keys are immutable after load; verify builds a fresh EVP_PKEY_CTX (or
 * EVP_MD_CTX) per call, so one key may be used from several threads at once. A private
 * RSA key signs through one of PRIV_SLOTS slots, each its own copy of the key with a
 * ready signing context, taken by one thread at a time (an atomic flag; a thread keeps
 * trying the slot it used last first). Threads that share one RSA key otherwise share
 * its blinding state, which OpenSSL updates under a lock at every signature; with a
 * copy per slot each signer has its own. When every slot is taken, the call signs with
 * the shared key and a fresh context, as before. Slots are made on first use and freed
 * with the key.
 * OpenSSL's error queue is per thread; it is cleared after each failure so a long-lived
 * worker thread does not accumulate entries.
 *
 * Private keys: PEM, PKCS#1 ("BEGIN RSA PRIVATE KEY") or PKCS#8 ("BEGIN PRIVATE KEY"),
 * RSA or ed25519. Encrypted PEM is refused (no passphrase prompt, ever). RSA keys below
 * 1024 bits are refused (-ARC_ERANGE): RFC 8301 §3.2, signers MUST use at least 1024.
 * arc_keygen writes PKCS#8 for both key types, so one format covers everything it makes.
 *
 * Errors: -ARC_EINVAL bad input, -ARC_ENOENT revoked key, -ARC_ERANGE key size out of
 * bounds (or out's cap reached while appending), -ARC_EIO unreadable key file,
 * -ARC_ECRYPTO an OpenSSL failure that is not the input's fault.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "../util/xalloc.h"
#include "arc_int.h"
#include "b64.h"
#include "key.h"
#include "tags.h"

#define ED25519_KEYLEN      32
#define RSA_MIN_SIGN_BITS   1024
#define RSA_MAX_KEYGEN_BITS 8192
#define KEY_FILE_MAX        (1024 * 1024)

struct arc_pubkey {
    enum arc_alg alg;
    int testing;
    EVP_PKEY *pkey;
};

#define PRIV_SLOTS 8 /* signing copies of an RSA key: enough for the worker threads */

struct priv_slot {
    atomic_int busy;
    EVP_PKEY *pkey;    /* a copy of the key: its own blinding; NULL until first use */
    EVP_PKEY_CTX *ctx; /* sign_init done, padding and digest set */
};

struct arc_privkey {
    enum arc_alg alg;
    unsigned bits;
    EVP_PKEY *pkey;
    struct priv_slot slot[PRIV_SLOTS];
};

/* list_has - does the colon-separated list v contain item (case-insensitive, FWS around
 * elements ignored)? */
static int
list_has(struct span v, const char *item)
{
    size_t start = 0;
    for (size_t i = 0; i <= v.n; i++) {
        if (i < v.n && v.p[i] != ':')
            continue;
        struct span el = span_trim((struct span){v.p + start, i - start});
        if (span_caseeq_str(el, item))
            return 1;
        start = i + 1;
    }
    return 0;
}

/* record_check - the tag rules that do not involve p=; sets *alg and *testing. */
static int
record_check(const struct arc_tags *t, enum arc_alg *alg, int *testing, struct err *e)
{
    const struct span *v = arc_tags_get(t, "v");
    if (v) {
        if (!span_eq(t->tag[0].name, SPAN_LIT("v")))
            return err_set(e, ARC_EINVAL, "key record: v= is not the first tag");
        if (!span_eq(*v, SPAN_LIT("DKIM1")))
            return err_set(e, ARC_EINVAL, "key record: unknown version v=%.*s", (int)v->n, v->p);
    }
    const struct span *k = arc_tags_get(t, "k");
    if (!k || span_caseeq_str(*k, "rsa"))
        *alg = ARC_ALG_RSA_SHA256;
    else if (span_caseeq_str(*k, "ed25519"))
        *alg = ARC_ALG_ED25519_SHA256;
    else
        return err_set(e, ARC_EINVAL, "key record: unknown key type k=%.*s", (int)k->n, k->p);
    const struct span *h = arc_tags_get(t, "h");
    if (h && !list_has(*h, "sha256"))
        return err_set(e, ARC_EINVAL, "key record: h=%.*s excludes sha256", (int)h->n, h->p);
    const struct span *s = arc_tags_get(t, "s");
    if (s && !list_has(*s, "*") && !list_has(*s, "email"))
        return err_set(e, ARC_EINVAL, "key record: s=%.*s excludes email", (int)s->n, s->p);
    const struct span *flags = arc_tags_get(t, "t");
    *testing = flags && list_has(*flags, "y");
    return 0;
}

/* rsa_pkcs1 - a PKCS#1 RSAPublicKey filling exactly n bytes, or NULL. */
static EVP_PKEY *
rsa_pkcs1(const unsigned char *p, long n)
{
    const unsigned char *q = p;
    EVP_PKEY *k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, n);
    if (k && q != p + n) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* rsa_fast - SubjectPublicKeyInfo (rsaEncryption) or PKCS#1, read with the plain DER
 * calls: about 100 times cheaper than creating an OSSL_DECODER per key, which matters
 * on every verification with a cold key. NULL when the layout is anything else. */
static EVP_PKEY *
rsa_fast(const unsigned char *der, size_t n)
{
    const unsigned char *p = der;
    long len;
    int tag, xclass;
    if (n > LONG_MAX || (ASN1_get_object(&p, &len, &tag, &xclass, (long)n) & 0x80) ||
        tag != V_ASN1_SEQUENCE || p + len != der + n)
        return NULL;
    const unsigned char *end = p, *q = p;
    end += len;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, len);
    if (!alg)
        return rsa_pkcs1(der, (long)n); /* SEQUENCE { INTEGER, INTEGER } */
    const ASN1_OBJECT *obj;
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    int nid = OBJ_obj2nid(obj);
    X509_ALGOR_free(alg);
    if (nid != NID_rsaEncryption)
        return NULL;
    ASN1_BIT_STRING *bits = d2i_ASN1_BIT_STRING(NULL, &q, end - q);
    EVP_PKEY *k = NULL;
    if (bits && q == end && (bits->flags & 0x07) == 0)
        k = rsa_pkcs1(bits->data, bits->length);
    ASN1_BIT_STRING_free(bits);
    return k;
}

/* rsa_from_der - SubjectPublicKeyInfo or PKCS#1 RSAPublicKey DER -> EVP_PKEY. The fast
 * path covers what domains publish; OpenSSL's decoder (either structure, trailing bytes
 * refused) stays as the fallback for anything it does not read. */
static int
rsa_from_der(const unsigned char *der, size_t n, EVP_PKEY **out, struct err *e)
{
    EVP_PKEY *pkey = rsa_fast(der, n);
    ERR_clear_error();
    if (pkey) {
        *out = pkey;
        return 0;
    }
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", NULL, "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (!dctx)
        return err_set(e, ARC_ECRYPTO, "key record: cannot create an RSA decoder");
    const unsigned char *p = der;
    size_t left = n;
    int ok = OSSL_DECODER_from_data(dctx, &p, &left);
    OSSL_DECODER_CTX_free(dctx);
    if (!ok || !pkey || left != 0) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return err_set(e, ARC_EINVAL, "key record: p= is not an RSA public key");
    }
    *out = pkey;
    return 0;
}

/* pubkey_build - decoded p= bytes -> EVP_PKEY of the record's type. */
static int
pubkey_build(enum arc_alg alg, const struct buf *raw, unsigned min_rsa_bits, EVP_PKEY **out,
             struct err *e)
{
    const unsigned char *der = (const unsigned char *)raw->data;
    if (alg == ARC_ALG_ED25519_SHA256) {
        if (raw->len != ED25519_KEYLEN)
            return err_set(e, ARC_EINVAL, "key record: ed25519 p= is %zu bytes, want 32", raw->len);
        *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, raw->len);
        if (!*out) {
            ERR_clear_error();
            return err_set(e, ARC_EINVAL, "key record: bad ed25519 key");
        }
        return 0;
    }
    int rc = rsa_from_der(der, raw->len, out, e);
    if (rc < 0)
        return rc;
    int bits = EVP_PKEY_get_bits(*out);
    if (bits < 0 || (unsigned)bits < min_rsa_bits) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return err_set(e, ARC_ERANGE, "key record: RSA key of %d bits, minimum %u", bits,
                       min_rsa_bits);
    }
    return 0;
}

int
arc_pubkey_parse(const char *txt, size_t n, unsigned min_rsa_bits, struct arc_pubkey **pk,
                 struct err *e)
{
    struct arc_tags t;
    *pk = NULL;
    if (!txt)
        txt = "";
    if (arc_tags_parse((struct span){txt, n}, &t) < 0)
        return err_set(e, ARC_EINVAL, "key record: bad tag-list syntax");
    enum arc_alg alg = ARC_ALG_RSA_SHA256;
    int testing = 0;
    int rc = record_check(&t, &alg, &testing, e);
    if (rc < 0)
        return rc;
    const struct span *p = arc_tags_get(&t, "p");
    if (!p)
        return err_set(e, ARC_EINVAL, "key record: no p= tag");
    struct buf raw;
    buf_init(&raw, 0);
    if (arc_b64_decode(*p, &raw) < 0) {
        rc = err_set(e, ARC_EINVAL, "key record: bad base64 in p=");
        goto out;
    }
    if (raw.len == 0) {
        rc = err_set(e, ARC_ENOENT, "key record: key revoked (empty p=)");
        goto out;
    }
    EVP_PKEY *pkey = NULL;
    rc = pubkey_build(alg, &raw, min_rsa_bits, &pkey, e);
    if (rc < 0)
        goto out;
    *pk = xcalloc(1, sizeof **pk);
    (*pk)->alg = alg;
    (*pk)->testing = testing;
    (*pk)->pkey = pkey;
out:
    buf_free(&raw);
    return rc;
}

struct arc_pubkey *
arc_pubkey_free(struct arc_pubkey *pk)
{
    if (pk) {
        EVP_PKEY_free(pk->pkey);
        free(pk);
    }
    return NULL;
}

enum arc_alg
arc_pubkey_alg(const struct arc_pubkey *pk)
{
    return pk->alg;
}

int
arc_pubkey_testing(const struct arc_pubkey *pk)
{
    return pk->testing;
}

/* verify_rsa - RSASSA-PKCS1-v1_5 with SHA-256's DigestInfo over the digest. */
static int
verify_rsa(EVP_PKEY *pkey, const unsigned char digest[32], const unsigned char *sig, size_t siglen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, arc_sha256_md()) == 1 &&
             EVP_PKEY_verify(ctx, sig, siglen, digest, 32) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* verify_ed25519 - PureEdDSA with the 32-byte digest as the message (RFC 8463 §3). */
static int
verify_ed25519(EVP_PKEY *pkey, const unsigned char digest[32], const unsigned char *sig,
               size_t siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx && EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, pkey, NULL) == 1 &&
             EVP_DigestVerify(mctx, sig, siglen, digest, 32) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

int
arc_pubkey_verify(const struct arc_pubkey *pk, enum arc_alg alg, const unsigned char digest[32],
                  const unsigned char *sig, size_t siglen)
{
    if (!pk || alg != pk->alg || !sig || siglen == 0)
        return 0;
    EVP_PKEY *pkey = pk->pkey; /* shared, read-only: each call makes its own ctx */
    int ok = alg == ARC_ALG_RSA_SHA256 ? verify_rsa(pkey, digest, sig, siglen)
                                       : verify_ed25519(pkey, digest, sig, siglen);
    if (!ok)
        ERR_clear_error();
    return ok;
}

/* no_passphrase_cb - refuse encrypted PEM instead of prompting on the terminal. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* privkey_wrap - check the loaded key's type and size and wrap it. Takes pkey. */
static int
privkey_wrap(EVP_PKEY *pkey, struct arc_privkey **k, struct err *e)
{
    enum arc_alg alg;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        alg = ARC_ALG_RSA_SHA256;
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        alg = ARC_ALG_ED25519_SHA256;
    } else {
        EVP_PKEY_free(pkey);
        return err_set(e, ARC_EINVAL, "private key: neither RSA nor ed25519");
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (alg == ARC_ALG_RSA_SHA256 && bits < RSA_MIN_SIGN_BITS) {
        EVP_PKEY_free(pkey);
        return err_set(e, ARC_ERANGE, "private key: RSA key of %d bits, minimum %d", bits,
                       RSA_MIN_SIGN_BITS);
    }
    *k = xcalloc(1, sizeof **k);
    (*k)->alg = alg;
    (*k)->bits = bits > 0 ? (unsigned)bits : 0;
    (*k)->pkey = pkey;
    return 0;
}

int
arc_privkey_load_pem(const char *pem, size_t n, struct arc_privkey **k, struct err *e)
{
    *k = NULL;
    if (n > KEY_FILE_MAX)
        return err_set(e, ARC_ERANGE, "private key: %zu bytes is too large", n);
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    if (!bio)
        return err_set(e, ARC_ECRYPTO, "private key: cannot create a memory BIO");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
    BIO_free(bio);
    if (!pkey) {
        ERR_clear_error();
        return err_set(e, ARC_EINVAL, "private key: not an unencrypted PEM RSA or ed25519 key");
    }
    return privkey_wrap(pkey, k, e);
}

int
arc_privkey_load_file(const char *path, struct arc_privkey **k, struct err *e)
{
    *k = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, ARC_EIO, "%s: %s", path, strerror(errno));
    struct buf b;
    buf_init(&b, KEY_FILE_MAX);
    char chunk[4096];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, got);
    if (rc < 0)
        rc = err_set(e, ARC_ERANGE, "%s: larger than %d bytes", path, KEY_FILE_MAX);
    else if (ferror(f))
        rc = err_set(e, ARC_EIO, "%s: read error", path);
    fclose(f);
    if (rc == 0) {
        struct err why;
        err_clear(&why);
        rc = arc_privkey_load_pem(buf_span(&b).p, b.len, k, &why);
        if (rc < 0)
            err_set(e, -rc, "%s: %s", path, why.text);
    }
    /* the buffer held key material: wipe it before release */
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    OPENSSL_cleanse(chunk, sizeof chunk);
    buf_free(&b);
    return rc;
}

struct arc_privkey *
arc_privkey_free(struct arc_privkey *k)
{
    if (k) {
        for (size_t i = 0; i < PRIV_SLOTS; i++) {
            EVP_PKEY_CTX_free(k->slot[i].ctx);
            EVP_PKEY_free(k->slot[i].pkey);
        }
        EVP_PKEY_free(k->pkey);
        free(k);
    }
    return NULL;
}

enum arc_alg
arc_privkey_alg(const struct arc_privkey *k)
{
    return k->alg;
}

unsigned
arc_privkey_bits(const struct arc_privkey *k)
{
    return k->bits;
}

/* rsa_sign_ctx - a context ready to make RSASSA-PKCS1-v1_5 signatures of SHA-256 digests
 * with pkey (it holds a reference to pkey); NULL on failure. */
static EVP_PKEY_CTX *
rsa_sign_ctx(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_PKEY_CTX_set_signature_md(ctx, arc_sha256_md()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

/* sign_rsa - RSASSA-PKCS1-v1_5 signature of the digest into sig (EVP_PKEY_get_size
 * bytes); *siglen set. */
static int
sign_rsa(EVP_PKEY *pkey, const unsigned char digest[32], unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *ctx = rsa_sign_ctx(pkey);
    int ok = ctx && EVP_PKEY_sign(ctx, sig, siglen, digest, 32) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* slot_ready - make the slot's key copy and signing context on first use; 0 if OpenSSL
 * cannot (the caller then signs with the shared key). */
static int
slot_ready(struct priv_slot *sl, EVP_PKEY *pkey)
{
    if (sl->ctx)
        return 1;
    EVP_PKEY *copy = EVP_PKEY_dup(pkey);
    EVP_PKEY_CTX *ctx = copy ? rsa_sign_ctx(copy) : NULL;
    if (!ctx) {
        EVP_PKEY_free(copy);
        ERR_clear_error();
        return 0;
    }
    sl->pkey = copy;
    sl->ctx = ctx;
    return 1;
}

/* sign_rsa_slot - sign with a free slot (trying this thread's last one first); -1 when
 * every slot is taken or none can be made, else 1 (signed) or 0 (OpenSSL failed). */
static int
sign_rsa_slot(struct arc_privkey *k, const unsigned char digest[32], unsigned char *sig,
              size_t *siglen)
{
    static _Thread_local unsigned last; /* a hint only: any slot works from any thread */
    for (unsigned n = 0; n < PRIV_SLOTS; n++) {
        unsigned i = (last + n) % PRIV_SLOTS;
        struct priv_slot *sl = &k->slot[i];
        if (atomic_load_explicit(&sl->busy, memory_order_relaxed) ||
            atomic_exchange_explicit(&sl->busy, 1, memory_order_acquire))
            continue;
        int rc = -1;
        if (slot_ready(sl, k->pkey))
            rc = EVP_PKEY_sign(sl->ctx, sig, siglen, digest, 32) == 1;
        atomic_store_explicit(&sl->busy, 0, memory_order_release);
        last = i;
        return rc;
    }
    return -1;
}

/* sign_ed25519 - PureEdDSA over the 32-byte digest. */
static int
sign_ed25519(EVP_PKEY *pkey, const unsigned char digest[32], unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, pkey, NULL) == 1 &&
             EVP_DigestSign(mctx, sig, siglen, digest, 32) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

int
arc_privkey_sign(const struct arc_privkey *k, const unsigned char digest[32], struct buf *out,
                 struct err *e)
{
    int size = EVP_PKEY_get_size(k->pkey);
    if (size <= 0)
        return err_set(e, ARC_ECRYPTO, "sign: key has no signature size");
    size_t siglen = (size_t)size;
    unsigned char *sig = xmalloc(siglen);
    int ok = -1;
    if (k->alg == ARC_ALG_RSA_SHA256)
        ok = sign_rsa_slot((struct arc_privkey *)k, digest, sig, &siglen);
    if (ok < 0)
        ok = k->alg == ARC_ALG_RSA_SHA256 ? sign_rsa(k->pkey, digest, sig, &siglen)
                                          : sign_ed25519(k->pkey, digest, sig, &siglen);
    int rc;
    if (!ok) {
        unsigned long code = ERR_get_error();
        char text[128];
        ERR_error_string_n(code, text, sizeof text);
        ERR_clear_error();
        rc = err_set(e, ARC_ECRYPTO, "sign: %s", text);
    } else {
        rc = buf_append(out, sig, siglen);
        if (rc < 0)
            rc = err_set(e, -rc, "sign: output buffer full");
    }
    free(sig);
    return rc;
}

/* keygen_pem - PKCS#8 PEM text of pkey as a heap string. */
static int
keygen_pem(EVP_PKEY *pkey, char **pem, struct err *e)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return err_set(e, ARC_ECRYPTO, "keygen: cannot write PEM");
    }
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    *pem = xstrndup(data, n > 0 ? (size_t)n : 0);
    BIO_free(bio); /* BUF_MEM_free clears the storage it releases */
    return 0;
}

/* keygen_record - "v=DKIM1; k=...; p=..." for pkey as a heap string. */
static int
keygen_record(enum arc_alg alg, EVP_PKEY *pkey, char **record, struct err *e)
{
    unsigned char raw[ED25519_KEYLEN];
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t n;
    if (alg == ARC_ALG_ED25519_SHA256) {
        n = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof raw) {
            ERR_clear_error();
            return err_set(e, ARC_ECRYPTO, "keygen: cannot export the ed25519 public key");
        }
        p = raw;
    } else {
        int len = i2d_PUBKEY(pkey, &der);
        if (len <= 0) {
            ERR_clear_error();
            return err_set(e, ARC_ECRYPTO, "keygen: cannot export the RSA public key");
        }
        p = der;
        n = (size_t)len;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "v=DKIM1; k=%s; p=", alg == ARC_ALG_RSA_SHA256 ? "rsa" : "ed25519");
    arc_b64_encode(p, n, &b); /* unbounded buffer: cannot fail */
    OPENSSL_free(der);
    *record = buf_take(&b, NULL);
    return 0;
}

int
arc_keygen(enum arc_alg alg, unsigned bits, char **pem, char **record, struct err *e)
{
    *pem = NULL;
    *record = NULL;
    EVP_PKEY *pkey;
    if (alg == ARC_ALG_RSA_SHA256) {
        if (bits < RSA_MIN_SIGN_BITS || bits > RSA_MAX_KEYGEN_BITS)
            return err_set(e, ARC_EINVAL, "keygen: RSA bits %u not in %d..%d", bits,
                           RSA_MIN_SIGN_BITS, RSA_MAX_KEYGEN_BITS);
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (alg == ARC_ALG_ED25519_SHA256) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        return err_set(e, ARC_EINVAL, "keygen: unknown algorithm %d", (int)alg);
    }
    if (!pkey) {
        ERR_clear_error();
        return err_set(e, ARC_ECRYPTO, "keygen: key generation failed");
    }
    int rc = keygen_pem(pkey, pem, e);
    if (rc == 0)
        rc = keygen_record(alg, pkey, record, e);
    EVP_PKEY_free(pkey);
    if (rc < 0) {
        free(*pem);
        *pem = NULL;
    }
    return rc;
}
