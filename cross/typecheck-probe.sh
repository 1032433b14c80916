#!/usr/bin/env bash
# Type-checks the ARMv6 probe (cross/armv6-probe/main.swift) against today's TinyBase,
# TinyWatchdog and TinyAgent modules on the host, in Embedded mode: the probe calls the agent's package APIs
# and is otherwise compiled only by `make cross-test`, late in a run. `make unit` calls this
# after `swift test`, whose build made the C targets' module maps used here.
#
#   cross/typecheck-probe.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SWIFTC="${SWIFTC:-/opt/swift/usr/bin/swiftc}"
maps=.build/debug
for c in CShims CCrypto; do
    [ -f "$maps/$c.build/module.modulemap" ] || { echo "typecheck-probe: no $maps/$c.build/module.modulemap: run swift build first" >&2; exit 1; }
done
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=(-enable-experimental-feature Embedded -wmo -suppress-warnings -package-name tinyagent -I "$out")
for dir in Sources/*/; do [ -f "$dir/module.modulemap" ] && args+=(-I "${dir%/}"); done
for c in CShims CCrypto; do
    args+=(-Xcc "-fmodule-map-file=$maps/$c.build/module.modulemap" -Xcc -I -Xcc "Sources/$c/include")
done
for module in TinyBase TinyWatchdog TinyAgent; do
    mapfile -t swift_files < <(find "Sources/$module" -name '*.swift' | LC_ALL=C sort)
    "$SWIFTC" "${args[@]}" -parse-as-library -module-name "$module" -emit-module -emit-module-path "$out/$module.swiftmodule" "${swift_files[@]}"
done
"$SWIFTC" "${args[@]}" -typecheck -module-name armv6_probe cross/armv6-probe/main.swift
echo "typecheck-probe: cross/armv6-probe/main.swift type-checks against Sources/TinyBase, Sources/TinyWatchdog and Sources/TinyAgent"
