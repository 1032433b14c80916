#!/usr/bin/env bash
# The armhf smoke test under qemu-arm: cross/smoke.sh armhf [BINARY].
exec "$(dirname "${BASH_SOURCE[0]}")/smoke.sh" armhf "$@"
