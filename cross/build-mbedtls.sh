#!/usr/bin/env bash
# Builds mbedTLS as static libraries from Debian's source package, with tinyagent's trimmed
# configuration (cross/mbedtls-config.h), compiled by zig.
#
#   [MBEDTLS_CONFIG=FILE] [MBEDTLS_CFLAGS=...] cross/build-mbedtls.sh TARGET OUT
#     TARGET  armhf   ARMv6 + VFPv2 hard-float (arm1176jzf-s), glibc 2.28 (every Pi, 32-bit);
#                     Thumb-1 code but for the hot paths (FAST_OBJECTS), which are ARM code
#             arm64   ARMv8.0-A, glibc 2.31 (64-bit Raspberry Pi OS)
#             host    x86_64 Linux (for the host build and tests; objects are PIC)
#     OUT     gets include/{mbedtls,psa}/ (config.h = the trimmed configuration) and
#             lib/libmbedtls.a lib/libmbedx509.a lib/libmbedcrypto.a
#
# Users must compile against OUT/include: struct layouts depend on the configuration.
# The source is fetched once (`apt-get source` with a private deb-src list) into
# build/src/; a second run with the same inputs does nothing.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -eq 2 ] || { usage >&2; exit 2; }
TARGET="$1"
OUT="$2"
case "$TARGET" in
    armhf|arm64) pi_arch "$TARGET"; zig_target=(-target "$ZIG_ARCH_TARGET" "${ZIG_CODE_FLAGS[@]}")
                 zig_fast=(-target "$ZIG_ARCH_TARGET" -mcpu="$ZIG_CPU") ;;
    host|x86_64) TARGET=host; zig_target=(-target "x86_64-linux-gnu.$GLIBC_FLOOR" -mcpu=baseline)
                 zig_fast=("${zig_target[@]}") ;;
    *) die "unknown target '$TARGET' (armhf, arm64 or host)" ;;
esac
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
CONFIG="${MBEDTLS_CONFIG:-$TA_ROOT/cross/mbedtls-config.h}"
CFLAGS="${MBEDTLS_CFLAGS:--Os -fPIC -ffunction-sections -fdata-sections}"

need_apt make make
ensure_zig
# armhf: built first as ARM code, the rest is Thumb-1 (a third smaller, common.sh): the
# bignum (its assembly has no Thumb-1 form clang accepts; ARM has UMAAL), and the ciphers,
# hashes and curve reductions every download and handshake runs through. make then finds
# them built and links them in as they are.
FAST_OBJECTS=(bignum.o ecp_curves.o aes.o gcm.o chacha20.o poly1305.o chachapoly.o sha256.o sha512.o)
stamp_value="$(printf '%s\n' "$TARGET" "$ZIG_VERSION" "$CFLAGS" "${zig_target[*]}" "${zig_fast[*]}" \
    | cat - "$CONFIG" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$OUT/mbedtls.stamp" ] && [ "$(cat "$OUT/mbedtls.stamp")" = "$stamp_value" ] \
   && [ -f "$OUT/lib/libmbedcrypto.a" ]; then
    log "mbedTLS ($TARGET) up to date (${OUT#"$TA_ROOT"/})"
    exit 0
fi

# Fetch and unpack Debian's source package once.
SRC_CACHE="$TA_CACHE/src"
src_dir="$( (find "$SRC_CACHE" -maxdepth 1 -type d -name 'mbedtls-*' 2>/dev/null || true) | sort | tail -n1)"
if [ -z "$src_dir" ] || [ ! -f "$src_dir/library/Makefile" ]; then
    need_apt dpkg-dev dpkg-source
    private_apt
    mkdir -p "$SRC_CACHE"
    log "fetching mbedtls source package ($DEBIAN_SUITE)"
    (cd "$SRC_CACHE" && apt-get "${APT_OPTS[@]}" source --download-only mbedtls >"$SRC_CACHE/mbedtls-source.log" 2>&1) \
        || { cat "$SRC_CACHE/mbedtls-source.log" >&2; die "apt-get source mbedtls failed"; }
    dsc="$(ls "$SRC_CACHE"/mbedtls_*.dsc | sort | tail -n1)"
    ver="$(sed -n 's/^Version: \(.*\)$/\1/p' "$dsc")"
    upstream="${ver%-*}"; upstream="${upstream#*:}"
    rm -rf "$SRC_CACHE/mbedtls-$upstream"
    (cd "$SRC_CACHE" && dpkg-source --no-check -x "$dsc" "mbedtls-$upstream" >>"$SRC_CACHE/mbedtls-source.log" 2>&1) \
        || { cat "$SRC_CACHE/mbedtls-source.log" >&2; die "dpkg-source -x failed"; }
    src_dir="$SRC_CACHE/mbedtls-$upstream"
fi
log "building $(basename "$src_dir") for $TARGET with the trimmed configuration"

# Build in a private copy: mbedTLS's Makefile builds in the source tree.
work="$OUT/work"
rm -rf "$work"
cp -a "$src_dir" "$work"
cp "$CONFIG" "$work/include/mbedtls/config.h"
if [ "${zig_fast[*]}" != "${zig_target[*]}" ]; then
    make -s -C "$work/library" -j"$(nproc)" "${FAST_OBJECTS[@]}" CC="$ZIG cc ${zig_fast[*]}" \
        CFLAGS="$CFLAGS" >"$OUT/build-fast.log" 2>&1 || { cat "$OUT/build-fast.log" >&2; die "mbedTLS build failed"; }
fi
make -s -C "$work/library" -j"$(nproc)" static \
    CC="$ZIG cc ${zig_target[*]}" AR="$ZIG ar" AR_DASH= \
    CFLAGS="$CFLAGS" >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log" >&2; die "mbedTLS build failed"; }

rm -rf "$OUT/include" "$OUT/lib"
mkdir -p "$OUT/include" "$OUT/lib"
cp -a "$work/include/mbedtls" "$work/include/psa" "$OUT/include/"
cp "$work/library/libmbedtls.a" "$work/library/libmbedx509.a" "$work/library/libmbedcrypto.a" "$OUT/lib/"
rm -rf "$work"
printf '%s\n' "$stamp_value" >"$OUT/mbedtls.stamp"
log "mbedTLS ($TARGET): $(du -cb "$OUT"/lib/*.a | tail -n1 | cut -f1) bytes of static libraries in ${OUT#"$TA_ROOT"/}/lib"
