#!/usr/bin/env bash
# Tests cross/armv6-check.py on small objects compiled by zig: code for the Pi 2's
# Cortex-A7 (ARMv7, in ARM and in Thumb-2 mode) must fail, naming what ARMv6 lacks (movw,
# movt, ubfx, sdiv, dmb, NEON, VFPv3's d16-d31, 32-bit Thumb-2 encodings, IT); the same
# source for the Pi Zero's arm1176jzf-s must pass in ARM and Thumb-1 mode; Thumb-2 code for
# the ARMv6T2 arm1156t2f-s must fail; an ARMv6 object built for the soft-float calling
# convention must fail on Tag_ABI_VFP_args; Thumb-1 code calling libm's ceil (which reads
# its double from a VFP register, where Thumb-1 code does not put it) must fail, the same
# call from ARM code must pass.
#
#   cross/test-armv6-check.sh        (installs zig under build/ if needed)
#
# Ends with a line "N passed, N failed"; exit status 1 when any case failed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch armhf
ensure_zig
need_apt binutils readelf
SWIFTC="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
CHECK=(python3 "$TA_ROOT/cross/armv6-check.py" --objdump "$(dirname "$(realpath "$SWIFTC")")/llvm-objdump")

T="$(mktemp -d "${TMPDIR:-/tmp}/armv6-check-test.XXXXXX")"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
passed=0; failed=0

# Each function gives the compiler a reason to use an ARMv7 instruction when it may.
cat >"$T/probe.c" <<'SRC'
#include <stdint.h>
struct bits { unsigned a: 3, b: 7, c: 9; };
unsigned field(struct bits *x) { return x->b; }                      /* ubfx */
unsigned constant(void) { return 0x12345678u; }                      /* movw/movt */
int divide(int a, int b) { return a / b; }                           /* sdiv */
int counter(int *p) { return __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }  /* dmb */
double plus_one(double x) { return x + 1.0; }                        /* VFPv3 vmov #imm */
void add(int32_t *restrict d, const int32_t *restrict s, int n) {    /* NEON */
    for (int i = 0; i < n; i++) d[i] += s[i];
}
int pick(int a, int b) { return a ? a + b : b - 7; }                 /* IT (Thumb-2) */
SRC

cat >"$T/float.c" <<'SRC'
double ceil(double);
double up(double x) { return ceil(x) + 1.0; }
SRC

# object NAME ZIG_TARGET CPU [FLAGS...]: compile probe.c (SOURCE=float.c: that) to $T/NAME.o
object() {
    local name="$1" target="$2" cpu="$3"; shift 3
    "$ZIG" cc -target "$target" -mcpu="$cpu" -O2 -w "$@" -c "$T/${SOURCE:-probe.c}" -o "$T/$name.o"
}

# expect NAME pass|fail [PATTERN...]: check $T/NAME.o (attributes and disassembly); each
# PATTERN must appear in the output.
expect() {
    local name="$1" want="$2"; shift 2
    local rc=0 ok=1 p
    "${CHECK[@]}" --scan "$T/$name.o" "$T/$name.o" >"$T/$name.out" 2>&1 || rc=$?
    case "$want" in pass) [ $rc -eq 0 ] || ok=0 ;; fail) [ $rc -eq 1 ] || ok=0 ;; esac
    for p in "$@"; do grep -qF -- "$p" "$T/$name.out" || ok=0; done
    if [ $ok = 1 ]; then
        passed=$((passed + 1)); echo "ok   - $name: the check $([ "$want" = pass ] && echo passes || echo fails)${*:+, saying: $*}"
    else
        failed=$((failed + 1)); echo "FAIL - $name: expected $want (exit $rc) with: $*"
        sed 's/^/       /' "$T/$name.out"
    fi
}

object armv7-arm arm-linux-gnueabihf cortex_a7
expect armv7-arm fail "Tag_CPU_arch: v7" "Tag_Advanced_SIMD_arch" "movw" "movt" "ubfx" "sdiv" "dmb" \
    "vld1" "NEON data type" "d16-d31"
object armv7-thumb thumb-linux-gnueabihf cortex_a7
expect armv7-thumb fail "Tag_THUMB_ISA_use: Thumb-2" "32-bit Thumb-2 encoding" "Thumb-2 IT block"
object armv6-arm arm-linux-gnueabihf "$ZIG_CPU"
expect armv6-arm pass "OK: ARMv6 + VFPv2"
object armv6-thumb thumb-linux-gnueabihf "$ZIG_CPU"
expect armv6-thumb pass "OK: ARMv6 + VFPv2"
object armv6t2-thumb thumb-linux-gnueabihf arm1156t2f_s
expect armv6t2-thumb fail "Tag_CPU_arch: v6T2" "Tag_THUMB_ISA_use: Thumb-2" "32-bit Thumb-2 encoding"
object armv6-softfp arm-linux-gnueabi "$ZIG_CPU" -mfloat-abi=softfp
expect armv6-softfp fail "Tag_ABI_VFP_args"
SOURCE=float.c object armv6-thumb-ceil thumb-linux-gnueabihf "$ZIG_CPU"
expect armv6-thumb-ceil fail "Thumb-1 code calls ceil"
SOURCE=float.c object armv6-arm-ceil arm-linux-gnueabihf "$ZIG_CPU"
expect armv6-arm-ceil pass "OK: ARMv6 + VFPv2"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
