"""A stand-in for systemd running tinyagent.service (PID 1 here is not systemd): reads the
real unit file's ExecStartPre= and ExecStart= lines, rewrites its two paths to the test's
install folder and root, and behaves as the unit's Restart=always and WatchdogSec= do:

    python3 unit_standin.py UNIT INSTALL ROOT --watchdog S --restart S [--chroot DIR] [-- EXTRA ARGS...]

Each start runs every ExecStartPre= first (waiting for it, as systemd does; a failing one
fails the start, which Restart=always restarts), then ExecStart= (plus EXTRA ARGS, the test's
heartbeat port) with NOTIFY_SOCKET and WATCHDOG_USEC set. When no WATCHDOG=1 arrived for the
watchdog interval (counted from the start, as systemd does for a service that has one), it
sends SIGABRT (systemd's WatchdogSignal) and SIGKILL after TimeoutStopSec, scaled down.
KillMode=process: only the main process is signalled; its children live on. Restart=always:
any end, clean or not, is followed by a new start after --restart seconds. Each event is
one line on stdout: "start N PID", "exit N STATUS" (negative: the signal), "watchdog N",
"pre N STATUS". SIGTERM stops the service (SIGTERM to the agent) and this program.

--chroot DIR runs each command in DIR's root filesystem (chroot(8) execs it: the pid is the
agent's), as systemd runs the unit on a card; INSTALL and ROOT are then paths inside DIR."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

UNIT_INSTALL = "/usr/lib/tinyagent"
UNIT_ROOT = "/home/pi/technospurs"


def unit_lines(path, key):
    with open(path) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


def rewritten(command, install, root):
    return [word.replace(UNIT_INSTALL, install).replace(UNIT_ROOT, root) for word in command.split()]


def say(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("unit")
    parser.add_argument("install")
    parser.add_argument("root")
    parser.add_argument("--watchdog", type=float, required=True)
    parser.add_argument("--restart", type=float, default=0.3)
    parser.add_argument("--stop-timeout", type=float, default=2.0)
    parser.add_argument("--chroot", default="")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:len(argv) - len(extra) - (1 if extra else 0)])
    inside = ["chroot", args.chroot] if args.chroot else []
    pre = [inside + rewritten(c, args.install, args.root) for c in unit_lines(args.unit, "ExecStartPre")]
    (start,) = [inside + rewritten(c, args.install, args.root) for c in unit_lines(args.unit, "ExecStart")]
    assert "Restart=always" in open(args.unit).read().splitlines()

    # NOTIFY_SOCKET is the agent's path to it; bound from outside the chroot, if any.
    agent_notify_path = os.path.join(args.root, "standin-notify.sock")
    notify_path = args.chroot + agent_notify_path
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.05)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    env = dict(os.environ, NOTIFY_SOCKET=agent_notify_path, WATCHDOG_USEC=str(int(args.watchdog * 1e6)))
    n = 0
    while not stopping:
        n += 1
        failed = False
        for command in pre:
            status = subprocess.run(command).returncode
            say("pre", n, status)
            failed = failed or status != 0
        if failed:
            time.sleep(args.restart)
            continue
        agent = subprocess.Popen(start + extra, env=env, start_new_session=True)
        say("start", n, agent.pid)
        last_ping = time.monotonic()
        while agent.poll() is None:
            if stopping:
                agent.send_signal(signal.SIGTERM)
                agent.wait()
                break
            try:
                data = notify.recv(4096).decode(errors="replace")
                if "WATCHDOG=1" in data.split("\n"):
                    last_ping = time.monotonic()
            except socket.timeout:
                pass
            if time.monotonic() - last_ping > args.watchdog:
                say("watchdog", n)
                agent.send_signal(signal.SIGABRT)
                try:
                    agent.wait(timeout=args.stop_timeout)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
        say("exit", n, agent.returncode)
        if not stopping:
            time.sleep(args.restart)
    notify.close()
    os.unlink(notify_path)


if __name__ == "__main__":
    main()
