// The trial run of a new agent program before a self-update installs it (DESIGN.md §6).
#define _GNU_SOURCE
#include "cshims.h"
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// The child: the unprivileged user first (nothing of the new program runs
// as root, not even its loader), then the program through its descriptor.
static void run_child(int exe, uint32_t uid, uint32_t gid, const char *arg, int out) {
    ta_child_reset_signals();
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    if (ta_drop_privileges(uid, gid) != 0) _exit(126);
    char *const argv[] = {"tinyagent", (char *)arg, NULL};
    char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    ta_exec_descriptor(exe, argv, envp);
    _exit(127);
}

int ta_trial_run(int exe, uint32_t uid, uint32_t gid, const char *arg, int timeout_ms, char *out, size_t cap, int *status) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        return -saved;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        run_child(exe, uid, gid, arg, fds[1]);
    }
    close(fds[1]);
    int64_t deadline = now_ms() + timeout_ms;
    size_t used = 0;
    int timed_out = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) { timed_out = 1; break; }
        struct pollfd p = {fds[0], POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { timed_out = n == 0; break; }
        char scratch[256];
        // Beyond `cap` the output is drained and dropped: a version is one short line.
        ssize_t r = used < cap ? read(fds[0], out + used, cap - used) : read(fds[0], scratch, sizeof scratch);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (used < cap) used += (size_t)r;
    }
    close(fds[0]);
    // Output ended (or time is up): the program has until the deadline to exit.
    int wstatus = 0;
    while (!timed_out) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (now_ms() >= deadline) { timed_out = 1; break; }
        struct timespec pause = {0, 5 * 1000000};
        nanosleep(&pause, NULL);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
        *status = -1;
    } else {
        *status = wstatus;
    }
    return (int)used;
}
