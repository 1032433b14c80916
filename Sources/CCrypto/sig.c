// Detached update signatures: see include/ccrypto.h.
#define _GNU_SOURCE
#include "ccrypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

// Reads large enough that the per-call cost of pread is lost in the hashing, small enough not to
// show in the root agent's memory while it checks (BENCHMARKS.md, update signature check).
#define TA_SHA_CHUNK (256 << 10)

int ta_sha256_fd(int fd, unsigned char digest[32], int64_t *size) {
    unsigned char *buf = malloc(TA_SHA_CHUNK);
    if (!buf) { errno = ENOMEM; return -1; }
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    int64_t offset = 0;
    int result = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, TA_SHA_CHUNK, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { result = -1; break; }
        if (n == 0) break;
        mbedtls_sha256_update_ret(&ctx, buf, (size_t)n);
        offset += n;
    }
    int saved = errno;
    if (result == 0) mbedtls_sha256_finish_ret(&ctx, digest);
    mbedtls_sha256_free(&ctx);
    free(buf);
    *size = offset;
    errno = saved;
    return result;
}

int ta_sig_verify(const unsigned char *key, size_t key_len, const unsigned char digest[32],
                  const unsigned char *sig, size_t sig_len, int *detail) {
    *detail = 0;
    // mbedtls_pk_parse_public_key wants a PEM text's terminating NUL counted in its length.
    unsigned char *copy = malloc(key_len + 1);
    if (!copy) { *detail = MBEDTLS_ERR_PK_ALLOC_FAILED; return TA_SIG_BAD_KEY; }
    memcpy(copy, key, key_len);
    copy[key_len] = 0;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int rc = mbedtls_pk_parse_public_key(&pk, copy, key_len + 1);
    if (rc != 0) rc = mbedtls_pk_parse_public_key(&pk, copy, key_len);  // DER: no NUL
    free(copy);
    int result;
    if (rc != 0) {
        *detail = rc;
        result = TA_SIG_BAD_KEY;
    } else if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY
               || mbedtls_pk_ec(pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        *detail = MBEDTLS_ERR_PK_TYPE_MISMATCH;
        result = TA_SIG_BAD_KEY;
    } else {
        rc = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, digest, 32, sig, sig_len);
        result = rc == 0 ? TA_SIG_OK : rc == MBEDTLS_ERR_ECP_VERIFY_FAILED ? TA_SIG_MISMATCH : TA_SIG_CORRUPT;
    }
    mbedtls_pk_free(&pk);
    return result;
}
