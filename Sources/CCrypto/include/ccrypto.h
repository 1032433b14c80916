#pragma once
#include <stddef.h>
#include <stdint.h>

// Detached update signatures: ECDSA P-256 over SHA-256, as `openssl dgst -sha256 -sign` makes
// them (a DER ECDSA-Sig-Value). The digest is taken from a descriptor, so what is checked is
// the open file the agent later hands on, not a path that could be swapped.
typedef enum {
    TA_SIG_OK = 0,
    TA_SIG_MISMATCH = 1,        // a well-formed signature this key did not make over these bytes
    TA_SIG_CORRUPT = 2,         // the signature is not a DER ECDSA signature
    TA_SIG_BAD_KEY = 3,         // the key is not a PEM/DER EC public key on P-256; *why says how
} ta_sig_result;

// SHA-256 of everything in fd from offset 0 to its end (pread, so the file offset is left
// alone), into digest[32]; *size gets the byte count. 0, or -1 with errno set.
int ta_sha256_fd(int fd, unsigned char digest[32], int64_t *size);

// Checks `sig` against `digest` with one public key (PEM, NUL-terminated or not, or DER).
// Returns a ta_sig_result; for TA_SIG_BAD_KEY, *why gets a static text saying what is wrong
// with the key (NULL otherwise).
int ta_sig_verify(const unsigned char *key, size_t key_len, const unsigned char digest[32],
                  const unsigned char *sig, size_t sig_len, const char **why);
