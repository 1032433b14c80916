#pragma once
// TLS client connections over mbedTLS for HTTPS downloads (placeholder; see tls.c).
int ta_tls_placeholder(void);
