#!/usr/bin/env bash
# Packages the Pi agent as build/ARCH/tinyagent_<version>_ARCH.deb (ARCH armhf or arm64;
# the same contents and Depends logic for both).
#
#   cross/build-deb.sh [--arch ARCH] [--binary FILE] [--out DIR]
#     --arch ARCH    armhf (default) or arm64
#     --binary FILE  the agent's binary (default: build/ARCH/tinyagent, built if missing); its
#                    helper programs tinyagent-link and tinyagent-fetch beside it
#     --out DIR      where the .deb goes (default: build/ARCH)
#
# Contents: /usr/lib/tinyagent/{tinyagent,tinyagent-link,tinyagent-fetch} (the agent and its
# helper programs, outside /home/pi: pi could rename a folder on their path; the agent starts
# its helpers from its own folder), /usr/bin/tinyagent and technospurs/bin/tinyagent (symlinks to it),
# /home/pi/technospurs/{certs,cfg,wdog,downloads,SmartMeter,bin,logs}/ (DESIGN.md §3),
# bin/tinyagent_heartbeat.py (the Python helper, Python 3.5+),
# /lib/systemd/system/tinyagent.service (the one unit file, from buildroot/overlay/, which
# buildroot/provision lays on an SD card too), tinyagent(1) made by cross/manpage.py from the
# packaged binary's own help (run under qemu-user), /usr/share/doc/tinyagent/{changelog.gz,
# copyright} (cross/deb/; the changelog's version must be the agent's).
# postinst sets the owners and modes of DESIGN.md §3 (also fixing a tree an older version gave
# to pi), creates the helper user `tinyagent` and enables the service on the first install
# only; postrm's purge removes what the package made (see cross/deb/postrm); Depends lists the
# floor release's packages (minimum versions = the floor's: Buster's for armhf, Bullseye's
# for arm64, read from its packages) of the libraries in the programs' DT_NEEDED, the same
# floor cross/buster-check.py proves.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch armhf
BIN=""; OUTDIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) pi_arch "$2"; shift 2 ;;
        --binary) BIN="$2"; shift 2 ;;
        --out) OUTDIR="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
BIN="${BIN:-$TA_BUILD/$PI_ARCH/tinyagent}"
PROGRAMS=("$BIN" "$(dirname "$BIN")/tinyagent-link" "$(dirname "$BIN")/tinyagent-fetch")
OUTDIR="${OUTDIR:-$TA_BUILD/$PI_ARCH}"
for p in "${PROGRAMS[@]}"; do [ -f "$p" ] || "$TA_ROOT/cross/build.sh" "$PI_ARCH"; done
need_apt dpkg dpkg-deb
need_apt binutils readelf

version="$(sed -n 's/.*agentVersion *= *"\([0-9][0-9.]*[0-9]\)".*/\1/p' \
    $(grep -rl 'agentVersion *=' "$TA_ROOT/Sources") | head -n1)"
[ -n "$version" ] || die "cannot find agentVersion = \"X.Y.Z\" under Sources/"
HELPER="$TA_ROOT/helpers/python/tinyagent_heartbeat.py"
[ -f "$HELPER" ] || die "$HELPER missing"
CHANGELOG="$TA_ROOT/cross/deb/changelog"
changelog_version="$(sed -n '1s/^tinyagent (\([^)]*\)).*/\1/p' "$CHANGELOG")"
[ "$changelog_version" = "$version" ] \
    || die "cross/deb/changelog's first entry is ${changelog_version:-unreadable}, the agent is $version: add an entry"
# The page's date is the release's (the changelog's), so a rebuild makes the same page.
release_date="$(date -u -d "$(sed -n 's/^ -- .*>  //p' "$CHANGELOG" | head -n1)" +%Y-%m-%d)"
SYSROOT="$ARCH_CACHE/sysroot"
[ -x "$SYSROOT$LOADER" ] || "$TA_ROOT/cross/sysroot.sh" "$PI_ARCH" >&2
need_apt qemu-user "$QEMU_USER"
need_apt python3 python3

# The floor's package (and minimum version) for each library the binary may need:
# Buster's for armhf; for arm64 the upstream versions of Bullseye's own packages, kept by
# cross/sysroot.sh in build/arm64/floor-control.
floor() {  # floor PACKAGE ARMHF_VERSION: " (>= VERSION)"
    local v="$2" control="$ARCH_CACHE/floor-control/$1/control"
    if [ -n "$FLOOR_SUITE" ]; then
        [ -f "$control" ] || "$TA_ROOT/cross/sysroot.sh" "$PI_ARCH" >&2
        v="$(sed -n 's/^Version: \(.*:\)\{0,1\}\([0-9.]*[0-9]\).*/\2/p' "$control")"
        [ -n "$v" ] || die "no Version in $control"
    fi
    printf ' (>= %s)' "$v"
}
libc="libc6$(floor libc6 2.28)"
libgcc="libgcc1"; [ "$PI_ARCH" = arm64 ] && libgcc="libgcc-s1"
declare -A PKG_OF=(
    [libc.so.6]="$libc" [libm.so.6]="$libc" [libpthread.so.0]="$libc"
    [libdl.so.2]="$libc" [librt.so.1]="$libc" ["${LOADER#/lib/}"]="$libc"
    [libgcc_s.so.1]="$libgcc" [libstrophe.so.0]="libstrophe0$(floor libstrophe0 0.9.2)"
    [libzip.so.4]="libzip4$(floor libzip4 1.5.1)" [libsystemd.so.0]="libsystemd0$(floor libsystemd0 241)"
    [libgcrypt.so.20]="libgcrypt20$(floor libgcrypt20 1.8.4)"
)
depends=()
while read -r lib; do
    [ -n "${PKG_OF[$lib]:-}" ] || die "no floor package known for DT_NEEDED $lib (add it to PKG_OF)"
    depends+=("${PKG_OF[$lib]}")
done < <(for p in "${PROGRAMS[@]}"; do readelf -d "$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done)
depends_line="$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"

stage="$OUTDIR/deb-root"
rm -rf "$stage"
base="$stage/home/pi/technospurs"
for d in certs cfg wdog downloads SmartMeter bin logs; do install -d -m 0755 "$base/$d"; done
chmod 0700 "$base/cfg" "$base/downloads"
chmod 0710 "$base/wdog"
chmod 0750 "$base/logs"
install -d "$stage/usr/lib/tinyagent"
install -m 0755 "$BIN" "$stage/usr/lib/tinyagent/tinyagent"
for p in tinyagent-link tinyagent-fetch; do install -m 0755 "$(dirname "$BIN")/$p" "$stage/usr/lib/tinyagent/$p"; done
# The unit's ExecStartPre= (a self-update's rollback: DESIGN.md §6).
install -m 0755 "$TA_ROOT/buildroot/overlay/usr/lib/tinyagent/tinyagent-guard" "$stage/usr/lib/tinyagent/tinyagent-guard"
ln -s /usr/lib/tinyagent/tinyagent "$base/bin/tinyagent"
install -m 0644 "$HELPER" "$base/bin/tinyagent_heartbeat.py"
install -d "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/usr/share/doc/tinyagent" "$stage/usr/share/man/man1"
ln -s /usr/lib/tinyagent/tinyagent "$stage/usr/bin/tinyagent"
install -m 0644 "$TA_ROOT/buildroot/overlay/lib/systemd/system/tinyagent.service" "$stage/lib/systemd/system/tinyagent.service"
printf 'tinyagent %s, built from %s\n' "$version" \
    "$(git -C "$TA_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'an unversioned tree')" \
    >"$stage/usr/share/doc/tinyagent/README"
gzip -9n <"$CHANGELOG" >"$stage/usr/share/doc/tinyagent/changelog.gz"
install -m 0644 "$TA_ROOT/cross/deb/copyright" "$stage/usr/share/doc/tinyagent/copyright"
python3 "$TA_ROOT/cross/manpage.py" --date "$release_date" -- "$QEMU_USER" -L "$SYSROOT" "$BIN" \
    | gzip -9n >"$stage/usr/share/man/man1/tinyagent.1.gz"
[ "${PIPESTATUS[0]}" -eq 0 ] || die "cannot make tinyagent(1) from $BIN's help"
chmod 0644 "$stage/usr/share/doc/tinyagent/"* "$stage/usr/share/man/man1/tinyagent.1.gz"

install -d "$stage/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "$TA_ROOT/cross/deb/$s" "$stage/DEBIAN/$s"; done
cat >"$stage/DEBIAN/control" <<EOF
Package: tinyagent
Version: $version
Architecture: $PI_ARCH
Maintainer: tinyagent maintainers <root@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends_line, passwd
Recommends: python3 (>= 3.5)
Section: admin
Priority: optional
Description: always-on device agent for Raspberry Pi SmartMeter fleets
 Keeps the SmartMeter processes alive (heartbeats over UDP, restarts), is kept
 alive by systemd (Type=notify, watchdog), and executes the control panel's
 commands over XMPP, chiefly software updates of the SmartMeter folder.
EOF

mkdir -p "$OUTDIR"
deb="$OUTDIR/tinyagent_${version}_$PI_ARCH.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
log "package: ${deb#"$TA_ROOT"/} $(stat -c %s "$deb") bytes; Depends: $depends_line"
