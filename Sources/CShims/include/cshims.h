// Thin C layer under the agent: every Linux call the Swift code needs, with
// macros turned into functions, packed/variadic APIs flattened, and symbols
// prefixed `ta_`. Functions return -1 and leave errno set on failure unless
// documented otherwise; Swift reads errno through ta_errno() immediately.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

int ta_errno(void);
void ta_set_errno(int value);

// Clocks, in nanoseconds.
int64_t ta_monotonic_ns(void);
int64_t ta_realtime_ns(void);

// epoll. `ta_event` is not packed (struct epoll_event is on x86_64).
typedef struct { uint32_t events; uint64_t data; } ta_event;
enum { TA_EPOLLIN = 0x001, TA_EPOLLOUT = 0x004, TA_EPOLLERR = 0x008, TA_EPOLLHUP = 0x010 };
int ta_epoll_create(void);
int ta_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int ta_epoll_del(int epfd, int fd);
int ta_epoll_wait(int epfd, ta_event *events, int max, int timeout_ms);

// timerfd on CLOCK_MONOTONIC, armed to an absolute deadline (0 disarms).
int ta_timerfd_create(void);
int ta_timerfd_arm(int fd, int64_t deadline_ns);
int ta_timerfd_drain(int fd);

// signalfd for SIGTERM, SIGINT, SIGHUP and SIGCHLD, which are blocked for the
// thread (and unblocked again in spawned children). SIGPIPE is ignored.
int ta_signalfd_create(void);
// Returns the signal number, 0 when nothing is pending, -1 on error.
int ta_signalfd_read(int fd);
enum { TA_SIGHUP = 1, TA_SIGINT = 2, TA_SIGKILL = 9, TA_SIGTERM = 15, TA_SIGCHLD = 17, TA_SIGSTOP = 19, TA_SIGCONT = 18 };

// UDP on loopback.
int ta_udp_bind_loopback(uint16_t port);
int ta_udp_socket(void);
uint16_t ta_socket_local_port(int fd);
// Receives one datagram into buf; returns its full length (which may exceed
// cap: the datagram was truncated) and the sender's IPv4 address (host
// byte order) and port, or -1.
ssize_t ta_udp_recv(int fd, void *buf, size_t cap, uint32_t *source_address, uint16_t *source_port);
ssize_t ta_udp_send_loopback(int fd, const void *buf, size_t len, uint16_t port);

// Unix datagram sockets (kernel-attested heartbeats, bound by
// ta_unix_bind_at): SO_PASSCRED on, so each datagram carries its sender.
int ta_set_passcred(int fd);
// What the kernel says about a datagram's sender (SCM_CREDENTIALS); pid -1
// when it said nothing.
typedef struct { int32_t pid; uint32_t uid; uint32_t gid; } ta_credentials;
// One datagram: its full length (MSG_TRUNC), and its sender, or -1.
ssize_t ta_unix_dgram_recv(int fd, void *buf, size_t cap, ta_credentials *sender);
int ta_unix_dgram_socket(void);  // blocking, for `tinyagent heartbeat`
ssize_t ta_unix_dgram_send(int fd, const char *path, const void *buf, size_t len);

// Unix stream sockets (the local control socket).
// Binds `name` in the folder `dirfd` (through /proc/self/fd, so a rename of
// the folder's path changes nothing) with the file's mode set by the umask
// at bind time, never by a chmod of the path, then gives it group `gid`
// (fchownat without following links). A stale entry of that name is removed
// first (unlinkat: a link is removed, not followed). A stream socket also
// listens; `datagram` makes a SOCK_DGRAM one. Non-blocking, close-on-exec.
int ta_unix_bind_at(int dirfd, const char *name, unsigned mode, uint32_t gid, int datagram);
// The connected peer's pid, uid and gid (SO_PEERCRED), as the kernel saw
// them at connect(2).
int ta_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
int ta_unix_connect(const char *path);
int ta_accept(int fd);

// Files and descriptors.
int ta_open_read(const char *path);
int ta_open_write_new(const char *path, unsigned mode);  // O_CREAT|O_TRUNC
int ta_open_append(const char *path, unsigned mode);
int ta_open_dir(const char *path);
ssize_t ta_read(int fd, void *buf, size_t len);
ssize_t ta_write(int fd, const void *buf, size_t len);
int ta_fsync(int fd);
int ta_close(int fd);
// Closes `fd` on the closer thread (closer.c): a descriptor a less trusted process passed,
// or a socket it can queue descriptors on, whose close could wait as long as it likes.
void ta_discard(int fd);
int ta_rename(const char *from, const char *to);
int ta_unlink(const char *path);
int ta_mkdir(const char *path, unsigned mode);
// Removes a file or a folder with everything in it (symbolic links are
// removed, never followed; folders are walked through descriptors opened
// O_NOFOLLOW, so a folder swapped for a link during the walk is not
// followed); 0 when the path does not exist.
int ta_remove_tree(const char *path);
int64_t ta_file_size(const char *path);  // -1 when missing
int ta_ftruncate(int fd, int64_t size);
// Whether fd is the only open descriptor of its file: a write lease (F_SETLEASE F_WRLCK) is
// granted only then, and is released at once. 1 alone, 0 open elsewhere (EAGAIN), -1 with
// errno on another failure (a file system without leases).
int ta_only_open_here(int fd);
int ta_set_nonblocking(int fd);
const char *ta_strerror(int code);

// Files relative to a folder descriptor, for folders another user may write
// (DESIGN.md §3): no symbolic link is followed in the last component, no open
// blocks (O_NONBLOCK: a FIFO opens at once, then fstat refuses it).
typedef struct { uint32_t mode; uint32_t uid; uint32_t gid; int64_t size; uint64_t links; uint64_t device; uint64_t inode; } ta_stat;
int ta_fstat(int fd, ta_stat *out);
// lstat of `name` in `dirfd` (TA_AT_FDCWD: the working folder): what is
// there, never followed.
int ta_lstat_at(int dirfd, const char *name, ta_stat *out);
enum { TA_AT_FDCWD = -100 };
enum { TA_S_IFMT = 0170000, TA_S_IFREG = 0100000, TA_S_IFDIR = 0040000, TA_S_IFLNK = 0120000,
       TA_S_IFIFO = 0010000, TA_S_IFSOCK = 0140000, TA_S_IFCHR = 0020000, TA_S_IFBLK = 0060000 };
int ta_open_folder(const char *path);                 // O_DIRECTORY|O_NOFOLLOW
int ta_openat_folder(int dirfd, const char *name);    // O_DIRECTORY|O_NOFOLLOW
int ta_openat_read(int dirfd, const char *name);      // O_RDONLY|O_NOFOLLOW|O_NONBLOCK
// O_APPEND|O_NOFOLLOW|O_NONBLOCK, O_RDWR when `read` else O_WRONLY, plus
// O_CREAT when `create`.
int ta_openat_append(int dirfd, const char *name, unsigned mode, int create, int read);
int ta_openat_new(int dirfd, const char *name, unsigned mode);  // O_CREAT|O_EXCL|O_NOFOLLOW
int ta_mkdirat(int dirfd, const char *name, unsigned mode);
int ta_renameat(int dirfd, const char *from, const char *to);
// Swaps two names in `dirfd` in one step (renameat2 RENAME_EXCHANGE, Linux 3.15,
// by syscall: no newer glibc symbol); EINVAL or ENOSYS where unsupported.
int ta_renameat_exchange(int dirfd, const char *a, const char *b);
int ta_unlinkat(int dirfd, const char *name);
int ta_fchown(int fd, uint32_t uid, uint32_t gid);
int ta_fchmod(int fd, unsigned mode);
int ta_fchownat_nofollow(int dirfd, const char *name, uint32_t uid, uint32_t gid);
int ta_fchdir(int fd);
// flock(LOCK_EX|LOCK_NB): -1 with EWOULDBLOCK while another open file holds it.
int ta_flock_exclusive_nowait(int fd);

// Processes.
pid_t ta_getpid(void);
pid_t ta_getppid(void);
uid_t ta_getuid(void);
uid_t ta_geteuid(void);
gid_t ta_getegid(void);
int ta_kill(pid_t pid, int sig);
int ta_kill_group(pid_t pgid, int sig);
/* 1 while process group `pgid` has a member (zombies included), else 0. */
int ta_group_exists(pid_t pgid);
pid_t ta_getpgid(pid_t pid);
// Reaps one exited child without blocking: returns its pid (0 when none,
// -1 when there are no children) and stores the wait status.
pid_t ta_reap(int *status);
int ta_exit_code(int status);    // -1 when killed by a signal
int ta_exit_signal(int status);  // 0 when it exited normally
// The primary group of uid, or the ids of the user `name`, from the user database, looked
// up in a child process (users.c): 0, -1 when there is no such user, -2 when the look-up
// gave no answer within 5 s (a hung NSS backend).
int ta_user_by_uid(uint32_t uid, uint32_t *gid);
int ta_user_by_name(const char *name, uint32_t *uid, uint32_t *gid);

// Starts `/bin/sh -c command` in a new session in the folder open as
// `cwd_fd` (fchdir: no path is looked up again), stdin from /dev/null,
// stdout and stderr to `out_fd`, as uid/gid when `set_ids` (the user's
// groups, setgid, then setuid), with the agent's environment minus the
// systemd variables, HOME/USER/LOGNAME of the target user, and the
// `extra_count` NAME=value entries packed NUL-terminated in `extra_env`.
// Returns the child's pid, or -errno when the child could not be started or
// its exec failed (the child is reaped then).
pid_t ta_spawn(const char *command, int cwd_fd, int out_fd,
               int set_ids, uint32_t uid, uint32_t gid, const char *extra_env, size_t extra_count);

// Sender verification helpers (/proc). What a sender names costs a bounded scan: a meter
// process holds far fewer descriptors, and has far fewer children, than these.
enum { TA_SOCKET_SCAN_FDS = 4096, TA_SOCKET_SCAN_CHILDREN = 16 };
// 1 when /proc/PID/fd holds socket:[inode] among its first TA_SOCKET_SCAN_FDS entries,
// 0 when not, -1 on error.
int ta_pid_has_socket(pid_t pid, uint64_t inode);
// The real gid of PID from /proc/PID/status, or -1.
int64_t ta_process_gid(pid_t pid);
// Whether `gid` is among the supplementary groups of `pid` (/proc/PID/status "Groups:"); 1 or 0.
int ta_process_in_group(pid_t pid, uint32_t gid);
// The uid PID runs as if its real, effective and saved uids are all that
// one uid (so whoever has it may signal the process), else -1.
int64_t ta_process_sole_uid(pid_t pid);
// The parent of PID (field 4 of /proc/PID/stat), or -1.
pid_t ta_parent_pid(pid_t pid);
// A direct child of `parent` (of its first TA_SOCKET_SCAN_CHILDREN) that holds
// socket:[inode], or 0 when none.
pid_t ta_child_with_socket(pid_t parent, uint64_t inode);
// The only child of `parent` (a shell that forked what it runs), or 0 when
// it has none or several.
pid_t ta_sole_child(pid_t parent);
// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or -1
// when the process is gone or a zombie.
int64_t ta_process_start_time(pid_t pid);

// ceil, bit for bit as libm's, which the programs' own `ceil` is (ceil.c: no program
// loads libm).
double ta_ceil(double x);

// Embedded Swift imports arc4random_buf, which glibc has only from 2.36.
void arc4random_buf(void *buf, size_t len);

// The process's command-line arguments (Embedded Swift has no CommandLine).
int ta_argc(void);
const char *ta_argv(int index);

// Environment look-up (NULL when unset).
const char *ta_getenv(const char *name);

// Sleeps, resuming after signals, for `ms` milliseconds.
void ta_sleep_ms(int ms);

// Flushes stdio and exits.
__attribute__((noreturn)) void ta_exit(int status);

// A connected pair of SOCK_SEQPACKET Unix sockets (message boundaries kept),
// both close-on-exec and non-blocking.
int ta_packet_pair(int fds[2]);
// Starts one of the agent's helper programs through `exe`, a descriptor the
// agent opened on it at start (right even after an upgrade replaced the
// file, and valgrind can follow it), as `name arg ids` with `fd` as its
// descriptor 3, stdin from /dev/null, stdout and stderr inherited, signals
// unblocked; `ids` ("UID:GID", or NULL) is the user the helper drops to
// before it reads anything. Returns the pid or -errno.
pid_t ta_spawn_helper(int exe, const char *name, const char *arg, const char *ids, int fd);
// Replaces this process with the program open on `exe`; its command line is
// `count` strings packed NUL-terminated in `args` (its name first). Returns
// only on failure, with -errno.
int ta_exec_fd(int exe, const char *args, size_t count);
// Runs the program open on `exe` as `exe-name ARG` under uid:gid (never 0:
// dropped in the child before the exec, with no_new_privs, no capabilities),
// stdin /dev/null, stdout and stderr into `out` (at most `cap` bytes kept),
// for at most `timeout_ms`, then reaps it. Returns the bytes kept or -errno;
// `status` is the wait status, or -1 when it was killed for taking too long.
int ta_trial_run(int exe, uint32_t uid, uint32_t gid, const char *arg, int timeout_ms, char *out, size_t cap, int *status);
// The path of this process's executable (/proc/self/exe), NUL-terminated in
// buf: its length, or -errno.
ssize_t ta_self_path(char *buf, size_t cap);
// Looks a symbol up at run time (dlsym): for library functions newer than
// the device's library version.
void *ta_lookup_symbol(const char *name);
// Free bytes for unprivileged users on the file system holding `path`, or -1.
int64_t ta_free_bytes(const char *path);
// poll(2) for input on one descriptor: 1 readable, 0 timeout, -1 error.
int ta_wait_readable(int fd, int timeout_ms);

// Privilege separation (privsep.c).
enum { TA_MAX_PASSED_FDS = 4 };
// One packet with up to TA_MAX_PASSED_FDS descriptors (SCM_RIGHTS); bytes sent or -1.
ssize_t ta_packet_send_fds(int sock, const void *buf, size_t len, const int *fds, int count);
// One packet and the descriptors that came with it (close-on-exec; at most
// `max` kept in `fds`, the others given to ta_discard); bytes or -1.
ssize_t ta_packet_recv_fds(int sock, void *buf, size_t cap, int *fds, int max, int *count);
// setgroups([]), setresgid, setresuid to a non-root user, PR_SET_NO_NEW_PRIVS,
// the capability bounding set emptied (best effort); 0 or -1.
int ta_drop_privileges(uint32_t uid, uint32_t gid);
// ta_openat_new, read-write: a new file to fill and read back.
int ta_openat_new_rw(int dir, const char *name, unsigned mode);
// unlinkat with AT_REMOVEDIR: an empty folder.
int ta_rmdirat(int dir, const char *name);
int64_t ta_free_bytes_fd(int fd);
ssize_t ta_pread(int fd, void *buf, size_t len, int64_t offset);
// lseek to the end; the new offset or -1.
int64_t ta_seek_end(int fd);
// F_DUPFD_CLOEXEC.
int ta_dup(int fd);
// A folder's names (without . and ..), read through a copy of `dir`.
void *ta_dir_list_open(int dir);
const char *ta_dir_list_next(void *list);  // NULL at the end (errno 0) or on a failure (errno set)
void ta_dir_list_close(void *list);

// setenv(3), overwriting.
int ta_setenv(const char *name, const char *value);

// getaddrinfo(HOST) for TCP: 0 when it resolves, else its EAI_* code (the
// link's diagnosis of a failed connection attempt: DNS, or not DNS).
int ta_resolve(const char *host);
const char *ta_gai_strerror(int code);
