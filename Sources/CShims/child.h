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
