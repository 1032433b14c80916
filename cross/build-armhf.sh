#!/usr/bin/env bash
# Builds build/armhf/tinyagent: the agent for Raspbian Buster (ARMv7 hard-float), an
# Embedded Swift binary of the same sources as the host build, then proves with
# cross/buster-check.py that it imports nothing newer than Buster has.
#
#   cross/build-armhf.sh [--src DIR] [--out FILE] [--refresh] [--no-check]
#     --src DIR    package root to build (default: this repository)
#     --out FILE   output binary (default: build/armhf/tinyagent)
#     --refresh    fetch Debian's package indexes and packages again
#     --no-check   skip the Buster check (never in CI)
#   Environment: TA_CACHE=DIR keeps zig, apt indexes, the sysroot and mbedTLS in DIR instead
#   of build/ (e.g. a folder that outlives CI's fresh clones); SWIFTC=path/to/swiftc.
#
# Steps, each cached under build/ and skipped when its inputs are unchanged:
#   1. zig from PyPI (ziglang, pinned in common.sh)          -> build/tools/
#   2. armhf sysroot from Debian's .debs (sysroot-armhf.sh)  -> build/armhf/sysroot, control/
#   3. static mbedTLS, trimmed (build-mbedtls.sh armhf)      -> build/armhf/mbedtls/
#   4. C targets (Sources/*/ with .c files) compiled by zig for arm-linux-gnueabihf.2.28
#   5. swiftc, Embedded, armv7-none-none-eabi: module TinyAgent, then the tinyagent main
#   6. zig links against glibc 2.28 stubs and build/armhf/linklibs, --gc-sections, stripped
#   7. buster-check.py
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SRC="$TA_ROOT"
BIN="$TA_BUILD/armhf/tinyagent"
refresh=()
check=1
while [ $# -gt 0 ]; do
    case "$1" in
        --src) SRC="$(cd "$2" && pwd)"; shift 2 ;;
        --out) BIN="$2"; shift 2 ;;
        --refresh) refresh=(--refresh); shift ;;
        --no-check) check=0; shift ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

OUT="$TA_BUILD/armhf"
CACHE="$ARMHF_CACHE"
SYSROOT="$CACHE/sysroot"
MBEDTLS="$CACHE/mbedtls"
OBJ="$OUT/obj"
SWIFTC="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
[ -x "$SWIFTC" ] || die "swiftc not found (set SWIFTC or put the Swift toolchain on PATH)"
SWIFT_LIB="$(dirname "$(dirname "$(realpath "$SWIFTC")")")/lib/swift"
UNICODE_TABLES="$SWIFT_LIB/embedded/armv7-none-none-eabi/libswiftUnicodeDataTables.a"
[ -f "$UNICODE_TABLES" ] || die "$UNICODE_TABLES missing: this toolchain has no armv7 Embedded stdlib"
[ -d "$SRC/Sources/TinyAgent" ] && [ -d "$SRC/Sources/tinyagent" ] \
    || die "$SRC has no Sources/TinyAgent and Sources/tinyagent"

start_ns=$(date +%s%N)
need_apt binutils readelf
need_apt python3 python3
ensure_zig
"$TA_ROOT/cross/sysroot-armhf.sh" "${refresh[@]}" "$CACHE"
"$TA_ROOT/cross/build-mbedtls.sh" armhf "$MBEDTLS"

# ---- what to build --------------------------------------------------------------------
# C targets: folders of Sources/ with .c files (SwiftPM's rule: public headers in include/).
# System-library targets: folders with a module.modulemap at the top (e.g. CSystemd).
c_targets=(); sys_targets=()
for dir in "$SRC"/Sources/*/; do
    dir="${dir%/}"
    if [ -f "$dir/module.modulemap" ]; then
        sys_targets+=("$dir")
    elif [ -n "$(find "$dir" -name '*.c' -print -quit)" ]; then
        c_targets+=("$dir")
    fi
done
mapfile -t lib_swift < <(find "$SRC/Sources/TinyAgent" -name '*.swift' | LC_ALL=C sort)
mapfile -t main_swift < <(find "$SRC/Sources/tinyagent" -name '*.swift' | LC_ALL=C sort)
[ "${#lib_swift[@]}" -gt 0 ] || die "no Swift files in Sources/TinyAgent"
[ "${#main_swift[@]}" -gt 0 ] || die "no Swift files in Sources/tinyagent"
mapfile -t c_files < <(for t in "${c_targets[@]}"; do find "$t" -name '*.c'; done | LC_ALL=C sort)
mapfile -t all_inputs < <(find "$SRC/Sources" -type f | LC_ALL=C sort)

ZIG_TARGET=(-target "$ARM_ZIG_TARGET" -mcpu="$ARM_ZIG_CPU")
C_FLAGS=(-Os -g0 -ffunction-sections -fdata-sections -fno-omit-frame-pointer -Wall)
SWIFT_FLAGS=(
    -target armv7-none-none-eabi -enable-experimental-feature Embedded -wmo -Osize
    -Xcc -mfloat-abi=hard -Xcc -mfpu=neon-vfpv4 -Xcc -mcpu=cortex-a7 -Xllvm -float-abi=hard
    -Xcc -D__linux__ -Xcc -D__linux -Xcc -D__gnu_linux__ -Xcc -D__unix__ -Xcc -D__unix
    -Xcc -I -Xcc "$MBEDTLS/include"
    -Xcc -isystem -Xcc "$SYSROOT/usr/include/arm-linux-gnueabihf"
    -Xcc -isystem -Xcc "$SYSROOT/usr/include"
    -Xfrontend -function-sections
    -module-cache-path "$OBJ/module-cache"
)
# Every shared library in linklibs/ is offered to the linker; --as-needed keeps only
# those the code really uses in DT_NEEDED.
link_libs=()
for so in "$CACHE"/linklibs/lib*.so; do n="$(basename "$so" .so)"; link_libs+=("-l${n#lib}"); done

stamp_value="$( {
    printf '%s\n' "$SRC" "$BIN" "$ZIG_VERSION" "${SWIFT_FLAGS[*]}" "${C_FLAGS[*]}" "${link_libs[*]}"
    "$SWIFTC" --version 2>&1
    cat "$CACHE/sysroot.stamp" "$MBEDTLS/mbedtls.stamp" "${BASH_SOURCE[0]}"
    hash_inputs "${all_inputs[@]}"
} | sha256sum | cut -d' ' -f1)"

if [ -f "$OBJ/build.stamp" ] && [ "$(cat "$OBJ/build.stamp")" = "$stamp_value" ] && [ -f "$BIN" ]; then
    log "tinyagent up to date"
else
    rm -rf "$OBJ.new"; mkdir -p "$OBJ.new/modulemaps" "$OBJ.new/c" "$OBJ.new/swift"
    [ -d "$OBJ/module-cache" ] && mv "$OBJ/module-cache" "$OBJ.new/"
    rm -rf "$OBJ"; mv "$OBJ.new" "$OBJ"

    # ---- module maps ------------------------------------------------------------------
    module_dirs=()
    for t in "${sys_targets[@]}"; do module_dirs+=(-I "$t"); done
    for t in "${c_targets[@]}"; do
        name="$(basename "$t")"; inc="$t/include"
        [ -d "$inc" ] || continue
        if [ -f "$inc/module.modulemap" ]; then
            module_dirs+=(-I "$inc")
        else
            # SwiftPM's generated module map: an umbrella header named after the target
            # (include/NAME.h or include/NAME/NAME.h), else the whole include/ folder.
            mkdir -p "$OBJ/modulemaps/$name"
            if [ -f "$inc/$name.h" ]; then umbrella="umbrella header \"$inc/$name.h\""
            elif [ -f "$inc/$name/$name.h" ]; then umbrella="umbrella header \"$inc/$name/$name.h\""
            else umbrella="umbrella \"$inc\""; fi
            printf 'module %s {\n    %s\n    export *\n}\n' "$name" "$umbrella" >"$OBJ/modulemaps/$name/module.modulemap"
            module_dirs+=(-I "$OBJ/modulemaps/$name")
        fi
        SWIFT_FLAGS+=(-Xcc -I -Xcc "$inc")
    done

    # ---- C targets ----------------------------------------------------------------------
    c_includes=(-isystem "$CACHE/libinclude" -isystem "$MBEDTLS/include")
    for t in "${c_targets[@]}"; do [ -d "$t/include" ] && c_includes+=(-I "$t/include"); done
    log "compiling ${#c_files[@]} C files with zig cc (${ARM_ZIG_TARGET})"
    c_objs=()
    pids=()
    for f in "${c_files[@]}"; do
        rel="${f#"$SRC"/Sources/}"
        o="$OBJ/c/${rel//\//_}.o"
        c_objs+=("$o")
        "$ZIG" cc "${ZIG_TARGET[@]}" "${C_FLAGS[@]}" "${c_includes[@]}" -I "$(dirname "$f")" -c "$f" -o "$o" &
        pids+=($!)
        if [ "${#pids[@]}" -ge "$(nproc)" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done

    # ---- Swift ------------------------------------------------------------------------
    t0=$SECONDS
    log "swiftc (Embedded, armv7-none-none-eabi): TinyAgent, ${#lib_swift[@]} files"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" "${module_dirs[@]}" -parse-as-library -module-name TinyAgent \
        -emit-module -emit-module-path "$OBJ/swift/TinyAgent.swiftmodule" \
        -c "${lib_swift[@]}" -o "$OBJ/swift/TinyAgent.o"
    main_mode=(-parse-as-library)
    for f in "${main_swift[@]}"; do [ "$(basename "$f")" = main.swift ] && main_mode=(); done
    log "swiftc (Embedded, armv7-none-none-eabi): tinyagent, ${#main_swift[@]} files (TinyAgent took $((SECONDS - t0)) s)"
    t0=$SECONDS
    "$SWIFTC" "${SWIFT_FLAGS[@]}" "${module_dirs[@]}" -I "$OBJ/swift" "${main_mode[@]}" \
        -module-name tinyagent -c "${main_swift[@]}" -o "$OBJ/swift/tinyagent.o"

    # ---- link -------------------------------------------------------------------------
    # zig links against its glibc 2.28 stubs; the armv7 Unicode tables are soft-float but
    # take integers only, so mixing them in is safe. -s strips at link time.
    log "linking (tinyagent took $((SECONDS - t0)) s) with zig cc (${ARM_ZIG_TARGET}), static mbedTLS, ${link_libs[*]}"
    mkdir -p "$(dirname "$BIN")"
    "$ZIG" cc "${ZIG_TARGET[@]}" -Os -o "$BIN.tmp" \
        "$OBJ/swift/tinyagent.o" "$OBJ/swift/TinyAgent.o" "${c_objs[@]}" \
        -Wl,--gc-sections -Wl,-s -Wl,--as-needed \
        -L "$CACHE/linklibs" "${link_libs[@]}" \
        "$MBEDTLS/lib/libmbedtls.a" "$MBEDTLS/lib/libmbedx509.a" "$MBEDTLS/lib/libmbedcrypto.a" \
        "$UNICODE_TABLES" -lm
    mv "$BIN.tmp" "$BIN"
    printf '%s\n' "$stamp_value" >"$OBJ/build.stamp"
fi

size=$(stat -c %s "$BIN")
abi="$(readelf -h "$BIN" | sed -n 's/^ *Flags: *[0-9a-fx]*, *//p')"
log "binary: ${BIN#"$TA_ROOT"/} $size bytes ($(( (size + 1023) / 1024 )) KiB), ARM, ${abi:-unknown ABI}, stripped"
if [ $check = 1 ]; then
    python3 "$TA_ROOT/cross/buster-check.py" --control "$CACHE/control" \
        --allow "$TA_ROOT/cross/buster-allow.txt" "$BIN"
fi
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
log "done in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
