/* The probe is linked statically against musl, and libsystemd exists only as Debian's
 * (ARMv7, glibc) shared library. A global of the agent's SystemdNotifier keeps this
 * reference alive through --gc-sections although the probe never notifies anyone:
 * outside systemd (no $WATCHDOG_USEC) the real function answers 0 as well. */
#include <stdint.h>

int sd_watchdog_enabled(int unset_environment, uint64_t *usec) {
    (void)unset_environment;
    if (usec) *usec = 0;
    return 0;
}
