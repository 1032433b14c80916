#!/bin/bash
# Installs what building and testing tinyagent needs on a Debian 12 machine
# that has Swift at /opt/swift: Debian packages (apt) and pinned PyPI tools.
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libsystemd-dev libstrophe-dev libmbedtls-dev libzip-dev openssl python3 procps prosody curl zip unzip)
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

python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
