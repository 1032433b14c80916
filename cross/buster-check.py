#!/usr/bin/env python3
"""Proves that a Raspberry Pi binary can run on its architecture's floor release:
armhf on Raspbian Buster, arm64 on Raspberry Pi OS Bullseye (64-bit).

    cross/buster-check.py [--arch armhf|arm64] [--floor-control DIR] [--control DIR]
                          [--allow FILE] [--floor PKG=VERSION]... BINARY

For armhf the floor is Buster's (below: BUSTER_PACKAGES, glibc 2.28), which cannot be
fetched here. For arm64 it is read from Bullseye's own packages (--floor-control: the
control areas of libc6, libgcc-s1, libstrophe0, libzip4, libsystemd0 and libgcrypt20 from Bullseye,
kept by cross/sysroot.sh arm64): their Version fields are the floor, libc6's gives the
highest GLIBC_x.y allowed and libgcc-s1's the highest GCC_x.y.z. The rules below are the
same for both; "Buster" stands for the architecture's floor.

Checks, using only the binary (read with binutils' readelf) and the DEBIAN/symbols files of
the Debian packages it was linked against (kept by cross/sysroot-armhf.sh in
build/armhf/control/PKG/symbols):

  1. interpreter   PT_INTERP is /lib/ld-linux-armhf.so.3 (hard-float loader).
  2. DT_NEEDED     every needed library is one Buster has (BUSTER_SONAMES below).
  3. glibc         no symbol version above GLIBC_2.28 is needed (.gnu.version_r and every
                   imported symbol); libgcc_s: nothing above GCC_8.3.0; no GLIBC_PRIVATE.
  4. libraries     every symbol imported from libstrophe, libzip, libsystemd and libgcrypt
                   existed in Buster's package (libstrophe0 0.9.2, libzip4 1.5.1,
                   libsystemd0 241, libgcrypt20 1.8.4):
                   the minimum version that the package's symbols file gives for the
                   symbol must not be newer than Buster's (Debian version ordering).
                   A strong import that no needed library's symbols file knows fails too.

A violation prints one line naming the symbol and the version it needs, and the exit code
is 1 (2 for a usage or tool error).

Run-time lookups (the allow-list, --allow FILE)
  A newer library function may be used only when present: looked up with dlsym(), or
  declared weak (`__attribute__((weak))`) and tested for NULL before each call. A dlsym()
  lookup is not an import, so the check never sees it; a weak import is. List every such
  symbol in the allow-list file, one per line, with the reason:

      xmpp_conn_set_cafile   pinned CA file when libstrophe >= 0.11; else system store

  ('#' starts a comment). An allow-listed symbol imported *weak* is reported as allowed; an
  allow-listed symbol imported strong is still a violation (the loader binds it at start-up
  and Buster's library lacks it). Entries not imported at all are listed as run-time
  lookups, which keeps the file an honest record of what the agent probes for.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

# Libraries a Raspbian Buster armhf system has (libc6 2.28, libgcc1, and the agent's
# Depends: libstrophe0, libzip4, libsystemd0, and libgcrypt20, which libsystemd0 needs too).
BUSTER_SONAMES = {
    "ld-linux-armhf.so.3", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
    "librt.so.1", "libresolv.so.2", "libcrypt.so.1", "libutil.so.1", "libgcc_s.so.1",
    "libstrophe.so.0", "libzip.so.4", "libsystemd.so.0", "libgcrypt.so.20",
}
# Buster's package versions (Debian 10 final point release / Raspbian Buster).
BUSTER_PACKAGES = {
    "libstrophe0": "0.9.2-2",
    "libzip4": "1.5.1-4",
    "libsystemd0": "241-7~deb10u8",
    "libgcrypt20": "1.8.4-5+deb10u1",
}
# Bookworm's libgcrypt20 symbols file gives every symbol 1.10.0 as its minimum: a blanket raise
# at the 1.10 upload, not the versions they appeared in. The real minimums of the ones the agent
# uses (SHA-256 of an update archive, ECDSA P-256 check of its signature), from Bullseye's libgcrypt20 1.8.7 symbols file (which
# cross/sysroot.sh arm64 keeps in build/arm64/floor-control/libgcrypt20/symbols): all within
# Buster's 1.8.4. Any other libgcrypt symbol is still judged by the symbols file.
SYMBOL_MINIMUMS = {
    "libgcrypt20": {
        "gcry_check_version@GCRYPT_1.6": "1.7.0", "gcry_md_close@GCRYPT_1.6": "1.7.0",
        "gcry_md_write@GCRYPT_1.6": "1.7.0", "gcry_control@GCRYPT_1.6": "1.8.0",
        "gcry_md_open@GCRYPT_1.6": "1.8.0", "gcry_md_read@GCRYPT_1.6": "1.8.0",
        "gcry_sexp_build@GCRYPT_1.6": "1.7.0", "gcry_sexp_release@GCRYPT_1.6": "1.7.0",
        "gcry_pk_verify@GCRYPT_1.6": "1.7.0", "gcry_mpi_ec_new@GCRYPT_1.6": "1.7.0",
        "gcry_mpi_ec_get_point@GCRYPT_1.6": "1.7.0", "gcry_mpi_ec_curve_point@GCRYPT_1.6": "1.7.0",
        "gcry_mpi_point_release@GCRYPT_1.6": "1.7.0", "gcry_ctx_release@GCRYPT_1.6": "1.7.0",
    },
}
GLIBC_FLOOR = "2.28"
GCC_FLOOR = "8.3.0"
INTERPRETER = "/lib/ld-linux-armhf.so.3"


class Release:
    """An architecture's floor: the loader, the libraries it has, its packages' versions."""

    def __init__(self, name, arch, interpreter, packages, glibc, gcc, short=None):
        self.name, self.arch, self.interpreter = name, arch, interpreter
        self.short = short or name  # in "libzip4 >= 1.6.0 (Buster has 1.5.1-4)"
        self.packages, self.glibc, self.gcc = dict(packages), glibc, gcc
        self.sonames = (BUSTER_SONAMES - {"ld-linux-armhf.so.3"}) | {os.path.basename(interpreter)}


def control_version(control_dir, package):
    """The Version field of an unpacked control area, CONTROL_DIR/PACKAGE/control."""
    path = os.path.join(control_dir, package, "control")
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    except OSError as e:
        raise SystemExit(f"buster-check: {path}: {e.strerror} (run cross/sysroot.sh)")
    raise SystemExit(f"buster-check: {path} has no Version field")


def upstream_version(version):
    """'2.31-13+deb11u11' -> '2.31', '10.2.1-6' -> '10.2.1'."""
    return re.match(r"(?:\d+:)?([0-9.]+)", version).group(1).rstrip(".")


def release_for(arch, floor_control=None):
    if arch == "armhf" and floor_control is None:
        return Release("Raspbian Buster", "armhf", INTERPRETER, BUSTER_PACKAGES, GLIBC_FLOOR, GCC_FLOOR, "Buster")
    if floor_control is None:
        raise SystemExit(f"buster-check: --arch {arch} needs --floor-control (its floor release's control areas)")
    packages = {pkg: control_version(floor_control, pkg) for pkg in BUSTER_PACKAGES}
    glibc = upstream_version(control_version(floor_control, "libc6"))
    gcc = upstream_version(control_version(floor_control, "libgcc-s1"))
    if arch == "arm64":
        return Release("Raspberry Pi OS Bullseye (arm64)", "arm64", "/lib/ld-linux-aarch64.so.1", packages, glibc, gcc,
                       "Bullseye")
    return Release("the armhf floor in " + floor_control, "armhf", INTERPRETER, packages, glibc, gcc)


# ---- Debian version ordering (deb-version(7)), as dpkg --compare-versions does ----------

def _order(c):
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a, b):
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split(v):
    epoch, _, rest = v.partition(":") if ":" in v else ("0", "", v)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or "0"), upstream, revision


def compare_versions(a, b):
    """<0, 0 or >0 as Debian version a is older than, equal to or newer than b."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def numeric_version(v):
    return tuple(int(x) for x in re.findall(r"\d+", v))


# ---- reading the binary ---------------------------------------------------------------

def readelf(args, path):
    tool = shutil.which("readelf")
    if not tool:
        raise SystemExit("buster-check: readelf not found (apt-get install binutils)")
    res = subprocess.run([tool, "-W", *args, path], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"buster-check: readelf {' '.join(args)} {path} failed: {res.stderr.strip()}")
    return res.stdout


SYM_LINE = re.compile(
    r"^\s*\d+:\s+[0-9a-fA-F]+\s+\S+\s+(?P<type>\S+)\s+(?P<bind>\S+)\s+\S+\s+(?P<ndx>\S+)\s+"
    r"(?P<name>[^@\s]+)(?:@{1,2}(?P<version>[^\s(]+))?(?:\s+\(\d+\))?\s*$")


class Import:
    def __init__(self, name, version, weak):
        self.name, self.version, self.weak = name, version, weak

    def __str__(self):
        return f"{self.name}@{self.version}" if self.version else self.name


def imported_symbols(path):
    out = []
    for line in readelf(["--dyn-syms"], path).splitlines():
        m = SYM_LINE.match(line)
        if not m or m.group("ndx") != "UND" or not m.group("name"):
            continue
        if m.group("bind") == "LOCAL":
            continue
        out.append(Import(m.group("name"), m.group("version"), m.group("bind") == "WEAK"))
    return out


def needed_libraries(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(["-d"], path))


def needed_versions(path):
    """(file, version name) pairs of .gnu.version_r."""
    out, current = [], None
    for line in readelf(["-V"], path).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)", line)
        if m and current:
            out.append((current, m.group(1)))
    return out


def interpreter(path):
    m = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", readelf(["-l"], path))
    return m.group(1) if m else None


# ---- symbols files --------------------------------------------------------------------

class SymbolsFile:
    """One library's part of a DEBIAN/symbols file: symbol@version -> minimum version."""

    def __init__(self, soname, package):
        self.soname, self.package, self.symbols = soname, package, {}


def parse_symbols(path, arch="armhf"):
    libs, current = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("|") or line.startswith("*"):
                continue
            if not line[0].isspace():
                parts = line.split()
                current = SymbolsFile(parts[0], parts[1] if len(parts) > 1 else "")
                libs.append(current)
                continue
            if current is None:
                continue
            body = line.strip()
            tags = ""
            if body.startswith("("):
                end = body.find(")")
                tags, body = body[1:end], body[end + 1:]
            fields = body.split()
            if len(fields) < 2:
                continue
            if "regex" in tags or "c++" in tags:
                continue
            m = re.search(r"arch=([^;|)]+)", tags)
            if m:
                arches = m.group(1).split()
                negated = all(a.startswith("!") for a in arches)
                hit = any(a.lstrip("!") in (arch, "any") for a in arches)
                if (negated and hit) or (not negated and not hit):
                    continue
            current.symbols[fields[0]] = fields[1]
    return libs


def load_symbols(control_dir, packages, arch="armhf"):
    """soname -> SymbolsFile for the given packages' control areas."""
    by_soname = {}
    for pkg in packages:
        path = os.path.join(control_dir, pkg, "symbols")
        if not os.path.isfile(path):
            raise SystemExit(f"buster-check: {path} missing (run cross/sysroot.sh)")
        for lib in parse_symbols(path, arch):
            by_soname[lib.soname] = lib
    return by_soname


def load_allow_list(path):
    allowed = {}
    if not path:
        return allowed
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, reason = line.partition(" ")
            if not reason.strip():
                raise SystemExit(f"buster-check: {path}:{n}: '{name}' needs a reason after the name")
            allowed[name.split("@")[0]] = reason.strip()
    return allowed


# ---- the check ------------------------------------------------------------------------

def check(binary, control_dir, allow, release):
    """Returns (violations, notes): lists of one-line strings."""
    violations, notes = [], []
    floors, glibc_floor, gcc_floor = release.packages, release.glibc, release.gcc

    interp = interpreter(binary)
    if interp is None:
        violations.append("no program interpreter: not a dynamically linked executable")
    elif interp != release.interpreter:
        violations.append(f"program interpreter {interp}: {release.name} has {release.interpreter}")

    needed = needed_libraries(binary)
    for lib in needed:
        if lib not in release.sonames:
            violations.append(f"DT_NEEDED {lib}: not available on {release.name}")

    def too_new_tag(version):
        """The reason a symbol version tag is too new for Buster, or None."""
        if not version:
            return None
        if version == "GLIBC_PRIVATE":
            return "GLIBC_PRIVATE (glibc internals, differ between releases)"
        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", version)
        if m and numeric_version(m.group(1)) > numeric_version(glibc_floor):
            return f"{version} (glibc {m.group(1)} > {glibc_floor})"
        m = re.fullmatch(r"GCC_(\d+(?:\.\d+)*)", version)
        if m and numeric_version(m.group(1)) > numeric_version(gcc_floor):
            return f"{version} (libgcc {m.group(1)} > {gcc_floor})"
        return None

    for file, version in needed_versions(binary):
        reason = too_new_tag(version)
        if reason:
            violations.append(f"{file} version {version}: needs {reason}")

    libs = load_symbols(control_dir, floors.keys(), release.arch)
    judged = [libs[s] for s in needed if s in libs]

    for imp in imported_symbols(binary):
        reason = too_new_tag(imp.version)
        where = None
        if reason is None and not (imp.version or "").startswith(("GLIBC_", "GCC_")):
            key = f"{imp.name}@{imp.version or 'Base'}"
            for lib in judged:
                if key in lib.symbols:
                    where = lib
                    break
            if where is not None:
                minimum = SYMBOL_MINIMUMS.get(where.package, {}).get(key, where.symbols[key])
                floor = floors[where.package]
                if compare_versions(minimum, floor) > 0:
                    reason = f"{where.package} >= {minimum} ({release.short} has {floor})"
            elif not imp.weak and imp.version is None and needed:
                reason = ("a library none of " + ", ".join(needed)
                          + " is known to export (no symbols file lists it)")
        if reason is None:
            continue
        if imp.name in allow and imp.weak:
            notes.append(f"allowed: {imp} needs {reason}; weak import, checked at run time: {allow[imp.name]}")
        elif imp.name in allow:
            violations.append(f"{imp}: needs {reason}; it is allow-listed but imported strong "
                              "(declare it weak or look it up with dlsym)")
        elif imp.weak:
            violations.append(f"{imp}: needs {reason} (weak import: allow-list it if the code checks it)")
        else:
            violations.append(f"{imp}: needs {reason}")

    imported = {i.name for i in imported_symbols(binary)}
    for name, why in sorted(allow.items()):
        if name not in imported:
            notes.append(f"run-time lookup (not imported): {name}: {why}")
    return violations, notes


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_control = os.path.join(here, "..", "build", "armhf", "control")
    p = argparse.ArgumentParser(
        description="Fail when a Pi binary imports anything its floor release (armhf: Raspbian Buster, arm64: Bullseye) lacks.",
        epilog="See the module docstring (head of this file) for the rules and the allow-list.")
    p.add_argument("binary")
    p.add_argument("--control", default=default_control,
                   help="folder of unpacked .deb control areas, one per package (default: build/armhf/control)")
    p.add_argument("--arch", default="armhf", choices=("armhf", "arm64"), help="the binary's architecture (default armhf)")
    p.add_argument("--floor-control", metavar="DIR",
                   help="control areas of the floor release's packages (required for arm64: Bullseye's)")
    p.add_argument("--allow", help="allow-list of symbols used only when present (run-time lookups)")
    p.add_argument("--floor", action="append", default=[], metavar="PKG=VERSION",
                   help="override or add a package's Buster version, e.g. libzip4=1.5.1-4")
    p.add_argument("--glibc", help=f"highest glibc version allowed (default: the floor's; armhf {GLIBC_FLOOR})")
    p.add_argument("-q", "--quiet", action="store_true", help="print violations only")
    a = p.parse_args(argv)

    release = release_for(a.arch, a.floor_control)
    for f in a.floor:
        pkg, sep, ver = f.partition("=")
        if not sep:
            p.error(f"--floor {f}: expected PKG=VERSION")
        release.packages[pkg] = ver
    if a.glibc:
        release.glibc = a.glibc
    if not os.path.isfile(a.binary):
        p.error(f"{a.binary}: no such file")

    violations, notes = check(a.binary, a.control, load_allow_list(a.allow), release)
    name = os.path.basename(a.binary)
    if not a.quiet:
        for n in notes:
            print(f"buster-check: {name}: {n}")
    for v in violations:
        print(f"buster-check: {name}: VIOLATION: {v}", file=sys.stderr)
    if violations:
        print(f"buster-check: {name}: FAILED, {len(violations)} violation(s): it would not run on {release.name}",
              file=sys.stderr)
        return 1
    if not a.quiet:
        print(f"buster-check: {name}: OK for {release.name} (glibc <= {release.glibc}, libgcc <= {release.gcc}, "
              + ", ".join(f"{k} {v}" for k, v in sorted(release.packages.items()))
              + f"; needs {', '.join(needed_libraries(a.binary))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
