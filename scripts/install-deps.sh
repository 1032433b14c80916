#!/bin/bash
# Installs what building and testing tinyagent needs on a Debian 12 machine
# that has Swift at /opt/swift: Debian packages (apt, needs root) and pinned PyPI tools
# (into build/venv, scripts/venv.sh).
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain is not installed here: the README names the one the project builds with.
swift_wanted="6.3.1"
swift=/opt/swift/usr/bin/swift
[ -x "$swift" ] || { echo "install-deps: no Swift at /opt/swift (needs Swift $swift_wanted)" >&2; exit 1; }
"$swift" --version 2>/dev/null | grep -q "Swift version $swift_wanted" \
    || echo "install-deps: warning: $("$swift" --version 2>/dev/null | head -1); the project is built and tested with Swift $swift_wanted" >&2

# systemd: systemd-analyze, which tests/provision runs on the unit (PID 1 need not be systemd).
# libgcrypt20-dev: the update signature's SHA-256 (Sources/CCrypto/sig.c).
# libnss-systemd: an NSS module, which tests/integration/test_startup.py sees load (or not).
packages=(libsystemd-dev libstrophe-dev libmbedtls-dev libgcrypt20-dev libzip-dev openssl python3 python3-venv procps prosody curl zip unzip libarchive-tools p7zip-full systemd libnss-systemd)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    # Packages with a service (prosody) must not start it: a system prosody
    # would listen on every interface. The tests start their own.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Python tools go into the project's own venv, never into the system Python.
scripts/venv.sh
