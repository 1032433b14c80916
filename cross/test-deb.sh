#!/usr/bin/env bash
# Tests a Pi .deb: its control fields and contents (dpkg-deb --info/--contents), then
# installs it with the root filesystem's own dpkg (chroot, emulated by qemu-user through
# binfmt_misc) into a copy of that rootfs (cross/rootfs.sh: armhf bookworm, arm64 Bullseye,
# its floor), runs the installed agent there, and purges it.
#
#   cross/test-deb.sh [ARCH]     (armhf by default or arm64; builds the binary, the .deb
#                                 and the cached rootfs if needed)
#
# Ends with "N passed, N failed"; exit status 1 when any case failed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch "${1:-armhf}"
"$TA_ROOT/cross/build-deb.sh" --arch "$PI_ARCH"
ROOTFS="$ARCH_CACHE/rootfs"
"$TA_ROOT/cross/rootfs.sh" "$PI_ARCH" "$ROOTFS"
deb="$(ls -t "$TA_BUILD/$PI_ARCH"/tinyagent_*_"$PI_ARCH".deb | head -n1)"
version="$(dpkg-deb -f "$deb" Version)"

T="$(mktemp -d "${TMPDIR:-/tmp}/tinyagent-deb.XXXXXX")"
trap '[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
passed=0; failed=0
check() {  # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@" >"$T/out" 2>&1; then passed=$((passed + 1)); echo "ok   - $what"
    else failed=$((failed + 1)); echo "FAIL - $what"; sed 's/^/       /' "$T/out" | tail -n 20; fi
}
has() { grep -qE -- "$2" "$1" || { echo "no match for /$2/ in:"; cat "$1"; return 1; }; }

# ---- the package file ---------------------------------------------------------------
dpkg-deb --info "$deb" >"$T/info"
dpkg-deb --contents "$deb" >"$T/contents"
needed="$(for p in tinyagent tinyagent-link tinyagent-fetch; do readelf -d "$TA_BUILD/$PI_ARCH/$p"; done | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
check "control: tinyagent $version for $PI_ARCH" \
    sh -c "grep -q '^ Package: tinyagent$' '$T/info' && grep -q '^ Architecture: $PI_ARCH$' '$T/info' && grep -Eq '^ Version: [0-9]+\.[0-9]+\.[0-9]+$' '$T/info'"
# The floor: Buster's for armhf, Bullseye's (as its packages say) for arm64.
if [ "$PI_ARCH" = armhf ]; then
    glibc='2\.28' systemd='241' strophe='0\.9\.2' zip='1\.5\.1' gcrypt='1\.8\.4' floor_name=Buster
else
    glibc='2\.31' systemd='247\.3' strophe='0\.10\.1' zip='1\.7\.3' gcrypt='1\.8\.7' floor_name=Bullseye
fi
check "control: Depends on $floor_name's libc6 and libsystemd0 floors" \
    has "$T/info" "^ Depends: .*libc6 \\(>= $glibc\\).*libsystemd0 \\(>= $systemd\\)"
for pair in "libstrophe.so.0:libstrophe0 \\(>= $strophe\\)" "libzip.so.4:libzip4 \\(>= $zip\\)" \
            "libgcrypt.so.20:libgcrypt20 \\(>= $gcrypt\\)"; do
    so="${pair%%:*}"
    if grep -qx "$so" <<<"$needed"; then check "control: Depends on ${pair#*:}" has "$T/info" "^ Depends: .*${pair#*:}"; fi
done
check "contents: the agent, executable, outside /home/pi" has "$T/contents" '^-rwxr-xr-x root/root +[0-9]+ .* \./usr/lib/tinyagent/tinyagent$'
check "contents: its helper programs beside it, executable, root's" sh -c "
    grep -Eq '^-rwxr-xr-x root/root +[0-9]+ .* \./usr/lib/tinyagent/tinyagent-link$' '$T/contents' &&
    grep -Eq '^-rwxr-xr-x root/root +[0-9]+ .* \./usr/lib/tinyagent/tinyagent-fetch$' '$T/contents'"
check "contents: the guard the unit runs first (ExecStartPre=), executable, root's" \
    grep -Eq '^-rwxr-xr-x root/root +[0-9]+ .* \./usr/lib/tinyagent/tinyagent-guard$' "$T/contents"
check "contents: bin/tinyagent links to it" has "$T/contents" ' \./home/pi/technospurs/bin/tinyagent -> /usr/lib/tinyagent/tinyagent$'
check "contents: the Python heartbeat helper in bin/" has "$T/contents" ' \./home/pi/technospurs/bin/tinyagent_heartbeat\.py$'
check "contents: cfg/ is 0700" has "$T/contents" '^drwx------ .* \./home/pi/technospurs/cfg/$'
check "contents: every folder of DESIGN.md §3" sh -c "for d in certs cfg wdog downloads SmartMeter bin logs; do grep -q \" ./home/pi/technospurs/\$d/\$\" '$T/contents' || { echo missing \$d; exit 1; }; done"
check "contents: the systemd unit" has "$T/contents" ' \./lib/systemd/system/tinyagent\.service$'
check "unit: Type=notify, WatchdogSec, Restart, NotifyAccess=main" sh -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./lib/systemd/system/tinyagent.service > '$T/unit' && grep -q '^Type=notify' '$T/unit' && grep -q '^WatchdogSec=' '$T/unit' && grep -q '^Restart=' '$T/unit' && grep -q '^NotifyAccess=main' '$T/unit'"
check "unit: Documentation=man:tinyagent(1)" has "$T/unit" '^Documentation=man:tinyagent\(1\)$'
check "contents: tinyagent(1), changelog.gz and copyright, 0644" sh -c "
    grep -Eq '^-rw-r--r-- root/root .* \./usr/share/man/man1/tinyagent\.1\.gz$' '$T/contents' &&
    grep -Eq '^-rw-r--r-- root/root .* \./usr/share/doc/tinyagent/changelog\.gz$' '$T/contents' &&
    grep -Eq '^-rw-r--r-- root/root .* \./usr/share/doc/tinyagent/copyright$' '$T/contents'"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/man/man1/tinyagent.1.gz | gunzip >"$T/tinyagent.1"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/tinyagent/changelog.gz | gunzip >"$T/changelog"
check "changelog: its first entry is this version" has "$T/changelog" "^tinyagent \\($version\\) "
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/tinyagent/copyright >"$T/copyright"
check "copyright: names the statically linked Mbed TLS and its license" sh -c "grep -q '^Mbed TLS' '$T/copyright' && grep -q '^License: Apache-2.0' '$T/copyright'"
check "man page: groff reads it without a warning" sh -c "groff -man -Tutf8 -ww -z '$T/tinyagent.1' 2>&1 | { ! grep .; }"

# ---- installed into a root filesystem of the architecture ----------------------------
R="$T/rootfs"
cp -a "$ROOTFS" "$R"
mount --bind /proc "$R/proc"
trap 'umount "$R/proc" 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
B=/home/pi/technospurs
cp "$deb" "$R/tmp/tinyagent.deb"
check "dpkg -i in the $PI_ARCH chroot ($(. "$R/etc/os-release" && echo "$VERSION_CODENAME")) installs it (postinst included)" chroot "$R" dpkg -i /tmp/tinyagent.deb
check "dpkg sees it installed at $version" sh -c "chroot '$R' dpkg -s tinyagent > '$T/status' && grep -q '^Status: install ok installed' '$T/status' && grep -q '^Version: $version' '$T/status'"
check "the tree is DESIGN.md §3's: root's, SmartMeter/ pi's, pi's group on wdog/ and logs/" sh -c "
    for e in ':0:0:755' certs:0:0:755 cfg:0:0:700 wdog:0:1000:710 downloads:0:0:700 SmartMeter:1000:1000:755 bin:0:0:755 logs:0:1000:750; do
        d=\${e%%:*}
        [ \"\$(stat -c %u:%g:%a '$R$B/'\$d)\" = \"\${e#*:}\" ] || { echo \"$B/\$d: \$(stat -c %u:%g:%a '$R$B/'\$d)\"; exit 1; }
    done
    [ \"\$(stat -c %u '$R/home/pi')\" = 1000 ]"
check "the helper user tinyagent exists, without a shell" sh -c "grep -q '^tinyagent:.*:/usr/sbin/nologin$' '$R/etc/passwd'"
check "the service is enabled (multi-user.target.wants)" \
    test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/tinyagent.service")" = /lib/systemd/system/tinyagent.service
check "the installed agent runs in the chroot: tinyagent version" sh -c "chroot '$R' /usr/bin/tinyagent version | grep -qx 'tinyagent $version'"
# The update signature's SHA-256 is the rootfs's own libgcrypt's (arm64: Bullseye's 1.8, the floor).
mkdir -p "$R/tmp/sig/device/certs/update-keys"
head -c 3000000 /dev/urandom >"$R/tmp/sig/a.zip"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/fleet.key"
openssl ec -in "$T/fleet.key" -pubout -out "$R/tmp/sig/device/certs/update-keys/fleet.pem" 2>/dev/null
openssl dgst -sha256 -sign "$T/fleet.key" -out "$R/tmp/sig/a.zip.sig" "$R/tmp/sig/a.zip"
gcrypt_here="$(chroot "$R" dpkg-query -W -f '${Version}' libgcrypt20)"
check "the installed agent checks an update signature with the rootfs's libgcrypt20 $gcrypt_here: tinyagent verify" \
    sh -c "chroot '$R' /usr/bin/tinyagent verify /tmp/sig/a.zip --root /tmp/sig/device | grep -q 'signed by fleet.pem'"
check "the installed agent refuses that signature once the archive changed (exit 65)" sh -c "
    printf x >>'$R/tmp/sig/a.zip'; rc=0; chroot '$R' /usr/bin/tinyagent verify /tmp/sig/a.zip --root /tmp/sig/device || rc=\$?
    [ \$rc = 65 ]"
# Made from the help at build time: every command the installed binary lists has its section.
check "man page: a section for every command the installed agent's --help lists" sh -c "
    chroot '$R' /usr/bin/tinyagent --help | sed -n '/^commands:/,/^\$/s/^  \([a-z][a-z-]*\).*/\1/p' | sort -u > '$T/verbs' &&
    [ -s '$T/verbs' ] && while read -r v; do grep -qx \".SS \$v\" '$T/tinyagent.1' || { echo \"no section for \$v\"; exit 1; }; done < '$T/verbs'"
check "the heartbeat helper imports with the rootfs's python3" \
    chroot "$R" python3 -c "import sys; sys.path.insert(0, '$B/bin'); import tinyagent_heartbeat"
check "reinstalling is harmless" chroot "$R" dpkg -i /tmp/tinyagent.deb
# The operator's choices survive a reinstall and an upgrade: a disabled service stays
# disabled (`systemctl disable` removes this link), a drop-in stays.
WANTS_LINK="$R/etc/systemd/system/multi-user.target.wants/tinyagent.service"
DROPIN="$R/etc/systemd/system/tinyagent.service.d/override.conf"
rm -f "$WANTS_LINK"
mkdir -p "${DROPIN%/*}"; printf '[Service]\nReadWritePaths=/mnt/meter\n' >"$DROPIN"
check "a reinstall leaves a disabled service disabled" sh -c "chroot '$R' dpkg -i /tmp/tinyagent.deb >/dev/null && [ ! -L '$WANTS_LINK' ]"
mkdir -p "$T/next"; dpkg-deb -R "$deb" "$T/next"
sed -i 's/^Version: .*/Version: 99.0.0/' "$T/next/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$T/next" "$R/tmp/tinyagent-next.deb" >/dev/null
check "an upgrade leaves a disabled service disabled, and the drop-in as it was" sh -c "
    chroot '$R' dpkg -i /tmp/tinyagent-next.deb >/dev/null && chroot '$R' dpkg -s tinyagent | grep -q '^Version: 99.0.0' &&
    [ ! -L '$WANTS_LINK' ] && grep -qx 'ReadWritePaths=/mnt/meter' '$DROPIN'"
ln -s /lib/systemd/system/tinyagent.service "$WANTS_LINK"
check "an upgrade leaves an enabled service enabled" sh -c "chroot '$R' dpkg -i /tmp/tinyagent.deb >/dev/null && [ -L '$WANTS_LINK' ]"
check "removed while enabled, installed again: enabled again" sh -c "
    chroot '$R' dpkg --remove tinyagent >/dev/null && [ ! -L '$WANTS_LINK' ] &&
    chroot '$R' dpkg -i /tmp/tinyagent.deb >/dev/null && [ -L '$WANTS_LINK' ]"
rm -f "$WANTS_LINK"
check "removed while disabled, installed again: still disabled" sh -c "
    chroot '$R' dpkg --remove tinyagent >/dev/null && chroot '$R' dpkg -i /tmp/tinyagent.deb >/dev/null && [ ! -L '$WANTS_LINK' ]"
ln -s /lib/systemd/system/tinyagent.service "$WANTS_LINK"
# An older version left the tree pi's: the postinst gives it back to root, following no link.
echo x >"$R$B/wdog/registry.json"; echo y >"$R$B/logs/ocr.log"; mkfifo "$R$B/wdog/registry.json.new"
ln -s /etc/shadow "$R$B/logs/evil.log"; chown -R -h 1000:1000 "$R$B"
check "an upgrade over a pi-owned tree gives it back to root, following no link" sh -c "
    chroot '$R' dpkg -i /tmp/tinyagent.deb >/dev/null &&
    [ \"\$(stat -c %u:%g:%a '$R$B' '$R$B/wdog' '$R$B/wdog/registry.json' '$R$B/logs/ocr.log' | paste -sd' ')\" = '0:0:755 0:1000:710 0:0:600 0:1000:640' ] &&
    [ \"\$(stat -c %u:%g '$R/etc/shadow')\" = 0:42 ] && [ \"\$(stat -c %u '$R$B/SmartMeter')\" = 1000 ]"
# What the agent and the operator leave before a purge.
echo c >"$R$B/cfg/config_file.bin"; echo k >"$R$B/cfg/key"; echo l >"$R$B/logs/tinyagent.log"; echo l >"$R$B/logs/tinyagent.log.1"
echo o >"$R$B/logs/ocr.log"; mkdir -p "$R$B/downloads/update-7"; echo z >"$R$B/downloads/update-7.zip"
echo a >"$R$B/SmartMeter/app.py"
check "dpkg --purge removes it and disables the service" sh -c "
    chroot '$R' dpkg --purge tinyagent >/dev/null &&
    [ ! -e '$R/usr/lib/tinyagent' ] && [ ! -L '$R$B/bin/tinyagent' ] && [ ! -L '$WANTS_LINK' ] &&
    [ ! -e '$R/lib/systemd/system/tinyagent.service' ] && [ ! -e '$R/usr/share/man/man1/tinyagent.1.gz' ] && [ -d '$R/home/pi' ]"
check "purge removes what the package made: the helper user, wdog/, downloads/, the agent's log, /var/lib/tinyagent" sh -c "
    ! grep -q '^tinyagent:' '$R/etc/passwd' && ! grep -q '^tinyagent:' '$R/etc/group' && ! grep -q '^tinyagent:' '$R/etc/shadow' &&
    [ ! -e '$R$B/wdog' ] && [ ! -e '$R$B/downloads' ] && [ ! -e '$R$B/logs/tinyagent.log' ] && [ ! -e '$R$B/logs/tinyagent.log.1' ] &&
    [ ! -e '$R/var/lib/tinyagent' ]"
check "purge keeps the operator's: config, fleet key, SmartMeter/, process logs, drop-ins" sh -c "
    [ -f '$R$B/cfg/config_file.bin' ] && [ -f '$R$B/cfg/key' ] && [ -f '$R$B/SmartMeter/app.py' ] && [ -f '$R$B/logs/ocr.log' ] && [ -f '$DROPIN' ]"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
