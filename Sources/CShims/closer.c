// Closing a descriptor can wait as long as whoever holds its other end likes: a TCP
// socket with SO_LINGER waits for its unsent data, a FUSE file for its daemon's answer to
// FLUSH, a serial port for its output to drain. So can the last close of a Unix socket
// whose queue still holds such descriptors, and so can a recvmsg whose control buffer is
// too small for what was passed: the kernel drops the rest, closing them in the caller.
// The agent's one thread must not wait for another process, so what a less trusted one
// could hand it (SCM_RIGHTS on the control socket, heartbeat.sock or a helper's channel)
// is received whole (room for SCM_MAX_FD) and given to ta_discard, with the sockets such
// a peer can queue descriptors on: a thread that does nothing else closes them.
#define _GNU_SOURCE
#include "cshims.h"
#include "closer.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_once_t started = PTHREAD_ONCE_INIT;
static int queue[2] = {-1, -1};  // the closer reads descriptors from [0]

static void *closer(void *unused) {
    (void)unused;
    for (;;) {
        int fd;
        ssize_t n = read(queue[0], &fd, sizeof fd);
        if (n == (ssize_t)sizeof fd) close(fd);
        else if (n < 0 && errno == EINTR) continue;
        else return NULL;
    }
}

static void start_closer(void) {
    if (pipe2(queue, O_CLOEXEC) != 0) return;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    // Signals stay the loop's (its signalfd): the thread starts with every one blocked.
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int made = pthread_attr_init(&attr) == 0 && pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
               pthread_attr_setstacksize(&attr, 64 * 1024) == 0 && pthread_create(&thread, &attr, closer, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (!made || fcntl(queue[1], F_SETFL, O_NONBLOCK) != 0) {
        close(queue[0]);
        close(queue[1]);
        queue[0] = queue[1] = -1;
    }
}

void ta_discard(int fd) {
    if (fd < 0) return;
    // A TCP socket then closes at once (a reset), wherever it is closed.
    struct linger now = {1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    pthread_once(&started, start_closer);
    if (queue[1] < 0) {  // no thread: closed here, as before
        close(fd);
        return;
    }
    ssize_t n;
    do { n = write(queue[1], &fd, sizeof fd); } while (n < 0 && errno == EINTR);
    // Not queued: the closer has been stuck on one close while 16 Ki more arrived. The
    // descriptor stays open rather than the loop waiting: the descriptor limit bounds it.
}

void ta_take_passed(struct msghdr *msg, int *fds, int max, int *count) {
    *count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t passed = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < passed; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*count < max) fds[(*count)++] = fd;
            else ta_discard(fd);
        }
    }
}
