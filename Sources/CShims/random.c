// arc4random_buf for Embedded Swift's hash seeding on glibc < 2.36.
#define _GNU_SOURCE
#include "cshims.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fill_from_urandom(unsigned char *p, size_t len) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    return 0;
}

void arc4random_buf(void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        // The raw syscall: glibc's getrandom() wrapper is 2.25+, the syscall
        // is in every kernel Buster runs.
        long n = syscall(SYS_getrandom, p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (fill_from_urandom(p, len) == 0) return;
            _exit(70);  // no entropy at all: nothing sensible left to do
        }
        p += n;
        len -= (size_t)n;
    }
}
