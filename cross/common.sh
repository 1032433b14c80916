# Shared settings and helpers for the cross/ scripts. Source it; do not run it.
# shellcheck shell=bash

TA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TA_BUILD="${TA_BUILD:-$TA_ROOT/build}"
# Downloads and things derived only from them (zig, apt indexes, sysroot, mbedTLS, rootfs)
# may live elsewhere, e.g. a folder that survives CI's fresh clones: TA_CACHE=/var/cache/x.
TA_CACHE="${TA_CACHE:-$TA_BUILD}"
ARMHF_CACHE="$TA_CACHE/armhf"

# Pinned tools and distribution. Bump deliberately: the zig version decides the
# glibc stubs we link against, the suite decides the headers and the symbols files.
ZIG_VERSION="${ZIG_VERSION:-0.14.1}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_KEYRING="${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"

# The device floor: Raspbian Buster.
GLIBC_FLOOR=2.28
ARM_ZIG_TARGET="arm-linux-gnueabihf.$GLIBC_FLOOR"
ARM_ZIG_CPU="cortex_a7"

log() { printf '[cross] %s\n' "$*" >&2; }
die() { printf '[cross] error: %s\n' "$*" >&2; exit 1; }

# need_apt PACKAGE COMMAND: install a Debian package when COMMAND is missing.
need_apt() {
    local pkg="$1" cmd="$2"
    command -v "$cmd" >/dev/null 2>&1 && return 0
    log "installing $pkg (for $cmd)"
    if [ "$(id -u)" -ne 0 ]; then die "$cmd is missing; run: sudo apt-get install $pkg"; fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "$pkg installed but $cmd still missing"
}

# host_python: the project's own Python (build/venv, scripts/venv.sh), which has pip.
host_python() {
    "$TA_ROOT/scripts/venv.sh" >&2 || die "scripts/venv.sh failed"
    echo "$TA_ROOT/build/venv/bin/python"
}

# ensure_zig: install ziglang==$ZIG_VERSION from PyPI under build/tools and set $ZIG.
# pip --target keeps it out of every system and user site-packages.
ensure_zig() {
    local dir="$TA_CACHE/tools/ziglang-$ZIG_VERSION"
    ZIG="$dir/ziglang/zig"
    if [ ! -x "$ZIG" ] || [ "$("$ZIG" version 2>/dev/null)" != "$ZIG_VERSION" ]; then
        local py; py="$(host_python)"
        log "installing ziglang==$ZIG_VERSION from PyPI into ${dir#"$TA_ROOT"/}"
        rm -rf "$dir.tmp"
        "$py" -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$dir.tmp" "ziglang==$ZIG_VERSION" 2>&1 | grep -v 'Running pip as the .root. user' >&2 || true
        [ -x "$dir.tmp/ziglang/zig" ] || die "pip install ziglang==$ZIG_VERSION failed"
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
    fi
    # zig's cache lives under build/ too, so a clean build/ is a clean slate.
    export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$TA_CACHE/tools/zig-cache}"
    export ZIG_LOCAL_CACHE_DIR="${ZIG_LOCAL_CACHE_DIR:-$ZIG_GLOBAL_CACHE_DIR}"
}

# hash_inputs FILE...: one sha256 over the names and contents of the given files.
hash_inputs() {
    local f
    for f in "$@"; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -d' ' -f1
}

# private_apt: a private apt configuration under build/apt (armhf binary indexes plus
# source indexes). It never touches /var/lib/dpkg, /etc/apt or the system's architectures.
# Sets the array APT_OPTS; fetches the indexes on first use or when REFRESH=1.
private_apt() {
    local dir="$TA_CACHE/apt"
    need_apt apt apt-get
    [ -r "$DEBIAN_KEYRING" ] || need_apt debian-archive-keyring gpgv
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/etc"
    # bookworm-security is left out on purpose: its armhf index often lags the amd64 one
    # and apt then fails the whole update. The device uses Buster's libraries anyway; the
    # sysroot only provides headers, link stubs and libraries for the qemu smoke test.
    cat >"$dir/etc/sources.list.new" <<SRC
deb [arch=armhf signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR $DEBIAN_SUITE main
deb [arch=armhf signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb-src [signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR $DEBIAN_SUITE main
SRC
    local changed=0
    if ! cmp -s "$dir/etc/sources.list.new" "$dir/etc/sources.list"; then
        mv "$dir/etc/sources.list.new" "$dir/etc/sources.list"; changed=1
    else
        rm -f "$dir/etc/sources.list.new"
    fi
    APT_OPTS=(
        -o "APT::Architecture=armhf" -o "APT::Architectures::=armhf"
        -o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=/dev/null"
        -o "Dir::Etc::SourceList=$dir/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=/dev/null"
        -o "Dir::Cache=$dir/cache" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1" -q
    )
    if [ "$changed" = 1 ] || [ "${REFRESH:-0}" = 1 ] || [ ! -f "$dir/updated" ]; then
        log "fetching $DEBIAN_SUITE armhf and source package indexes (private apt in ${dir#"$TA_ROOT"/})"
        rm -f "$dir/updated"
        apt-get "${APT_OPTS[@]}" update >"$dir/update.log" 2>&1 \
            || { cat "$dir/update.log" >&2; die "apt-get update (private configuration) failed"; }
        date -u +%FT%TZ >"$dir/updated"
    fi
}
