#!/usr/bin/env python3
"""bench/order.py: writes Sources/tinyagent/run.order, the functions `tinyagent run` executes.

    make embedded && python3 bench/order.py      # (make order) then commit run.order
    python3 bench/order.py --check PROGRAM         # the link used it, and it is not stale
    python3 bench/order.py --check-layout PROGRAM  # the link used it (the Pi's, cross/build.sh)
    python3 bench/order.py --relink SCRATCH         # before `swift build --scratch-path SCRATCH`

The Embedded links of the agent (Package.swift, cross/build.sh) pass the file to the linker
as --symbol-ordering-file: those functions come first in .text, one contiguous run, so the
idle agent maps those pages of its program and not the ~70 % of the code that only the CLI
verbs, updates and panel commands run (the kernel's fault-around maps 64 KiB around every
page fault: code spread over the whole program makes all of it resident). BENCHMARKS.md §3
measures the result.

How: the Embedded host build's agent runs under valgrind's callgrind (debug info stripped
from a copy: valgrind cannot read Swift's; its helper programs beside it, as installed) as
the idle bench runs it: a fresh root, two processes heartbeating every second
(bench/hb_sender.c), `status` and `status --json`, 25 s in all, then SIGTERM. Every function of the program that ran is listed, sorted by
name so that a regenerated file diffs well. Names the code no longer has are ignored by
the linker; a function missing from the file is only placed elsewhere: regenerate it when
the run path changes (the per-mapping table in BENCHMARKS.md §3 shows a stale file).
Functions without a symbol cannot be listed: Sources/tinyagent/run-order.ld places them.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(REPO, ".build-embedded", "release", "tinyagent")
ORDER = os.path.join(REPO, "Sources", "tinyagent", "run.order")
SCENARIO_SECONDS = 25


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path, seconds):
    end = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit("order: %s did not appear within %d s" % (path, seconds))
        time.sleep(0.1)


def executed_functions(callgrind_out, program):
    """Names of the functions of `program` that callgrind saw run (its fn= records)."""
    objects, functions, current, seen = {}, {}, None, set()
    for line in open(callgrind_out, encoding="utf-8", errors="replace"):
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = m.group(2)
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                functions[m.group(2)] = m.group(3)
            if m.group(1) == "fn" and objects.get(current) == program:
                seen.add(re.sub(r"'\d+$", "", functions[m.group(2)]))  # callgrind's recursion marks
    return seen


def functions(program):
    """The program's functions: name → (address, size; 0 when the symbol has none)."""
    nm = os.environ.get("NM", "nm")  # cross/build.sh: the Swift toolchain's llvm-nm, for ARM
    out = subprocess.run([nm, "--defined-only", "-S", program], check=True, capture_output=True, text=True).stdout
    found = {}
    for p in (line.split() for line in out.splitlines()):
        if len(p) == 4 and p[2] in "tTwW":
            found[p[3]] = (int(p[0], 16), int(p[1], 16))
        elif len(p) == 3 and p[1] in "tTwW":
            found[p[2]] = (int(p[0], 16), 0)
    return found


def listed():
    with open(ORDER) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def check(program, stale_too):
    """The file took effect in `program` (its functions fill the start of .text) and, with
    `stale_too`, is not stale (most of its names are still functions of the code; not asked
    of the Pi's build, whose link-time optimisation inlines a third of them)."""
    sizes = functions(program)
    names = listed()
    present = [sizes[n] for n in names if n in sizes]
    if stale_too and len(present) < 0.75 * len(names):
        sys.exit("order: run.order is stale: %d of its %d functions are in %s; regenerate it: make order"
                 % (len(present), len(names), program))
    sections = subprocess.run(["readelf", "-SW", program], check=True, capture_output=True, text=True).stdout
    text = int(re.search(r"\s\.text\s+PROGBITS\s+([0-9a-f]+)", sections).group(1), 16)
    span = max(a + n for a, n in present) - text
    share = sum(n for _, n in present) / span
    if share < 0.8:
        sys.exit("order: the link did not use run.order: its functions are %.0f %% of the first %d bytes of "
                 ".text in %s" % (100 * share, span, program))
    print("order: %s: %d of %d listed functions, %.0f %% of the first %d bytes of .text"
          % (os.path.basename(program), len(present), len(names), 100 * share, span))


def relink(scratch):
    """SwiftPM links again when objects or flags change, not when the files the flags name do:
    removes the linked agent in `scratch` when run.order or run-order.ld is newer."""
    linked = os.path.join(scratch, "release", "tinyagent")
    if not os.path.exists(linked):
        return
    built = os.path.getmtime(linked)
    if any(os.path.getmtime(f) > built for f in (ORDER, os.path.join(os.path.dirname(ORDER), "run-order.ld"))):
        os.remove(os.path.realpath(linked))
        print("order: the agent's layout changed: %s is linked again" % os.path.relpath(linked, REPO))


def main():
    if len(sys.argv) == 3 and sys.argv[1] in ("--check", "--check-layout"):
        return check(sys.argv[2], stale_too=sys.argv[1] == "--check")
    if len(sys.argv) == 3 and sys.argv[1] == "--relink":
        return relink(sys.argv[2])
    if not os.access(AGENT, os.X_OK):
        sys.exit("order: %s missing: run `make embedded` first" % AGENT)
    if not shutil.which("valgrind"):
        sys.exit("order: valgrind missing (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="tinyagent-order.") as work:
        program = os.path.join(work, "tinyagent")
        subprocess.run(["objcopy", "--strip-debug", AGENT, program], check=True)
        for helper in ("tinyagent-link", "tinyagent-fetch"):  # opened at start, beside the agent
            shutil.copy(os.path.join(os.path.dirname(AGENT), helper), work)
        sender = os.path.join(work, "hb_sender")
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", sender, os.path.join(REPO, "bench", "hb_sender.c")],
                       check=True)
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "cfg"))
        os.makedirs(os.path.join(root, "SmartMeter"))
        with open(os.path.join(root, "cfg", "agent.json"), "w") as f:
            f.write('{"heartbeat_timeout_ms": 30000}\n')
        port, out = free_port(), os.path.join(work, "callgrind.out")
        log = open(os.path.join(work, "agent.log"), "w")
        agent = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                  program, "run", "--root", root, "--heartbeat-port", str(port)],
                                 stdout=log, stderr=subprocess.STDOUT)
        senders = []
        try:
            wait_for(os.path.join(root, "wdog", "agent.sock"), 60)
            start = time.monotonic()
            senders = [subprocess.Popen([sender, "-p", str(port), "-n", name, "-r", "1"], stdout=subprocess.DEVNULL)
                       for name in ("meter_a", "meter_b")]
            time.sleep(5)
            for extra in ([], ["--json"]):
                subprocess.run([program, "status", "--root", root] + extra, check=True, stdout=subprocess.DEVNULL)
            time.sleep(max(0, SCENARIO_SECONDS - (time.monotonic() - start)))
        finally:
            for p in senders:
                p.terminate()
                p.wait()
            agent.terminate()
            agent.wait(60)
        names = sorted(executed_functions(out, program) & functions(program).keys())
    with open(ORDER, "w") as f:
        f.write("# The functions `tinyagent run` executes, first in .text: written by bench/order.py (make order).\n")
        f.writelines(name + "\n" for name in names)
    print("order: %d functions written to %s" % (len(names), os.path.relpath(ORDER, REPO)))


if __name__ == "__main__":
    main()
