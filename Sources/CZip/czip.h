#pragma once
// libzip for update archives. Raspbian Buster has libzip4 1.5.1: use only
// functions that version has (cross/buster-check.py proves it).
#include <zip.h>

// The few file calls extraction needs beyond CShims, as static inline
// functions (a system-library target has no .c files). Same contract as
// CShims: -1 with errno set on failure; Swift reads errno at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// A new regular file for an archive entry: never an existing file, never
// through a symbolic link, close-on-exec.
static inline int ta_zip_create_file(const char *path, unsigned mode) {
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
}
// An extracted folder, opened to set its mode and fsync it; not a link.
static inline int ta_zip_open_folder(const char *path) {
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}
// Exact permission bits, whatever the umask was at creation.
static inline int ta_zip_fchmod(int fd, unsigned mode) { return fchmod(fd, (mode_t)mode); }
// Removing a partial staging folder.
static inline int ta_zip_rmdir(const char *path) { return rmdir(path); }
