#!/usr/bin/env bash
# The ARMv6 run-time proof: the agent's Swift code and C shims, linked statically against
# musl for the arm1176jzf-s (cross/build.sh armhf --musl-probe), run under
# `qemu-arm -cpu arm1176`, the Pi Zero's and Pi 1's CPU. The probe
# (cross/armv6-probe/main.swift) checks the heartbeat parser, the supervisor's table,
# the config cipher and JSON. First a control: the same kind of static program built for
# the Pi 2's Cortex-A7 must die there with SIGILL, which shows the emulated CPU refuses
# what ARMv6 lacks (a dynamically linked agent cannot be run this way: Debian's armhf
# loader and libraries are ARMv7 and die the same way before any of our code runs).
#
#   cross/armv6-probe.sh
#
# Ends with "N passed, N failed"; exit status 1 when any case failed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch armhf
"$TA_ROOT/cross/build.sh" armhf --musl-probe
ensure_zig
need_apt qemu-user "$QEMU_USER"
PROBE="$TA_BUILD/armhf/armv6-probe"
QEMU=(qemu-arm -cpu arm1176)

T="$(mktemp -d "${TMPDIR:-/tmp}/armv6-probe.XXXXXX")"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
passed=0; failed=0

# The control: movw is ARMv6T2 and later.
printf 'int main(void) { unsigned r; __asm__ volatile("movw %%0, #0x1234" : "=r"(r)); return r == 0x1234 ? 0 : 1; }\n' >"$T/v7.c"
"$ZIG" cc -target arm-linux-musleabihf -mcpu=cortex_a7 -static -Os -o "$T/v7" "$T/v7.c"
rc=0; ( "${QEMU[@]}" "$T/v7" ) >"$T/v7.out" 2>&1 || rc=$?  # the subshell reports the signal into v7.out
if [ $rc -eq $((128 + 4)) ] || grep -q "Illegal instruction" "$T/v7.out"; then
    passed=$((passed + 1)); echo "ok   - control: an ARMv7 program dies with SIGILL under ${QEMU[*]}"
else
    failed=$((failed + 1)); echo "FAIL - control: an ARMv7 program under ${QEMU[*]} exited $rc, expected SIGILL"
fi

rc=0; "${QEMU[@]}" "$PROBE" >"$T/probe.out" 2>&1 || rc=$?
sed 's/^/    probe> /' "$T/probe.out"
last="$(tail -n1 "$T/probe.out")"
if [ $rc -eq 0 ] && [[ "$last" =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
    passed=$((passed + 1)); echo "ok   - the agent's code (static musl, arm1176jzf-s) under ${QEMU[*]}: $last"
else
    failed=$((failed + 1)); echo "FAIL - the agent's code under ${QEMU[*]}: exit $rc, last line: $last"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
