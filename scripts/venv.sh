#!/bin/bash
# Makes build/venv, the project's own Python for its test and demo tools (pytest, slixmpp,
# vermin, ziglang…), from Debian's /usr/bin/python3: Debian 12 refuses `pip install` into
# the system Python (PEP 668), and a private Python on root's PATH must never be needed.
# Quick when the venv is there and tests/python/requirements.txt has not changed.
# Prints nothing on success; `build/venv/bin/python` is the interpreter to use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/build/venv"
req="$root/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
        [ "$(id -u)" -eq 0 ] || { echo "venv: python3-venv is missing; run: sudo apt-get install python3-venv" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
    fi
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi
