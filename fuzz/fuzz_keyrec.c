/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keyrec - libFuzzer driver for DKIM key records: arc_pubkey_parse
 * (src/arc/key.c, RFC 6376 §3.6.1, RFC 8463) with the engine's default minimum of
 * 1024 RSA bits, then arc_pubkey_free.
 *
 * The input is the record text (TXT strings already joined), copied into a heap
 * buffer of exactly its size so that ASan catches a read past n. Besides crashes
 * (and leaks: the key must be freed by arc_pubkey_free alone) it checks:
 *   - only 0, -ARC_EINVAL, -ARC_ENOENT or -ARC_ERANGE come back;
 *   - a key is returned exactly when the result is 0, and an error always has text;
 *   - a parsed key answers arc_pubkey_alg/arc_pubkey_testing and rejects a signature
 *     made of the input's first bytes over a fixed digest without crashing.
 * Seeds: fuzz/corpus/keyrec/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arc/key.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    struct err e;
    err_clear(&e);
    struct arc_pubkey *pk = (struct arc_pubkey *)p; /* must be overwritten */
    int rc = arc_pubkey_parse(p, size, 1024, &pk, &e);
    if (rc != 0 && rc != -ARC_EINVAL && rc != -ARC_ENOENT && rc != -ARC_ERANGE)
        abort();
    if ((rc == 0) != (pk != NULL))
        abort();
    if (rc < 0 && (e.code != -rc || e.text[0] == '\0'))
        abort();
    if (pk) {
        enum arc_alg alg = arc_pubkey_alg(pk);
        if (alg != ARC_ALG_RSA_SHA256 && alg != ARC_ALG_ED25519_SHA256)
            abort();
        (void)arc_pubkey_testing(pk);
        static const unsigned char digest[32] = {1, 2, 3};
        size_t siglen = size < 64 ? size : 64;
        if (siglen && arc_pubkey_verify(pk, alg, digest, data, siglen) != 0)
            abort();
    }
    arc_pubkey_free(pk);
    free(p);
    return 0;
}
