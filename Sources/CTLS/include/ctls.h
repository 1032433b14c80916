// Blocking client connections for HTTP(S): TCP with a connect timeout, TLS 1.2 over mbedTLS
// trusting only one CA file, and reads and writes bounded by an idle timeout. The caller does
// blocking I/O (the update worker process); there is no event loop here.
//
// Every failure is a `ta_net_error` plus a detail (an errno, a getaddrinfo code, an mbedTLS
// error code or X.509 verify flags, depending on the code) that ta_net_describe() turns into
// a short line such as "certificate not trusted" or "connection refused".
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <mbedtls/sha256.h>

typedef enum {
    TA_NET_OK = 0,
    TA_NET_TIMED_OUT = 1,       // detail 0: no connection within the connect timeout;
                                // 1: no byte moved for the idle timeout
    TA_NET_CLOSED = 2,          // the peer closed or reset the connection mid-exchange
    TA_NET_REFUSED = 3,         // detail: errno
    TA_NET_UNREACHABLE = 4,     // detail: errno
    TA_NET_NO_ADDRESS = 5,      // detail: getaddrinfo code
    TA_NET_CA_FILE = 6,         // the CA file is missing or unparsable; detail: mbedTLS code
    TA_NET_NOT_TRUSTED = 7,     // detail: X.509 verify flags
    TA_NET_HOSTNAME = 8,        // the certificate is not for this host
    TA_NET_CERT_EXPIRED = 9,    // expired or not yet valid
    TA_NET_BAD_CERT = 10,       // other verification failure; detail: verify flags
    TA_NET_TLS = 11,            // other TLS failure; detail: mbedTLS code
    TA_NET_SYSTEM = 12,         // detail: errno
    TA_NET_TLS_VERSION = 13,    // the server refused TLS 1.2 (a protocol_version alert)
    TA_NET_NO_STARTTLS = 14,    // detail 0: the XMPP server offers no STARTTLS; 1: it refused it
} ta_net_error;

typedef struct ta_conn ta_conn;

// Connects to host:port (a name, an IPv4 address or an IPv6 address without brackets),
// trying each address getaddrinfo gives until one connects within what is left of
// connect_timeout_ms. With use_tls, then runs a TLS 1.2 handshake (SNI = host unless it is an
// IP address) verifying the server's chain against ca_file only and the certificate's name
// against host (DNS names, or the IP address SANs for an address). Name resolution itself is
// not bounded by the timeout (getaddrinfo has none).
// Returns a connection, or NULL with *error and *detail set.
ta_conn *ta_conn_open(const char *host, uint16_t port, int use_tls, const char *ca_file,
                      int connect_timeout_ms, int idle_timeout_ms, int *error, int *detail);

// Up to cap bytes: >0 bytes read, 0 at the end of the stream (close_notify, or the peer
// closed the TCP connection), -1 on failure with ta_conn_error/ta_conn_detail set.
ssize_t ta_conn_read(ta_conn *conn, void *buf, size_t cap);

// Writes all len bytes: 0, or -1 with ta_conn_error/ta_conn_detail set.
int ta_conn_write_all(ta_conn *conn, const void *buf, size_t len);

// Whether the CA in ca_file verifies an XMPP server's certificate chain (and the name
// `domain`): connects to host:port, opens a client stream to `domain`, asks for STARTTLS and,
// on <proceed/>, runs the TLS 1.2 handshake, then closes. Blocking (for a worker process).
// 0, or -1 with *error and *detail set (TA_NET_NO_STARTTLS, or as ta_conn_open).
int ta_xmpp_probe(const char *host, uint16_t port, const char *domain, const char *ca_file,
                  int connect_timeout_ms, int idle_timeout_ms, int *error, int *detail);

int ta_conn_error(const ta_conn *conn);
int ta_conn_detail(const ta_conn *conn);

// Sends close_notify (TLS, best effort), closes the socket and frees everything.
void ta_conn_close(ta_conn *conn);

// A short description of an error code and its detail, NUL-terminated in buf.
void ta_net_describe(int error, int detail, char *buf, size_t cap);
