// Client connections for HTTP(S): see include/ctls.h.
//
// The socket stays non-blocking; every send and receive first poll()s with the idle timeout,
// so a silent peer costs at most that long per byte, never forever. mbedTLS gets the same
// functions as its BIO, so the handshake and TLS records obey the timeout too.
#define _GNU_SOURCE
#include "ctls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

struct ta_conn {
    int fd;
    int use_tls;
    int handshake_done;
    int idle_ms;
    int error, detail;
    unsigned char ip[16];  // the server's address when the URL named one (checked against IP SANs)
    size_t ip_len;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_ctr_drbg_context drbg;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// poll() for `events` until the deadline: 1 ready, 0 timed out, -1 error (errno set).
static int wait_until(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
        if (r > 0) return 1;  // POLLERR/POLLHUP too: the next call reports them
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static void fail(ta_conn *c, int error, int detail) {
    if (c->error == TA_NET_OK) {  // the first cause wins
        c->error = error;
        c->detail = detail;
    }
}

static int errno_error(int e) {
    switch (e) {
    case ECONNREFUSED: return TA_NET_REFUSED;
    case ENETUNREACH: case EHOSTUNREACH: case ENETDOWN: case EHOSTDOWN: case EADDRNOTAVAIL: return TA_NET_UNREACHABLE;
    case ETIMEDOUT: return TA_NET_TIMED_OUT;
    case ECONNRESET: case EPIPE: case ECONNABORTED: return TA_NET_CLOSED;
    default: return TA_NET_SYSTEM;
    }
}

// After recv/send failed: 0 to try again (interrupted, or the socket is
// ready within the idle timeout), -1 when the failure is recorded in c.
static int wait_or_fail(ta_conn *c, short events) {
    if (errno == EINTR) return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        int e = errno_error(errno);
        fail(c, e, e == TA_NET_TIMED_OUT ? 1 : errno);
        return -1;
    }
    int r = wait_until(c->fd, events, now_ms() + c->idle_ms);
    if (r == 0) { fail(c, TA_NET_TIMED_OUT, 1); return -1; }
    if (r < 0) { fail(c, TA_NET_SYSTEM, errno); return -1; }
    return 0;
}

// >0 bytes, 0 end of stream, -1 failure (recorded in c).
static ssize_t raw_recv(ta_conn *c, void *buf, size_t cap) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n >= 0) return n;
        if (wait_or_fail(c, POLLIN) < 0) return -1;
    }
}

// >0 bytes written, -1 failure (recorded in c).
static ssize_t raw_send(ta_conn *c, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (wait_or_fail(c, POLLOUT) < 0) return -1;
    }
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
    ta_conn *c = ctx;
    ssize_t n = raw_recv(c, buf, len);
    if (n >= 0) return (int)n;
    return c->error == TA_NET_TIMED_OUT ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
    ta_conn *c = ctx;
    ssize_t n = raw_send(c, buf, len);
    if (n >= 0) return (int)n;
    return c->error == TA_NET_TIMED_OUT ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_SEND_FAILED;
}

// CTR-DRBG entropy straight from the kernel (the raw syscall: glibc's wrapper is 2.25+).
static int kernel_entropy(void *ctx, unsigned char *out, size_t len) {
    (void)ctx;
    while (len > 0) {
        long n = syscall(SYS_getrandom, out, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
        }
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

// mbedTLS 2.28 matches a host name against DNS SANs and the CN only; for a URL that names an
// IP address the leaf certificate must carry that address as an IP SAN.
static int verify_ip_san(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
    ta_conn *c = ctx;
    if (depth != 0) return 0;
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san != NULL; san = san->next) {
        if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
            san->buf.len == c->ip_len && memcmp(san->buf.p, c->ip, c->ip_len) == 0)
            return 0;
    }
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

// Records why mbedTLS call `ret` failed: the I/O error the BIO saw, or the TLS reason.
static void fail_tls(ta_conn *c, int ret) {
    if (c->error != TA_NET_OK) return;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        if (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_MISSING | MBEDTLS_X509_BADCERT_SKIP_VERIFY))
            fail(c, TA_NET_NOT_TRUSTED, (int)flags);
        else if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
            fail(c, TA_NET_CERT_EXPIRED, (int)flags);
        else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
            fail(c, TA_NET_HOSTNAME, (int)flags);
        else
            fail(c, TA_NET_BAD_CERT, (int)flags);
    } else if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        fail(c, TA_NET_CLOSED, 0);
    } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && !c->handshake_done &&
               c->ssl.in_msg != NULL && c->ssl.in_msg[1] == MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION) {
        // A server that speaks only TLS 1.3 answers the agent's 1.2 hello so.
        fail(c, TA_NET_TLS_VERSION, 0);
    } else {
        fail(c, TA_NET_TLS, ret);
    }
}

// Connects to one address before the deadline; the socket, or -1 with c's error set.
static int connect_one(ta_conn *c, const struct addrinfo *ai, int64_t deadline) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) { c->error = errno_error(errno); c->detail = errno; return -1; }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno == EINPROGRESS || errno == EINTR) {
        int r = wait_until(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) return fd;
        if (r == 0) { c->error = TA_NET_TIMED_OUT; c->detail = 0; }
        else { int e = r < 0 ? errno : soerr; c->error = errno_error(e); c->detail = e; }
    } else {
        c->error = errno_error(errno);
        c->detail = errno;
    }
    if (c->error == TA_NET_TIMED_OUT) c->detail = 0;
    close(fd);
    return -1;
}

static int tcp_connect(ta_conn *c, const char *host, uint16_t port, int timeout_ms) {
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(host, service, &hints, &list);
    if (gai != 0) {
        c->error = TA_NET_NO_ADDRESS;
        c->detail = gai == EAI_SYSTEM ? -errno : gai;
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int fd = -1;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        if (now_ms() >= deadline) { c->error = TA_NET_TIMED_OUT; c->detail = 0; break; }
        fd = connect_one(c, ai, deadline);
    }
    freeaddrinfo(list);
    if (fd >= 0) { c->error = TA_NET_OK; c->detail = 0; }
    return fd;
}

static int tls_start(ta_conn *c, const char *host, const char *ca_file) {
    int ret = mbedtls_x509_crt_parse_file(&c->ca, ca_file);
    if (ret != 0) { fail(c, TA_NET_CA_FILE, ret); return -1; }
    if ((ret = mbedtls_ctr_drbg_seed(&c->drbg, kernel_entropy, NULL, (const unsigned char *)"tinyagent", 9)) != 0 ||
        (ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        fail(c, TA_NET_TLS, ret);
        return -1;
    }
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    if (inet_pton(AF_INET, host, c->ip) == 1) c->ip_len = 4;
    else if (inet_pton(AF_INET6, host, c->ip) == 1) c->ip_len = 16;
    if (c->ip_len > 0) mbedtls_ssl_conf_verify(&c->conf, verify_ip_san, c);
    if ((ret = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0 ||
        // No SNI for an address (RFC 6066); mbedTLS then checks no name, verify_ip_san does.
        (c->ip_len == 0 && (ret = mbedtls_ssl_set_hostname(&c->ssl, host)) != 0)) {
        fail(c, TA_NET_TLS, ret);
        return -1;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    while ((ret = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        fail_tls(c, ret);
        return -1;
    }
    c->handshake_done = 1;
    return 0;
}

static ta_conn *conn_new(int use_tls, int idle_timeout_ms, int *error, int *detail) {
    ta_conn *c = calloc(1, sizeof *c);
    if (c == NULL) { *error = TA_NET_SYSTEM; *detail = ENOMEM; return NULL; }
    c->fd = -1;
    c->use_tls = use_tls;
    c->idle_ms = idle_timeout_ms;
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ctr_drbg_init(&c->drbg);
    return c;
}

static ta_conn *conn_failed(ta_conn *c, int *error, int *detail) {
    *error = c->error;
    *detail = c->detail;
    ta_conn_close(c);
    return NULL;
}

ta_conn *ta_conn_open(const char *host, uint16_t port, int use_tls, const char *ca_file,
                      int connect_timeout_ms, int idle_timeout_ms, int *error, int *detail) {
    ta_conn *c = conn_new(use_tls, idle_timeout_ms, error, detail);
    if (c == NULL) return NULL;
    c->fd = tcp_connect(c, host, port, connect_timeout_ms);
    if (c->fd >= 0 && (!use_tls || tls_start(c, host, ca_file) == 0)) return c;
    return conn_failed(c, error, detail);
}

// Reads plain stream bytes into buf (NUL-terminated, at most cap - 1) until `want` or `refusal`
// appears: 1 want, 0 refusal (or the peer closed, or buf filled without either), -1 failure.
static int read_until(ta_conn *c, char *buf, size_t cap, const char *want, const char *refusal) {
    size_t len = 0;
    buf[0] = 0;
    while (len + 1 < cap) {
        ssize_t n = raw_recv(c, buf + len, cap - 1 - len);
        if (n < 0) return -1;
        if (n == 0) break;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, want) != NULL) return 1;
        if (refusal != NULL && strstr(buf, refusal) != NULL) return 0;
    }
    return 0;
}

static int send_text(ta_conn *c, const char *text) {
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = raw_send(c, text, len);
        if (n < 0) return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

// RFC 6120 §5.4: the stream header, the features, <starttls/>, <proceed/>. The replies are
// searched, not parsed: the probe only has to reach the handshake.
static int starttls(ta_conn *c, const char *domain) {
    char buf[8192];
    snprintf(buf, sizeof buf,
             "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams'>", domain);
    if (send_text(c, buf) < 0) return -1;
    int r = read_until(c, buf, sizeof buf, "</stream:features>", NULL);
    if (r < 0) return -1;
    if (r == 0 || strstr(buf, "urn:ietf:params:xml:ns:xmpp-tls") == NULL) { fail(c, TA_NET_NO_STARTTLS, 0); return -1; }
    if (send_text(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") < 0) return -1;
    r = read_until(c, buf, sizeof buf, "<proceed", "<failure");
    if (r < 0) return -1;
    if (r == 0) { fail(c, TA_NET_NO_STARTTLS, 1); return -1; }
    return 0;
}

int ta_xmpp_probe(const char *host, uint16_t port, const char *domain, const char *ca_file,
                  int connect_timeout_ms, int idle_timeout_ms, int *error, int *detail) {
    ta_conn *c = conn_new(1, idle_timeout_ms, error, detail);
    if (c == NULL) return -1;
    c->fd = tcp_connect(c, host, port, connect_timeout_ms);
    if (c->fd < 0 || starttls(c, domain) < 0 || tls_start(c, domain, ca_file) < 0) {
        conn_failed(c, error, detail);
        return -1;
    }
    ta_conn_close(c);
    return 0;
}

ssize_t ta_conn_read(ta_conn *c, void *buf, size_t cap) {
    if (!c->use_tls) return raw_recv(c, buf, cap);
    for (;;) {
        int r = mbedtls_ssl_read(&c->ssl, buf, cap);
        if (r > 0) return r;
        // The end of the stream, with or without close_notify: HTTP framing tells whether
        // the body is whole.
        if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_SSL_CONN_EOF) return 0;
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        fail_tls(c, r);
        return -1;
    }
}

int ta_conn_write_all(ta_conn *c, const void *buf, size_t len) {
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n;
        if (c->use_tls) {
            int r = mbedtls_ssl_write(&c->ssl, p, len);
            if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
            if (r < 0) { fail_tls(c, r); return -1; }
            n = r;
        } else {
            n = raw_send(c, p, len);
            if (n < 0) return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ta_conn_error(const ta_conn *c) { return c->error; }
int ta_conn_detail(const ta_conn *c) { return c->detail; }

void ta_conn_close(ta_conn *c) {
    if (c == NULL) return;
    if (c->use_tls && c->handshake_done && c->error == TA_NET_OK) {
        c->idle_ms = 1000;  // best effort: don't wait long for a peer that is gone
        mbedtls_ssl_close_notify(&c->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    free(c);
}

void ta_net_describe(int error, int detail, char *buf, size_t cap) {
    if (cap == 0) return;
    char tls[96];
    switch (error) {
    case TA_NET_OK: snprintf(buf, cap, "no error"); break;
    case TA_NET_TIMED_OUT: snprintf(buf, cap, "timed out"); break;
    case TA_NET_CLOSED: snprintf(buf, cap, detail == ECONNRESET ? "connection reset" : "connection closed"); break;
    case TA_NET_REFUSED: snprintf(buf, cap, "connection refused"); break;
    case TA_NET_UNREACHABLE: snprintf(buf, cap, "host unreachable (%s)", strerror(detail)); break;
    case TA_NET_NO_ADDRESS:
        snprintf(buf, cap, "cannot resolve the host name (%s)", detail < 0 ? strerror(-detail) : gai_strerror(detail));
        break;
    case TA_NET_CA_FILE:
        mbedtls_strerror(detail, tls, sizeof tls);
        snprintf(buf, cap, "cannot load the CA file (%s)", tls);
        break;
    case TA_NET_NOT_TRUSTED: snprintf(buf, cap, "certificate not trusted"); break;
    case TA_NET_HOSTNAME: snprintf(buf, cap, "hostname mismatch"); break;
    case TA_NET_CERT_EXPIRED: snprintf(buf, cap, "certificate expired or not yet valid"); break;
    case TA_NET_BAD_CERT: snprintf(buf, cap, "certificate rejected (verify flags 0x%x)", (unsigned)detail); break;
    case TA_NET_TLS:
        mbedtls_strerror(detail, tls, sizeof tls);
        snprintf(buf, cap, "TLS error -0x%04x (%s)", (unsigned)-detail, tls);
        break;
    case TA_NET_SYSTEM: snprintf(buf, cap, "%s", strerror(detail)); break;
    case TA_NET_TLS_VERSION:
        snprintf(buf, cap, "the server refused TLS 1.2, the only version the agent speaks (a TLS 1.3-only server?)");
        break;
    case TA_NET_NO_STARTTLS:
        snprintf(buf, cap, detail == 0 ? "the XMPP server offers no STARTTLS" : "the XMPP server refused STARTTLS");
        break;
    default: snprintf(buf, cap, "network error %d", error); break;
    }
}
