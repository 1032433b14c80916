#!/usr/bin/env python3
"""bench/xmpp.py: the control channel's figures (issue 4) for BENCHMARKS.md.

    xmpp.py --bin TINYAGENT --work DIR --malloc-count SO --out SECTION.md --rows ROWS.md

Called by bench/run.sh (it writes SECTION.md under "Control channel" and
ROWS.md into the summary table); runs on its own too. Against a private
prosody on 127.0.0.1 (STARTTLS, certificate from a test CA that the agent
pins in certs/cacert.pem) and a panel stand-in (slixmpp), both from
tests/xmpp/, it measures:

1. time from `tinyagent run` to the agent's logged-in presence, as the panel
   (subscribed to the device) receives it, with the server's view of the
   steps (prosody's debug log, read as it is written);
2. wake-ups over 20 s idle: the agent with the link up, its link process
   (`tinyagent-link xmpp-link`), and an agent without a config, side by side;
3. RSS of the same three;
4. heap allocations per command (bench/malloc_count.c, following the link
   process through MALLOC_COUNT_CHILD_FILE): N `status` and N
   `restart_process` for an unknown name, one at a time.

About 60 s. Everything it starts is stopped at the end (also on SIGTERM).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ left in tests/xmpp/
sys.path.insert(0, os.path.join(REPO, "tests", "xmpp"))
from panel import Panel, XmppClient  # noqa: E402
from pki import make_pki  # noqa: E402
from prosody import Prosody, ensure_installed  # noqa: E402

DEVICE = "device@localhost"
PANEL = "panel@localhost"
DEVICE_ID = "bench-meter-01"
SETTINGS = {"heartbeat_timeout_ms": 30000}
# OpenSSL's default verify paths (which libstrophe always loads, besides the
# CA file) pointed at the pinned CA: the what-if row of 7.1.
PINNED_ENV = {"SSL_CERT_FILE": "$ROOT/certs/cacert.pem", "SSL_CERT_DIR": "$ROOT/certs"}
COUNTER_NAMES = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "free")


def say(text):
    print("bench: xmpp: " + text, file=sys.stderr, flush=True)


class Failed(RuntimeError):
    pass


def wait_for(predicate, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- /proc ------------------------------------------------------------------

def tasks(pid):
    try:
        return os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []


def children(pid):
    out = []
    for t in tasks(pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def link_pid(agent_pid):
    """The agent's `tinyagent xmpp-link` child, or None."""
    for c in children(agent_pid):
        if b"xmpp-link" in cmdline(c):
            return c
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ctxt(pid):
    """Voluntary + nonvoluntary context switches, summed over the threads."""
    total = 0
    for t in tasks(pid):
        with open("/proc/%d/task/%s/status" % (pid, t)) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


def cpu_ns(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def kib(pid, name, field):
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def wchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def memory(pid):
    return {"VmRSS": kib(pid, "status", "VmRSS"), "RssAnon": kib(pid, "status", "RssAnon"),
            "RssFile": kib(pid, "status", "RssFile"), "Private_Dirty": kib(pid, "smaps_rollup", "Private_Dirty"),
            "VmHWM": kib(pid, "status", "VmHWM"), "Threads": len(tasks(pid))}


def by_mapping(pid):
    """{mapping: [Rss KiB, Private_Dirty KiB]}; the program's own file is "(program)"."""
    exe = os.readlink("/proc/%d/exe" % pid)
    out = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                path = fields[5] if len(fields) > 5 else ""
                name = "[anon]" if not path else "(program)" if path == exe else os.path.basename(path)
            elif fields and fields[0] in ("Rss:", "Private_Dirty:") and name is not None:
                out.setdefault(name, [0, 0])[0 if fields[0] == "Rss:" else 1] += int(fields[1])
    return out


def counters(path):
    try:
        with open(path, "rb") as f:
            data = f.read(64)
    except OSError:
        return None
    if len(data) < 64:
        return None
    return struct.unpack("<8Q", data)


def allocations(c):
    """Allocating calls among the counters (everything but free)."""
    return sum(c[:7])


def median_max(values, unit="ms", digits=1):
    fmt = "%%.%df" % digits
    return "median %s %s, max %s %s (n = %d)" % (fmt % statistics.median(values), unit,
                                                   fmt % max(values), unit, len(values))


# --- the pieces --------------------------------------------------------------

class Agent:
    """`tinyagent run` on ROOT (made here), optionally with the XMPP config."""

    def __init__(self, bench, name, config=True, env=None):
        self.bench = bench
        self.root = os.path.join(bench.work, name)
        self.config = config
        self.env = env
        self.proc = None
        self.port = free_udp_port()
        for folder in ("cfg", "certs", "logs", "wdog", "SmartMeter"):
            os.makedirs(os.path.join(self.root, folder), exist_ok=True)
        os.chmod(self.root, 0o755)
        with open(os.path.join(self.root, "cfg", "agent.json"), "w") as f:
            json.dump(SETTINGS, f)
        if config:
            shutil.copy(bench.pki.ca_cert, os.path.join(self.root, "certs", "cacert.pem"))
            plain = os.path.join(self.root, "plain.json")
            with open(plain, "w") as f:
                json.dump({"xmpp_client": {"client_jid": DEVICE, "client_password": "device-secret",
                                           "cpanel_jid": PANEL, "rpi_unique_id": DEVICE_ID,
                                           "host": "127.0.0.1", "port": bench.server.port}}, f)
            subprocess.run([bench.bin, "config", "encrypt", "--in", plain, "--out",
                            os.path.join(self.root, "cfg", "config_file.bin")],
                           check=True, timeout=10, stdout=subprocess.DEVNULL)
            os.unlink(plain)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def log(self):
        return os.path.join(self.root, "logs", "tinyagent.log")

    def start(self):
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "LD_PRELOAD", "MALLOC_COUNT_FILE", "MALLOC_COUNT_CHILD_FILE"):
            env.pop(k, None)
        env.update(self.env or {})
        out = open(os.path.join(self.root, "agent.out"), "ab")
        self.proc = subprocess.Popen([self.bench.bin, "run", "--root", self.root, "--heartbeat-port", str(self.port)],
                                     env=env, stdout=out, stderr=out)
        out.close()
        self.bench.agents.append(self)
        return self

    def started(self):
        if self.proc.poll() is not None:
            raise Failed("the agent on %s exited (%s): %s" % (self.root, self.proc.returncode, self.tail()))
        return os.path.exists(os.path.join(self.root, "wdog", "agent.sock"))

    def status(self):
        r = subprocess.run([self.bench.bin, "status", "--root", self.root, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=5)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def link(self):
        return link_pid(self.pid)

    def stop(self):
        """SIGTERM; waits for the agent and its link process to be gone."""
        if self.proc is None:
            return
        link = self.link()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if link:
            deadline = time.monotonic() + 5
            while alive(link) and time.monotonic() < deadline:
                time.sleep(0.005)
            if alive(link):
                say("link process %d still there 5 s after its agent stopped; killing it" % link)
                try:
                    os.kill(link, signal.SIGKILL)
                except OSError:
                    pass
        if self in self.bench.agents:
            self.bench.agents.remove(self)

    def tail(self, n=10):
        try:
            with open(self.log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"


class Tail:
    """Lines appended to a file from now on (the file may not exist yet)."""

    def __init__(self, path):
        self.path = path
        try:
            self.offset = os.path.getsize(path)
        except OSError:
            self.offset = 0
        self.partial = b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *done, self.partial = data.split(b"\n")
        return [d.decode(errors="replace") for d in done]


class PresenceWatch:
    """The panel's view of the device's presence (the panel is subscribed)."""

    def __init__(self, panel):
        self.events = []  # (monotonic, "available"|"unavailable", status text)
        self.cond = threading.Condition()

        def on(kind):
            def handler(pres):
                if str(pres["from"]).split("/", 1)[0] != DEVICE:
                    return
                now = time.monotonic()
                with self.cond:
                    self.events.append((now, kind, pres["status"]))
                    self.cond.notify_all()
            return handler

        panel._call(lambda: panel._xmpp.add_event_handler("presence_available", on("available")))
        panel._call(lambda: panel._xmpp.add_event_handler("presence_unavailable", on("unavailable")))

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait(self, kind, start, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events[start:]:
                    if e[1] == kind:
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed("the panel saw no %s presence from %s within %.0f s" % (kind, DEVICE, timeout))
                self.cond.wait(left)

    def since(self, start):
        with self.cond:
            return list(self.events[start:])


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.realpath(args.bin)
        self.work = os.path.abspath(args.work)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.agents = []
        self.server = self.panel = self.pki = None

    # -- set-up ----------------------------------------------------------------

    def setup(self):
        ensure_installed()
        self.pki = make_pki(os.path.join(self.work, "pki"))
        self.server = Prosody(os.path.join(self.work, "xmpp"), tls="starttls",
                              cert=self.pki.server_cert, key=self.pki.server_key)
        for user in ("device", "panel"):
            self.server.register(user, user + "-secret")
        self.server.start()
        self.panel = Panel(PANEL, "panel-secret", "127.0.0.1", self.server.port, self.pki.ca_cert).start()
        self.watch = PresenceWatch(self.panel)
        # The panel subscribes to the device's presence; a stand-in for the
        # device (slixmpp accepts and subscribes back) approves it once.
        device = XmppClient(DEVICE, "device-secret", "127.0.0.1", self.server.port, self.pki.ca_cert,
                            resource="setup").start()
        try:
            mark = self.watch.mark()
            self.panel._call(lambda: self.panel._xmpp.send_presence_subscription(pto=DEVICE))
            self.watch.wait("available", mark, 10)
        finally:
            device.stop()
        self.watch.wait("unavailable", mark, 10)

    def close(self):
        for a in list(self.agents):
            try:
                a.stop()
            except Exception as e:  # noqa: BLE001 - go on stopping the rest
                say("stopping %s: %s" % (a.root, e))
        if self.panel:
            try:
                self.panel.stop()
            except Exception as e:  # noqa: BLE001
                say("stopping the panel: %s" % e)
        if self.server:
            self.server.close()

    # -- 1. start-up to logged-in presence ------------------------------------

    STEPS = (("connected", "Client connected"), ("tls", "TLS handshake complete"),
             ("authenticated", "Authenticated as " + DEVICE), ("bound", "Resource bound: " + DEVICE),
             ("presence", "Received[c2s]: <presence"))

    def startups(self):
        """The two series of 7.1, interleaved (the machine's noise hits both alike)."""
        plain = Agent(self, "startup")
        pinned = Agent(self, "startup-pinned")
        pinned.env = {k: v.replace("$ROOT", pinned.root) for k, v in PINNED_ENV.items()}
        self.startup_samples, self.pinned_samples = [], []
        for i in range(max(self.args.samples, self.args.samples_pinned)):
            if i < self.args.samples:
                self.startup_samples.append(self.startup_sample(plain, i))
            if i < self.args.samples_pinned:
                self.pinned_samples.append(self.startup_sample(pinned, i))
        say("start-up to presence: %s; default paths = the pinned CA: %s"
            % (median_max([s["panel"] for s in self.startup_samples]),
               median_max([s["panel"] for s in self.pinned_samples])))

    def startup_sample(self, agent, i):
        """One start of AGENT; the ms after the start of each step."""
        mark = self.watch.mark()
        server_log = Tail(self.server.log_path)
        agent_log = Tail(agent.log)
        stamps = {}
        t0 = time.monotonic()
        agent.start()
        deadline = t0 + 15
        while not all(k in stamps for k in ("panel", "summary", "online_log", "presence")):
            now = time.monotonic()
            for line in server_log.lines():
                for key, text in self.STEPS:
                    if key not in stamps and text in line and (key != "presence" or "bound" in stamps):
                        stamps[key] = now
            for line in agent_log.lines():
                if "online_log" not in stamps and "xmpp: online" in line:
                    stamps["online_log"] = now
            for e in self.watch.since(mark):
                if e[1] == "available" and "panel" not in stamps:
                    stamps["panel"] = e[0]
                    stamps["first_status"] = e[2]
                if e[1] == "available" and e[2] and "summary" not in stamps:
                    stamps["summary"] = e[0]
                    stamps["summary_status"] = e[2]
            if now > deadline:
                raise Failed("%s, sample %d: no logged-in presence with a status within 15 s (seen: %s); "
                             "agent log: %s" % (agent.root, i + 1, sorted(stamps), agent.tail()))
            agent.started()
            time.sleep(0.002)
        sample = {k: (v - t0) * 1000 for k, v in stamps.items() if not k.endswith("_status")}
        sample["first_status"] = stamps["first_status"]
        sample["summary_status"] = stamps["summary_status"]
        agent.stop()
        self.watch.wait("unavailable", mark, 10)
        time.sleep(0.2)
        return sample

    # -- 2 + 3. idle wake-ups and memory ---------------------------------------

    def idle(self):
        mark = self.watch.mark()
        link_agent = Agent(self, "idle-link").start()
        bare = Agent(self, "idle-nolink", config=False).start()
        pinned = Agent(self, "idle-pinned")
        pinned.env = {k: v.replace("$ROOT", pinned.root) for k, v in PINNED_ENV.items()}
        pinned.start()
        for a in (link_agent, bare, pinned):
            wait_for(a.started, 10, "the agent's control socket")
        self.watch.wait("available", mark, 15)
        for a in (link_agent, pinned):
            wait_for(lambda: (a.status() or {}).get("xmpp") == "online", 15, "xmpp online in %s's status" % a.root,
                     interval=0.1)
        if (bare.status() or {}).get("xmpp") != "off":
            raise Failed("the agent without a config does not say xmpp off")
        link = wait_for(link_agent.link, 5, "the link process")
        plink = wait_for(pinned.link, 5, "the link process")
        # The link polls every 50 ms for 5 s after its start or a message, then every 1 s.
        time.sleep(6)
        pids = {"agent": link_agent.pid, "link": link, "bare": bare.pid, "plink": plink}
        c0 = {k: ctxt(p) for k, p in pids.items()}
        t0 = {k: cpu_ns(p) for k, p in pids.items()}
        s0 = time.monotonic()
        time.sleep(self.args.idle)
        elapsed = time.monotonic() - s0
        c1 = {k: ctxt(p) for k, p in pids.items()}
        t1 = {k: cpu_ns(p) for k, p in pids.items()}
        if link_agent.link() != link or pinned.link() != plink:
            raise Failed("a link process changed during the idle window")
        self.idle_window = elapsed
        self.wake = {k: (c1[k] - c0[k]) / elapsed for k in pids}
        self.switches = {k: c1[k] - c0[k] for k in pids}
        self.cpu_ms = {k: (t1[k] - t0[k]) / 1e6 for k in pids}
        self.mem = {k: memory(p) for k, p in pids.items()}
        self.maps = {k: by_mapping(p) for k, p in pids.items()}
        self.events_in_window = [e for e in self.watch.since(mark) if s0 <= e[0]]
        link_agent.stop()
        bare.stop()
        pinned.stop()
        say("idle: agent %.2f/s, link %.2f/s, agent without config %.2f/s"
            % (self.wake["agent"], self.wake["link"], self.wake["bare"]))

    # -- 4. allocations per command ----------------------------------------------

    def allocations(self):
        n = self.args.commands
        agent_file = os.path.join(self.work, "agent.counts")
        link_file = os.path.join(self.work, "link.counts")
        env = {"LD_PRELOAD": self.args.malloc_count, "MALLOC_COUNT_FILE": agent_file,
               "MALLOC_COUNT_CHILD_FILE": link_file}
        agent = Agent(self, "alloc", env=env)
        mark = self.watch.mark()
        agent.start()
        wait_for(agent.started, 10, "the agent's control socket")
        self.watch.wait("available", mark, 15)
        link = wait_for(agent.link, 5, "the link process")
        panel = self.panel

        def reading():
            return {"agent": counters(agent_file), "link": counters(link_file), "wchar": wchar(agent.pid)}

        def quiet(period, limit=15):
            """The counters once neither process has allocated or written for
            PERIOD s (the journal's write for a "sent" event trails the answer)."""
            deadline = time.monotonic() + limit
            last, since = reading(), time.monotonic()
            while time.monotonic() - since < period:
                if time.monotonic() > deadline:
                    raise Failed("the agent did not settle after a command")
                time.sleep(period / 5)
                now = reading()
                if now != last:
                    last, since = now, time.monotonic()
            return last

        def settle():
            quiet(0.3)

        def fill(first, body, check):
            """N commands back to back, then all their answers: the journal
            (200 kept) then holds only this kind of answer."""
            for no in range(first, first + n):
                panel.send(DEVICE, dict(body, command_no=no))
            for no in range(first, first + n):
                answer = panel.wait_reply(20, lambda r: r.get("command_no") == no)
                if not check(answer):
                    raise Failed("unexpected answer to %s: %s" % (body, answer))
            settle()

        def batch(first, body, check):
            """N commands one at a time; counters read before each and after the last."""
            readings, latencies = [reading()], []
            for no in range(first, first + n):
                t = time.monotonic()
                panel.send(DEVICE, dict(body, command_no=no))
                answer = panel.wait_reply(10, lambda r: r.get("command_no") == no)
                latencies.append((time.monotonic() - t) * 1000)
                if not check(answer):
                    raise Failed("unexpected answer to %s: %s" % (body, answer))
                readings.append(quiet(0.015))  # the link's "sent" event, the journal's second write
            settle()
            readings[-1] = reading()
            return readings, latencies

        status = {"command": "status"}
        restart = {"command": "restart_process", "name": "no-such-process"}
        ok_status = lambda a: a.get("success") is True and a.get("from") == DEVICE_ID and "status" in a  # noqa: E731
        ok_restart = lambda a: a.get("success") is False and "no-such-process" in a.get("remarks", "")  # noqa: E731

        r = reading()
        self.alloc_start = {"agent": r["agent"], "link": r["link"]}
        fill(1001, status, ok_status)
        r0 = reading()
        time.sleep(2)  # no commands: what the two do meanwhile anyway
        r1 = reading()
        status_readings, self.status_ms = batch(2001, status, ok_status)
        fill(3001, restart, ok_restart)
        restart_readings, self.restart_ms = batch(4001, restart, ok_restart)
        if agent.link() != link:
            raise Failed("the link process changed during the allocation run")
        self.alloc = {}
        self.alloc_each = {}
        for key in ("agent", "link"):
            if r0[key] is None:
                self.alloc[key] = None
                continue
            d = lambda a, b: [y - x for x, y in zip(a[key], b[key])]  # noqa: E731
            self.alloc[key] = {"idle": d(r0, r1), "idle_s": 2.0,
                               "status": d(status_readings[0], status_readings[-1]),
                               "restart": d(restart_readings[0], restart_readings[-1])}
            each = lambda rs: [allocations(d(a, b)) for a, b in zip(rs, rs[1:])]  # noqa: E731
            self.alloc_each[key] = {"status": each(status_readings), "restart": each(restart_readings)}
        self.wchar = {"status": status_readings[-1]["wchar"] - status_readings[0]["wchar"],
                      "restart": restart_readings[-1]["wchar"] - restart_readings[0]["wchar"]}
        agent.stop()
        say("allocations per status command: agent %.1f, link %s"
            % (allocations(self.alloc["agent"]["status"]) / n,
               "%.1f" % (allocations(self.alloc["link"]["status"]) / n) if self.alloc["link"] else "?"))

    # -- the report --------------------------------------------------------------

    def write(self):
        a = self.args
        n = a.commands
        S, P = self.startup_samples, self.pinned_samples
        med = lambda xs: statistics.median(xs)  # noqa: E731
        col = lambda samples, k: [s[k] for s in samples]  # noqa: E731
        steps = [("TCP connection accepted by prosody", "connected"), ("TLS handshake complete", "tls"),
                 ("authenticated (SASL SCRAM-SHA-256)", "authenticated"), ("resource bound", "bound"),
                 ("first presence received by prosody", "presence"),
                 ("**first presence received by the panel**", "panel"),
                 ("agent's log line `xmpp: online` (read from outside)", "online_log"),
                 ("presence with the summary received by the panel", "summary")]
        step_rows = "\n".join("| %s | %.1f | %.1f | %.1f |" % (label, med(col(S, k)), min(col(S, k)), max(col(S, k)))
                              for label, k in steps)
        pinned_rows = "\n".join("| %s | %.1f | %.1f | %.1f |" % (label, med(col(P, k)), min(col(P, k)), max(col(P, k)))
                                for label, k in steps if k in ("tls", "panel"))
        first_status = sorted({repr(s["first_status"]) for s in S})
        summary_status = sorted({s["summary_status"] for s in S})
        summary_after = [s["summary"] - s["panel"] for s in S]

        def mem_row(label, k):
            m = self.mem[k]
            return "| %s | %d | %d | %d | %d | %d | %d |" % (label, m["VmRSS"], m["RssAnon"], m["RssFile"],
                                                             m["Private_Dirty"], m["VmHWM"], m["Threads"])

        names = sorted(set().union(*self.maps.values()))
        cell = lambda k, name: "%d / %d" % tuple(self.maps[k].get(name, [0, 0]))  # noqa: E731
        map_rows = "\n".join("| %s | %s | %s | %s | %s |" % (name, cell("agent", name), cell("link", name),
                                                             cell("bare", name), cell("plink", name))
                             for name in names if any(self.maps[k].get(name, [0, 0])[0] for k in self.maps))

        def detail(c):
            return ", ".join("%s %d" % (name, v) for name, v in zip(COUNTER_NAMES, c) if v) or "none"

        ag, ln = self.alloc["agent"], self.alloc["link"]

        rows_alloc = []
        for process, key in (("agent", "agent"), ("link process", "link")):
            c = self.alloc[key]
            if c is None:
                continue
            for kind, label in (("status", "`status`"), ("restart", "`restart_process`, unknown name")):
                e = self.alloc_each[key][kind]
                rows_alloc.append("| %s | %s | **%.1f** | %d / %d / %d | %d | %d |" % (
                    process, label, allocations(c[kind]) / n, statistics.median(e), min(e), max(e),
                    allocations(c[kind]), c[kind][7]))
        link_part = lambda key: (" + link %.1f" % (allocations(ln[key]) / n)) if ln else ""  # noqa: E731
        if ln:
            detail_link = "- Link process, `status` batch: %s; `restart_process` batch: %s.\n" % (
                detail(ln["status"]), detail(ln["restart"]))
        else:
            detail_link = "- The link process's counter file was not written: its allocations are not counted.\n"
        idle_allocs = "agent %d, link process %s" % (allocations(ag["idle"]), allocations(ln["idle"]) if ln else "?")
        start_allocs = "agent %d, link process %s" % (
            allocations(self.alloc_start["agent"]), allocations(self.alloc_start["link"]) if ln else "?")
        presence_note = ""
        if self.events_in_window:
            presence_note = (" The panel received %d presence stanzas from the device during the window."
                             % len(self.events_in_window))

        rows = [
            "| Control channel: `tinyagent run` to logged-in presence at the panel (local prosody, STARTTLS; §7.1) "
            "| %s | — | |" % median_max(col(S, "panel")),
            "| Control channel: idle wake-ups with the link up (§7.2) | agent %.2f/s; its link process %.2f/s "
            "(libstrophe's 1 s `select()`, outside the agent's epoll); agent without config %.2f/s | — | |"
            % (self.wake["agent"], self.wake["link"], self.wake["bare"]),
            "| Control channel: heap allocations per command (§7.4) | `status`: agent %.1f%s; unknown "
            "`restart_process`: agent %.1f%s | — | |"
            % (allocations(ag["status"]) / n, link_part("status"), allocations(ag["restart"]) / n, link_part("restart")),
            "| Control channel: RSS with the link up, idle (§7.3) | agent %d KiB + link process %d KiB (private dirty "
            "%d + %d KiB); agent without config %d KiB (%d KiB) | — | |"
            % (self.mem["agent"]["VmRSS"], self.mem["link"]["VmRSS"], self.mem["agent"]["Private_Dirty"],
               self.mem["link"]["Private_Dirty"], self.mem["bare"]["VmRSS"], self.mem["bare"]["Private_Dirty"]),
        ]
        with open(a.rows, "w") as f:
            f.write("\n".join(rows) + "\n")

        text = """## 7. Control channel (XMPP)

A private prosody 0.12 on 127.0.0.1 (`tests/xmpp/prosody.py`: STARTTLS required, certificate from a
test CA made by `tests/xmpp/pki.py`, accounts `device` and `panel`, debug log), a panel stand-in
(`tests/xmpp/panel.py`, slixmpp) logged in as `panel@localhost` and subscribed to the device's
presence, and agents on temporary roots whose `cfg/config_file.bin` is written by the agent's own CLI,
as in `tests/integration/test_xmpp.py`. No supervised processes. All of it is `bench/xmpp.py`, run by
`bench/run.sh`:

```
tinyagent config encrypt --in plain.json --out $T/ROOT/cfg/config_file.bin   # device@localhost via 127.0.0.1:$X, panel panel@localhost
cp ca.pem $T/ROOT/certs/cacert.pem
tinyagent run --root $T/ROOT --heartbeat-port $P                             # cfg/agent.json: %(settings)s
```
libstrophe is Debian 12's (%(strophe)s; it has `xmpp_conn_set_cafile`), with %(openssl)s; the devices
(Raspbian Buster) have libstrophe 0.9.2.

### 7.1 Start-up to logged-in presence

From just before the agent is started (`subprocess.Popen`; Python's `time.monotonic()`) to the
panel's receipt of the device's first available presence (stamped in the panel's loop thread), %(ns)d
starts of one agent; between them it is stopped with SIGTERM and the panel sees the device go
unavailable. The steps between are prosody's debug log lines and the agent's own log line, read from
outside as they are written (polled every 2 ms, so each is late by up to about 2 ms).

| Step, ms after `tinyagent run` | Median | Min | Max |
|---|---|---|---|
%(step_rows)s

- **%(startup)s** from `tinyagent run` to the logged-in presence at the panel; samples (ms): %(samples)s.
- The first presence carries the status %(first_status)s; the summary (%(summary_status)s) follows in a
  second presence, %(summary_after)s later: the agent computes the summary only after its first
  event, the link's `online` packet, and the link reads the agent's packets only between two
  `xmpp_run_once()` calls (up to 50 ms apart then).
- Where the time goes: libstrophe 0.12.2's `tls_new()` calls `SSL_CTX_set_default_verify_paths()` and only
  then adds the CA file, and it builds a throw-away TLS context when the server offers STARTTLS
  (`auth.c`), so each login parses the system bundle `/etc/ssl/certs/ca-certificates.crt` (%(bundle)d
  certificates) twice; it shows in the link's %(start_link)s allocations up to the login (§7.4). The same
  %(np)d starts with OpenSSL's default paths pointed at the pinned CA (`SSL_CERT_FILE=$T/ROOT/certs/cacert.pem
  SSL_CERT_DIR=$T/ROOT/certs` in the agent's environment, inherited by the link):

| Step, ms after `tinyagent run`, default paths = `certs/cacert.pem` | Median | Min | Max |
|---|---|---|---|
%(pinned_rows)s

### 7.2 Idle wake-ups with the link up

Agents side by side over the same %(window).1f s: one with the config (link up, logged in, idle
for 6 s before the window so that the link's poll has slowed to 1 s), one without
(`no cfg/config_file.bin: XMPP control channel off`), and a third as in the second series of
§7.1. Voluntary + nonvoluntary context switches
summed over each process's threads (`/proc/PID/task/*/status`); the link process is the agent's
child whose command line is `tinyagent-link xmpp-link` (`/proc/AGENT/task/*/children`). CPU time from
`/proc/PID/schedstat`.

| Process | Context switches | Wake-ups/s | CPU ms in the window |
|---|---|---|---|
| agent with the link up | %(sw_agent)d | **%(wake_agent).2f** | %(cpu_agent).1f |
| its link process (`tinyagent-link xmpp-link`) | %(sw_link)d | **%(wake_link).2f** | %(cpu_link).1f |
| agent without a config (link off) | %(sw_bare)d | %(wake_bare).2f | %(cpu_bare).1f |
| a third agent's link process, default paths = `certs/cacert.pem` (§7.1) | %(sw_plink)d | %(wake_plink).2f | %(cpu_plink).1f |

The link process runs libstrophe's own loop, `xmpp_run_once(ctx, timeout)`, which sleeps in `select()`
for 1 s when idle (50 ms for 5 s after a message), so it wakes about once a second with nothing to
do: that is the link's figure above. Its socket is not integrated into the agent's epoll. The link is
a process of its own so that libstrophe's blocking calls (DNS, TLS handshake, a stalled server) never
hold up heartbeats or the watchdog; libstrophe ≥ 0.12 could hand out its socket through
`xmpp_conn_set_sockopt_callback` (the link could then wait in one `poll()` on that socket and on the
agent's channel, with libstrophe's next timer as the timeout), but Raspbian Buster's libstrophe 0.9.2
has no such call. The agent itself wakes only for packets from the link.%(presence_note)s

### 7.3 Memory with the link up

Same processes, read at the end of the idle window from `/proc/PID/status` and
`/proc/PID/smaps_rollup`. The link process is the program `tinyagent-link` (ARCHITECTURE.md): it alone maps libstrophe
and OpenSSL.

| Process | VmRSS KiB | RssAnon KiB | RssFile KiB | Private_Dirty KiB | VmHWM KiB | Threads |
|---|---|---|---|---|---|---|
%(mem_agent)s
%(mem_link)s
%(mem_bare)s
%(mem_plink)s

Per mapping, Rss / Private_Dirty KiB (`/proc/PID/smaps`). The agent binary links libstrophe, OpenSSL
(through libstrophe), libexpat and mbedTLS, so every agent maps them and pays their relocations in
private dirty pages, also with the channel off; only the link process uses libstrophe and OpenSSL.

| Mapping | agent, link up | link process | agent, no config | link process, default paths = `certs/cacert.pem` |
|---|---|---|---|---|
%(map_rows)s

### 7.4 Heap allocations per command

```
LD_PRELOAD=$T/malloc_count.so MALLOC_COUNT_FILE=$T/agent.counts MALLOC_COUNT_CHILD_FILE=$T/link.counts \\
    tinyagent run --root $T/alloc --heartbeat-port $P
```
`MALLOC_COUNT_CHILD_FILE` keeps `LD_PRELOAD` for the agent's children, so the link process
(`tinyagent-link`, environment inherited) counts in its own file. The panel stand-in sends %(n)d
`{"command": "status"}` back to back (unmeasured: the journal, which keeps 200 answers, then holds
only status answers), then %(n)d more one at a time (each answer awaited, distinct `command_no`), the
measured batch; then the same with `{"command": "restart_process", "name": "no-such-process"}` (no
such process: `success: false`, nothing restarted). Counters read before each command of a batch
and once both processes have been quiet for 0.3 s after its last answer. Allocations = malloc + calloc + realloc + posix_memalign +
aligned_alloc + memalign + valloc; the per-command median / min / max are from the readings between
commands (their sum is exact, their split between neighbours less so).

| Process | Command | Allocations per command | Median / min / max | Allocations | Frees |
|---|---|---|---|---|---|
%(rows_alloc)s

- Agent, `status` batch: %(detail_agent_status)s; `restart_process` batch: %(detail_agent_restart)s.
  Every allocation of the agent is the Swift runtime's (`posix_memalign`), and all are freed.
- The journal makes most of the difference: it is re-encoded whole at each of its two writes per
  command, and `JSONWriter.appendQuoted` copies each run of bytes between two that need escaping
  into a new `String`, a heap allocation when the run is longer than 15 bytes (Swift's small-string
  limit on 64-bit; 10 bytes on 32-bit ARM). A journaled `restart_process` answer has one such run
  (`no process named `, in its escaped remarks), a `status` answer with no processes none: with 200
  journaled answers of the kind, that is 2 × 200 allocations per command of the kind.
%(detail_link)s  (A `realloc` is counted as an allocation and need not be followed by a free.)
- With no command, over 2 s before the first measured batch: %(idle_allocs)s.
- From the start to the first command (start-up, login): %(start_allocs)s.
- The agent wrote %(wchar_status).0f bytes per `status` and %(wchar_restart).0f per `restart_process`
  (`/proc/PID/io` wchar): the journal (`wdog/commands.json`, all 200 answers) is rewritten whole
  when an answer is recorded and again when the link reports it sent, each with fsync, plus the log line.
- Round trip at the panel (send → answer): `status` %(lat_status)s; `restart_process` %(lat_restart)s.
  The answer waits in the agent→link channel until libstrophe's `select()` (50 ms after a message)
  returns: the link reads the channel only between `xmpp_run_once()` calls.
"""
        values = dict(
            settings=json.dumps(SETTINGS), strophe=self.package_version("libstrophe0"),
            openssl=self.package_version("libssl3"), ns=len(S), np=len(P), step_rows=step_rows,
            pinned_rows=pinned_rows, startup=median_max(col(S, "panel")),
            samples=", ".join("%.1f" % v for v in col(S, "panel")),
            first_status=", ".join(first_status) + (" (empty)" if first_status == ["''"] else ""),
            summary_status=", ".join("`%s`" % t for t in summary_status), summary_after=median_max(summary_after),
            bundle=self.bundle_size(), start_link=allocations(self.alloc_start["link"]) if ln else 0,
            window=self.idle_window,
            sw_agent=self.switches["agent"], sw_link=self.switches["link"], sw_bare=self.switches["bare"],
            wake_agent=self.wake["agent"], wake_link=self.wake["link"], wake_bare=self.wake["bare"],
            cpu_agent=self.cpu_ms["agent"], cpu_link=self.cpu_ms["link"], cpu_bare=self.cpu_ms["bare"],
            sw_plink=self.switches["plink"], wake_plink=self.wake["plink"], cpu_plink=self.cpu_ms["plink"],
            mem_plink=mem_row("a third agent's link process, default paths = `certs/cacert.pem`", "plink"),
            presence_note=presence_note,
            mem_agent=mem_row("agent with the link up", "agent"), mem_link=mem_row("its link process", "link"),
            mem_bare=mem_row("agent without a config", "bare"), map_rows=map_rows, n=n,
            rows_alloc="\n".join(rows_alloc),
            detail_agent_status=detail(ag["status"]), detail_agent_restart=detail(ag["restart"]),
            detail_link=detail_link, idle_allocs=idle_allocs, start_allocs=start_allocs,
            wchar_status=self.wchar["status"] / n, wchar_restart=self.wchar["restart"] / n,
            lat_status=median_max(self.status_ms), lat_restart=median_max(self.restart_ms))
        with open(a.out, "w") as f:
            f.write(text % values)

    @staticmethod
    def bundle_size():
        try:
            with open("/etc/ssl/certs/ca-certificates.crt") as f:
                return f.read().count("BEGIN CERTIFICATE")
        except OSError:
            return 0

    @staticmethod
    def package_version(name):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return "%s %s" % (name, r.stdout.strip() or "?")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--malloc-count", required=True, help="bench/malloc_count.c built as a shared library")
    p.add_argument("--out", required=True, help="the section's text (markdown)")
    p.add_argument("--rows", required=True, help="rows for the summary table")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--samples-pinned", type=int, default=5)
    p.add_argument("--idle", type=float, default=20.0)
    p.add_argument("--commands", type=int, default=200)
    p.add_argument("--limit", type=int, default=110, help="seconds before giving up")
    args = p.parse_args()
    args.malloc_count = os.path.abspath(args.malloc_count)

    def stop(signum, frame):
        raise SystemExit("bench: xmpp: %s" % ("out of time (%d s)" % args.limit if signum == signal.SIGALRM
                                               else "stopped by signal %d" % signum))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(args.limit)
    bench = Bench(args)
    try:
        say("prosody, test CA, panel stand-in")
        bench.setup()
        say("start-up to presence, %d + %d samples" % (args.samples, args.samples_pinned))
        bench.startups()
        say("idle: %.0f s" % args.idle)
        bench.idle()
        say("allocations: %d status + %d restart_process" % (args.commands, args.commands))
        bench.allocations()
        bench.write()
    except Failed as e:
        say(str(e))
        with open(args.out, "w") as f:
            f.write("## 7. Control channel (XMPP)\n\nNot measured in this run: %s.\n" % e)
        open(args.rows, "w").close()
        return 1
    finally:
        signal.alarm(0)
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
