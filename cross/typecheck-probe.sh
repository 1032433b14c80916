#!/usr/bin/env bash
# Type-checks the ARMv6 probe (cross/armv6-probe/main.swift) with today's Sources/TinyAgent
# on the host, in Embedded mode: the probe calls the agent's internal APIs and is otherwise
# compiled only by `make cross-test`, late in a run. `make unit` calls this after
# `swift test`, whose build made the C targets' module maps used here.
#
#   cross/typecheck-probe.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SWIFTC="${SWIFTC:-/opt/swift/usr/bin/swiftc}"
maps=.build/debug
for c in CShims CTLS; do
    [ -f "$maps/$c.build/module.modulemap" ] || { echo "typecheck-probe: no $maps/$c.build/module.modulemap: run swift build first" >&2; exit 1; }
done
args=(-typecheck -enable-experimental-feature Embedded -wmo -suppress-warnings -module-name TinyAgent)
for dir in Sources/*/; do [ -f "$dir/module.modulemap" ] && args+=(-I "${dir%/}"); done
for c in CShims CTLS; do
    args+=(-Xcc "-fmodule-map-file=$maps/$c.build/module.modulemap" -Xcc -I -Xcc "Sources/$c/include")
done
mapfile -t swift_files < <(find Sources/TinyAgent -name '*.swift' | LC_ALL=C sort)
"$SWIFTC" "${args[@]}" "${swift_files[@]}" cross/armv6-probe/main.swift
echo "typecheck-probe: cross/armv6-probe/main.swift type-checks against Sources/TinyAgent"
