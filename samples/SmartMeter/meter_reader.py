#!/usr/bin/env python3
"""Sample SmartMeter process: "reads the meter" and heartbeats to tinyagent.

It also misbehaves on request, to exercise the agent's watchdog:
  --hang-after S   stop heartbeating after S seconds but stay alive (a hang)
  --crash-after S  exit with status 3 after S seconds (a crash)
  --ignore-sigterm only SIGKILL stops it

Prints one line per event (started, hanging, crashing) to stdout.

Finding the helper (tinyagent_heartbeat.py), first match wins:
  1. $TINYAGENT_PY_HELPER_DIR, if set;
  2. ../bin next to this file: the installed layout,
     /home/pi/technospurs/SmartMeter/meter_reader.py + /home/pi/technospurs/bin/;
  3. ../../helpers/python next to this file: the tinyagent source tree;
  4. otherwise the normal sys.path.
Python 3.5+, like the helper.
"""

import argparse
import os
import signal
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_HELPER_DIRS = [os.environ.get("TINYAGENT_PY_HELPER_DIR", ""),
                os.path.join(_HERE, os.pardir, "bin"),
                os.path.join(_HERE, os.pardir, os.pardir, "helpers", "python")]
for _dir in _HELPER_DIRS:
    if _dir and os.path.isfile(os.path.join(_dir, "tinyagent_heartbeat.py")):
        sys.path.insert(0, os.path.abspath(_dir))
        break

from tinyagent_heartbeat import Heartbeat  # noqa: E402  (needs the path above)

EXIT_CRASH = 3


def say(line):
    print(line, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Sample SmartMeter process that heartbeats.")
    parser.add_argument("--name", default="meter_reader")
    parser.add_argument("--version", default="1.0.0", help="X.Y.Z")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between heartbeats")
    parser.add_argument("--hang-after", type=float, metavar="SECONDS",
                        help="stop heartbeating after SECONDS but stay alive")
    parser.add_argument("--crash-after", type=float, metavar="SECONDS",
                        help="exit with status %d after SECONDS" % EXIT_CRASH)
    parser.add_argument("--ignore-sigterm", action="store_true",
                        help="ignore SIGTERM, so only SIGKILL stops it")
    parser.add_argument("--port", type=int, help="agent's UDP port (default: $TINYAGENT_HEARTBEAT_PORT or 4951)")
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error("--interval must be > 0")
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    try:
        hb = Heartbeat(args.name, args.version, port=args.port)
    except ValueError as e:
        parser.error(str(e))
    say("started pid=%d name=%s version=%s port=%d"
        % (os.getpid(), args.name, args.version, hb.address[1]))

    start = time.monotonic()
    crash_at = None if args.crash_after is None else start + args.crash_after
    hang_at = None if args.hang_after is None else start + args.hang_after
    next_beat = start
    while True:
        now = time.monotonic()
        # Whichever comes first wins; a hung process never gets to crash.
        if crash_at is not None and now >= crash_at:
            say("crashing")
            return EXIT_CRASH
        if hang_at is not None and now >= hang_at:
            say("hanging")
            while True:  # alive, socket still open, silent: what a hang looks like
                time.sleep(3600)
        if now >= next_beat:
            # The real work (reading the meter) would go here; the beat
            # follows it so a stuck read shows up as a missed heartbeat.
            hb.beat()
            next_beat += args.interval
            if next_beat <= now:  # fell behind (suspend, slow work): don't burst
                next_beat = now + args.interval
        wake = min(t for t in (next_beat, crash_at, hang_at) if t is not None)
        time.sleep(max(0.0, wake - time.monotonic()))

if __name__ == "__main__":
    sys.exit(main())
