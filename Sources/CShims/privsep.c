// Privilege separation: the calls that let root hand an unprivileged helper
// exactly the descriptors it needs (SCM_RIGHTS), let the helper drop to its
// user and work on those descriptors, and let root walk a tree the helper
// wrote (files.c has the openat family).
#define _GNU_SOURCE
#include "cshims.h"
#include "closer.h"
#include "dirent64.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

ssize_t ta_packet_send_fds(int sock, const void *buf, size_t len, const int *fds, int count) {
    if (count < 0 || count > TA_MAX_PASSED_FDS) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov = {(void *)buf, len};
    union {
        char bytes[CMSG_SPACE(sizeof(int) * TA_MAX_PASSED_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (count > 0) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)count);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t ta_packet_recv_fds(int sock, void *buf, size_t cap, int *fds, int max, int *count) {
    struct iovec iov = {buf, cap};
    union {
        char bytes[CMSG_SPACE(sizeof(int) * TA_SCM_MAX_FD)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    *count = 0;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    ta_take_passed(&msg, fds, max, count);
    return n;
}

int ta_drop_privileges(uint32_t uid, uint32_t gid) {
    if (uid == 0 || gid == 0) {
        errno = EPERM;
        return -1;
    }
    pid_t parent = getppid();
    // The bounding set first, while CAP_SETPCAP is still held; best effort
    // (a unit that already removed CAP_SETPCAP has nothing more to give).
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) (void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (setgroups(0, NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    // All three uids: with none left at 0 the kernel clears the permitted
    // and effective capability sets.
    if (setresuid(uid, uid, uid) != 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    // Changing the uids cleared the death signal helper.c set before exec: set it
    // again, and make sure the agent did not die in between (the helper would be
    // left running as an orphan of init).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -1;
    if (getppid() != parent) {
        errno = ESRCH;
        return -1;
    }
    // Not the agent's root folder (its working folder): nothing by path.
    if (chdir("/") != 0) return -1;
    // Prove it cannot be undone.
    if (setuid(0) == 0 || setgid(0) == 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

int ta_openat_new_rw(int dir, const char *name, unsigned mode) {
    return openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, (mode_t)mode);
}
int ta_rmdirat(int dir, const char *name) { return unlinkat(dir, name, AT_REMOVEDIR); }

int64_t ta_free_bytes_fd(int fd) {
    struct statvfs st;
    if (fstatvfs(fd, &st) != 0) return -1;
    return (int64_t)st.f_bavail * (int64_t)st.f_frsize;
}

ssize_t ta_pread(int fd, void *buf, size_t len, int64_t offset) { return pread(fd, buf, len, (off_t)offset); }
int64_t ta_seek_end(int fd) { return (int64_t)lseek(fd, 0, SEEK_END); }
int ta_dup(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

void *ta_dir_list_open(int dir) {
    // fdopendir takes the descriptor over: give it its own.
    int copy = fcntl(dir, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return NULL;
    DIR *d = fdopendir(copy);
    if (!d) {
        int saved = errno;
        close(copy);
        errno = saved;
        return NULL;
    }
    rewinddir(d);
    return d;
}

// ta_readdir (dirent64.h): 64-bit inode numbers and offsets on armhf too.
// errno tells the end (0) from a failure.
const char *ta_dir_list_next(void *list) {
    ta_dirent *e;
    while ((errno = 0, e = ta_readdir((DIR *)list)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) return e->d_name;
    }
    return NULL;
}

void ta_dir_list_close(void *list) { closedir((DIR *)list); }
