#!/usr/bin/env python3
"""Proves that armhf code runs on an ARMv6 Raspberry Pi (Pi 1, Zero, Zero W: arm1176jzf-s,
ARMv6KZ + VFPv2, hard-float ABI), in two ways that do not need the board:

    cross/armv6-check.py [--objdump LLVM_OBJDUMP] [--scan ELF]...
                         [--toolchain ARCHIVE]... OBJECT_OR_ARCHIVE...

1. attributes (readelf -A) of every object and archive member given, and of each --scan
   file: Tag_CPU_arch at most v6KZ (no v6T2, v7, ...), Tag_THUMB_ISA_use at most Thumb-1,
   Tag_FP_arch at most VFPv2, no Tag_Advanced_SIMD_arch (NEON). Objects must also carry
   Tag_ABI_VFP_args: VFP registers (the hard-float ABI). That tag is checked on the objects
   because lld drops it from a linked executable. --toolchain archives (the Swift
   toolchain's Unicode tables) are soft-float ABI and are allowed to lack it: their
   functions take and return integers only, so no float crosses a call.
2. disassembly of each --scan file (llvm-objdump, decoding everything up to ARMv7 + NEON
   so that what ARMv6 lacks shows by name): no 32-bit Thumb-2 encoding (other than BL/BLX,
   which Thumb-1 has), no IT, CBZ/CBNZ, MOVW/MOVT, UBFX/SBFX/BFI/BFC, RBIT, MLS, SDIV/UDIV,
   DMB/DSB/ISB, PLI, no NEON, and no VFP instruction beyond VFPv2 (VFPv3's d16-d31,
   immediates and fixed-point conversions, VFPv4's fused multiply-add, half precision).
   Whether a byte range is ARM, Thumb or data comes from the mapping symbols ($a, $t, $d),
   so scan an unstripped file (the build keeps build/armhf/tinyagent.unstripped).

3. calls from Thumb code that would carry floating point across the two calling conventions:
   Thumb-1 has no VFP instructions, so LLVM compiles floating point in Thumb code with the
   run-time ABI's __aeabi_* helpers and passes it in core registers, although the object
   still says Tag_ABI_VFP_args: VFP registers; ARM-mode code (glibc, libm, compiler-rt's
   other helpers) expects it in VFP registers. So an object (or archive member) with Thumb
   code must not reference a floating-point function of libm or libc (ceil, strtod, ...)
   or a compiler-rt helper other than __aeabi_* (__adddf3, __powidf2, ...), unless the
   inputs define that function in Thumb code themselves. Checked by name on the symbols.

Each violation is one line naming the file, the instruction (with its address and the
function it is in) or the attribute; exit 1 when there is any, 2 on a usage or tool error.
"""

import argparse
import bisect
import re
import shutil
import subprocess
import sys

# Tag_CPU_arch values ARMv6KZ can run (readelf's spelling).
ARMV6_ARCHES = {"Pre-v4", "v4", "v4T", "v5T", "v5TE", "v5TEJ", "v6", "v6KZ", "v6K"}
VFPV2_OR_LESS = {"VFPv1", "VFPv2"}

# ARM and Thumb instructions that ARMv6 lacks (ARMv6T2 / ARMv7 additions).
V7_MNEMONICS = {
    "movw", "movt", "ubfx", "sbfx", "bfi", "bfc", "rbit", "mls", "sdiv", "udiv",
    "dmb", "dsb", "isb", "pli", "cbz", "cbnz", "tbb", "tbh", "ldrht", "ldrsbt", "ldrsht", "strht",
}
# The whole VFPv2 instruction set in UAL; any other v-mnemonic is NEON or VFPv3/v4.
VFPV2_MNEMONICS = {
    "vabs", "vadd", "vcmp", "vcmpe", "vcvt", "vcvtr", "vdiv", "vldmia", "vldmdb", "vldm",
    "vldr", "vmla", "vmls", "vmov", "vmrs", "vmsr", "vmul", "vneg", "vnmla", "vnmls", "vnmul",
    "vpop", "vpush", "vsqrt", "vstmia", "vstmdb", "vstm", "vstr", "vsub",
}
VFPV2_TYPES = {"f32", "f64", "s32", "u32", "32"}
INSN = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2,8} )+)\s*(\S+)\s*(.*)$")
SECTION = re.compile(r"^Disassembly of section (\S+):$")
FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")  # symbol names may be any bytes
    if res.returncode != 0:
        raise SystemExit(f"armv6-check: {' '.join(cmd)} failed: {res.stderr.strip()[:500]}")
    return res.stdout


def tool(name, given=None):
    path = given or shutil.which(name)
    if not path:
        raise SystemExit(f"armv6-check: {name} not found")
    return path


# ---- 1. attributes --------------------------------------------------------------------

def attribute_blocks(path):
    """(name, {tag: value}) for a file, or for each member of an archive."""
    out = run([tool("readelf"), "-A", "-W", path])
    blocks, name, tags = [], path, None
    for line in out.splitlines():
        m = re.match(r"^File: (.+)$", line)
        if m:
            if tags is not None:
                blocks.append((name, tags))
            name, tags = m.group(1), {}
            continue
        m = re.match(r"^\s+(Tag_\w+): (.*)$", line)
        if m:
            if tags is None:
                tags = {}
            tags[m.group(1)] = m.group(2).strip()
        elif line.startswith("Attribute Section") and tags is None:
            tags = {}
    if tags is not None:
        blocks.append((name, tags))
    return blocks


def code_members(path):
    """Names (as readelf prints them) of the members/files that contain executable code."""
    out = run([tool("readelf"), "-S", "-W", path])
    names, name = set(), path
    for line in out.splitlines():
        m = re.match(r"^File: (.+)$", line)
        if m:
            name = m.group(1)
        elif re.search(r"\s(PROGBITS)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+\S*X", line):
            size = int(re.search(r"PROGBITS\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", line).group(1), 16)
            if size:
                names.add(name)
    return names


def check_attributes(path, need_vfp_args):
    violations = []
    blocks = dict(attribute_blocks(path))
    for name in sorted(code_members(path) - set(blocks)):
        violations.append(f"{name}: code without ARM attributes (cannot tell its architecture)")
    for name, tags in sorted(blocks.items()):
        arch = tags.get("Tag_CPU_arch")
        if arch not in ARMV6_ARCHES:
            violations.append(f"{name}: Tag_CPU_arch: {arch or 'missing'} (ARMv6 runs at most v6KZ)")
        if "Thumb-2" in tags.get("Tag_THUMB_ISA_use", ""):
            violations.append(f"{name}: Tag_THUMB_ISA_use: Thumb-2 (ARMv6 has Thumb-1 only)")
        fp = tags.get("Tag_FP_arch")
        if fp is not None and fp not in VFPV2_OR_LESS:
            violations.append(f"{name}: Tag_FP_arch: {fp} (the arm1176jzf-s has VFPv2)")
        if "Tag_Advanced_SIMD_arch" in tags:
            violations.append(f"{name}: Tag_Advanced_SIMD_arch: {tags['Tag_Advanced_SIMD_arch']} (no NEON on ARMv6)")
        if need_vfp_args and tags.get("Tag_ABI_VFP_args") != "VFP registers":
            violations.append(f"{name}: Tag_ABI_VFP_args: {tags.get('Tag_ABI_VFP_args', 'missing')}"
                              " (armhf passes floats in VFP registers)")
    return violations, len(blocks)


# ---- 2. disassembly ---------------------------------------------------------------------

def mapping_symbols(path):
    """{section name: sorted [(address, kind)]} of the $a/$t/$d mapping symbols (kind 'a',
    't' or 'd'); per section, since an object's sections each start at 0."""
    names = {}
    for line in run([tool("readelf"), "-S", "-W", path]).splitlines():
        m = re.match(r"^\s*\[\s*(\d+)\]\s+(\S+)", line)
        if m:
            names[m.group(1)] = m.group(2)
    marks = {}
    for line in run([tool("readelf"), "-s", "-W", path]).splitlines():
        f = line.split()
        if len(f) >= 8 and re.fullmatch(r"\$[atd](\..*)?", f[7]) and f[6] in names:
            marks.setdefault(names[f[6]], set()).add((int(f[1], 16) & ~1, f[7][1]))
    return {sec: sorted(v) for sec, v in marks.items()}


def vfp_violation(mnemonic, operands):
    """Why a v-instruction is not VFPv2, or None."""
    base, *types = mnemonic.split(".")
    base = re.sub(r"(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)$", "", base) \
        if base not in VFPV2_MNEMONICS else base
    if base not in VFPV2_MNEMONICS:
        return "NEON or VFPv3/v4 instruction"
    if any(t not in VFPV2_TYPES for t in types):
        return "NEON data type"
    if re.search(r"\bq\d+\b", operands):
        return "NEON quad register"
    if re.search(r"\bd(1[6-9]|2\d|3[01])\b", operands):
        return "d16-d31 (VFPv3-D32)"
    if base == "vmov" and "#" in operands:
        return "VFPv3 immediate"
    if base == "vcvt" and "#" in operands:
        return "VFPv3 fixed-point conversion"
    return None


def scan(path, objdump):
    """Violations of the disassembly of one ELF file, and the number of instructions read."""
    marks = mapping_symbols(path)
    if not marks:
        return [f"{path}: no mapping symbols ($a/$t/$d): scan the unstripped file"], 0
    out = run([objdump, "-d", "--triple=armv7a-linux-gnueabihf",
               "--mattr=+neon,+vfp4,+d32,+hwdiv-arm,+mp", path])
    found, count, func, here, addrs = {}, 0, "?", [], []
    for line in out.splitlines():
        m = SECTION.match(line)
        if m:
            here = marks.get(m.group(1), [])
            addrs = [a for a, _ in here]
            continue
        m = FUNC.match(line)
        if m:
            func = m.group(1)
            continue
        m = INSN.match(line)
        if not m:
            continue
        addr, raw, mnemonic, operands = int(m.group(1), 16), m.group(2).split(), m.group(3), m.group(4)
        width = sum(len(r) for r in raw) // 2
        i = bisect.bisect_right(addrs, addr) - 1
        kind = here[i][1] if i >= 0 else "a"
        if kind == "d" or mnemonic.startswith("."):
            continue
        count += 1
        why = None
        base = mnemonic.split(".")[0]
        if mnemonic == "<unknown>":
            why = "an encoding the ARMv7 decoder does not know"
        elif kind == "t" and width == 4 and base not in ("bl", "blx"):
            why = "32-bit Thumb-2 encoding"
        elif kind == "t" and re.fullmatch(r"it[te]{0,3}", base):
            why = "Thumb-2 IT block"
        elif base in V7_MNEMONICS or re.sub(r"(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)$", "", base) in V7_MNEMONICS:
            why = "ARMv6T2/ARMv7 instruction"
        elif base.startswith("v"):
            why = vfp_violation(mnemonic, operands)
        if why:
            key = (why, base)
            if key not in found:
                found[key] = [0, f"{addr:#x} in {func}: {mnemonic} {operands}".rstrip()]
            found[key][0] += 1
    return [f"{path}: {n}× {base} ({why}), first at {first}"
            for (why, base), (n, first) in sorted(found.items())], count


# ---- 3. floating point across Thumb-1 calls ----------------------------------------------

# libm's functions (each also with an f and an l suffix) and libc's that take or return
# floating point; variadic ones (printf, scanf) pass everything in core registers anyway.
LIBM = ("ceil floor trunc round rint nearbyint lrint llrint lround llround fmod remainder remquo "
        "sqrt cbrt hypot pow exp exp2 expm1 log log2 log10 log1p logb ilogb sin cos tan asin acos "
        "atan atan2 sinh cosh tanh asinh acosh atanh erf erfc tgamma lgamma fabs fmin fmax fdim fma "
        "nan nextafter nexttoward copysign scalbn scalbln ldexp frexp modf finite isinf isnan").split()
FLOAT_FUNCTION = re.compile(
    r"^(?:__)?(?:" + "|".join(LIBM) + r")[fl]?$"
    r"|^(?:__)?strto(?:d|f|ld)(?:_l|_internal)?$|^atof$|^difftime$|^q?[efg]cvt(?:_r)?$"
    r"|^strfrom[dfl]$|^[de]rand48(?:_r)?$"
    r"|^__(?!aeabi_)[a-z]+(?:sf|df|tf|xf|hf|sc|dc)[a-z0-9]*$")  # compiler-rt: __adddf3, __floatsidf


def float_references(path):
    """([(member, name)] of floating-point functions that Thumb code in path (an object or
    archive) references, {names of functions path defines in Thumb code}). A member counts
    as Thumb when it has a $t mapping symbol; a Thumb function's address is odd."""
    refs, defined, member, thumb, wanted = [], set(), path, False, set()
    for line in run([tool("readelf"), "-s", "-W", path]).splitlines() + ["File: end"]:
        m = re.match(r"^File: (.+)$", line)
        if m:
            refs += [(member, name) for name in sorted(wanted)] if thumb else []
            member, thumb, wanted = m.group(1), False, set()
            continue
        f = line.split()
        if len(f) < 8:
            continue
        name = f[7].split("@")[0]
        if re.fullmatch(r"\$t(\..*)?", f[7]):
            thumb = True
        elif f[6] == "UND" and FLOAT_FUNCTION.match(name):
            wanted.add(name)
        elif f[3] == "FUNC" and f[6] != "UND" and int(f[1], 16) & 1:
            defined.add(name)
    return refs, defined


def float_calls(paths):
    """Violations of rule 3 over all inputs: a floating-point function that Thumb code calls
    is fine only when the inputs define it in Thumb code too (Sources/CShims/ceil.c)."""
    refs, defined = [], set()
    for path in paths:
        r, d = float_references(path)
        refs += r
        defined |= d
    return [f"{member}: Thumb-1 code calls {name}, which takes or returns floating point in VFP"
            " registers (Thumb-1 passes it in core registers)" for member, name in refs if name not in defined]


def main(argv=None):
    p = argparse.ArgumentParser(description="Fail when armhf code needs more than ARMv6 + VFPv2 (arm1176jzf-s).",
                                epilog="See the module docstring for the rules.")
    p.add_argument("objects", nargs="*", help="objects and archives that must carry the hard-float ABI tag")
    p.add_argument("--toolchain", action="append", default=[], help="archives exempt from the VFP-args tag only")
    p.add_argument("--scan", action="append", default=[], help="ELF files whose disassembly is scanned (unstripped)")
    p.add_argument("--objdump", help="llvm-objdump (default: on PATH)")
    a = p.parse_args(argv)
    objdump = tool("llvm-objdump", a.objdump)

    violations, notes = [], []
    for path, need_tag in [(o, True) for o in a.objects] + [(t, False) for t in a.toolchain] \
            + [(s, False) for s in a.scan if s not in a.objects]:
        v, n = check_attributes(path, need_tag)
        violations += v
        notes.append(f"{path}: attributes of {n} object(s) checked")
    violations += float_calls(a.objects + a.toolchain + a.scan)
    for path in a.scan:
        v, n = scan(path, objdump)
        violations += v
        notes.append(f"{path}: {n} instructions scanned")
    for n in notes:
        print(f"armv6-check: {n}")
    for v in violations:
        print(f"armv6-check: VIOLATION: {v}", file=sys.stderr)
    if violations:
        print(f"armv6-check: FAILED, {len(violations)} violation(s): not ARMv6 + VFPv2 code", file=sys.stderr)
        return 1
    print("armv6-check: OK: ARMv6 + VFPv2 hard-float (arm1176jzf-s) throughout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
