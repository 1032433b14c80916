#!/usr/bin/env python3
"""bench/compare.py: tinyagent against monit and supervisord (issue 6) for BENCHMARKS.md.

    compare.py --bin TINYAGENT --dummy DUMMY --work DIR --out SECTION.md --rows ROWS.md

Called by bench/run.sh (which builds bench/dummy.c); runs on its own too. Each
supervisor runs in the foreground from a temporary config, supervising the same
dummy process (bench/dummy.c: heartbeats to tinyagent's UDP port and touches a
file, which is the only way monit can see a hang; supervisord has no liveness
check at all). Measured side by side, one after the other:

1. installed size (Debian's Installed-Size; tinyagent: its stripped binary);
2. idle RSS and wake-ups per second over 20 s, the dummy beating every 5 s;
3. time from SIGKILL of the dummy to its new instance running, 5 times each;
4. whether and how fast a hung process (alive, silent) is detected and
   restarted: from its last sign of life to its new instance.

About 3 minutes. Everything it starts is stopped at the end (also on SIGTERM).
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import aptget  # noqa: E402

MONIT, SUPERVISOR = "monit=1:5.33.0-1", "supervisor=4.2.5-1"
IDLE_SECONDS = 20
KILLS = 5
HANG_TIMEOUT_S = 2  # tinyagent's heartbeat deadline, monit's timestamp limit
started = []


def say(text):
    print("bench: compare: " + text, file=sys.stderr, flush=True)


def install():
    missing = [p for p in (MONIT, SUPERVISOR)
               if subprocess.run(["dpkg", "-s", p.split("=")[0]], capture_output=True).returncode]
    if not missing:
        return
    say("installing " + " ".join(missing))
    try:
        aptget.install(*missing)
    except subprocess.CalledProcessError:  # the pinned version is gone: the current one
        aptget.install(*[p.split("=")[0] for p in missing])


def installed_kib(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Installed-Size} ${Version}", package], capture_output=True, text=True)
    size, version = out.stdout.split()
    return int(size), version


def dummy_starts(log):
    """[(pid, monotonic seconds)] of each start of the dummy, and hang times."""
    starts, hangs = [], []
    try:
        with open(log) as f:
            for line in f:
                what, pid, t = line.split()
                (starts if what == "start" else hangs if what == "hang" else []).append((int(pid), int(t) / 1e9))
    except OSError:
        pass
    return starts, hangs


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise RuntimeError("timed out waiting for " + what)


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wakeups(pid):
    return proc_status(pid, "voluntary_ctxt_switches") + proc_status(pid, "nonvoluntary_ctxt_switches")


class Supervised:
    """One supervisor with the dummy: `start` runs it in the foreground."""

    def __init__(self, name, work, dummy, hang=False):
        self.name, self.dir, self.dummy = name, os.path.join(work, name + ("-hang" if hang else "")), dummy
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "dummy.log")
        self.touch = os.path.join(self.dir, "alive")
        self.pidfile = os.path.join(self.dir, "dummy.pid")
        self.hang = hang
        self.proc = None

    def dummy_args(self, interval_ms, port=None):
        args = [self.dummy, self.log, "--interval-ms", str(interval_ms), "--touch", self.touch, "--pidfile", self.pidfile]
        if port:
            args += ["--port", str(port), "--name", "dummy"]
        if self.hang:
            args += ["--hang-after-ms", "3000"]
        return args

    def launch(self, argv):
        self.proc = subprocess.Popen(argv, cwd=self.dir, stdout=open(os.path.join(self.dir, "out.log"), "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        started.append(self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run(["pkill", "-KILL", "-f", self.dir], capture_output=True)


class Tinyagent(Supervised):
    def start(self, binary, interval_ms):
        port = free_udp_port()
        settings = {"heartbeat_timeout_ms": HANG_TIMEOUT_S * 1000 if self.hang else 30000, "kill_grace_ms": 500,
                    "restart_backoff_initial_ms": 0, "stable_after_ms": 1000, "restart_limit": 100,
                    # The dummy runs as root, as monit's and supervisord's do: root's settings say
                    # it may be restarted as root (else a root sender's command runs as the app user).
                    "root_processes": ["dummy"]}
        for folder in ("cfg", "SmartMeter"):
            os.makedirs(os.path.join(self.dir, folder))
        with open(os.path.join(self.dir, "cfg", "agent.json"), "w") as f:
            json.dump(settings, f)
        self.launch([binary, "run", "--root", self.dir, "--heartbeat-port", str(port)])
        wait_for(lambda: os.path.exists(os.path.join(self.dir, "wdog", "agent.sock")), 5, "tinyagent's socket")
        # It learns the dummy from its heartbeats (run_command included), as on the device.
        subprocess.Popen(self.dummy_args(interval_ms, port), start_new_session=True)
        wait_for(lambda: '"name":"dummy"' in subprocess.run([binary, "status", "--root", self.dir, "--json"],
                                                            capture_output=True, text=True).stdout, 5, "the dummy known")
        self.config = "cfg/agent.json: " + json.dumps(settings)


class Monit(Supervised):
    def start(self, interval_ms):
        rc = os.path.join(self.dir, "monitrc")
        command = " ".join(self.dummy_args(interval_ms))
        lines = ["set daemon 1", "set pidfile %s/monit.pid" % self.dir, "set statefile %s/monit.state" % self.dir,
                 "set idfile %s/monit.id" % self.dir, "set logfile %s/monit.log" % self.dir,
                 'check process dummy with pidfile %s' % self.pidfile,
                 '  start program = "/bin/sh -c \'%s &\'"' % command,
                 '  stop program = "/bin/sh -c \'kill $(cat %s)\'"' % self.pidfile]
        if self.hang:
            lines += ["check file alive with path %s" % self.touch,
                      '  if timestamp > %d seconds then exec "/bin/sh -c \'kill -9 $(cat %s)\'"' % (HANG_TIMEOUT_S, self.pidfile)]
        with open(rc, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(rc, 0o600)
        self.launch(["monit", "-I", "-c", rc])
        wait_for(lambda: dummy_starts(self.log)[0], 10, "monit to start the dummy")
        self.config = "; ".join(lines)


class Supervisord(Supervised):
    def start(self, interval_ms):
        conf = os.path.join(self.dir, "supervisord.conf")
        lines = ["[supervisord]", "logfile=%s/supervisord.log" % self.dir, "pidfile=%s/supervisord.pid" % self.dir,
                 "childlogdir=%s" % self.dir, "[program:dummy]", "command=%s" % " ".join(self.dummy_args(interval_ms)),
                 "autorestart=true", "startsecs=1", "startretries=100"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.launch(["supervisord", "-n", "-c", conf])
        wait_for(lambda: dummy_starts(self.log)[0], 10, "supervisord to start the dummy")
        self.config = "; ".join(lines)


def free_udp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make(kind, work, dummy, binary, interval_ms, hang=False):
    s = {"tinyagent": Tinyagent, "monit": Monit, "supervisord": Supervisord}[kind](kind, work, dummy, hang)
    s.start(binary, interval_ms) if kind == "tinyagent" else s.start(interval_ms)
    return s


def idle(s):
    pid = s.proc.pid
    time.sleep(3)
    w0 = wakeups(pid)
    time.sleep(IDLE_SECONDS)
    return proc_status(pid, "VmRSS"), (wakeups(pid) - w0) / IDLE_SECONDS


def restarts(s):
    """SIGKILL the dummy (after a warm-up kill: tinyagent adopts the first
    instance, which is not its child), seconds until the next instance ran."""
    latencies = []
    for i in range(KILLS + 1):
        count = len(dummy_starts(s.log)[0])
        pid = dummy_starts(s.log)[0][-1][0]
        time.sleep(1.5)  # running longer than supervisord's startsecs and tinyagent's stable_after
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        new = wait_for(lambda: len(dummy_starts(s.log)[0]) > count and dummy_starts(s.log)[0][-1], 40, "a restart")
        if i > 0:
            latencies.append((new[1] - killed) * 1000)
    return latencies


def hang(s, limit=30):
    """Seconds from the dummy's last sign of life (it went silent) to its
    next instance; None when nothing happened within `limit`."""
    wait_for(lambda: dummy_starts(s.log)[1], 10, "the dummy to hang")
    silent_since = dummy_starts(s.log)[1][-1][1]
    try:
        restarted = wait_for(lambda: [t for _, t in dummy_starts(s.log)[0] if t > silent_since], limit, "a restart")
        return restarted[0] - silent_since
    except RuntimeError:
        return None


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--bin", "--dummy", "--work", "--out", "--rows"):
        ap.add_argument(flag, required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    install()
    os.makedirs(a.work, exist_ok=True)
    kinds = ("tinyagent", "monit", "supervisord")
    made = []
    results = {k: {} for k in kinds}
    try:
        for kind in kinds:
            say(kind + ": idle and restarts")
            s = make(kind, a.work, a.dummy, a.bin, 5000)
            made.append(s)
            results[kind]["rss"], results[kind]["wake"] = idle(s)
            results[kind]["restart"] = restarts(s)
            results[kind]["config"] = s.config
            s.stop()
            say(kind + ": a hung process")
            h = make(kind, a.work, a.dummy, a.bin, 200, hang=True)
            made.append(h)
            results[kind]["hang"] = hang(h)
            h.stop()
    finally:
        for s in made:
            s.stop()
    strip = os.path.join(a.work, "tinyagent.stripped")
    shutil.copy(a.bin, strip)
    subprocess.run(["strip", strip], check=True)
    sizes = {"tinyagent": (os.path.getsize(strip) // 1024, "stripped x86_64 Embedded binary; needs libstrophe, libzip, libsystemd")}
    for kind, package in (("monit", "monit"), ("supervisord", "supervisor")):
        kib, version = installed_kib(package)
        sizes[kind] = (kib, "Debian %s %s Installed-Size" % (package, version)
                       + ("; plus Python 3 (python3.11-minimal, libpython3.11-stdlib: %d KiB)"
                          % sum(installed_kib(p)[0] for p in ("python3.11-minimal", "libpython3.11-stdlib"))
                          if kind == "supervisord" else ""))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

    def med(xs):
        return "%.0f ms (max %.0f, n = %d)" % (statistics.median(xs), max(xs), len(xs))

    def hung(kind):
        h = results[kind]["hang"]
        return "not detected within 30 s" if h is None else "restarted %.1f s after it went silent" % h
    def three(f):
        return " / ".join(f(k) for k in kinds)
    rows = [
        "| Against monit / supervisord (§9): SIGKILL → running again, median | %s ms | — | |"
        % three(lambda k: "%.0f" % statistics.median(results[k]["restart"])),
        "| Against monit / supervisord (§9): hung process restarted after | %s | — | |"
        % three(lambda k: "never" if results[k]["hang"] is None else "%.1f s" % results[k]["hang"]),
        "| Against monit / supervisord (§9): idle RSS, wake-ups/s | %s | — | |"
        % three(lambda k: "%d KiB, %.2f" % (results[k]["rss"], results[k]["wake"])),
    ]
    table = ["| | Installed | Idle RSS KiB | Wake-ups/s | SIGKILL → running again | Hung (alive, silent) process |",
             "|---|---|---|---|---|---|"]
    for kind in kinds:
        r = results[kind]
        table.append("| %s | %d KiB (%s) | %d | %.2f | %s | %s |" % (
            kind, sizes[kind][0], sizes[kind][1], r["rss"], r["wake"], med(r["restart"]), hung(kind)))
    text = """## 9. Against monit and supervisord

Machine: %s, %d CPUs. `bench/compare.py` (run by `bench/run.sh`): each supervisor in the
foreground from a temporary config, supervising the same `bench/dummy.c` (one beat every
5 s for the idle figures: a UDP heartbeat to tinyagent, a touched file that monit can check),
one after the other. Idle: VmRSS and voluntary + nonvoluntary context switches of the
supervisor's own process over %d s. SIGKILL → running: the dummy is killed, the time until its
next instance logs its start (CLOCK_MONOTONIC), %d times after one warm-up kill (tinyagent
adopted the first instance, which is not its child: it learns of that exit at the heartbeat
deadline). Hung: the dummy goes silent after 3 s but stays alive (beat/touch every 200 ms
before); tinyagent's heartbeat deadline and monit's timestamp limit are both %d s; monit
needs the process to touch a file and a custom action (`exec kill -9`), supervisord has no
liveness check.

%s

Configs:
- tinyagent: `%s`
- monit (`monit -I -c monitrc`, `set daemon 1` is its shortest cycle): `%s`
- supervisord (`supervisord -n -c supervisord.conf`): `%s`
""" % (cpu, os.cpu_count(), IDLE_SECONDS, KILLS, HANG_TIMEOUT_S, "\n".join(table),
       results["tinyagent"]["config"], results["monit"]["config"], results["supervisord"]["config"])
    with open(a.out, "w") as f:
        f.write(text)
    with open(a.rows, "w") as f:
        f.write("\n".join(rows) + "\n")
    say("done")


if __name__ == "__main__":
    main()
