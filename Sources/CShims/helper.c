// Helper processes of the agent (the XMPP link, the update worker) and run-time look-ups.
#define _GNU_SOURCE
#include "cshims.h"
#include "child.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

int ta_packet_pair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds);
}

static int keep_across_exec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

int ta_exec_descriptor(int exe, char *const argv[], char *const envp[]) {
    if (exe < 0 || keep_across_exec(exe) != 0) return -EBADF;
    char path[32] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    do { digits[n++] = (char)('0' + exe % 10); exe /= 10; } while (exe > 0);
    size_t at = strlen(path);
    while (n > 0) path[at++] = digits[--n];
    path[at] = 0;
    execve(path, argv, envp);
    return -errno;
}

pid_t ta_spawn_helper(int exe, const char *name, const char *arg, const char *ids, int fd) {
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return -errno;
    char *const argv[] = {(char *)name, (char *)arg, (char *)ids, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        // A helper never outlives the agent: killed (SIGKILL), the agent's
        // next run starts its own, which must not find this one still
        // writing the same files.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        ta_child_reset_signals();
        // dup2 clears close-on-exec on the copy; the helper blocks on it.
        if (dup2(devnull, 0) < 0 || dup2(fd, 3) < 0) _exit(127);
        int flags = fcntl(3, F_GETFL);
        fcntl(3, F_SETFL, flags & ~O_NONBLOCK);
        ta_exec_descriptor(exe, argv, environ);
        _exit(127);
    }
    int saved = errno;
    close(devnull);
    return pid < 0 ? -saved : pid;
}

int ta_exec_fd(int exe, const char *args, size_t count) {
    if (count == 0 || count > 64) return -E2BIG;
    char *argv[65];
    for (size_t i = 0; i < count; i++) {
        argv[i] = (char *)args;
        args += strlen(args) + 1;
    }
    argv[count] = NULL;
    return ta_exec_descriptor(exe, argv, environ);
}

ssize_t ta_self_path(char *buf, size_t cap) {
    if (cap == 0) return -EINVAL;
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n < 0) return -errno;
    if ((size_t)n == cap - 1) return -ENAMETOOLONG;
    buf[n] = 0;
    return n;
}

void *ta_lookup_symbol(const char *name) { return dlsym(RTLD_DEFAULT, name); }

int64_t ta_free_bytes(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) != 0) return -1;
    return (int64_t)st.f_bavail * (int64_t)st.f_frsize;
}

int ta_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    return n < 0 ? -1 : n > 0;
}
