#!/bin/bash
# Installs what building and testing tinyagent needs on a Debian 12 machine
# that has Swift at /opt/swift: Debian packages (apt) and pinned PyPI tools.
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libsystemd-dev libstrophe-dev libmbedtls-dev openssl python3 procps prosody)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
