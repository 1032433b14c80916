#!/usr/bin/env bash
# The arm64 build (64-bit Raspberry Pi OS, Bullseye floor): cross/build.sh arm64.
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" arm64 "$@"
