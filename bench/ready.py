#!/usr/bin/env python3
"""bench/ready.py: time from `tinyagent run` to READY=1 (systemd's notify
protocol, a socket bound here as systemd would), N runs on fresh roots.

    ready.py BINARY WORKDIR [N]   prints "median MS max MS n N"
"""

import os
import socket
import statistics
import subprocess
import sys
import time


def once(binary, root):
    os.makedirs(os.path.join(root, "SmartMeter"))
    path = os.path.join(root, "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, socket.socket() as probe:
        sock.bind(path)
        sock.settimeout(10)
        probe.bind(("127.0.0.1", 0))  # a free port number (UDP and TCP spaces differ, good enough here)
        port = probe.getsockname()[1]
        env = dict(os.environ, NOTIFY_SOCKET=path)
        start = time.monotonic()
        agent = subprocess.Popen([binary, "run", "--root", root, "--heartbeat-port", str(port)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while b"READY=1" not in sock.recv(4096):
                pass
            return (time.monotonic() - start) * 1000
        finally:
            agent.terminate()
            agent.wait(10)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    times = [once(binary, os.path.join(work, "ready-%d" % i)) for i in range(n)]
    print("median %.1f max %.1f n %d" % (statistics.median(times), max(times), n))


if __name__ == "__main__":
    main()
