#pragma once
// mbedTLS for the encrypted config: AES (CBC) and mbedtls_platform_zeroize only, so the
// trimmed static build of cross/mbedtls-config.h covers it (MBEDTLS_AES_C,
// MBEDTLS_CIPHER_MODE_CBC; platform_util is always built).
#include <mbedtls/aes.h>
#include <mbedtls/platform_util.h>
