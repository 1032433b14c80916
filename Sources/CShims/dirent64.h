// Folder listings with 64-bit inode numbers and offsets on every libc the agent is
// built for (not part of the module's API). On 32-bit glibc (armhf), readdir fails
// with EOVERFLOW at an inode number or offset (ext4's hash) over 32 bits, which file
// systems on 64-bit hosts hand out (qemu-user): there, readdir64. musl's readdir is
// always 64-bit and its headers have no readdir64 (the ARMv6 probe is built on musl).
#pragma once
#include <dirent.h>

#if defined(__GLIBC__)
typedef struct dirent64 ta_dirent;
#define ta_readdir readdir64
#else
typedef struct dirent ta_dirent;
#define ta_readdir readdir
#endif
