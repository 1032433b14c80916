#!/usr/bin/env python3
"""The soak test (issue 6, item 4): the Embedded agent under a steady mixed load for a while.

    python3 tests/soak/soak.py [--seconds 600] [--write RELIABILITY.md] [--json FILE] [--keep]

runs .build-embedded/release/tinyagent (or $TINYAGENT_BIN).
(`make soak` = 10 minutes and RELIABILITY.md rewritten; `make soak-ci` runs
tests/soak/test_soak.py, 90 s, with the same pass criteria.) SOAK_SECONDS overrides the
default duration. Load, all at once:

* 50 real processes `soak-00` … `soak-49` (bench/hb_sender.c, each its own pid and UDP
  socket, so the agent verifies every one), heartbeating 10×/s; they are the SmartMeter
  application: listed in SmartMeter/tinyagent.json with their own command line as
  run_command, so every update stops all 50 and starts the new version of each
  (the version is on their command line);
* 1 000 bad datagrams a second (tests/soak/garbage.py: random bytes, cut JSON, wrong types,
  unknown keys, bad names, spoofed pids, deep nesting) to the same port;
* a `status` command every second from the panel stand-in over a private prosody;
* a `smart_meter_update` every 150 s (and one at 15 s) to the next version 1.0.N, a good
  archive from tests/update/zips.py over HTTPS (tests/https/faultserver.py), listing all
  50 processes: it must succeed, i.e. all 50 heartbeat the new version;
* prosody stopped and started again every 150 s (and at 35 s), alternately SIGTERM and
  SIGKILL. Status commands pause around a restart until the agent is back online: XMPP
  without stream management loses a message in flight when the server dies, which no
  client can prevent; the agent's own guarantee (journal, one answer) is what is measured.

Pass: agent RSS growth < 5 % from the end of the warm-up (min(120 s, half the run)) to
the end; no gap between WATCHDOG=1 pings (WATCHDOG_USEC 2 s) reaching 2 s; every command
answered exactly once; every update succeeded; all 50 processes known, running and alive
at the end, and no heartbeat timeout logged. Everything started here is stopped at the end
(by pid).
"""

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from conftest import PYTHON, AgentRun, NotifySocket, kernel_drops, pid_alive, wait_for  # noqa: E402
from test_xmpp import DEVICE_ID, configure, panel_for  # noqa: E402
sys.path.append(os.path.join(REPO, "tests", "https"))  # after tests/integration: its conftest.py is the one used
from faultserver import FaultServer  # noqa: E402
from pki import make_pki  # noqa: E402  (tests/xmpp, on the path through test_xmpp)
from prosody import Prosody, ensure_installed  # noqa: E402
import runguard  # noqa: E402  (tests/, on the path through conftest)

ZIPS = os.path.join(REPO, "tests", "update", "zips.py")
GARBAGE = os.path.join(HERE, "garbage.py")
SENDER_SOURCE = os.path.join(REPO, "bench", "hb_sender.c")
PROCESSES = 50
RATE = 10            # heartbeats a second per process
GARBAGE_RATE = 1000  # bad datagrams a second
WATCHDOG_USEC = 2_000_000
RSS_LIMIT = 5.0      # % growth after the warm-up
SETTINGS = {"heartbeat_timeout_ms": 5000, "kill_grace_ms": 1000, "restart_backoff_initial_ms": 200, "reconnect_spread_ms": 5000,
            "update_timeout_s": 60, "download_idle_timeout_ms": 10000,
            "max_names_per_uid": PROCESSES}  # all 50 start as root's, one uid


def say(text):
    print("soak: %s" % text, file=sys.stderr, flush=True)


def names():
    return ["soak-%02d" % i for i in range(PROCESSES)]


def kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Soak:
    def __init__(self, seconds, keep=False):
        self.seconds = seconds
        self.keep = keep
        # Everything started from here on (and what the agent starts) carries
        # the soak's scope; close() ends it (tests/runguard.py).
        self.scope = runguard.Scope().__enter__()
        self.warmup = min(120.0, seconds / 2)
        self.work = tempfile.mkdtemp(prefix="tinyagent-soak-")
        os.chmod(self.work, 0o755)
        self.root = os.path.join(self.work, "root")
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.sender = os.path.join(self.work, "hb_sender")
        self.files = os.path.join(self.work, "files")
        os.makedirs(self.files)
        self.started = []   # Popen objects started here
        self.server = self.https = self.panel = self.notify = self.agent = self.garbage = None
        self.rss = []        # (seconds since start, VmRSS KiB)
        self.link_rss = []
        self.sampling = threading.Event()
        self.sent = {}       # command_no -> (kind, monotonic time sent)
        self.updates = []    # {"no", "version", "sent", "answer", "seconds"}
        self.restarts = []   # {"how", "down_s", "agent_online_s"}
        self.failures = []
        self.drops_seen = None
        self.drop_times = []  # (second, kernel drops so far) when they changed

    # ---- set-up -------------------------------------------------------------------------

    def run_command(self, name, version):
        return "%s -p %d -n %s -r %d -V %s -A" % (self.sender, self.agent.port, name, RATE, version)

    def archive(self, version):
        path = os.path.join(self.files, "v%s.zip" % version)
        args = []
        for name in names():
            args += ["--process", "%s:%s:%s" % (name, version, self.run_command(name, version))]
        subprocess.run([PYTHON, ZIPS, "good", path] + args, check=True)
        return path

    def setup(self):
        ensure_installed()
        cc = shutil.which("gcc") or shutil.which("cc")
        subprocess.run([cc, "-O2", "-Wall", "-o", self.sender, SENDER_SOURCE], check=True)
        os.chmod(self.sender, 0o755)
        pki = make_pki(os.path.join(self.work, "pki"))
        self.pki = pki
        self.server = Prosody(os.path.join(self.work, "xmpp"), tls="starttls", cert=pki.server_cert, key=pki.server_key)
        for user in ("device", "panel"):
            self.server.register(user, user + "-secret")
        self.server.start()
        self.https = FaultServer(root=self.files, pki=pki)
        self.https.__enter__()

        self.notify = NotifySocket(os.path.join(self.work, "notify.sock"))
        self.agent = AgentRun(self.root, settings=SETTINGS, notify=self.notify, watchdog_usec=WATCHDOG_USEC)
        self.agent.samples = []
        configure(self.agent, self.server.port, pki)
        # SmartMeter/ of version 1.0.0, unpacked as a provisioned device would have it.
        with zipfile.ZipFile(self.archive("1.0.0")) as z:
            for info in z.infolist():
                if info.filename.startswith("SmartMeter/"):
                    z.extract(info, self.root)
                    os.chmod(os.path.join(self.root, info.filename), (info.external_attr >> 16) & 0o777 or 0o755)
        self.agent.start()
        self.agent_pid = self.agent.proc.pid
        wait_for(lambda: self.agent.status()["xmpp"] == "online", timeout=20, what="the agent online")
        # The 50 processes, started from outside the agent (as after a reboot before the
        # agent came up); the agent learns them from their heartbeats.
        smart_meter = os.path.join(self.root, "SmartMeter")
        for name in names():
            self.started.append(subprocess.Popen(self.run_command(name, "1.0.0").split(), cwd=smart_meter,
                                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL, start_new_session=True))
        wait_for(lambda: self.running("1.0.0"), timeout=30, what="50 processes running 1.0.0")
        self.panel = panel_for(self.server, pki)
        self.panel.start()

    def running(self, version):
        """All 50 known, running VERSION, with live pids."""
        procs = {p["name"]: p for p in self.agent.status()["processes"]}
        return all(n in procs and procs[n]["state"] == "running" and procs[n]["version"] == version
                   and pid_alive(procs[n]["pid"]) for n in names())

    # ---- the load -------------------------------------------------------------------------

    def sample(self):
        link = None
        while not self.sampling.is_set():
            t = time.monotonic() - self.t0
            rss = kib(self.agent_pid, "VmRSS")
            if rss is not None:
                self.rss.append((t, rss))
            if link is None or not pid_alive(link):
                link = self.link_pid()
            if link is not None:
                value = kib(link, "VmRSS")
                if value is not None:
                    self.link_rss.append((t, value))
            drops = kernel_drops(self.agent.port)
            if drops is not None and drops != self.drops_seen:
                self.drops_seen = drops
                self.drop_times.append((round(t), drops))
            for p in self.started:
                p.poll()  # reaps the processes the first update stopped
            self.sampling.wait(1.0)

    def link_pid(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.agent_pid, self.agent_pid)) as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            return None
        for pid in pids:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"xmpp-link" in f.read():
                        return pid
            except OSError:
                continue
        return None

    def answers(self):
        """command_no -> [(monotonic time, body)] of every answer received."""
        got = collections.defaultdict(list)
        for m in list(self.panel.messages):
            body = m["json"]
            if isinstance(body, dict) and "command_no" in body:
                got[body["command_no"]].append((m["time"], body))
        return got

    def outstanding(self):
        got = self.answers()
        return [no for no in self.sent if no not in got]

    def update_running(self):
        return bool(self.updates) and self.updates[-1]["answer"] is None

    def check_update(self):
        if not self.updates or self.updates[-1]["answer"] is not None:
            return
        u = self.updates[-1]
        got = self.answers().get(u["no"])
        if got:
            u["answer"] = got[0][1]
            u["seconds"] = got[0][0] - u["sent"]
            say("update %d to %s: success=%s %s (%.1f s)" % (u["no"], u["version"], u["answer"]["success"],
                                                          u["answer"]["remarks"], u["seconds"]))

    def send(self, no, body, kind):
        self.sent[no] = (kind, time.monotonic())
        self.panel.send("device@localhost", body)

    def start_update(self, no, version):
        url = self.https.url("/file/v%s.zip" % version)
        body = {"command": "smart_meter_update", "command_no": no, "url": url, "timeout_s": 60,
                "processes": [{"name": n, "version": dict(zip(("major", "minor", "patch"), map(int, version.split("."))))}
                              for n in names()]}
        self.updates.append({"no": no, "version": version, "sent": time.monotonic(), "answer": None, "seconds": None})
        say("update %d to %s at %.0f s" % (no, version, time.monotonic() - self.t0))
        self.send(no, body, "update")

    def restart_prosody(self):
        how = "SIGKILL" if len(self.restarts) % 2 else "SIGTERM"
        # No status command in flight (see the module's doc).
        deadline = time.monotonic() + 15
        while [n for n in self.outstanding() if self.sent[n][0] == "status"] and time.monotonic() < deadline:
            time.sleep(0.05)
        t = time.monotonic()
        say("prosody restart (%s) at %.0f s" % (how, t - self.t0))
        if how == "SIGKILL":
            self.server.kill()
        else:
            self.server.stop()
        wait_for(lambda: self.agent.status()["xmpp"] != "online", timeout=10, what="the agent to notice")
        time.sleep(1.0)
        self.server.start()
        up = time.monotonic()
        self.panel.reconnect()
        wait_for(lambda: self.agent.status()["xmpp"] == "online", timeout=60, interval=0.1,
                 what="the agent online again")
        self.restarts.append({"how": how, "down_s": up - t, "agent_online_s": time.monotonic() - up})

    def run(self):
        self.setup()
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(self.agent_pid)
        sampler = threading.Thread(target=self.sample, name="rss", daemon=True)
        sampler.start()
        # Spoofed heartbeats name a few of the 50's (first) pids.
        pids = ",".join(str(p.pid) for p in self.started[:5])
        self.garbage = subprocess.Popen([PYTHON, GARBAGE, "--port", str(self.agent.port), "--rate", str(GARBAGE_RATE),
                                         "--spoof-pids", pids, "--known", ",".join(names())],
                                        stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.kdrops0 = kernel_drops(self.agent.port) or 0
        s0 = self.agent.status()["heartbeats"]
        self.accepted0, self.dropped0 = s0["accepted"], s0["dropped"]

        updates = [15.0]
        restarts = [35.0]
        t = self.warmup + 10
        while t < self.seconds - 25:
            updates.append(t)
            if t + 75 < self.seconds - 10:
                restarts.append(t + 75)
            t += 150
        restarts = [r for r in restarts if r < self.seconds - 10]
        say("%d s: warm-up %.0f s, updates at %s s, prosody restarts at %s s"
            % (self.seconds, self.warmup, [int(u) for u in updates], [int(r) for r in restarts]))
        versions = ["1.0.%d" % (i + 1) for i in range(len(updates))]
        for v in versions:
            self.archive(v)

        status_no, update_no = 1000, 10
        next_status = self.t0
        end = self.t0 + self.seconds
        while time.monotonic() < end:
            now = time.monotonic()
            elapsed = now - self.t0
            self.check_update()
            if updates and elapsed >= updates[0] and not self.update_running():
                updates.pop(0)
                self.start_update(update_no, versions[len(self.updates)])
                update_no += 1
            if restarts and elapsed >= restarts[0] and not self.update_running():
                restarts.pop(0)
                self.restart_prosody()
                next_status = max(next_status, time.monotonic())
                continue
            if now >= next_status:
                self.send(status_no, {"command": "status", "command_no": status_no}, "status")
                status_no += 1
                next_status += 1.0
                if next_status < now:
                    next_status = now + 1.0
            time.sleep(max(0.0, min(0.05, next_status - time.monotonic())))
        self.finish()
        return self.figures

    # ---- the end ----------------------------------------------------------------------------

    def finish(self):
        elapsed = time.monotonic() - self.t0
        self.garbage.send_signal(signal.SIGTERM)
        out, _ = self.garbage.communicate(timeout=10)
        garbage = json.loads(out.strip().splitlines()[-1])
        # Answers still owed: the last status commands, an update still running.
        wait_until = time.monotonic() + (90 if self.update_running() else 15)
        while time.monotonic() < wait_until and self.outstanding():
            self.check_update()
            time.sleep(0.1)
        self.check_update()
        time.sleep(1.0)  # a duplicate would come now
        self.sampling.set()
        status = self.agent.status()
        cpu = cpu_seconds(self.agent_pid) - self.cpu0
        kdrops = (kernel_drops(self.agent.port) or 0) - self.kdrops0

        got = self.answers()
        sent_status = [n for n, (k, _) in self.sent.items() if k == "status"]
        answered = [n for n in self.sent if n in got]
        duplicates = sum(len(got[n]) - 1 for n in got)
        unexpected = [n for n in got if n not in self.sent]
        wrong_from = [n for n in got for _, b in got[n] if b.get("from") != DEVICE_ID]
        latencies = sorted(got[n][0][0] - self.sent[n][1] for n in sent_status if n in got)
        failed_status = [n for n in sent_status if n in got and got[n][0][1].get("success") is not True]

        procs = {p["name"]: p for p in status["processes"]}
        lost = [n for n in names() if n not in procs or procs[n]["state"] != "running" or not pid_alive(procs[n]["pid"])]
        extra = [n for n in procs if n not in names()]

        pings = [t for t, m in self.notify.collect() if m == "WATCHDOG=1"]
        pings = [t - self.t0 for t in pings if t >= self.t0]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        max_gap = max(gaps) if gaps else float("inf")

        def rss_at(t):
            return min(self.rss, key=lambda s: abs(s[0] - t))[1]
        rss_start, rss_warm, rss_end = self.rss[0][1], rss_at(self.warmup), self.rss[-1][1]
        growth = 100.0 * (rss_end - rss_warm) / rss_warm
        after = [r for t, r in self.rss if t >= self.warmup]

        # Silence noticed by the agent (50 senders at 10/s: none should reach 5 s).
        timeouts = 0
        logs = os.path.join(self.root, "logs")
        for name in os.listdir(logs):
            if name.startswith("tinyagent.log"):
                with open(os.path.join(logs, name), errors="replace") as fh:
                    timeouts += sum(1 for line in fh if ": no heartbeat for " in line)

        updates_ok = [u for u in self.updates if u["answer"] and u["answer"]["success"] is True]
        f = {
            "seconds": round(elapsed, 1), "warmup_s": self.warmup,
            "rss_start_kib": rss_start, "rss_warm_kib": rss_warm, "rss_end_kib": rss_end,
            "rss_max_after_warmup_kib": max(after), "rss_min_after_warmup_kib": min(after),
            "rss_growth_pct": round(growth, 2), "vmhwm_kib": kib(self.agent_pid, "VmHWM"),
            "link_rss_kib": [self.link_rss[0][1], self.link_rss[-1][1]] if self.link_rss else None,
            "watchdog_pings": len(pings), "watchdog_max_gap_s": round(max_gap, 3),
            "commands_sent": len(self.sent), "status_sent": len(sent_status), "answered": len(answered),
            "missing": sorted(n for n in self.sent if n not in got), "duplicates": duplicates,
            "unexpected": unexpected, "wrong_from": wrong_from, "status_failed": failed_status,
            "status_latency_ms": {"median": round(1000 * statistics.median(latencies), 1),
                                  "p99": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
                                  "max": round(1000 * latencies[-1], 1)} if latencies else None,
            "updates": [{"no": u["no"], "version": u["version"], "success": u["answer"]["success"] if u["answer"] else None,
                         "remarks": u["answer"]["remarks"] if u["answer"] else "no answer",
                         "seconds": round(u["seconds"], 1) if u["seconds"] else None} for u in self.updates],
            "updates_ok": len(updates_ok),
            "prosody_restarts": len(self.restarts),
            "prosody_reconnect_s": [round(r["agent_online_s"], 1) for r in self.restarts],
            "bounces": len(self.panel.errors),
            "processes_known": len([n for n in names() if n in procs]), "processes_lost": lost, "processes_extra": extra,
            "process_restarts": sum(p["restarts"] for p in procs.values()),
            "heartbeat_timeouts": timeouts,
            "heartbeats_accepted": status["heartbeats"]["accepted"] - self.accepted0,
            "agent_dropped": status["heartbeats"]["dropped"] - self.dropped0,
            "garbage_sent": garbage["sent"], "garbage_kinds": garbage["kinds"],
            "kernel_drops": kdrops, "kernel_drops_at": self.drop_times[-20:], "agent_cpu_s": round(cpu, 1), "agent_cpu_pct": round(100 * cpu / elapsed, 1),
            "loadavg": open("/proc/loadavg").read().split()[:3],
        }
        self.figures = f
        fail = self.failures
        if growth >= RSS_LIMIT:
            fail.append("RSS grew %.2f %% after the warm-up (%d -> %d KiB)" % (growth, rss_warm, rss_end))
        if max_gap >= WATCHDOG_USEC / 1e6:
            fail.append("WATCHDOG=1 gap of %.3f s (WATCHDOG_USEC %.1f s)" % (max_gap, WATCHDOG_USEC / 1e6))
        if f["missing"] or duplicates or unexpected or wrong_from or failed_status:
            fail.append("commands: missing %s, duplicates %d, unexpected %s, wrong from %s, failed status %s"
                        % (f["missing"], duplicates, unexpected, wrong_from, failed_status))
        if len(updates_ok) != len(self.updates) or not self.updates:
            fail.append("updates: %s" % f["updates"])
        if lost or extra or timeouts:
            fail.append("processes lost %s, extra %s; heartbeat timeouts %d" % (lost, extra, timeouts))
        if fail:
            log = self.agent.log()
            fail.append("agent log (tail):\n" + log[-3000:])

    def close(self):
        """Stops everything started here: the agent, then the rest of the scope."""
        if self.garbage and self.garbage.poll() is None:
            self.garbage.kill()
            self.garbage.wait()
        if self.agent:
            self.agent.stop(signal.SIGKILL)
        self.sampling.set()
        for closer in (self.panel and self.panel.stop, self.https and (lambda: self.https.__exit__(None, None, None)),
                       self.server and self.server.close, self.notify and self.notify.close):
            if closer:
                try:
                    closer()
                except Exception as e:  # noqa: BLE001 - clean up the rest
                    say("clean-up: %r" % e)
        self.scope.__exit__(None, None, None)
        for p in self.started:
            p.wait()
        if self.keep or self.failures:
            say("work folder kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# ---- RELIABILITY.md ------------------------------------------------------------------------

BEGIN, END = "<!-- soak:begin (tests/soak/soak.py --write) -->", "<!-- soak:end -->"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs, Linux %s" % (cpu, os.cpu_count(), os.uname().release)


def section(f, command, failures):
    u = f["updates"]
    lines = [
        BEGIN,
        "Command: `%s` — %s s on %s (load average at the end %s). Result: **%s**."
        % (command, f["seconds"], machine(), " ".join(f["loadavg"]), "PASS" if not failures else "FAIL"),
        "",
        "| figure | value | pass criterion |",
        "|---|---|---|",
        "| agent RSS: start / after the %d s warm-up / end | %d / %d / %d KiB (after warm-up: min %d, max %d) | |"
        % (f["warmup_s"], f["rss_start_kib"], f["rss_warm_kib"], f["rss_end_kib"], f["rss_min_after_warmup_kib"],
           f["rss_max_after_warmup_kib"]),
        "| agent RSS growth after the warm-up | %+.2f %% | < 5 %% |" % f["rss_growth_pct"],
        "| xmpp-link process RSS: start / end | %s | |"
        % (" / ".join("%d KiB" % v for v in f["link_rss_kib"]) if f["link_rss_kib"] else "—"),
        "| `WATCHDOG=1` pings; longest gap | %d; %.3f s | gap < 2 s (`WATCHDOG_USEC=2000000`) |"
        % (f["watchdog_pings"], f["watchdog_max_gap_s"]),
        "| commands sent / answered / duplicates / missing | %d / %d / %d / %d | every one answered exactly once |"
        % (f["commands_sent"], f["answered"], f["duplicates"], len(f["missing"])),
        "| `status` answer time: median / p99 / max | %s / %s / %s ms | |"
        % ((f["status_latency_ms"]["median"], f["status_latency_ms"]["p99"], f["status_latency_ms"]["max"])
           if f["status_latency_ms"] else ("—",) * 3),
        "| updates succeeded (all 50 processes on the new version) | %d of %d (%s) | all |"
        % (f["updates_ok"], len(u), ", ".join("%s in %s s" % (x["version"], x["seconds"]) for x in u)),
        "| prosody restarts; agent back online after | %d; %s s | |"
        % (f["prosody_restarts"], ", ".join(str(s) for s in f["prosody_reconnect_s"]) or "—"),
        "| processes known and running at the end; heartbeat timeouts logged | %d of 50 (lost: %s); %d | none lost, no timeout |"
        % (PROCESSES - len(f["processes_lost"]), ", ".join(f["processes_lost"]) or "none", f["heartbeat_timeouts"]),
        "| heartbeats that parsed (the 50's ~500/s and the well-formed spoofed ones, ignored) | %d (%.0f/s) | |"
        % (f["heartbeats_accepted"], f["heartbeats_accepted"] / f["seconds"]),
        "| bad datagrams sent / dropped by the parser (counted) | %d (%.0f/s) / %d | |"
        % (f["garbage_sent"], f["garbage_sent"] / f["seconds"], f["agent_dropped"]),
        "| kernel drops on the heartbeat socket | %d | |" % f["kernel_drops"],
        "| agent CPU | %.1f s (%.1f %% of one CPU) | |" % (f["agent_cpu_s"], f["agent_cpu_pct"]),
        "",
    ]
    if failures:
        lines += ["Failures:", ""] + ["- " + x.splitlines()[0] for x in failures] + [""]
    lines.append(END)
    return "\n".join(lines)


def write(path, text):
    with open(path) as fh:
        doc = fh.read()
    if BEGIN not in doc or END not in doc:
        raise SystemExit("soak: %s has no soak markers" % path)
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path + ".new", "w") as fh:
        fh.write(head + text + tail)
    os.replace(path + ".new", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--write", metavar="RELIABILITY.md")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    soak = Soak(args.seconds, keep=args.keep)

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        figures = soak.run()
    finally:
        soak.close()
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(figures, failures=soak.failures), fh, indent=1)
    if args.write:
        command = "make soak" if args.seconds == 600 else "SOAK_SECONDS=%d make soak" % args.seconds
        write(args.write, section(figures, command, soak.failures))
    for failure in soak.failures:
        say("FAIL: " + failure)
    return 1 if soak.failures else 0


if __name__ == "__main__":
    sys.exit(main())
