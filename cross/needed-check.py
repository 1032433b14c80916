#!/usr/bin/env python3
"""Checks that each of tinyagent's three programs needs only its own shared libraries
(DT_NEEDED, from `readelf -d`): the agent never maps libstrophe, libzip or mbedTLS's TLS,
the link only libstrophe, the fetch helper only libzip and mbedTLS (ARCHITECTURE.md).
The agent's libgcrypt (the update signature's SHA-256) is one libsystemd needs anyway.
The C library's own parts (libc, the loader...) are everyone's; libm is no program's: the one
function of it the Embedded stdlib calls, ceil, is the programs' own (Sources/CShims/ceil.c),
and loading libm cost the idle agent 64 KiB more than the reference (BENCHMARKS.md §3).

    cross/needed-check.py PROGRAM...     (the file names say which program each is)

One line per program; exit status 1 when any needs a library it should not."""
import os
import re
import subprocess
import sys

# What each program may need beyond the C library's parts. mbedTLS is linked statically
# on the device (cross/build-mbedtls.sh) and shared on the host. libgcrypt hashes update
# archives with the CPU's SHA instructions (Sources/CCrypto/sig.c); libsystemd needs it on
# every floor, so it maps no new library.
OWN = {
    "tinyagent": {"libsystemd", "libgcrypt", "libmbedcrypto"},
    "tinyagent-link": {"libstrophe"},
    "tinyagent-fetch": {"libzip", "libmbedtls", "libmbedx509", "libmbedcrypto"},
}
LIBC = {"libc", "libpthread", "libdl", "librt", "libgcc_s", "ld-linux", "ld-linux-armhf", "ld-linux-aarch64",
        "ld-linux-x86-64"}


def needed(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, check=True).stdout.decode()
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def main(paths):
    bad = 0
    for path in paths:
        program = os.path.basename(path)
        if program not in OWN:
            print("needed-check: %s: not one of %s" % (path, ", ".join(sorted(OWN))))
            return 2
        libs = needed(path)
        stray = [lib for lib in libs if lib.split(".so")[0] not in OWN[program] | LIBC]
        if stray:
            bad += 1
            print("FAIL %s needs %s, which belong to another program" % (program, ", ".join(stray)))
        else:
            print("ok   %s needs only its own: %s" % (program, ", ".join(libs)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
