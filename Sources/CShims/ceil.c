// The programs' own ceil, the one libm function the Embedded stdlib calls (it sizes
// Dictionary and Set storage with it). Defined here, in every build, so that no program
// loads libm for it: an idle agent that called glibc's ceil mapped libm and faulted in
// 64 KiB of it (BENCHMARKS.md §3), and cross/needed-check.py refuses libm.
// On the armhf build it is also a matter of calling convention: Thumb-1 code passes the
// double in r0:r1, but zig's compiler-rt ceil (ARM code, hard-float ABI) reads and answers
// in d0 (cross/README.md); this file is Thumb-1 there like the rest of the C shims.
// Bits only: no floating-point operation, so no helper call and no way to call itself.
// Hidden: lld would otherwise export it (a libm in the link defines ceil), and a library
// calling ceil would reach this one.
#include <stdint.h>
#include "cshims.h"

__attribute__((visibility("hidden"))) double ta_ceil(double x) {
    union { double d; uint64_t u; } v = { x };
    int exponent = (int)((v.u >> 52) & 0x7ff) - 1023;
    if (exponent >= 52) return x;                       // integral already, infinite or NaN
    if (exponent < 0) {                                 // |x| < 1
        if ((v.u << 1) == 0) return x;                  // ±0
        return (v.u >> 63) ? -0.0 : 1.0;
    }
    uint64_t fraction = 0x000fffffffffffffULL >> exponent;
    if ((v.u & fraction) == 0) return x;                // integral
    if (!(v.u >> 63)) v.u += fraction + 1;              // positive: up by one unit (may carry into the exponent)
    v.u &= ~fraction;                                   // negative: truncate towards zero
    return v.d;
}

__attribute__((visibility("hidden"))) double ceil(double x) __attribute__((alias("ta_ceil")));
