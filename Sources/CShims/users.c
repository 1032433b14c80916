// User look-ups, each in a child process. getpwnam_r, getpwuid_r and getgrouplist run NSS:
// it reads nsswitch.conf, may load modules (LDAP, sssd, systemd's) and reads /etc/passwd
// and /etc/group through stdio. In a forked child that answers through a pipe and exits,
// none of it runs in the agent: a hung backend costs a look-up its deadline
// (TA_USER_LOOKUP_MS, then the child is killed) instead of stalling the event loop past
// systemd's watchdog, no module stays loaded in the root process, and the agent never maps
// the ~400 KiB of libc that NSS and stdio fault in (BENCHMARKS.md §3). The agent's only
// other thread (closer.c) takes no lock, so the child may allocate. A fork of the small
// agent takes well under a millisecond; the agent looks users up at start and once for
// each process it starts.
#define _GNU_SOURCE
#include "cshims.h"
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

// The answer on the pipe: `found` (1 or 0), then the user when found.
struct answer {
    int found;
    struct ta_user user;
};

static void look_up(const char *name, uint32_t uid, uint32_t group, struct answer *a) {
    struct passwd pw, *found = NULL;
    char buf[4096];
    int code = name ? getpwnam_r(name, &pw, buf, sizeof buf, &found) : getpwuid_r(uid, &pw, buf, sizeof buf, &found);
    if (code != 0 || found == NULL || strlen(pw.pw_name) >= sizeof a->user.name ||
        strlen(pw.pw_dir) >= sizeof a->user.home)
        return;
    a->found = 1;
    a->user.uid = pw.pw_uid;
    a->user.gid = pw.pw_gid;
    strcpy(a->user.name, pw.pw_name);
    strcpy(a->user.home, pw.pw_dir);
    if (group == TA_NO_GROUPS) return;
    int n = TA_USER_GROUPS;
    if (getgrouplist(pw.pw_name, group, a->user.groups, &n) >= 0) {
        a->user.ngroups = n;
    } else {  // more than TA_USER_GROUPS
        a->user.groups[0] = group;
        a->user.ngroups = 1;
    }
}

// Reads the whole answer within the deadline; 0 or -1.
static int read_answer(int fd, struct answer *a) {
    int64_t deadline = ta_monotonic_ns() + (int64_t)TA_USER_LOOKUP_MS * 1000000;
    size_t got = 0;
    while (got < sizeof *a) {
        int64_t left_ms = (deadline - ta_monotonic_ns()) / 1000000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = left_ms > 0 ? poll(&p, 1, (int)left_ms) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return -1;
        ssize_t n = read(fd, (char *)a + got, sizeof *a - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

int ta_user_lookup(const char *name, uint32_t uid, uint32_t group, struct ta_user *out) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(pipe_fds[0]);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
        struct answer a;
        memset(&a, 0, sizeof a);
        look_up(name, uid, group, &a);
        const char *p = (const char *)&a;
        for (size_t left = sizeof a; left > 0;) {
            ssize_t n = write(pipe_fds[1], p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) _exit(1);
            p += n, left -= (size_t)n;
        }
        _exit(0);
    }
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        return -1;
    }
    struct answer a;
    int ok = read_answer(pipe_fds[0], &a) == 0;
    close(pipe_fds[0]);
    if (!ok) kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    if (!ok) return -1;
    if (!a.found) return 0;
    *out = a.user;
    return 1;
}

int ta_user_by_uid(uint32_t uid, uint32_t *gid) {
    struct ta_user user;
    int found = ta_user_lookup(NULL, uid, TA_NO_GROUPS, &user);
    if (found == 1) *gid = user.gid;
    return found == 1 ? 0 : found == 0 ? -1 : -2;
}

int ta_user_by_name(const char *name, uint32_t *uid, uint32_t *gid) {
    struct ta_user user;
    int found = ta_user_lookup(name, 0, TA_NO_GROUPS, &user);
    if (found == 1) *uid = user.uid, *gid = user.gid;
    return found == 1 ? 0 : found == 0 ? -1 : -2;
}
