"""N real agents against an XMPP server or cluster, and a panel stand-in
that watches them (tests/fleet/test_cluster.py, bench/fleet.py).

    fleet = Fleet(work, binary, pki, count=20, servers=lambda i: ["127.0.0.1:5222"],
                  settings={"reconnect_spread_ms": 20000}, heartbeat=True)
    for d in fleet.devices: server.register(d.user, d.password)
    fleet.start(); fleet.watch(panel); fleet.subscribe()
    fleet.wait_all_online(since, timeout)   # by the panel's presence stanzas
    fleet.status_round(command_no)          # every device answers exactly once?

Each device has its own root (cfg/config_file.bin encrypted by the agent's
CLI, certs/cacert.pem, cfg/agent.json), account `device-NNN@localhost`,
heartbeat port, and a heartbeating process the agent adopts: by default a
shell loop running `tinyagent heartbeat` every 5 s (verified: the loop is
the heartbeat's parent); `heartbeat=lambda device: argv` gives another
command (bench/hb_sender), `heartbeat=None` none. The panel (tests/xmpp/panel.py) stamps every
presence it receives; a device counts as online from its last available
presence on.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from runguard import marked  # noqa: E402 - the test run's mark, kept in a fresh environment

DOMAIN = "localhost"
PANEL = "panel@localhost"


def free_udp_ports(count):
    """COUNT distinct UDP ports free on 127.0.0.1 now: all held until each is
    known, so that the kernel cannot hand out one twice."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Device:
    def __init__(self, fleet, index, port):
        self.index = index
        self.user = "device-%03d" % index
        self.jid = "%s@%s" % (self.user, DOMAIN)
        self.password = "secret-%03d" % index
        self.root = os.path.join(fleet.work, self.user)
        self.port = port
        self.proc = None
        self.heartbeat = None
        self.started = None

    def output(self):
        """What the agent wrote to stdout/stderr (its start-up errors)."""
        try:
            with open(os.path.join(self.root, "agent.out"), "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log(self):
        try:
            with open(os.path.join(self.root, "logs", "tinyagent.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Fleet:
    def __init__(self, work, binary, pki, count, servers, settings=None, heartbeat="loop"):
        self.work = os.path.abspath(work)
        self.binary = binary
        self.pki = pki
        self.settings = dict(settings or {})
        self.heartbeat = heartbeat
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.devices = [Device(self, i, port) for i, port in enumerate(free_udp_ports(count))]
        self.by_jid = {d.jid: d for d in self.devices}
        self.panel = None
        for d in self.devices:
            self._make_root(d, servers(d.index))

    def _make_root(self, d, servers):
        for folder in ("cfg", "certs", "logs", "wdog", "SmartMeter", "bin"):
            os.makedirs(os.path.join(d.root, folder), exist_ok=True)
        os.chmod(d.root, 0o755)
        os.chmod(os.path.join(d.root, "cfg"), 0o700)
        shutil.copy(self.pki.ca_cert, os.path.join(d.root, "certs", "cacert.pem"))
        with open(os.path.join(d.root, "cfg", "agent.json"), "w") as f:
            json.dump(self.settings, f)
        plain = os.path.join(d.root, "plain.json")
        with open(plain, "w") as f:
            json.dump({"xmpp_client": {"client_jid": d.jid, "client_password": d.password, "cpanel_jid": PANEL,
                                       "rpi_unique_id": d.user, "servers": servers}}, f)
        subprocess.run([self.binary, "config", "encrypt", "--in", plain, "--out",
                        os.path.join(d.root, "cfg", "config_file.bin")], check=True, stdout=subprocess.DEVNULL, timeout=30)
        os.unlink(plain)

    # -- processes ------------------------------------------------------------

    def start(self, devices=None):
        """Starts the agents, then their heartbeating processes: a sender's own
        (ephemeral) UDP port must not be one an agent is about to listen on. An
        agent whose heartbeat port another process took meanwhile (this
        machine runs other tests) is started again on a fresh one."""
        ds = devices or self.devices
        t0 = time.monotonic()
        for d in ds:
            self._launch(d)
        self.spawn_seconds = time.monotonic() - t0
        for _ in range(3):
            time.sleep(0.5)
            taken = [d for d in ds if d.proc.poll() is not None and b"Address already in use" in d.output()]
            if not taken:
                break
            for d, port in zip(taken, free_udp_ports(len(taken))):
                d.port = port
                self._launch(d)
        if not self.heartbeat:
            return
        for d in ds:
            argv = self.heartbeat(d) if callable(self.heartbeat) else ["/bin/sh", "-c", (
                "while :; do %s heartbeat --name meter --version 1.0.0 --port %d >/dev/null 2>&1; sleep 5; done"
                % (self.binary, d.port))]
            d.heartbeat = subprocess.Popen(argv, cwd=os.path.join(d.root, "SmartMeter"), stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)

    def _launch(self, d):
        out = open(os.path.join(d.root, "agent.out"), "wb")
        env = marked({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        d.proc = subprocess.Popen([self.binary, "run", "--root", d.root, "--heartbeat-port", str(d.port)],
                                  stdout=out, stderr=out, env=env, start_new_session=True)
        out.close()
        d.started = time.monotonic()

    def stop(self, devices=None, sig=signal.SIGTERM):
        ds = devices or self.devices
        for d in ds:
            for p in (d.heartbeat, d.proc):
                if p and p.poll() is None:
                    try:
                        os.killpg(p.pid, sig)
                    except OSError:
                        pass
        for d in ds:
            for p in (d.proc, d.heartbeat):
                if p:
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        os.killpg(p.pid, signal.SIGKILL)
                        p.wait(5)
            d.proc = d.heartbeat = None
            self._end_supervised(d)
        # The link process is the agent's child in the agent's session: gone with its group.

    @staticmethod
    def _end_supervised(d):
        """The processes an agent started outlive it by design (the next agent
        adopts them): end them, and forget them, so that each start of the
        fleet begins alike."""
        registry = os.path.join(d.root, "wdog", "registry.json")
        try:
            with open(registry) as f:
                processes = json.load(f).get("processes", [])
        except (OSError, ValueError):
            return
        for p in processes:
            if p.get("pid", 0) > 1:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(p["pid"], signal.SIGKILL)
                    except OSError:
                        pass
        os.unlink(registry)

    def pids(self):
        """Every agent and its link process (for footprint figures)."""
        out = {}
        for d in self.devices:
            if d.proc and d.proc.poll() is None:
                link = None
                try:
                    with open("/proc/%d/task/%d/children" % (d.proc.pid, d.proc.pid)) as f:
                        for c in f.read().split():
                            with open("/proc/%s/cmdline" % c, "rb") as g:
                                if b"xmpp-link" in g.read():
                                    link = int(c)
                except OSError:
                    pass
                out[d.jid] = (d.proc.pid, link)
        return out

    # -- the panel's view -----------------------------------------------------

    def watch(self, panel):
        self.panel = panel

    def presences(self, since=0.0):
        """(time, bare jid, type, status) of the devices' presence stanzas after SINCE."""
        with self.panel._cond:
            entries = list(self.panel.presences)
        out = []
        for p in entries:
            bare = p["from"].split("/", 1)[0]
            if bare in self.by_jid and p["time"] >= since:
                out.append((p["time"], bare, p["type"], p["status"]))
        return out

    def online_since(self, since):
        """{jid: time of the first available presence after SINCE}."""
        first = {}
        for t, jid, kind, _ in self.presences(since):
            if kind == "available" and jid not in first:
                first[jid] = t
        return first

    def wait_all_online(self, since, timeout):
        """{jid: first available presence after SINCE} once every device has one."""
        deadline = time.monotonic() + timeout
        while True:
            first = self.online_since(since)
            if len(first) == len(self.devices):
                return first
            if time.monotonic() > deadline:
                missing = [d for d in self.devices if d.jid not in first]
                detail = "; ".join("%s: %s" % (d.jid, " | ".join(d.log().splitlines()[-3:])) for d in missing[:3])
                raise AssertionError("%d of %d devices not online within %.0f s (%s)"
                                     % (len(missing), len(self.devices), timeout, detail))
            time.sleep(0.05)

    def subscribe(self, timeout):
        """The panel subscribes to every device (each agent approves it) and
        waits for each one's status presence."""
        since = time.monotonic()
        for d in self.devices:
            self.panel.subscribe(d.jid)
        return self.wait_all_online(since, timeout)

    def status_round(self, command_no, timeout):
        """Sends `status` to every device at once; returns {jid: [seconds from
        the send to each answer]}, collected until a second after the last
        device's first answer (a duplicate would come within that)."""
        start = time.monotonic()
        with self.panel._cond:
            mark = len(self.panel.messages)
        for d in self.devices:
            self.panel.send(d.jid, {"command": "status", "command_no": command_no})
        deadline = start + timeout
        complete = None
        while True:
            answers = self._answers(mark, command_no, start)
            now = time.monotonic()
            if complete is None and len(answers) == len(self.devices):
                complete = now
            if (complete is not None and now - complete >= 1.0) or now > deadline:
                return answers
            time.sleep(0.02)

    def _answers(self, mark, command_no, start):
        with self.panel._cond:
            new = self.panel.messages[mark:]
        answers = {}
        for m in new:
            j = m["json"]
            if j and j.get("command_no") == command_no and m["from"] in self.by_jid:
                answers.setdefault(m["from"], []).append(m["time"] - start)
        return answers


def established_to(port):
    """How many TCP connections to 127.0.0.1:PORT are established (client side)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n
