// malloc_count.c: an LD_PRELOAD library that counts heap allocations, for
// bench/run.sh ("allocations per heartbeat").
//
// Counts calls to malloc, calloc, realloc (and reallocarray), posix_memalign,
// aligned_alloc, memalign, valloc/pvalloc, and free, then forwards them to
// glibc's own __libc_* entry points (no dlsym, so no bootstrap recursion).
// The counters live in the file named by $MALLOC_COUNT_FILE, mmap'd shared,
// so they can be read at any moment while the program runs:
//   od -An -t u8 -N 64 FILE  ->  malloc calloc realloc posix_memalign
//                                aligned_alloc memalign valloc free
// The library removes LD_PRELOAD and MALLOC_COUNT_FILE from the environment
// at load, so the program's children are not counted - unless
// $MALLOC_COUNT_CHILD_FILE is set: then LD_PRELOAD stays, and the program's
// children (e.g. the agent's link process, which it execs from
// /proc/self/exe) count in that file instead, their own children not at all.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

enum { MALLOC, CALLOC, REALLOC, POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN, VALLOC, FREE, SLOTS };

static uint64_t early[SLOTS];          // counts before the file is mapped
static uint64_t *counters = early;

static inline void count(int slot) { __atomic_fetch_add(&counters[slot], 1, __ATOMIC_RELAXED); }

__attribute__((constructor(101))) static void map_counters(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && ftruncate(fd, 4096) == 0) {
            uint64_t *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (mapped != MAP_FAILED) {
                for (int i = 0; i < SLOTS; i++) mapped[i] = early[i];
                counters = mapped;
            }
        }
        if (fd >= 0) close(fd);
    }
    const char *child = getenv("MALLOC_COUNT_CHILD_FILE");
    if (child && *child) {
        setenv("MALLOC_COUNT_FILE", child, 1);
        unsetenv("MALLOC_COUNT_CHILD_FILE");
    } else {
        unsetenv("LD_PRELOAD");
        unsetenv("MALLOC_COUNT_FILE");
        unsetenv("MALLOC_COUNT_CHILD_FILE");
    }
}

void *malloc(size_t n) { count(MALLOC); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { count(CALLOC); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { count(REALLOC); return __libc_realloc(p, n); }
void free(void *p) { if (p) count(FREE); __libc_free(p); }
void *memalign(size_t a, size_t n) { count(MEMALIGN); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(ALIGNED_ALLOC); return __libc_memalign(a, n); }
void *valloc(size_t n) { count(VALLOC); return __libc_valloc(n); }
void *pvalloc(size_t n) { count(VALLOC); return __libc_pvalloc(n); }

void *reallocarray(void *p, size_t k, size_t n) {
    count(REALLOC);
    size_t total;
    if (__builtin_mul_overflow(k, n, &total)) { errno = ENOMEM; return NULL; }
    return __libc_realloc(p, total);
}

int posix_memalign(void **out, size_t a, size_t n) {
    count(POSIX_MEMALIGN);
    if (a == 0 || a % sizeof(void *) != 0 || (a & (a - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
