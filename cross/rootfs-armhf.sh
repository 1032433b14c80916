#!/usr/bin/env bash
# The armhf test root filesystem: cross/rootfs.sh armhf [OUT] (or --binfmt).
if [ "${1:-}" = --binfmt ]; then exec "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh" --binfmt armhf; fi
exec "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh" armhf "$@"
