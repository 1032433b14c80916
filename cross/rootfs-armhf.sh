#!/usr/bin/env bash
# A minimal armhf Debian root filesystem, for installing and running the agent in a chroot
# under qemu-user (binfmt_misc). Cached: built once into OUT and left untouched after;
# tests work on a copy. Buster itself cannot be fetched here, so it is bookworm.
#
#   cross/rootfs-armhf.sh [OUT]                 (default: build/armhf/rootfs)
#   cross/rootfs-armhf.sh --binfmt              only make sure binfmt_misc runs armhf binaries
#
# Makes: `debootstrap --foreign --variant=minbase --arch=armhf`, second stage inside the
# chroot, a `pi` user (uid 1000, like Raspbian), and the agent's run-time libraries
# (libstrophe0 libzip4 libsystemd0) plus python3. Needs root; installs debootstrap,
# qemu-user-static and binfmt-support, mounts binfmt_misc and enables qemu-arm if needed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_binfmt() {
    need_apt qemu-user-static qemu-arm-static
    need_apt binfmt-support update-binfmts
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-arm ]; then
        update-binfmts --enable qemu-arm >/dev/null 2>&1 || update-binfmts --import qemu-arm
    fi
    [ -e /proc/sys/fs/binfmt_misc/qemu-arm ] || die "could not register qemu-arm with binfmt_misc"
}

if [ "${1:-}" = --binfmt ]; then ensure_binfmt; exit 0; fi
OUT="${1:-$ARMHF_CACHE/rootfs}"
PACKAGES=(libstrophe0 libzip4 libsystemd0 python3)
stamp_value="$(printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "${PACKAGES[@]}" | cat - "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
ensure_binfmt
if [ -f "$OUT.stamp" ] && [ "$(cat "$OUT.stamp")" = "$stamp_value" ] && [ -x "$OUT/bin/sh" ]; then
    log "armhf rootfs up to date (${OUT#"$TA_ROOT"/})"
    exit 0
fi
need_apt debootstrap debootstrap

rm -rf "$OUT" "$OUT.stamp"
mkdir -p "$(dirname "$OUT")"
log "debootstrap (armhf, $DEBIAN_SUITE, minbase) into ${OUT#"$TA_ROOT"/}: first stage"
debootstrap --arch=armhf --foreign --variant=minbase "$DEBIAN_SUITE" "$OUT" "$DEBIAN_MIRROR" \
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
log "armhf rootfs ready: $(du -sh "$OUT" | cut -f1)"
