// Sockets: UDP on loopback and a Unix datagram socket for heartbeats, Unix
// stream for the control socket.
#define _GNU_SOURCE
#include "cshims.h"
#include "closer.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include "text.h"
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

int ta_udp_socket(void) {
    return socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int ta_udp_bind_loopback(uint16_t port) {
    int fd = ta_udp_socket();
    if (fd < 0) return -1;
    struct sockaddr_in addr = loopback(port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

uint16_t ta_socket_local_port(int fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return 0;
    return ntohs(addr.sin_port);
}

ssize_t ta_udp_recv(int fd, void *buf, size_t cap, uint32_t *source_address, uint16_t *source_port) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = recvfrom(fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&from, &len);
    if (n >= 0) {
        int inet = from.sin_family == AF_INET;
        *source_address = inet ? ntohl(from.sin_addr.s_addr) : 0;
        *source_port = inet ? ntohs(from.sin_port) : 0;
    }
    return n;
}

ssize_t ta_udp_send_loopback(int fd, const void *buf, size_t len, uint16_t port) {
    struct sockaddr_in addr = loopback(port);
    return sendto(fd, buf, len, 0, (struct sockaddr *)&addr, sizeof addr);
}

static int unix_address(const char *path, struct sockaddr_un *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(addr->sun_path, path);
    return 0;
}

int ta_unix_bind_at(int dirfd, const char *name, unsigned mode, uint32_t gid, int datagram) {
    char path[64 + 108];
    struct sockaddr_un addr;
    struct ta_text t = ta_text_in(path, sizeof path);
    ta_text_str(&t, "/proc/self/fd/");
    ta_text_uint(&t, (uint64_t)(uint32_t)dirfd);
    ta_text_str(&t, "/");
    ta_text_str(&t, name);
    if (!t.ok) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (unix_address(path, &addr) != 0) return -1;
    int fd = socket(AF_UNIX, (datagram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) goto fail;
    mode_t old = umask(~mode & 0777);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (bound != 0 || fchownat(dirfd, name, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) != 0) goto fail;
    if (!datagram && listen(fd, 8) != 0) goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int ta_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int ta_unix_connect(const char *path) {
    struct sockaddr_un addr;
    if (unix_address(path, &addr) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int ta_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int ta_set_passcred(int fd) {
    int on = 1;
    return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

ssize_t ta_unix_dgram_recv(int fd, void *buf, size_t cap, ta_credentials *sender) {
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * TA_SCM_MAX_FD)];
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n = recvmsg(fd, &msg, MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    sender->pid = -1;
    sender->uid = (uint32_t)-1;
    sender->gid = (uint32_t)-1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            sender->pid = cred.pid;
            sender->uid = cred.uid;
            sender->gid = cred.gid;
        }
    }
    // Descriptors nobody asked for: never kept, and never closed by the loop (closer.c).
    int none;
    ta_take_passed(&msg, NULL, 0, &none);
    return n;
}

int ta_unix_dgram_socket(void) {
    return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

ssize_t ta_unix_dgram_send(int fd, const char *path, const void *buf, size_t len) {
    struct sockaddr_un addr;
    if (unix_address(path, &addr) != 0) return -1;
    return sendto(fd, buf, len, 0, (struct sockaddr *)&addr, sizeof addr);
}
