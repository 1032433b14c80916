#!/usr/bin/env python3
"""The package's Swift module graph, for cross/build.sh: reads `swift package describe
--type json` on stdin and prints one line per Swift library or executable target,
dependencies first:

    KIND NAME MODULE PATH SWIFT_DEPS C_DEPS

KIND is library or executable; MODULE the Swift module name (SwiftPM's: `-` becomes `_`);
PATH the target's folder, relative to the package; SWIFT_DEPS the Swift library targets
and C_DEPS the C targets (folders with .c files) and system libraries (module maps) it
reaches, directly or not (what an executable links), each comma-separated, dependencies
first, or `-` when there are none. Only what the executables are made of: test targets
and the tests' support library are left out, the device build has none."""
import json
import sys


def main():
    package = json.load(sys.stdin)
    targets = {t["name"]: t for t in package["targets"] if t["type"] != "test"}

    def closure(name, seen):
        for dep in targets[name].get("target_dependencies", []):
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    order, done = [], set()

    def visit(name):
        if name in done:
            return
        done.add(name)
        for dep in targets[name].get("target_dependencies", []):
            visit(dep)
        order.append(name)

    for name in sorted(targets):
        if targets[name]["type"] == "executable":
            visit(name)
    for name in order:
        t = targets[name]
        if t.get("module_type") != "SwiftTarget":
            continue
        reached = closure(name, set())
        swift = [d for d in order if d in reached and targets[d].get("module_type") == "SwiftTarget"]
        c = [d for d in order if d in reached and targets[d].get("module_type") != "SwiftTarget"]
        print(t["type"], name, name.replace("-", "_"), t["path"], ",".join(swift) or "-", ",".join(c) or "-")


if __name__ == "__main__":
    main()
