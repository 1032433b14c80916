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
// Whether the link takes zig's definition at all depends on what else pulls its ssp part
// in (the arm64 agent without mbedTLS's public-key code does not): then the symbol is
// glibc's own, already random and read-only after relocation, and writing it would crash.
// So only zig's constant is replaced.
#include <stdint.h>  // and with it <features.h>, which says __GLIBC__
#if defined(TA_RANDOMIZE_ZIG_STACK_GUARD) && defined(__GLIBC__)
#include <string.h>
#include <sys/auxv.h>

extern uintptr_t __stack_chk_guard;

// zig's constant: zero bytes, then '\n' and 0xff in the two highest, read little-endian.
#define TA_ZIG_STACK_GUARD ((uintptr_t)0xff0a << (8 * sizeof(uintptr_t) - 16))

__attribute__((constructor(101), no_stack_protector, used)) static void ta_random_stack_guard(void) {
    if (__stack_chk_guard != TA_ZIG_STACK_GUARD) return;
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    if (random == NULL) return;
    uintptr_t guard;
    memcpy(&guard, random, sizeof guard);
    __stack_chk_guard = guard & ~(uintptr_t)0xff;
}
#endif
