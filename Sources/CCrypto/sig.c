// Detached update signatures: see include/ccrypto.h.
#define _GNU_SOURCE
#include "ccrypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gcrypt.h>

// Reads large enough that the per-call cost of pread is lost in the hashing, small enough not to
// show in the root agent's memory while it checks (BENCHMARKS.md, update signature check).
#define TA_SHA_CHUNK (256 << 10)

// The hash is libgcrypt's, not mbedTLS's: libgcrypt (1.10 on Bookworm) uses the CPU's SHA
// instructions (x86 SHA-NI, ARMv8 crypto extensions) where mbedTLS 2.28's SHA-256 is portable C,
// 3.3x slower than `openssl dgst` on a 50 MB archive (BENCHMARKS.md §8.5). It costs the agent no
// new resident library: libsystemd already needs libgcrypt (BENCHMARKS.md §3's per-mapping table),
// on Buster (1.8) as on Bookworm. The ECDSA check is libgcrypt's too, so the agent links no
// public-key code of mbedTLS (bignum, curves, ASN.1, PEM: ~45 KB of the armhf agent).
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

// A P-256 SubjectPublicKeyInfo with an uncompressed point (RFC 5480) is these 26 bytes, then
// 0x04 and the point's X and Y: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }.
// `openssl ec -pubout` writes exactly this; any other key is refused, so no general ASN.1
// parser is needed.
static const unsigned char p256_spki_prefix[26] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};
#define P256_POINT 65
#define P256_SPKI (sizeof p256_spki_prefix + P256_POINT)

static const char pem_begin[] = "-----BEGIN PUBLIC KEY-----";
static const char pem_end[] = "-----END PUBLIC KEY-----";

static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

// Decodes the base64 between the PEM lines into out (at most `room` bytes); the decoded
// length, or -1 for a character that is neither base64 nor white space, or too much.
static long base64_decode(const unsigned char *p, const unsigned char *end, unsigned char *out, size_t room) {
    unsigned long bits = 0;
    int count = 0, padding = 0;
    size_t n = 0;
    for (; p < end; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') continue;
        int v = *p == '=' ? 0 : base64_value(*p);
        if (v < 0 || (padding && *p != '=')) return -1;
        if (*p == '=') padding++;
        bits = bits << 6 | (unsigned long)v;
        if (++count < 4) continue;
        int bytes = 3 - padding;
        if (bytes < 1 || n + (size_t)bytes > room) return -1;
        for (int i = 0; i < bytes; i++) out[n++] = (unsigned char)(bits >> (16 - 8 * i));
        bits = 0;
        count = 0;
    }
    return count == 0 ? (long)n : -1;
}

static const unsigned char *find(const unsigned char *p, size_t len, const char *what) {
    size_t w = strlen(what);
    for (size_t i = 0; i + w <= len; i++)
        if (memcmp(p + i, what, w) == 0) return p + i;
    return NULL;
}

// The 65-byte point of a PEM or DER P-256 public key into point; NULL, or why it is none.
static const char *p256_point(const unsigned char *key, size_t key_len, unsigned char point[P256_POINT]) {
    unsigned char der[P256_SPKI];
    const unsigned char *begin = find(key, key_len, pem_begin);
    size_t der_len = key_len;
    if (begin) {
        begin += strlen(pem_begin);
        const unsigned char *end = find(begin, key_len - (size_t)(begin - key), pem_end);
        if (!end) return "no \"-----END PUBLIC KEY-----\" line";
        long n = base64_decode(begin, end, der, sizeof der);
        if (n < 0) return "its PEM text is not the base64 of a P-256 key";
        der_len = (size_t)n;
    } else if (key_len <= sizeof der) {
        memcpy(der, key, key_len);
    }
    if (der_len != P256_SPKI || memcmp(der, p256_spki_prefix, sizeof p256_spki_prefix) != 0)
        return "not a P-256 SubjectPublicKeyInfo with an uncompressed point";
    memcpy(point, der + sizeof p256_spki_prefix, P256_POINT);
    return point[0] == 0x04 ? NULL : "not an uncompressed point";
}

// One DER INTEGER of an ECDSA-Sig-Value: positive, minimal, at most 33 bytes (a P-256 scalar
// and its sign byte). Moves *p past it; 0, or -1.
static int der_integer(const unsigned char **p, const unsigned char *end, const unsigned char **value, size_t *len) {
    if (end - *p < 3 || (*p)[0] != 0x02) return -1;
    size_t n = (*p)[1];
    const unsigned char *v = *p + 2;
    if (n == 0 || n > 33 || (size_t)(end - v) < n) return -1;
    if ((v[0] & 0x80) || (n > 1 && v[0] == 0 && !(v[1] & 0x80))) return -1;
    *value = v;
    *len = n;
    *p = v + n;
    return 0;
}

// r and s of a DER ECDSA-Sig-Value, SEQUENCE { INTEGER r, INTEGER s }, with nothing after it.
static int der_signature(const unsigned char *sig, size_t sig_len, const unsigned char **r, size_t *r_len,
                         const unsigned char **s, size_t *s_len) {
    if (sig_len < 8 || sig[0] != 0x30 || sig[1] != sig_len - 2) return -1;
    const unsigned char *p = sig + 2, *end = sig + sig_len;
    if (der_integer(&p, end, r, r_len) != 0 || der_integer(&p, end, s, s_len) != 0) return -1;
    return p == end ? 0 : -1;
}

// 1 when q is a point of the key's curve (libgcrypt's verify does not check it itself).
static int on_curve(gcry_sexp_t key) {
    gcry_ctx_t ctx;
    if (gcry_mpi_ec_new(&ctx, key, NULL) != 0) return 0;
    gcry_mpi_point_t q = gcry_mpi_ec_get_point("q", ctx, 1);
    int on = q && gcry_mpi_ec_curve_point(q, ctx);
    gcry_mpi_point_release(q);
    gcry_ctx_release(ctx);
    return on;
}

int ta_sig_verify(const unsigned char *key, size_t key_len, const unsigned char digest[32],
                  const unsigned char *sig, size_t sig_len, const char **why) {
    *why = NULL;
    unsigned char point[P256_POINT];
    const unsigned char *r, *s;
    size_t r_len, s_len;
    if ((*why = p256_point(key, key_len, point))) return TA_SIG_BAD_KEY;
    if (!gcrypt_ready()) { *why = "libgcrypt is older than 1.8"; return TA_SIG_BAD_KEY; }
    if (der_signature(sig, sig_len, &r, &r_len, &s, &s_len) != 0) return TA_SIG_CORRUPT;
    gcry_sexp_t pub = NULL, data = NULL, value = NULL;
    int result = TA_SIG_BAD_KEY;
    if (gcry_sexp_build(&pub, NULL, "(public-key(ecc(curve \"NIST P-256\")(q %b)))", P256_POINT, point) != 0
        || !on_curve(pub)) {
        *why = "its point is not on the curve";
    } else if (gcry_sexp_build(&data, NULL, "(data(flags raw)(value %b))", 32, digest) != 0
               || gcry_sexp_build(&value, NULL, "(sig-val(ecdsa(r %b)(s %b)))", (int)r_len, r, (int)s_len, s) != 0) {
        result = TA_SIG_CORRUPT;
    } else {
        result = gcry_pk_verify(value, data, pub) == 0 ? TA_SIG_OK : TA_SIG_MISMATCH;
    }
    gcry_sexp_release(pub);
    gcry_sexp_release(data);
    gcry_sexp_release(value);
    return result;
}
