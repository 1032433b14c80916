#!/usr/bin/env bash
# The armhf build (every Pi, ARMv6 + VFPv2, Raspbian Buster floor): cross/build.sh armhf.
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" armhf "$@"
