# Shared settings and helpers for the cross/ scripts. Source it; do not run it.
# shellcheck shell=bash

TA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TA_BUILD="${TA_BUILD:-$TA_ROOT/build}"
# Downloads and things derived only from them (zig, apt indexes, sysroot, mbedTLS, rootfs)
# may live elsewhere, e.g. a folder that survives CI's fresh clones: TA_CACHE=/var/cache/x.
TA_CACHE="${TA_CACHE:-$TA_BUILD}"

# Pinned tools and distribution. Bump deliberately: the zig version decides the
# glibc stubs we link against, the suite decides the headers and the symbols files.
ZIG_VERSION="${ZIG_VERSION:-0.14.1}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_KEYRING="${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"

# apt_mirror: the Debian archive this machine's own apt uses (the URI that serves its
# release's main suite, e.g. bookworm, in /etc/apt/sources.list.d/*.sources or
# sources.list). The repository names no archive host: a machine builds from the mirror
# it already trusts. DEBIAN_MIRROR=URL overrides it.
apt_mirror() {
    local codename files
    codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
    files=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    awk -v want="${codename:-bookworm}" '
        function pick() {
            if (!enabled || uris == "" || (" " types " ") !~ / deb /) return 0
            if ((" " suites " ") !~ (" " want " ")) return 0
            print uris; return 1
        }
        function reset() { uris = suites = types = ""; enabled = 1 }
        FNR == 1 { if (in822 && pick()) exit; reset(); in822 = FILENAME ~ /\.sources$/ }
        in822 && /^[ \t]*$/ { if (pick()) exit; reset(); next }
        in822 {
            key = tolower($1); $1 = ""
            if (key == "uris:") { split($0, u, " "); uris = u[1] }
            else if (key == "suites:") suites = $0
            else if (key == "types:") types = $0
            else if (key == "enabled:" && $0 ~ /[Nn]o/) enabled = 0
            next
        }
        $1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == want) { print $i; in822 = 0; exit }
        }
        END { if (in822) pick() }
    ' "${files[@]}" 2>/dev/null | head -n1
}
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(apt_mirror)}"

# The Pi architectures. armhf: one binary for every Pi (Zero and 1 are ARMv6 + VFPv2,
# arm1176jzf-s), floor Raspbian Buster. arm64: 64-bit Raspberry Pi OS, floor Bullseye
# (FLOOR_SUITE's packages give the floor's versions; its libc6 sets the glibc stubs).
# pi_arch ARCH sets the per-architecture variables the scripts use.
pi_arch() {
    PI_ARCH="$1"
    case "$PI_ARCH" in
        armhf)
            GNU_TRIPLE=arm-linux-gnueabihf; GLIBC_FLOOR=2.28; FLOOR_SUITE=""
            ZIG_CPU=arm1176jzf_s; QEMU_USER=qemu-arm; LOADER=/lib/ld-linux-armhf.so.3
            # Our Swift and C shims are Thumb-1, about a third smaller than ARM code; zig's
            # start files and compiler-rt (linked with ZIG_CPU) and mbedTLS stay ARM.
            # Thumb-1 has no VFP instructions: LLVM does floating point with compiler-rt's
            # helpers and passes it in core registers (armv6-check.py keeps ARM-mode
            # libraries' floating-point functions out), and its atomics are calls to
            # __sync_* (Sources/CShims/thumb1.c). zig's -mcpu switches the code to Thumb,
            # the triple gives the headers __thumb__ (zig has no glibc for a thumb target).
            ZIG_CODE_FLAGS=(-mcpu="$ZIG_CPU+thumb_mode" -Xclang -triple -Xclang thumbv6kz-unknown-linux-gnueabihf)
            SWIFT_TARGET=armv6-none-none-eabi
            SWIFT_CPU_FLAGS=(-Xcc -mfloat-abi=hard -Xcc -mfpu=vfpv2 -Xcc -mcpu=arm1176jzf-s
                             -Xllvm -float-abi=hard -Xcc -mthumb) ;;
        arm64)
            GNU_TRIPLE=aarch64-linux-gnu; GLIBC_FLOOR=2.31; FLOOR_SUITE=bullseye
            # baseline ARMv8.0-A: the Pi 3, Zero 2 W (Cortex-A53) and Pi 4 (A72) lack the
            # crypto extensions a named CPU would let the compiler use.
            ZIG_CPU=baseline; QEMU_USER=qemu-aarch64; LOADER=/lib/ld-linux-aarch64.so.1
            ZIG_CODE_FLAGS=(-mcpu="$ZIG_CPU")
            SWIFT_TARGET=aarch64-none-none-elf
            SWIFT_CPU_FLAGS=() ;;
        *) die "unknown architecture '$PI_ARCH' (armhf or arm64)" ;;
    esac
    ZIG_ARCH_TARGET="$GNU_TRIPLE.$GLIBC_FLOOR"
    ARCH_CACHE="$TA_CACHE/$PI_ARCH"
}
# The glibc floor of builds for this machine (the host mbedTLS): Buster's, like armhf.
GLIBC_FLOOR=2.28

log() { printf '[cross] %s\n' "$*" >&2; }
# usage: the calling script's opening comment, whole (its --help).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[1]}"; }
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

# private_apt: a private apt configuration under build/apt/ARCH (binary indexes of ARCH =
# $PI_ARCH, default armhf, for DEBIAN_SUITE and, when set, the floor suite; plus source
# indexes). It never touches /var/lib/dpkg, /etc/apt or the system's architectures.
# Sets the array APT_OPTS; fetches the indexes on first use or when REFRESH=1.
private_apt() {
    local arch="${PI_ARCH:-armhf}" dir
    dir="$TA_CACHE/apt/$arch"
    need_apt apt apt-get
    [ -r "$DEBIAN_KEYRING" ] || need_apt debian-archive-keyring gpgv
    [ -n "$DEBIAN_MIRROR" ] || die "no Debian archive for ${VERSION_CODENAME:-this release} in /etc/apt/sources.list.d/*.sources or sources.list (set DEBIAN_MIRROR=URL)"
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/etc"
    # bookworm-security is left out on purpose: its armhf index often lags the amd64 one
    # and apt then fails the whole update. The device uses its floor's libraries anyway; the
    # sysroot only provides headers, link stubs and libraries for the qemu smoke test.
    {
        printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$DEBIAN_KEYRING" "$DEBIAN_MIRROR" "$DEBIAN_SUITE"
        printf 'deb [arch=%s signed-by=%s] %s %s-updates main\n' "$arch" "$DEBIAN_KEYRING" "$DEBIAN_MIRROR" "$DEBIAN_SUITE"
        [ -z "${FLOOR_SUITE:-}" ] || printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$DEBIAN_KEYRING" "$DEBIAN_MIRROR" "$FLOOR_SUITE"
        printf 'deb-src [signed-by=%s] %s %s main\n' "$DEBIAN_KEYRING" "$DEBIAN_MIRROR" "$DEBIAN_SUITE"
    } >"$dir/etc/sources.list.new"
    local changed=0
    if ! cmp -s "$dir/etc/sources.list.new" "$dir/etc/sources.list"; then
        mv "$dir/etc/sources.list.new" "$dir/etc/sources.list"; changed=1
    else
        rm -f "$dir/etc/sources.list.new"
    fi
    APT_OPTS=(
        -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
        -o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=/dev/null"
        -o "Dir::Etc::SourceList=$dir/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=/dev/null"
        -o "Dir::Cache=$dir/cache" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1" -q
    )
    if [ "$changed" = 1 ] || [ "${REFRESH:-0}" = 1 ] || [ ! -f "$dir/updated" ]; then
        log "fetching $DEBIAN_SUITE${FLOOR_SUITE:+ and $FLOOR_SUITE} $arch and source package indexes (private apt in ${dir#"$TA_ROOT"/})"
        rm -f "$dir/updated"
        apt-get "${APT_OPTS[@]}" update >"$dir/update.log" 2>&1 \
            || { cat "$dir/update.log" >&2; die "apt-get update (private configuration) failed"; }
        date -u +%FT%TZ >"$dir/updated"
    fi
}
