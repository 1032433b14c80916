#!/usr/bin/env python3
"""bench/sizes.py: where a program's bytes go, by Swift module and C library.

    cross/build.sh armhf && python3 bench/sizes.py build/armhf/tinyagent.unstripped [...]

Sums the sizes `llvm-nm -S` gives the symbols of each unstripped program (cross/build.sh
keeps PROGRAM.unstripped beside the stripped one) into:
  - each of our Swift modules, by the module its mangled name starts with ($e9TinyAgent…);
  - "Swift stdlib": the Embedded standard library's code, specialised into the program ($es…);
  - "Unicode tables": the stdlib's normalisation and grapheme data, which any String
    comparison, hashing or Character walk links (libswiftUnicodeDataTables.a);
  - "mbedTLS", "C shims" (ta_*, Sources/C*/), and "C: other" (compiler-rt, glibc glue).
The stripped program is larger than the sum by its headers, dynamic tables and alignment.
"""

import collections
import os
import re
import subprocess
import sys

NM = os.environ.get("LLVM_NM", "/opt/swift/usr/bin/llvm-nm")
SWIFT_MODULE = re.compile(r"^\$e(\d+)")


def group(name):
    if "swift_stdlib" in name and not name.startswith("$e"):
        return "Unicode tables"
    if name.startswith("$es") or name.startswith("$eS"):
        return "Swift stdlib"
    m = SWIFT_MODULE.match(name)
    if m:
        start = m.end()
        return name[start:start + int(m.group(1))]
    if name.startswith("mbedtls_"):
        return "mbedTLS"
    if name.startswith("ta_"):
        return "C shims"
    return "C: other"


def sizes(program):
    out = subprocess.run([NM, "-S", "--radix=d", program], capture_output=True, text=True, check=True).stdout
    totals = collections.Counter()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4:
            totals[group(fields[3])] += int(fields[1])
    return totals


def main(programs):
    if not programs or programs[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if programs else 2
    for program in programs:
        totals = sizes(program)
        print("%s (%d bytes of symbols):" % (os.path.basename(program), sum(totals.values())))
        for name, size in totals.most_common():
            print("  %8d  %s" % (size, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
