// Detached update signatures: see include/ccrypto.h.
#define _GNU_SOURCE
#include "ccrypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gcrypt.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

// Reads large enough that the per-call cost of pread is lost in the hashing, small enough not to
// show in the root agent's memory while it checks (BENCHMARKS.md, update signature check).
#define TA_SHA_CHUNK (256 << 10)

// The hash is libgcrypt's, not mbedTLS's: libgcrypt (1.10 on Bookworm) uses the CPU's SHA
// instructions (x86 SHA-NI, ARMv8 crypto extensions) where mbedTLS 2.28's SHA-256 is portable C,
// 3.3x slower than `openssl dgst` on a 50 MB archive (BENCHMARKS.md §8.5). It costs the agent no
// new resident library: libsystemd already needs libgcrypt (BENCHMARKS.md §3's per-mapping table),
// on Buster (1.8) as on Bookworm. The ECDSA check stays mbedTLS's.
// gcry_check_version must come before any other call, and once: it sets the library up. Plain
// hashing needs no secure memory, so the pool (and its mlock'd page) is never made. A plain
// flag is enough: the agent and `tinyagent verify` hash from one thread.
static int gcrypt_state;  // 0: not set up yet, 1: ready, -1: the library is too old

static int gcrypt_ready(void) {
    if (gcrypt_state == 0) {
        gcrypt_state = -1;
        if (gcry_check_version("1.8.0")) {
            gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
            gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
            gcrypt_state = 1;
        }
    }
    return gcrypt_state == 1;
}

// Hashes fd from offset 0 to its end into ctx; 0, or -1 with errno set.
static int hash_fd(gcry_md_hd_t ctx, int fd, unsigned char *buf, int64_t *size) {
    int64_t offset = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, TA_SHA_CHUNK, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { *size = offset; return -1; }
        if (n == 0) break;
        gcry_md_write(ctx, buf, (size_t)n);
        offset += n;
    }
    *size = offset;
    return 0;
}

int ta_sha256_fd(int fd, unsigned char digest[32], int64_t *size) {
    *size = 0;
    if (!gcrypt_ready()) { errno = ENOSYS; return -1; }
    gcry_md_hd_t ctx;
    if (gcry_md_open(&ctx, GCRY_MD_SHA256, 0) != 0) { errno = ENOMEM; return -1; }
    unsigned char *buf = malloc(TA_SHA_CHUNK);
    int result = buf ? hash_fd(ctx, fd, buf, size) : (errno = ENOMEM, -1);
    int saved = errno;
    if (result == 0) memcpy(digest, gcry_md_read(ctx, GCRY_MD_SHA256), 32);
    gcry_md_close(ctx);
    free(buf);
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
