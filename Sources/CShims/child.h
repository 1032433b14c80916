// Shared by the spawning shims (not part of the module's API).
#pragma once

// In a forked child before exec: the signal mask and SIGPIPE disposition
// the agent set for itself are not the child's. Async-signal-safe.
void ta_child_reset_signals(void);

// Execs the program open on `exe` (kept open across the exec) by its path
// /proc/self/fd/N rather than fexecve's close-on-exec descriptor: a launcher
// that opens the program by that path after the exec then still finds it —
// valgrind --trace-children, an interpreter of binfmt_misc (qemu-user) or a
// script's. The program keeps a read-only descriptor of itself, nothing more.
// Returns -errno (it returns only on failure). Async-signal-safe.
int ta_exec_descriptor(int exe, char *const argv[], char *const envp[]);

// A user of the passwd database as ta_user_lookup answers: primary group, home, name and,
// when asked for, supplementary groups (getgrouplist, at most TA_USER_GROUPS).
#include <stdint.h>
#include <sys/types.h>
#define TA_USER_GROUPS 64
struct ta_user {
    uint32_t uid, gid;
    int ngroups;
    gid_t groups[TA_USER_GROUPS];
    char name[256];
    char home[1024];
};

// Looks up `name`, or `uid` when `name` is NULL, in a forked child that answers through a
// pipe (users.c): 1 found, 0 no such user, -1 no answer (fork or pipe failed, the child
// crashed, or it took longer than TA_USER_LOOKUP_MS, when it is killed). With `group` other
// than TA_NO_GROUPS, `groups` are the user's supplementary groups and `group`, as
// getgrouplist gives them (only `group` when the user is in more than TA_USER_GROUPS).
#define TA_USER_LOOKUP_MS 5000
#define TA_NO_GROUPS UINT32_MAX
int ta_user_lookup(const char *name, uint32_t uid, uint32_t group, struct ta_user *out);
