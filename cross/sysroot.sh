#!/usr/bin/env bash
# Builds an armhf or arm64 sysroot from Debian's (DEBIAN_SUITE) .debs, without touching the
# system's dpkg state or architectures: a private apt configuration (build/apt, see common.sh) fetches
# the packages with `apt-get download`, each is unpacked with `dpkg-deb -x`, and each
# package's control area (DEBIAN/symbols, shlibs, control) is kept under OUT/control/PKG
# for cross/buster-check.py.
#
#   cross/sysroot.sh ARCH [--refresh] [OUT]      (ARCH armhf or arm64; OUT: build/ARCH)
#
# Produces OUT/sysroot, OUT/control, OUT/linklibs (symlinks to just the .so files the
# agent links) and OUT/libinclude (just those libraries' headers, for zig cc, which
# brings its own glibc 2.28 headers). Cached: a second run with the same package list
# does nothing; --refresh fetches the package indexes and packages again.
# For an architecture whose floor is a suite reachable here (arm64: Bullseye), the floor's
# own runtime packages' control areas go to OUT/floor-control/PKG: their Version fields
# are the floor the checks and the .deb's Depends use.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch "${1:?usage: cross/sysroot.sh armhf|arm64 [--refresh] [OUT]}"; shift
refresh=0
if [ "${1:-}" = "--refresh" ]; then refresh=1; shift; fi
OUT="${1:-$ARCH_CACHE}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# What the agent builds against, and what it needs at run time under qemu-arm.
# Their dependencies are added by apt (Depends, recursively).
ROOT_PACKAGES=(
    libc6-dev linux-libc-dev libgcc-s1
    libsystemd-dev libsystemd0
    libstrophe-dev libstrophe0
    libzip-dev libzip4
    libgcrypt20-dev libgcrypt20
)
# Shared libraries the agent links against (linker names) and the headers it includes.
# libgcrypt: the agent hashes update archives with it (Sources/CCrypto/sig.c); libsystemd
# already needs it on every floor, so the device maps no new library.
LINK_LIBS=(strophe zip systemd gcrypt)
LIB_HEADERS=(usr/include/systemd usr/include/strophe.h usr/include/zip.h
             usr/include/zipconf.h usr/include/gcrypt.h "usr/include/$GNU_TRIPLE/gpg-error.h")
# The floor's runtime packages (their control areas give its versions).
FLOOR_PACKAGES=(libc6 libgcc-s1 libstrophe0 libzip4 libsystemd0 libgcrypt20)

stamp_value="$(printf '%s\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$PI_ARCH" "$FLOOR_SUITE" "${ROOT_PACKAGES[@]}" "${LINK_LIBS[@]}" \
    "${LIB_HEADERS[@]}" | cat - "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ $refresh = 0 ] && [ -f "$OUT/sysroot.stamp" ] && [ "$(cat "$OUT/sysroot.stamp")" = "$stamp_value" ]; then
    log "sysroot up to date ($OUT/sysroot)"
    exit 0
fi

need_apt dpkg dpkg-deb
REFRESH=$refresh private_apt

mapfile -t packages < <(apt-cache "${APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances "${ROOT_PACKAGES[@]}" \
    | grep -v '^[ <]' | sort -u)
[ "${#packages[@]}" -gt 0 ] || die "could not resolve ${ROOT_PACKAGES[*]}"

log "downloading ${#packages[@]} $PI_ARCH packages"
rm -rf "$OUT/debs.new"; mkdir -p "$OUT/debs.new"
(cd "$OUT/debs.new" && apt-get "${APT_OPTS[@]}" download "${packages[@]}" >"$OUT/download.log" 2>&1) \
    || { cat "$OUT/download.log" >&2; die "apt-get download failed"; }
rm -rf "$OUT/debs" && mv "$OUT/debs.new" "$OUT/debs"
rm -rf "$OUT/floor-control"
if [ -n "$FLOOR_SUITE" ]; then
    log "the $FLOOR_SUITE floor: control areas of ${FLOOR_PACKAGES[*]}"
    mkdir -p "$OUT/floor-debs" "$OUT/floor-control"
    (cd "$OUT/floor-debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" download "${FLOOR_PACKAGES[@]/%//$FLOOR_SUITE}" >"$OUT/floor-download.log" 2>&1) \
        || { cat "$OUT/floor-download.log" >&2; die "apt-get download from $FLOOR_SUITE failed"; }
    for deb in "$OUT/floor-debs/"*.deb; do dpkg-deb -e "$deb" "$OUT/floor-control/$(dpkg-deb -f "$deb" Package)"; done
    rm -rf "$OUT/floor-debs"
fi

log "unpacking into ${OUT#"$TA_ROOT"/}/sysroot"
rm -rf "$OUT/sysroot" "$OUT/control"
mkdir -p "$OUT/sysroot" "$OUT/control"
for deb in "$OUT/debs/"*.deb; do
    name="$(dpkg-deb -f "$deb" Package)"
    dpkg-deb -x "$deb" "$OUT/sysroot"
    dpkg-deb -e "$deb" "$OUT/control/$name"
done
# Merge /lib, /bin and /sbin into /usr like an installed bookworm system. Besides being
# the real layout, it matters for qemu-arm -L: qemu maps a guest path into the sysroot only
# when it exists there, so the loader's probe of /lib/arm-linux-gnueabihf after a miss goes
# to the host, finds nothing, and the loader then drops that directory from its search.
for d in lib bin sbin; do
    [ -d "$OUT/sysroot/$d" ] && [ ! -L "$OUT/sysroot/$d" ] || continue
    mkdir -p "$OUT/sysroot/usr/$d"
    cp -a "$OUT/sysroot/$d/." "$OUT/sysroot/usr/$d/"
    rm -rf "${OUT:?}/sysroot/$d"
    ln -s "usr/$d" "$OUT/sysroot/$d"
done
# Absolute symlinks (e.g. some -dev .so links) must point into the sysroot, not the host.
while IFS= read -r -d '' link; do
    target="$(readlink "$link")"
    case "$target" in /*) ln -sfr "$OUT/sysroot$target" "$link" ;; esac
done < <(find "$OUT/sysroot" -type l -print0)

# A folder of symlinks to just the libraries the agent links. Never -L the sysroot's lib
# dir: its libc.so linker script would pull in bookworm's glibc instead of zig's 2.28 stubs.
rm -rf "$OUT/linklibs" "$OUT/libinclude"
mkdir -p "$OUT/linklibs" "$OUT/libinclude"
for lib in "${LINK_LIBS[@]}"; do
    so="$(find "$OUT/sysroot" -name "lib$lib.so" | head -n1)"
    [ -n "$so" ] || die "lib$lib.so not found in the sysroot"
    ln -sr "$(realpath "$so")" "$OUT/linklibs/lib$lib.so"
done
for h in "${LIB_HEADERS[@]}"; do
    [ -e "$OUT/sysroot/$h" ] || die "$h not found in the sysroot"
    ln -sr "$OUT/sysroot/$h" "$OUT/libinclude/$(basename "$h")"
done

printf '%s\n' "$stamp_value" >"$OUT/sysroot.stamp"
log "sysroot ready: ${#packages[@]} packages, $(du -sh "$OUT/sysroot" | cut -f1)"
