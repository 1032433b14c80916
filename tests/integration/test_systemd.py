"""The systemd notify protocol, read from a socket the test binds."""

import contextlib
import os
import signal
import socket
import threading
import time
import types

from conftest import FAST, kernel_drops, wait_for


def test_ready_status_and_stopping_are_sent(agents, notify):
    agent = agents(FAST, notify=notify).start()
    # The first notification may be a STATUS= line: wait for READY=1 itself (this
    # returned at the first text and failed about 1 run in 17 under load).
    wait_for(lambda: "READY=1" in notify.texts(), what="READY=1")
    agent.start_sample("reader")
    wait_for(lambda: "STATUS=processes 1/1 up; xmpp off" in notify.texts(), what="STATUS= with the process")
    assert agent.stop() == 0
    wait_for(lambda: notify.texts()[-1] == "STOPPING=1", what="STOPPING=1 last")
    texts = notify.texts()
    assert "WATCHDOG=1" not in texts, "no watchdog pings unless WATCHDOG_USEC asks for them"


SENDMSG = 46  # x86_64


def blocked_in(pid, syscall):
    """Whether `pid` sits in system call number `syscall` (/proc/PID/syscall)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == str(syscall)
    except (OSError, IndexError):
        return False


def test_ready_comes_once_heartbeats_are_served(agents, root):
    # systemd's end, kept full and read one message at a time: each notification
    # waits in sd_notify's sendmsg until the test frees a slot, so the test sees
    # the agent held before each one, in order, and looks at it there.
    path = os.path.join(root, "notify-held.sock")
    held = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    held.bind(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                filler.sendto(b"FILLER=1", path)
    agent = agents(FAST, notify=types.SimpleNamespace(path=path)).start(wait=False)
    bound = []  # per notification held: was the heartbeat socket bound (a line in /proc/net/udp)
    read = []
    while len(bound) < 20:
        try:
            wait_for(lambda: blocked_in(agent.proc.pid, SENDMSG), timeout=2, what="a held notification")
        except AssertionError:
            break  # no more notifications for now
        bound.append(kernel_drops(agent.port) is not None)
        read.append(held.recv(4096).decode())  # the held one goes in
    held.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            read.append(held.recv(4096).decode())
    held.close()  # later notifications are refused, not queued
    sent = [m for m in read if m != "FILLER=1"]
    assert "READY=1" in sent, sent
    ready = sent.index("READY=1")
    assert ready < len(bound) and bound[ready], "READY=1 before the heartbeat socket was bound: %s %s" % (sent, bound)
    # And a beat is read once it is sent.
    agent.start_sample("early")
    wait_for(lambda: agent.process("early"), timeout=3, what="the first heartbeat")


def test_a_garbage_flood_stops_neither_heartbeats_nor_watchdog_pings(agents, notify):
    agent = agents(FAST, notify=notify, watchdog_usec=400_000).start()
    agent.start_sample("reader", interval=0.1)
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    flood_start = time.monotonic()
    stop = threading.Event()
    sent = [0]

    def flood():
        garbage = [b"\xff" * 100, b"{" * 1500, b'{"process_name":"x"}', b"x" * 5000]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                for g in garbage:
                    try:
                        s.sendto(g, ("127.0.0.1", agent.port))
                        sent[0] += 1
                    except OSError:
                        pass

    threads = [threading.Thread(target=flood) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(3.0)
        during = agent.process("reader")
    finally:
        stop.set()
        for t in threads:
            t.join()
    flood_end = time.monotonic()
    pings = [t for t, m in notify.collect() if m == "WATCHDOG=1" and flood_start <= t <= flood_end]
    assert sent[0] > 10_000, "a real flood"
    assert len(pings) >= 10, "pings every 200 ms went on during the flood: %d" % len(pings)
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 0.4, "longest gap between pings %.3f s" % max(gaps)
    assert during["state"] == "running" and during["restarts"] == 0
    assert during["since_heartbeat_s"] <= 1
    status = agent.status()
    assert status["heartbeats"]["dropped"] > 10_000
    assert agent.process("reader")["restarts"] == 0


def test_without_a_notify_socket_nothing_breaks(agents):
    agent = agents(FAST).start()
    agent.start_sample("reader")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    assert agent.stop(signal.SIGINT) == 0
