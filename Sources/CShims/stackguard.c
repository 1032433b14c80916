// The stack protector's canary in the Raspberry Pi programs (cross/build.sh defines
// TA_RANDOMIZE_ZIG_STACK_GUARD there; other builds compile nothing here).
//
// zig links its compiler-rt, whose ssp part defines __stack_chk_guard as a constant
// ("\0\0\n\xff"): the static link binds our code's checks to it, and not to the random
// canary glibc's loader keeps for itself (ARM and AArch64 keep the canary in a global, not
// in the thread pointer's block). An overflow that knows the constant would pass every
// check. So it is set here as the loader sets its own: from the kernel's 16 random bytes
// (AT_RANDOM), the lowest byte zero so that a string copy cannot write it. First of the
// constructors, before main: no frame that checks the canary is on the stack yet (glibc's
// own frames check glibc's), and this function checks none.
#include <stdint.h>  // and with it <features.h>, which says __GLIBC__
#if defined(TA_RANDOMIZE_ZIG_STACK_GUARD) && defined(__GLIBC__)
#include <string.h>
#include <sys/auxv.h>

extern uintptr_t __stack_chk_guard;

__attribute__((constructor(101), no_stack_protector, used)) static void ta_random_stack_guard(void) {
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    if (random == NULL) return;
    uintptr_t guard;
    memcpy(&guard, random, sizeof guard);
    __stack_chk_guard = guard & ~(uintptr_t)0xff;
}
#endif
