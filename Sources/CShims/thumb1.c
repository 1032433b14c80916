// What Thumb-1 code (the armhf build) needs from the run time that zig's compiler-rt lacks
// (ceil, which it gets wrong for Thumb-1, is ceil.c's in every build). Other builds compile
// nothing here.
#if defined(__arm__) && defined(__thumb__) && !defined(__thumb2__)
#include <stdint.h>

// ---- atomics --------------------------------------------------------------------------
// ARMv6 has LDREX/STREX in ARM mode only, so LLVM turns atomics in Thumb-1 code into calls
// to __sync_* (Embedded Swift's reference counting and swift_once are the callers).
// compiler-rt's arm/sync_*.S provide them, zig's compiler-rt does not: here each is ARM
// code (target("arm")), where the same builtins become LDREX/STREX loops with CP15 barriers.

// The triple says "no lock-free atomics" for Thumb-1; these functions are ARM code, which has them.
#pragma clang diagnostic ignored "-Watomic-alignment"

// Defined under asm labels: clang does not let C define a builtin's own name. Hidden, like
// everything here: the program's own code calls them, no library is bound to them.
#define SYNC_FUNCTION(ret, name, params, sym) \
    __attribute__((target("arm"), used, visibility("hidden"))) ret name params __asm__(sym); \
    __attribute__((target("arm"), used, visibility("hidden"))) ret name params

SYNC_FUNCTION(uint32_t, ta_sync_fetch_and_add_4, (volatile uint32_t *p, uint32_t v), "__sync_fetch_and_add_4") {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

SYNC_FUNCTION(uint32_t, ta_sync_fetch_and_sub_4, (volatile uint32_t *p, uint32_t v), "__sync_fetch_and_sub_4") {
    return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);
}

SYNC_FUNCTION(uint32_t, ta_sync_lock_test_and_set_4, (volatile uint32_t *p, uint32_t v), "__sync_lock_test_and_set_4") {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

SYNC_FUNCTION(uint32_t, ta_sync_val_compare_and_swap_4, (volatile uint32_t *p, uint32_t expected, uint32_t desired),
              "__sync_val_compare_and_swap_4") {
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
#endif
