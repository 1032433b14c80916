"""The systemd end of sd_notify, in a process of its own (conftest.NotifySocket
runs it): binds the datagram socket at argv[1], says "ready", then prints each
message as "MONOTONIC TEXT", the time taken as it arrives. Out of the test's
process, no thread of the test (a flood, an HTTPS server) holding the GIL can
delay a timestamp and fake a gap between watchdog pings."""

import socket
import sys
import time

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print("ready", flush=True)
while True:
    data = sock.recv(4096)
    now = time.monotonic()
    for line in data.decode(errors="replace").split("\n"):
        if line:
            sys.stdout.write("%.6f %s\n" % (now, line))
    sys.stdout.flush()
