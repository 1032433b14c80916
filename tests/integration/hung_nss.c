// An NSS module whose passwd look-up by name never answers: a hung LDAP or sssd backend
// stand-in for tests/integration/test_startup.py (built as libnss_tahang.so.2).
#include <nss.h>
#include <pwd.h>
#include <stddef.h>
#include <unistd.h>

enum nss_status _nss_tahang_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *err) {
    (void)name, (void)pw, (void)buf, (void)len, (void)err;
    for (;;) pause();
}
