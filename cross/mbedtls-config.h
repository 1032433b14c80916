/*
 * tinyagent's trimmed mbedTLS 2.28 configuration.
 *
 * cross/build-mbedtls.sh installs this file as include/mbedtls/config.h of the build it
 * makes, so every user of those headers (C shims, Swift via the clang importer) sees the
 * same struct layouts as the static libraries. Anything not listed here is off.
 *
 * What the programs need:
 *   - the agent: AES-256-CBC with PKCS#7 padding, the encrypted config file (openssl enc
 *     compatible); nothing else (update signatures are libgcrypt's: Sources/CCrypto/sig.c);
 *   - the update worker: SHA-256, checksums of downloaded archives, and a TLS 1.2 client for
 *     HTTPS downloads, verifying an X.509 chain against a pinned CA (PEM), with the suites
 *     a modern server offers: ECDHE-ECDSA / ECDHE-RSA with AES-GCM or CHACHA20-POLY1305.
 */
#ifndef MBEDTLS_CONFIG_H
#define MBEDTLS_CONFIG_H

/* System support */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity periods */
#define MBEDTLS_FS_IO                   /* mbedtls_x509_crt_parse_file(cacert.pem) */
#define MBEDTLS_DEPRECATED_REMOVED

/* Symmetric ciphers and modes */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES          /* tables in .rodata, not built at run time in RAM */
#define MBEDTLS_AES_FEWER_TABLES        /* 2 KB of tables instead of 8 KB */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CIPHER_MODE_CBC
#define MBEDTLS_CIPHER_PADDING_PKCS7
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* Hashes (SHA-512 also gives SHA-384, used by the *_SHA384 suites and many CAs) */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C

/* Random numbers */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* Public keys */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C            /* required by ECDSA */
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS signatures */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C

/* X.509 */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* TLS 1.2 client */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_CIPHERSUITES \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,       \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,         \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,         \
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
/* Servers may send full 16 KB records; what we send is small. */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
#define MBEDTLS_NET_C                   /* mbedtls_net_connect / send / recv */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror for one-line error remarks */

#if defined(MBEDTLS_USER_CONFIG_FILE)
#include MBEDTLS_USER_CONFIG_FILE
#endif
#include "mbedtls/check_config.h"

#endif /* MBEDTLS_CONFIG_H */
