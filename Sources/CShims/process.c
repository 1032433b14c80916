// Processes: spawning, reaping, signalling, users, and /proc look-ups.
#define _GNU_SOURCE
#include "cshims.h"
#include "child.h"
#include "dirent64.h"
#include "text.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>  // setgroups
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// "/proc/PID" followed by `leaf` ("/stat", "/fd"...) in `buf`.
static const char *proc_path(char *buf, size_t cap, pid_t pid, const char *leaf) {
    struct ta_text t = ta_text_in(buf, cap);
    ta_text_str(&t, "/proc/");
    ta_text_uint(&t, (uint64_t)(uint32_t)pid);
    ta_text_str(&t, leaf);
    return buf;
}

pid_t ta_getpid(void) { return getpid(); }
pid_t ta_getppid(void) { return getppid(); }
uid_t ta_getuid(void) { return getuid(); }
uid_t ta_geteuid(void) { return geteuid(); }
gid_t ta_getegid(void) { return getegid(); }
// Only ever one process or one group: 0, 1 and negative values would reach
// the agent's own group, init or every process.
int ta_kill(pid_t pid, int sig) {
    if (pid <= 1) { errno = EINVAL; return -1; }
    return kill(pid, sig);
}
int ta_kill_group(pid_t pgid, int sig) {
    if (pgid <= 1) { errno = EINVAL; return -1; }
    return kill(-pgid, sig);
}
int ta_group_exists(pid_t pgid) {
    if (pgid <= 1) return 0;
    return kill(-pgid, 0) == 0 || errno == EPERM;
}
pid_t ta_getpgid(pid_t pid) { return getpgid(pid); }

pid_t ta_reap(int *status) { return waitpid(-1, status, WNOHANG); }
int ta_exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
int ta_exit_signal(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }

void ta_child_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

static int dropped_variable(const char *entry) {
    static const char *const names[] = {
        "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID=",
        "LISTEN_FDNAMES=", "JOURNAL_STREAM=", NULL};
    for (int i = 0; names[i]; i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0) return 1;
    return 0;
}

static int identity_variable(const char *entry) {
    return strncmp(entry, "HOME=", 5) == 0 || strncmp(entry, "USER=", 5) == 0 ||
           strncmp(entry, "LOGNAME=", 8) == 0;
}

// Whether `entry` (NAME=value) sets a variable one of the `count` entries
// packed in `extra` (each NUL-terminated) also sets.
static int overridden(const char *entry, const char *extra, size_t count) {
    size_t name = strcspn(entry, "=");
    for (size_t i = 0; i < count; i++, extra += strlen(extra) + 1)
        if (strncmp(entry, extra, name) == 0 && extra[name] == '=') return 1;
    return 0;
}

// The child's environment, built in the parent: the child may not allocate.
// `extra` (the manifest's env) comes last and replaces what it names. `user`, when the
// child takes another user's ids (`set_ids`) and has a passwd entry: its HOME, USER and
// LOGNAME replace the agent's (without one, the child has none of the three).
static char **child_environment(int set_ids, const struct ta_user *user, char *storage, size_t cap,
                                const char *extra, size_t extra_count) {
    size_t count = 0;
    while (environ[count]) count++;
    char **env = calloc(count + extra_count + 4, sizeof *env);
    if (!env) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (dropped_variable(environ[i])) continue;
        if (set_ids && identity_variable(environ[i])) continue;
        if (overridden(environ[i], extra, extra_count)) continue;
        env[n++] = environ[i];
    }
    if (user) {
        const char *names[] = {"HOME=", "USER=", "LOGNAME="};
        const char *values[] = {user->home, user->name, user->name};
        size_t used = 0;
        for (int i = 0; i < 3 && used < cap; i++) {
            struct ta_text entry = ta_text_in(storage + used, cap - used);
            ta_text_str(&entry, names[i]);
            ta_text_str(&entry, values[i]);
            if (!entry.ok) break;
            if (overridden(entry.buf, extra, extra_count)) continue;
            env[n++] = entry.buf;
            used += entry.len + 1;
        }
    }
    const char *e = extra;
    for (size_t i = 0; i < extra_count; i++, e += strlen(e) + 1) env[n++] = (char *)e;
    env[n] = NULL;
    return env;
}

pid_t ta_spawn(const char *command, int cwd_fd, int out_fd,
               int set_ids, uint32_t uid, uint32_t gid, const char *extra_env, size_t extra_count) {
    // The user's supplementary groups (video, gpio, i2c… for a camera or a meter
    // interface) and the environment, looked up here (users.c): the child may not allocate.
    // A uid without a passwd entry (or no answer) keeps the primary group alone.
    struct ta_user user;
    int known = set_ids && ta_user_lookup(NULL, uid, gid, &user) == 1;
    gid_t primary[1] = {gid};
    const gid_t *groups = known ? user.groups : primary;
    int ngroups = known ? user.ngroups : 1;
    char storage[sizeof user.home + 2 * sizeof user.name + 32];  // HOME=, USER=, LOGNAME=
    char **env = child_environment(set_ids, known ? &user : NULL, storage, sizeof storage, extra_env, extra_count);
    if (!env) return -ENOMEM;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (devnull < 0 || pipe2(report, O_CLOEXEC) != 0) {
        int saved = errno;
        if (devnull >= 0) close(devnull);
        free(env);
        return -saved;
    }
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        // Child: async-signal-safe calls only, until exec.
        ta_child_reset_signals();
        int err = 0;
        if (setsid() < 0) err = errno;
        if (!err && set_ids) {
            if (setgroups((size_t)ngroups, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) err = errno;
        }
        if (!err && fchdir(cwd_fd) != 0) err = errno;
        if (!err && (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)) err = errno;
        if (!err) {
            execve("/bin/sh", argv, env);
            err = errno;
        }
        while (write(report[1], &err, sizeof err) < 0 && errno == EINTR) {}
        _exit(127);
    }
    int saved = errno;
    close(report[1]);
    close(devnull);
    free(env);
    if (pid < 0) {
        close(report[0]);
        return -saved;
    }
    int child_err = 0;
    ssize_t n;
    do { n = read(report[0], &child_err, sizeof child_err); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof child_err) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return -(child_err ? child_err : EIO);
    }
    return pid;
}

int ta_pid_has_socket(pid_t pid, uint64_t inode) {
    char path[64], want[64], link[64];
    struct ta_text socket = ta_text_in(want, sizeof want);
    ta_text_str(&socket, "socket:[");
    ta_text_uint(&socket, inode);
    ta_text_str(&socket, "]");
    ssize_t wanted = (ssize_t)socket.len;
    DIR *dir = opendir(proc_path(path, sizeof path, pid, "/fd"));
    if (!dir) return -1;
    int dfd = dirfd(dir);
    int found = 0, seen = 0;
    ta_dirent *entry;  // 64-bit on armhf too: dirent64.h
    // A sender decides how many descriptors the pid it names holds: past
    // TA_SOCKET_SCAN_FDS the socket counts as not found (the heartbeat is unverified).
    while (!found && seen++ < TA_SOCKET_SCAN_FDS && (entry = ta_readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        ssize_t n = readlinkat(dfd, entry->d_name, link, sizeof link);
        found = n == wanted && memcmp(link, want, (size_t)n) == 0;
    }
    closedir(dir);
    return found;
}

// Reads /proc/PID/stat and returns a pointer just past the ")" that ends the
// command name (which may itself contain spaces and parentheses).
static const char *stat_fields(pid_t pid, char *buf, size_t cap) {
    char path[64];
    int fd = open(proc_path(path, sizeof path, pid, "/stat"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = 0;
    const char *end = strrchr(buf, ')');
    return end ? end + 1 : NULL;
}

// Field `index` (1-based, as in proc(5)) of a stat line, from after the ")".
static const char *stat_field(const char *rest, int index) {
    const char *p = rest;
    for (int field = 3; field < index && p; field++) {
        p = strchr(p + 1, ' ');
    }
    return p ? p + 1 : NULL;
}

pid_t ta_child_with_socket(pid_t parent, uint64_t inode) {
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    pid_t result = 0;
    int children = 0;
    ta_dirent *entry;  // 64-bit on armhf too: dirent64.h
    char buf[1024];
    // As many children as the sender likes could each hold many descriptors: the
    // first TA_SOCKET_SCAN_CHILDREN are looked at.
    while (!result && children < TA_SOCKET_SCAN_CHILDREN && (entry = ta_readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != 0 || pid <= 1) continue;
        const char *rest = stat_fields((pid_t)pid, buf, sizeof buf);
        const char *ppid = rest ? stat_field(rest, 4) : NULL;
        if (!ppid || strtol(ppid, NULL, 10) != parent) continue;
        children++;
        if (ta_pid_has_socket((pid_t)pid, inode) == 1) result = (pid_t)pid;
    }
    closedir(proc);
    return result;
}

pid_t ta_sole_child(pid_t parent) {
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    pid_t found = 0;
    int count = 0;
    ta_dirent *entry;
    char buf[1024];
    while (count < 2 && (entry = ta_readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != 0 || pid <= 1) continue;
        const char *rest = stat_fields((pid_t)pid, buf, sizeof buf);
        const char *ppid = rest ? stat_field(rest, 4) : NULL;
        if (ppid && strtol(ppid, NULL, 10) == parent) found = (pid_t)pid, count++;
    }
    closedir(proc);
    return count == 1 ? found : 0;
}

int64_t ta_process_start_time(pid_t pid) {
    char buf[1024];
    const char *rest = stat_fields(pid, buf, sizeof buf);
    // A zombie has exited; only its parent's wait is missing.
    const char *state = rest ? stat_field(rest, 3) : NULL;
    if (!state || *state == 'Z') return -1;
    const char *start = stat_field(rest, 22);
    return start ? strtoll(start, NULL, 10) : -1;
}

const char *ta_getenv(const char *name) { return getenv(name); }

__attribute__((noreturn)) void ta_exit(int status) { exit(status); }

// The text after "\nKEY:" in /proc/PID/status (read into buf), or NULL.
static const char *status_field(pid_t pid, const char *key, char *buf, size_t cap) {
    char path[64];
    int fd = open(proc_path(path, sizeof path, pid, "/status"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = 0;
    const char *line = strstr(buf, key);
    return line ? line + strlen(key) : NULL;
}

int64_t ta_process_gid(pid_t pid) {
    char buf[4096];
    const char *gids = status_field(pid, "\nGid:", buf, sizeof buf);
    return gids ? strtoll(gids, NULL, 10) : -1;
}

int ta_process_in_group(pid_t pid, uint32_t gid) {
    char buf[4096];
    const char *p = status_field(pid, "\nGroups:", buf, sizeof buf);
    if (!p) return 0;
    char *end;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p < '0' || *p > '9') return 0;
        unsigned long long g = strtoull(p, &end, 10);
        if (g == gid) return 1;
        p = end;
    }
}

int64_t ta_process_sole_uid(pid_t pid) {
    char buf[4096];
    const char *p = status_field(pid, "\nUid:", buf, sizeof buf);
    if (!p) return -1;
    char *end;
    long long real = strtoll(p, &end, 10);
    long long effective = strtoll(end, &end, 10);
    long long saved = strtoll(end, &end, 10);
    return real >= 0 && real == effective && real == saved ? real : -1;
}

pid_t ta_parent_pid(pid_t pid) {
    char buf[1024];
    const char *rest = stat_fields(pid, buf, sizeof buf);
    const char *ppid = rest ? stat_field(rest, 4) : NULL;
    return ppid ? (pid_t)strtol(ppid, NULL, 10) : -1;
}

int ta_setenv(const char *name, const char *value) { return setenv(name, value, 1); }
