// LD_PRELOADed into the agent by tests/integration/test_xmpp.py: dlsym finds
// neither xmpp_conn_set_cafile nor xmpp_conn_set_certfail_handler, as with
// the libstrophe of a device older than 0.11 (Raspbian Buster's 0.9.2), so
// the link takes its fallback path with this machine's libstrophe. Each
// hidden look-up is appended to $HIDE_SYMBOLS_LOG: proof that it happened.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const hidden[] = {"xmpp_conn_set_cafile", "xmpp_conn_set_certfail_handler", NULL};

static void note(const char *name) {
    const char *log = getenv("HIDE_SYMBOLS_LOG");
    if (!log) return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, name, strlen(name)) >= 0) (void)!write(fd, "\n", 1);
    close(fd);
}

// Compared by hand: an ASan build intercepts strcmp, and its runtime calls
// dlsym before its interceptors are ready.
static int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

void *dlsym(void *handle, const char *name) {
    // glibc 2.34+ has dlsym in libc, versioned GLIBC_2.34 (and GLIBC_2.2.5 on x86_64).
    static void *(*real)(void *, const char *);
    if (!real) real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!real) real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    for (int i = 0; hidden[i]; i++) {
        if (same(name, hidden[i])) {
            note(name);
            return NULL;
        }
    }
    return real(handle, name);
}
