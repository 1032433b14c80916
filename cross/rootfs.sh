#!/usr/bin/env bash
# A minimal Debian root filesystem of a Pi architecture, for installing and running the
# agent in a chroot under qemu-user (binfmt_misc). Cached: built once into OUT and left
# untouched after; tests work on a copy. armhf: bookworm (Buster itself cannot be fetched
# here). arm64: Bullseye, the arm64 floor, so the .deb is installed and run on the oldest
# release it claims.
#
#   cross/rootfs.sh ARCH [OUT]                 (ARCH armhf or arm64; default: build/ARCH/rootfs)
#   cross/rootfs.sh --binfmt [ARCH]            only make sure binfmt_misc runs ARCH binaries
#
# Makes: `debootstrap --foreign --variant=minbase --arch=ARCH`, second stage inside the
# chroot, a `pi` user (uid 1000, like Raspbian), and the agent's run-time libraries
# (libstrophe0 libzip4 libsystemd0) plus python3. Needs root; installs debootstrap,
# qemu-user-static and binfmt-support, mounts binfmt_misc and enables qemu-arm if needed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_binfmt() {
    need_apt qemu-user-static "$QEMU_USER-static"
    need_apt binfmt-support update-binfmts
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if [ ! -e "/proc/sys/fs/binfmt_misc/$QEMU_USER" ]; then
        update-binfmts --enable "$QEMU_USER" >/dev/null 2>&1 || update-binfmts --import "$QEMU_USER"
    fi
    [ -e "/proc/sys/fs/binfmt_misc/$QEMU_USER" ] || die "could not register $QEMU_USER with binfmt_misc"
}

if [ "${1:-}" = --binfmt ]; then pi_arch "${2:-armhf}"; ensure_binfmt; exit 0; fi
pi_arch "${1:?usage: cross/rootfs.sh armhf|arm64 [OUT]}"
OUT="${2:-$ARCH_CACHE/rootfs}"
SUITE="${FLOOR_SUITE:-$DEBIAN_SUITE}"
PACKAGES=(libstrophe0 libzip4 libsystemd0 python3)
stamp_value="$(printf '%s\n' "$SUITE" "$DEBIAN_MIRROR" "${PACKAGES[@]}" | cat - "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
ensure_binfmt
if [ -f "$OUT.stamp" ] && [ "$(cat "$OUT.stamp")" = "$stamp_value" ] && [ -x "$OUT/bin/sh" ]; then
    log "$PI_ARCH rootfs up to date (${OUT#"$TA_ROOT"/})"
    exit 0
fi
need_apt debootstrap debootstrap

rm -rf "$OUT" "$OUT.stamp"
mkdir -p "$(dirname "$OUT")"
log "debootstrap ($PI_ARCH, $SUITE, minbase) into ${OUT#"$TA_ROOT"/}: first stage"
debootstrap --arch="$PI_ARCH" --foreign --variant=minbase "$SUITE" "$OUT" "$DEBIAN_MIRROR" \
    >"$OUT.log" 2>&1 || { tail -n 20 "$OUT.log" >&2; die "debootstrap failed"; }
log "second stage (inside the chroot, emulated)"
chroot "$OUT" /debootstrap/debootstrap --second-stage >>"$OUT.log" 2>&1 \
    || { tail -n 20 "$OUT.log" >&2; die "debootstrap --second-stage failed"; }
cp /etc/resolv.conf "$OUT/etc/resolv.conf"
log "user pi and ${PACKAGES[*]}"
chroot "$OUT" sh -c "useradd -m -u 1000 -U -s /bin/bash pi && apt-get update -q && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${PACKAGES[*]} && apt-get clean" \
    >>"$OUT.log" 2>&1 || { tail -n 20 "$OUT.log" >&2; die "setting up the rootfs failed"; }
printf '%s\n' "$stamp_value" >"$OUT.stamp"
log "$PI_ARCH rootfs ($SUITE) ready: $(du -sh "$OUT" | cut -f1)"
