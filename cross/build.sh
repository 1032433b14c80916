#!/usr/bin/env bash
# Builds build/ARCH/tinyagent for the Raspberry Pi, an Embedded Swift binary of the same
# sources as the host build, then proves that it runs on the architecture's floor release:
#   armhf  every Pi from the Zero and 1 (ARMv6 + VFPv2 hard-float, arm1176jzf-s, no NEON,
#          no Thumb-2) to the Pi 4 in 32-bit mode; floor Raspbian Buster (glibc 2.28).
#          Checked by cross/buster-check.py and cross/armv6-check.py (attributes of every
#          object and of the executable, and a scan of its disassembly).
#   arm64  64-bit Raspberry Pi OS on the Pi 3, 4, 400, Zero 2 W; floor Bullseye (glibc
#          2.31; library versions from Bullseye's own packages), cross/buster-check.py.
#
#   cross/build.sh ARCH [--src DIR] [--out FILE] [--refresh] [--no-check] [--musl-probe]
#     --src DIR    package root to build (default: this repository)
#     --out FILE   the agent's binary (default: build/ARCH/tinyagent); its helper programs
#                  tinyagent-link and tinyagent-fetch and the objects (obj/) go beside it
#     --refresh    fetch Debian's package indexes and packages again
#     --no-check   skip the checks (never in CI)
#     --musl-probe armhf only: build build/armhf/armv6-probe instead, the agent's Swift code
#                  (with cross/armv6-probe/main.swift) and C shims linked statically against
#                  musl for the arm1176jzf-s (zig builds that musl), which runs under
#                  `qemu-arm -cpu arm1176`: Debian's armhf libraries are ARMv7, so the
#                  dynamic binary cannot (cross/armv6-probe.sh runs it)
#   Environment: TA_CACHE=DIR keeps zig, apt indexes, the sysroot and mbedTLS in DIR instead
#   of build/ (e.g. a folder that outlives CI's fresh clones); SWIFTC=path/to/swiftc.
#
# Steps, each cached under build/ and skipped when its inputs are unchanged:
#   1. zig from PyPI (ziglang, pinned in common.sh)           -> build/tools/
#   2. sysroot from Debian's .debs (sysroot.sh ARCH)          -> build/ARCH/sysroot, control/
#   3. static mbedTLS, trimmed (build-mbedtls.sh ARCH)        -> build/ARCH/mbedtls/
#   4. C targets (Sources/*/ with .c files) compiled by zig for the glibc floor
#   5. swiftc, Embedded (armv6-none-none-eabi / aarch64-none-none-elf), -lto=llvm-full
#      (LLVM bitcode): the package's Swift targets in dependency order, as `swift package
#      describe` gives them (cross/package-graph.py): the libraries, then the three programs
#   6. each program from its own modules and C targets against the floor's glibc stubs and
#      build/ARCH/linklibs: zig cc's ld.lld command, run by the Swift toolchain's ld.lld
#      (lto_link): full LTO of the Swift modules, --gc-sections --as-needed
#      --exclude-libs ALL --icf=safe; PROGRAM.unstripped keeps the symbols (the ARMv6 scan
#      reads its mapping symbols), PROGRAM is stripped, obj/lto/PROGRAM.o is LTO's code
#   7. the checks
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -gt 0 ] && [ "${1#-}" = "$1" ] || die "usage: cross/build.sh armhf|arm64 [options] (see --help)"
pi_arch "$1"; shift
SRC="$TA_ROOT"
BIN="$TA_BUILD/$PI_ARCH/tinyagent"
refresh=()
check=1
probe=0
while [ $# -gt 0 ]; do
    case "$1" in
        --musl-probe) probe=1; BIN="$TA_BUILD/$PI_ARCH/armv6-probe"; shift ;;
        --src) SRC="$(cd "$2" && pwd)"; shift 2 ;;
        --out) BIN="$2"; shift 2 ;;
        --refresh) refresh=(--refresh); shift ;;
        --no-check) check=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# The objects go beside the output, so that a build with --out elsewhere (e.g. of another
# source tree) leaves the default build's objects and its up-to-date stamp alone.
OUT="$(dirname "$BIN")"
CACHE="$ARCH_CACHE"
SYSROOT="$CACHE/sysroot"
MBEDTLS="$CACHE/mbedtls"
OBJ="$OUT/obj"
[ $probe = 0 ] || [ "$PI_ARCH" = armhf ] || die "--musl-probe is the ARMv6 run-time proof: armhf only"
[ $probe = 0 ] || OBJ="$OUT/probe-obj"
SWIFTC="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
[ -x "$SWIFTC" ] || die "swiftc not found (set SWIFTC or put the Swift toolchain on PATH)"
SWIFT_LIB="$(dirname "$(dirname "$(realpath "$SWIFTC")")")/lib/swift"
LLVM_BIN="$(dirname "$(realpath "$SWIFTC")")"  # the toolchain's ld.lld, llvm-objcopy, llvm-objdump
[ -x "$LLVM_BIN/ld.lld" ] || die "$LLVM_BIN/ld.lld missing: the link needs the Swift toolchain's own lld (LTO of swiftc's bitcode)"
UNICODE_TABLES="$SWIFT_LIB/embedded/$SWIFT_TARGET/libswiftUnicodeDataTables.a"
[ -f "$UNICODE_TABLES" ] || die "$UNICODE_TABLES missing: this toolchain has no $SWIFT_TARGET Embedded stdlib"
[ -f "$SRC/Package.swift" ] || die "$SRC has no Package.swift"
SWIFT="$(dirname "$SWIFTC")/swift"

start_ns=$(date +%s%N)
need_apt binutils readelf
need_apt python3 python3
ensure_zig
"$TA_ROOT/cross/sysroot.sh" "$PI_ARCH" "${refresh[@]}" "$CACHE"
"$TA_ROOT/cross/build-mbedtls.sh" "$PI_ARCH" "$MBEDTLS"

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
# Swift targets: the package's graph, dependencies first (cross/package-graph.py), one
# line each: KIND NAME MODULE PATH SWIFT_DEPS C_DEPS.
mapfile -t graph < <("$SWIFT" package --package-path "$SRC" describe --type json | python3 "$TA_ROOT/cross/package-graph.py")
[ "${#graph[@]}" -gt 0 ] || die "no Swift targets in $SRC/Package.swift"
mapfile -t c_files < <(for t in "${c_targets[@]}"; do find "$t" -name '*.c'; done | LC_ALL=C sort)
[ $probe = 0 ] || c_files+=("$TA_ROOT/cross/armv6-probe/no-systemd.c")
mapfile -t all_inputs < <(find "$SRC/Sources" -type f | LC_ALL=C sort)
all_inputs+=("$SRC/Package.swift" "${c_files[@]}")
[ $probe = 0 ] || all_inputs+=("$TA_ROOT/cross/armv6-probe/main.swift")

ZIG_TARGET=(-target "$ZIG_ARCH_TARGET" -mcpu="$ZIG_CPU")
ZIG_CODE=(-target "$ZIG_ARCH_TARGET" "${ZIG_CODE_FLAGS[@]}")  # our C: Thumb-1 on armhf
C_FLAGS=(-Os -g0 -ffunction-sections -fdata-sections -fno-omit-frame-pointer -Wall)
# zig's compiler-rt brings the stack protector's canary, a constant: CShims' stackguard.c
# makes it random at start (glibc programs only; musl sets up the one it defines).
[ $probe = 1 ] || C_FLAGS+=(-DTA_RANDOMIZE_ZIG_STACK_GUARD)
# The C library's headers: the sysroot's glibc, or for the probe zig's musl (with just
# the agent's libraries' headers from the sysroot).
libc_include=("$SYSROOT/usr/include/$GNU_TRIPLE" "$SYSROOT/usr/include")
if [ $probe = 1 ]; then
    ZIG_TARGET=(-target arm-linux-musleabihf -mcpu="$ZIG_CPU")
    ZIG_CODE=(-target arm-linux-musleabihf "${ZIG_CODE_FLAGS[@]/gnueabihf/musleabihf}")
    zig_libc="$(dirname "$ZIG")/lib/libc/include"
    libc_include=("$zig_libc/arm-linux-musl" "$zig_libc/arm-linux-any" "$zig_libc/generic-musl"
                  "$zig_libc/any-linux-any" "$CACHE/libinclude")
fi
# -lto=llvm-full: each module is LLVM bitcode, optimised for size as a module; the link
# optimises the program as a whole and generates its code (lto_link).
SWIFT_FLAGS=(
    -target "$SWIFT_TARGET" -enable-experimental-feature Embedded -wmo -Osize "${SWIFT_CPU_FLAGS[@]}"
    -Xcc -D__linux__ -Xcc -D__linux -Xcc -D__gnu_linux__ -Xcc -D__unix__ -Xcc -D__unix
    -Xcc -I -Xcc "$MBEDTLS/include"
    -lto=llvm-full
    -module-cache-path "$OBJ/module-cache"
)
for d in "${libc_include[@]}"; do SWIFT_FLAGS+=(-Xcc -isystem -Xcc "$d"); done
# Every shared library in linklibs/ is offered to the linker; --as-needed keeps only
# those the code really uses in DT_NEEDED.
link_libs=()
for so in "$CACHE"/linklibs/lib*.so; do n="$(basename "$so" .so)"; link_libs+=("-l${n#lib}"); done

# ---- Swift ----------------------------------------------------------------------------
# One module per target, in the graph's order; `package` declarations cross modules of
# one package name, as under SwiftPM.
compile_module() {  # KIND NAME MODULE PATH FILES...
    local kind="$1" name="$2" module="$3" path="$4"; shift 4
    local mode=(-parse-as-library) emit=() f
    if [ "$kind" = library ]; then
        emit=(-emit-module -emit-module-path "$OBJ/swift/$module.swiftmodule")
    else
        for f in "$@"; do [ "$(basename "$f")" = main.swift ] && mode=(); done
    fi
    log "swiftc (Embedded, $SWIFT_TARGET): $name, $# files"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" "${module_dirs[@]}" -I "$OBJ/swift" "${mode[@]}" -module-name "$module" \
        -package-name tinyagent "${emit[@]}" -c "$@" -o "$OBJ/swift/$module.o"
}

# The libraries, then each program (the probe: the libraries it needs, then its main).
compile_swift() {
    local kind name module path deps cdeps files
    for line in "${graph[@]}"; do
        read -r kind name module path deps cdeps <<<"$line"
        [ $probe = 0 ] || [ "$kind" = library ] || continue
        [ $probe = 0 ] || [[ " TinyBase TinyWatchdog TinyAgent " == *" $name "* ]] || continue
        mapfile -t files < <(find "$SRC/$path" -name '*.swift' | LC_ALL=C sort)
        compile_module "$kind" "$name" "$module" "$path" "${files[@]}"
    done
    [ $probe = 0 ] || compile_module executable armv6-probe armv6_probe cross/armv6-probe "$TA_ROOT/cross/armv6-probe/main.swift"
}

# ---- link -----------------------------------------------------------------------------
ordering=()  # extra ld.lld arguments of one program (link_programs)
# zig links against its glibc stubs of the floor's version; the 32-bit Unicode tables are
# soft-float but take integers only, so mixing them in is safe. The unstripped executable
# (-g: zig strips by default) stays beside the stripped one: the ARMv6 scan reads its
# mapping symbols. Each program gets its own modules and C targets only, and --as-needed
# keeps in DT_NEEDED only the shared libraries its code really uses.
program_path() { [ "$1" = tinyagent ] && echo "$BIN" || echo "$(dirname "$BIN")/$1"; }

link_programs() {
    local kind name module path deps cdeps bitcode objs d out
    for line in "${graph[@]}"; do
        read -r kind name module path deps cdeps <<<"$line"
        [ "$kind" = executable ] || continue
        bitcode=("$OBJ/swift/$module.o"); objs=()
        for d in ${deps//,/ }; do [ "$d" = - ] || bitcode+=("$OBJ/swift/${d//-/_}.o"); done
        for d in ${cdeps//,/ }; do
            for f in "$OBJ/c/${d}_"*.o; do [ -f "$f" ] && objs+=("$f"); done
        done
        out="$(program_path "$name")"
        ordering=()
        [ "$name" != tinyagent ] || ordering=(--symbol-ordering-file="$SRC/Sources/tinyagent/run.order"
            --no-warn-symbol-ordering "$SRC/Sources/tinyagent/run-order.ld")
        log "linking $name: zig's link line (${ZIG_ARCH_TARGET}, ${ZIG_CPU}), LTO, static mbedTLS, --as-needed ${link_libs[*]}"
        lto_link "$out.unstripped" "${bitcode[@]}" -- "${objs[@]}" \
            -Wl,--gc-sections -Wl,--as-needed \
            -L "$CACHE/linklibs" "${link_libs[@]}" \
            "$MBEDTLS/lib/libmbedtls.a" "$MBEDTLS/lib/libmbedx509.a" "$MBEDTLS/lib/libmbedcrypto.a" \
            "$UNICODE_TABLES"
        programs+=("$out")
    done
}

# lto_link OUT BITCODE... -- ARGS...: links OUT from the Swift modules' bitcode and ARGS (our
# C objects, archives, libraries, flags for zig cc) with full LTO. swiftc's bitcode is LLVM 21, which
# zig's own ld.lld (an older LLVM) cannot read, so zig cc links a stand-in main
# ($OBJ/standin.o, native) in its place and prints its ld.lld command (zig cc -v): zig's
# start files, glibc stubs and compiler-rt, -float-abi=hard for the code generator. The
# Swift toolchain's ld.lld (LLVM 21) runs that command again with the bitcode instead of
# the stand-in. Whole program: everything no shared library needs is internal, so the
# optimiser inlines across modules and drops what is unused or inlined everywhere; code
# is generated as for a non-PIE executable (no GOT loads). The functions keep swiftc's
# target CPU and features (Thumb-1, strict alignment) and size attributes. The result's
# native object is kept in $OBJ/lto/ (the ARMv6 check reads its attributes).
# --exclude-libs ALL (zig cc's driver does not pass it on): zig's compiler-rt is one
# object holding libm's functions too, and lld exports every definition that a linked
# shared library (zig's libm and libc stubs) also has, so --gc-sections kept ~25 KB of
# them per program. Archive members' symbols hidden, nothing of ours is exported: the
# libraries bind memcpy, __stack_chk_guard and the like to glibc's own again.
# $ordering: for the agent, what `tinyagent run` executes first (Sources/tinyagent/run.order,
# bench/order.py; the same names as on the host), so the idle agent maps only that part of
# its program.
# --icf=safe folds identical functions and constants whose address nothing takes (the LTO
# object says which: .llvm_addrsig; objects without it are left alone).
lto_link() {
    local out="$1" bitcode=() output line words args=() a; shift
    while [ "$1" != -- ]; do bitcode+=("$1"); shift; done; shift
    output="$("$ZIG" cc "${ZIG_TARGET[@]}" -Os -g -o "$out" "$OBJ/standin.o" "$@" -v 2>&1)" \
        || { printf '%s\n' "$output" >&2; die "linking $(basename "$out") failed"; }
    # The program's own link: with a cold zig cache, zig also prints the ld.lld commands that
    # build its glibc stub libraries first.
    line="$(grep '^ld.lld ' <<<"$output" | grep -F -- " -o $out ")" \
        || die "zig cc -v printed no ld.lld command for $out"
    [ "$(wc -l <<<"$line")" = 1 ] || die "zig cc -v printed more than one ld.lld command for $out"
    read -ra words <<<"${line#ld.lld }"  # zig prints it unquoted: our paths have no spaces
    for a in "${words[@]}"; do
        if [ "$a" = "$OBJ/standin.o" ]; then args+=("${bitcode[@]}"); else args+=("$a"); fi
    done
    [[ " ${words[*]} " == *" $OBJ/standin.o "* ]] || die "zig's ld.lld command for $out does not link the stand-in"
    mkdir -p "$OBJ/lto"
    output="$("$LLVM_BIN/ld.lld" "${args[@]}" --exclude-libs ALL --icf=safe "${ordering[@]}" \
        --lto-obj-path="$OBJ/lto/$(basename "$out" .unstripped).o" 2>&1)" \
        || { printf '%s\n' "$output" >&2; die "linking $(basename "$out") (LTO) failed"; }
    # lld says so for each of zig's objects (their .llvm_addrsig has no sh_link): noise.
    grep -v 'conservatively ignores SHT_LLVM_ADDRSIG' <<<"$output" >&2 || true
}

# Static musl; --gc-sections drops what would need libsystemd but one call a global keeps
# (cross/armv6-probe/no-systemd.c answers it). mbedTLS is the armhf build's: ARMv6, and
# what the probe runs of it (AES) touches no libc type whose layout differs between glibc
# and musl.
link_probe() {
    log "linking the probe: zig's link line (arm-linux-musleabihf, ${ZIG_CPU}), static, LTO"
    lto_link "$BIN.unstripped" "$OBJ/swift/armv6_probe.o" "$OBJ/swift/TinyAgent.o" "$OBJ/swift/TinyWatchdog.o" \
        "$OBJ/swift/TinyBase.o" -- -static "${c_objs[@]}" -Wl,--gc-sections \
        "$MBEDTLS/lib/libmbedtls.a" "$MBEDTLS/lib/libmbedx509.a" "$MBEDTLS/lib/libmbedcrypto.a" \
        "$UNICODE_TABLES"
    programs+=("$BIN")
}

stamp_value="$( {
    printf '%s\n' "$SRC" "$BIN" "$ZIG_VERSION" "${SWIFT_FLAGS[*]}" "${ZIG_CODE[*]}" "${C_FLAGS[*]}" "${link_libs[*]}" "${graph[@]}"
    "$SWIFTC" --version 2>&1
    cat "$CACHE/sysroot.stamp" "$MBEDTLS/mbedtls.stamp" "${BASH_SOURCE[0]}"
    hash_inputs "${all_inputs[@]}"
} | sha256sum | cut -d' ' -f1)"

programs=()
if [ $probe = 1 ]; then
    programs=("$BIN")
else
    for line in "${graph[@]}"; do
        read -r kind name _ <<<"$line"
        [ "$kind" = executable ] && programs+=("$(program_path "$name")")
    done
fi
up_to_date=0
if [ -f "$OBJ/build.stamp" ] && [ "$(cat "$OBJ/build.stamp")" = "$stamp_value" ]; then
    up_to_date=1
    for p in "${programs[@]}"; do [ -f "$p" ] || up_to_date=0; done
fi
if [ $up_to_date = 1 ]; then
    log "$(basename "${programs[@]}") up to date"
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
    log "compiling ${#c_files[@]} C files with zig cc ${ZIG_CODE[*]}"
    c_objs=()
    pids=()
    for f in "${c_files[@]}"; do
        rel="${f#"$SRC"/Sources/}"; rel="${rel#"$TA_ROOT"/}"
        o="$OBJ/c/${rel//\//_}.o"
        c_objs+=("$o")
        "$ZIG" cc "${ZIG_CODE[@]}" "${C_FLAGS[@]}" "${c_includes[@]}" -I "$(dirname "$f")" -c "$f" -o "$o" &
        pids+=($!)
        if [ "${#pids[@]}" -ge "$(nproc)" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done
    # What zig cc links in place of the Swift bitcode to print its link line (lto_link).
    printf 'int main(void) { return 0; }\n' >"$OBJ/standin.c"
    "$ZIG" cc "${ZIG_CODE[@]}" -Os -c "$OBJ/standin.c" -o "$OBJ/standin.o"

    t0=$SECONDS
    compile_swift
    log "swiftc took $((SECONDS - t0)) s"
    mkdir -p "$(dirname "$BIN")"
    programs=()
    if [ $probe = 1 ]; then link_probe; else link_programs; fi
    for p in "${programs[@]}"; do
        "$LLVM_BIN/llvm-objcopy" --strip-all "$p.unstripped" "$p.tmp"
        mv "$p.tmp" "$p"
    done
    printf '%s\n' "$stamp_value" >"$OBJ/build.stamp"
fi

total=0
for p in "${programs[@]}"; do
    size=$(stat -c %s "$p"); total=$((total + size))
    abi="$(readelf -h "$p" | sed -n 's/^ *Machine: *//p')"
    if [ "$PI_ARCH" = armhf ]; then
        abi="$abi $(readelf -A "$p" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -n1), $(readelf -h "$p" | sed -n 's/^ *Flags: *[0-9a-fx]*, *//p')"
    fi
    needed="$(readelf -d "$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')"
    log "binary: ${p#"$TA_ROOT"/} $size bytes ($(( (size + 1023) / 1024 )) KiB), $abi, stripped; needs: ${needed:-nothing}"
done
[ "${#programs[@]}" -lt 2 ] || log "the ${#programs[@]} programs: $total bytes ($(( (total + 1023) / 1024 )) KiB) together"
if [ $check = 1 ]; then
    floor_args=(--arch "$PI_ARCH")
    [ -n "$FLOOR_SUITE" ] && floor_args+=(--floor-control "$CACHE/floor-control")
    # The probe is static: no loader, no libraries to check against a release.
    if [ $probe = 0 ]; then
        for p in "${programs[@]}"; do
            python3 "$TA_ROOT/cross/buster-check.py" "${floor_args[@]}" --control "$CACHE/control" \
                --allow "$TA_ROOT/cross/buster-allow.txt" "$p"
        done
    fi
    [ $probe = 1 ] || python3 "$TA_ROOT/cross/needed-check.py" "${programs[@]}"
    [ $probe = 1 ] || NM="$LLVM_BIN/llvm-nm" python3 "$TA_ROOT/bench/order.py" --check-layout "$BIN.unstripped"
    if [ "$PI_ARCH" = armhf ]; then
        # The objects as linked: the Swift code as LTO generated it (lto/), our C, mbedTLS's
        # archive members, the toolchain's tables.
        # The probe's executable is not scanned: musl chooses its memory barrier at run
        # time and carries a DMB for ARMv7 CPUs; running it under arm1176 is its proof.
        scan=(); [ $probe = 1 ] || for p in "${programs[@]}"; do scan+=(--scan "$p.unstripped"); done
        python3 "$TA_ROOT/cross/armv6-check.py" --objdump "$LLVM_BIN/llvm-objdump" \
            "${scan[@]}" --toolchain "$UNICODE_TABLES" \
            "$OBJ"/lto/*.o "$OBJ"/c/*.o "$MBEDTLS"/lib/*.a
    fi
fi
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
log "done in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
