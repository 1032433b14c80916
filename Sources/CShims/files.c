// Files and descriptors; every descriptor is opened close-on-exec.
#define _GNU_SOURCE
#include "cshims.h"
#include <errno.h>
#include <fcntl.h>
#include "dirent64.h"
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int ta_open_read(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }
int ta_open_write_new(const char *path, unsigned mode) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
}
int ta_open_append(const char *path, unsigned mode) {
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
}
int ta_open_dir(const char *path) { return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); }
ssize_t ta_read(int fd, void *buf, size_t len) { return read(fd, buf, len); }
ssize_t ta_write(int fd, const void *buf, size_t len) { return write(fd, buf, len); }
int ta_fsync(int fd) { return fsync(fd); }
int ta_close(int fd) { return close(fd); }
int ta_rename(const char *from, const char *to) { return rename(from, to); }
int ta_unlink(const char *path) { return unlink(path); }
int ta_mkdir(const char *path, unsigned mode) { return mkdir(path, mode); }
int ta_ftruncate(int fd, int64_t size) { return ftruncate(fd, (off_t)size); }

int ta_only_open_here(int fd) {
    if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
        int saved = errno;
        (void)fcntl(fd, F_SETLEASE, F_UNLCK);
        errno = saved;
        return 1;
    }
    return errno == EAGAIN ? 0 : -1;
}

int64_t ta_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (int64_t)st.st_size;
}

int ta_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

const char *ta_strerror(int code) { return strerror(code); }

// Removes `name` in `dirfd`, a folder with all it holds, through descriptors
// only: each folder is opened O_NOFOLLOW|O_DIRECTORY relative to its parent's
// descriptor, so a folder that another user swaps for a link while the walk
// runs is never followed (a path walk such as nftw would be).
static int remove_at(int dirfd, const char *name, int depth);

// Empties the open folder `dir` (one pass over its entries).
static int remove_entries(DIR *dir, int depth) {
    ta_dirent *entry;  // 64-bit on armhf too: dirent64.h
    rewinddir(dir);
    while ((errno = 0, entry = ta_readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        if (remove_at(dirfd(dir), entry->d_name, depth + 1) != 0) return -1;
    }
    return errno == 0 ? 0 : -1;
}

static int remove_at(int dirfd, const char *name, int depth) {
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR) return -1;
    if (depth > 256) { errno = ELOOP; return -1; }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) { int saved = errno; close(fd); errno = saved; return -1; }
    int result = -1;
    // Entries made while the walk runs leave the folder not empty: walk again.
    for (int pass = 0; pass < 3; pass++) {
        if (remove_entries(dir, depth) != 0) break;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) { result = 0; break; }
        if (errno != ENOTEMPTY) break;
    }
    int saved = errno;
    closedir(dir);
    errno = saved;
    return result;
}

int ta_remove_tree(const char *path) { return remove_at(AT_FDCWD, path, 0); }

static void copy_stat(const struct stat *st, ta_stat *out);

int ta_fstat(int fd, ta_stat *out) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    copy_stat(&st, out);
    return 0;
}

int ta_lstat_at(int dirfd, const char *name, ta_stat *out) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    copy_stat(&st, out);
    return 0;
}

static void copy_stat(const struct stat *st, ta_stat *out) {
    out->mode = st->st_mode;
    out->uid = st->st_uid;
    out->gid = st->st_gid;
    out->size = (int64_t)st->st_size;
    out->links = (uint64_t)st->st_nlink;
    out->device = (uint64_t)st->st_dev;
    out->inode = (uint64_t)st->st_ino;
}

int ta_open_folder(const char *path) {
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}
int ta_openat_folder(int dirfd, const char *name) {
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}
int ta_openat_read(int dirfd, const char *name) {
    return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}
int ta_openat_append(int dirfd, const char *name, unsigned mode, int create, int read) {
    int flags = (read ? O_RDWR : O_WRONLY) | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (create ? O_CREAT : 0);
    return openat(dirfd, name, flags, mode);
}
int ta_openat_new(int dirfd, const char *name, unsigned mode) {
    return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
}
int ta_mkdirat(int dirfd, const char *name, unsigned mode) { return mkdirat(dirfd, name, mode); }
int ta_renameat(int dirfd, const char *from, const char *to) { return renameat(dirfd, from, dirfd, to); }
int ta_renameat_exchange(int dirfd, const char *a, const char *b) {
    return (int)syscall(SYS_renameat2, dirfd, a, dirfd, b, 2 /* RENAME_EXCHANGE */);
}
int ta_unlinkat(int dirfd, const char *name) { return unlinkat(dirfd, name, 0); }
int ta_fchown(int fd, uint32_t uid, uint32_t gid) { return fchown(fd, uid, gid); }
int ta_fchmod(int fd, unsigned mode) { return fchmod(fd, mode); }
int ta_fchownat_nofollow(int dirfd, const char *name, uint32_t uid, uint32_t gid) {
    return fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
}
int ta_fchdir(int fd) { return fchdir(fd); }
int ta_flock_exclusive_nowait(int fd) { return flock(fd, LOCK_EX | LOCK_NB); }
