#!/usr/bin/env python3
"""Bad heartbeat datagrams at a steady rate, for the soak test (tests/soak/soak.py).

    garbage.py --port PORT [--rate 1000] [--seed 6]

Runs until SIGTERM or SIGINT, then prints one JSON line: {"sent": N, "errors": E, "kinds": {...}}.
Each datagram is one of (round robin over a seeded random choice):
  random      0..3000 random bytes (some over the agent's 2 KiB limit)
  truncated   a valid heartbeat cut short
  types       fields of the wrong type, a negative or huge pid, a version part over 65535
  unknown     a valid heartbeat with an extra key
  names       an invalid process name (too long, a slash, a space, empty)
  spoof       a well-formed heartbeat naming a pid that does not own the socket (pid 1,
              or one of --spoof-pids), with a new name or a known one, and a run_command
              that must never run (/bin/false): unverified, so ignored
  deep        deeply nested JSON and long strings of escapes
"""

import argparse
import json
import os
import random
import signal
import socket
import sys
import time

KINDS = ("random", "truncated", "types", "unknown", "names", "spoof", "deep")


def good(name="soak-00", pid=1, command="/bin/false", version=(1, 0, 0)):
    return {"process_name": name, "pid": pid, "run_command": command,
            "version": {"major": version[0], "minor": version[1], "patch": version[2]}}


def make(kind, rng, spoof_pids, known):
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 3000)))
    if kind == "truncated":
        text = json.dumps(good(rng.choice(known))).encode()
        return text[:rng.randrange(0, len(text))]
    if kind == "types":
        doc = good()
        field, value = rng.choice([("pid", "12"), ("pid", -5), ("pid", 1 << 40), ("pid", 0),
                                   ("process_name", 7), ("run_command", ["sh"]), ("version", "1.0.0"),
                                   ("version", {"major": 70000, "minor": 0, "patch": 0}),
                                   ("version", {"major": 1, "minor": 0}), ("pid", 3.5), ("pid", None)])
        doc[field] = value
        return json.dumps(doc).encode()
    if kind == "unknown":
        doc = good()
        doc["extra_%d" % rng.randrange(1000)] = True
        return json.dumps(doc).encode()
    if kind == "names":
        name = rng.choice(["x" * 65, "a/b", "a b", "", "../etc", "n\u00e9", "tab\there"])
        return json.dumps(good(name)).encode()
    if kind == "spoof":
        name = rng.choice(known) if rng.random() < 0.5 else "ghost-%d" % rng.randrange(100000)
        pid = rng.choice(spoof_pids) if spoof_pids and rng.random() < 0.5 else 1
        return json.dumps(good(name, pid=pid, version=(9, 9, 9))).encode()
    if kind == "deep":
        if rng.random() < 0.5:
            depth = rng.randrange(10, 500)
            return b"[" * depth + b"]" * depth
        return json.dumps(good(command="\\" * rng.randrange(100, 900))).encode()
    raise ValueError(kind)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--spoof-pids", default="", help="comma-separated pids to name in spoofed heartbeats")
    parser.add_argument("--known", default="soak-00", help="comma-separated known process names")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    spoof_pids = [int(p) for p in args.spoof_pids.split(",") if p]
    known = [n for n in args.known.split(",") if n]
    # A pool of datagrams made up front: making them must not limit the rate.
    pool = [(k, make(k, rng, spoof_pids, known)) for k in KINDS for _ in range(300)]
    rng.shuffle(pool)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", args.port))
    sent = errors = 0
    kinds = dict.fromkeys(KINDS, 0)
    batch = 10  # datagrams per wake-up
    period = batch / args.rate
    next_t = time.monotonic()
    i = 0
    while not stop:
        for _ in range(batch):
            kind, data = pool[i % len(pool)]
            i += 1
            try:
                sock.send(data)
                sent += 1
                kinds[kind] += 1
            except OSError:
                errors += 1  # e.g. ECONNREFUSED while nothing listens
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            next_t = time.monotonic()  # fell far behind: don't burst
    print(json.dumps({"sent": sent, "errors": errors, "kinds": kinds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
