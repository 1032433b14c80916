"""Harness for the integration tests: the Embedded `tinyagent` binary run on a
temporary root, real sample processes, real signals, and a systemd notify
socket bound by the test (no systemd needed)."""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
import runguard  # noqa: E402
BINARY = os.environ.get("TINYAGENT_BIN", os.path.join(REPO, ".build-embedded", "release", "tinyagent"))
# Debian's interpreter: readable by every user (pyenv's lives under /root).
PYTHON = "/usr/bin/python3"
# The app user (DESIGN.md §3): owns SmartMeter/, so the processes the agent
# (re)starts run as it, never as root. `ta-` so that a sweep finds it.
APP_USER = "ta-app"


def app_user():
    """The app user's pwd entry, created (a system user, no home) if missing."""
    import pwd
    try:
        return pwd.getpwnam(APP_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", APP_USER],
                       check=True)
        return pwd.getpwnam(APP_USER)


def wrapper():
    """TINYAGENT_WRAPPER: a command put in front of `tinyagent run` (valgrind,
    see tests/sanitize); the CLI the tests run is not wrapped."""
    return shlex.split(os.environ.get("TINYAGENT_WRAPPER", ""))


def timeout_scale():
    """TINYAGENT_TIMEOUT_SCALE: waits are this many times longer (an agent
    under valgrind is slow to start, to log in and to stop)."""
    return float(os.environ.get("TINYAGENT_TIMEOUT_SCALE", "1"))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    timeout *= timeout_scale()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


def kernel_drops(port):
    """Datagrams the kernel dropped (a full receive queue) at the socket bound to
    127.0.0.1:PORT: the drops column of /proc/net/udp."""
    key = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 12 and fields[1] == key:
                return int(fields[-1])
    return None


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def helper_pids(agent_pid, name):
    """Pids of the agent's children running its helper program in role NAME (xmpp-link:
    tinyagent-link, update-worker: tinyagent-fetch), also under valgrind."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        # Anywhere in the arguments: under valgrind they start with valgrind's own.
        if ppid == agent_pid and name.encode() in args[1:]:
            found.append(int(entry))
    return found


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket the agent writes to,
    read all the time as systemd does (sd_notify blocks when the socket's
    queue is full), by a process of its own (notify_reader.py) that stamps
    each message with CLOCK_MONOTONIC as it arrives; comparable with the
    test's time.monotonic()."""

    def __init__(self, path):
        self.path = path
        self.reader = subprocess.Popen([PYTHON, os.path.join(HERE, "notify_reader.py"), path],
                                       stdout=subprocess.PIPE, text=True)
        assert self.reader.stdout.readline() == "ready\n", "the notify reader did not start"
        self.messages = []  # (monotonic time, text)
        self.lock = threading.Lock()
        self.collector = threading.Thread(target=self._collect, daemon=True)
        self.collector.start()

    def _collect(self):
        for line in self.reader.stdout:
            stamp, text = line.rstrip("\n").split(" ", 1)
            with self.lock:
                self.messages.append((float(stamp), text))

    def collect(self):
        with self.lock:
            return list(self.messages)

    def texts(self):
        return [m for _, m in self.collect()]

    def close(self):
        self.reader.kill()
        self.reader.wait()
        self.collector.join()
        self.reader.stdout.close()


class AgentRun:
    """One `tinyagent run` on a root folder laid out like the device's."""

    def __init__(self, root, settings=None, notify=None, watchdog_usec=None, env=None, binary=None):
        self.root = root
        self.binary = binary or BINARY  # its helper programs are beside it
        self.env = env or {}  # more environment for `tinyagent run` only
        self.port = free_udp_port()
        self.notify = notify
        self.watchdog_usec = watchdog_usec
        self.settings = settings
        self.proc = None
        for folder in ("SmartMeter", "bin", "cfg", "logs", "wdog"):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        os.chmod(root, 0o755)
        shutil.copy(os.path.join(REPO, "helpers", "python", "tinyagent_heartbeat.py"), os.path.join(root, "bin"))
        for sample in ("meter_reader.py", "meter_script.sh"):
            shutil.copy(os.path.join(REPO, "samples", "SmartMeter", sample), os.path.join(root, "SmartMeter"))
        # What the test copied must be reachable by the other users of the tests; the
        # agent's own state (wdog/, root's 0600 files) is left as the agent made it.
        for folder in ("SmartMeter", "bin"):
            for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
                os.chmod(dirpath, 0o755)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o755)
        # SmartMeter/ is the app user's (unless the test gave it to its own).
        if os.stat(os.path.join(root, "SmartMeter")).st_uid == 0:
            app = app_user()
            os.chown(os.path.join(root, "SmartMeter"), app.pw_uid, app.pw_gid)
        if settings is not None:
            with open(os.path.join(root, "cfg", "agent.json"), "w") as f:
                f.write(settings if isinstance(settings, str) else json.dumps(settings))

    def start(self, wait=True):
        """Runs the agent; waits until it answers on its control socket, unless not `wait`."""
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        if self.notify:
            env["NOTIFY_SOCKET"] = self.notify.path
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        env.update(self.env)
        self.stderr = open(os.path.join(self.root, "agent.stderr"), "ab")
        self.proc = subprocess.Popen(wrapper() + [self.binary, "run", "--root", self.root, "--heartbeat-port", str(self.port)],
                                     env=env, stdout=self.stderr, stderr=self.stderr, start_new_session=True)
        if wait:
            wait_for(lambda: self.status_or_none() is not None, what="the agent's control socket")
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10 * timeout_scale())
        if self.proc:
            self.stderr.close()
        return self.proc.returncode if self.proc else None

    def cli(self, *args, **kwargs):
        return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=10, **kwargs)

    def status_or_none(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("the agent exited with %s:\n%s" % (self.proc.returncode, self.log()))
        r = self.cli("status", "--root", self.root, "--json")
        return json.loads(r.stdout) if r.returncode == 0 else None

    def status(self):
        s = self.status_or_none()
        assert s is not None, "no status from the agent"
        return s

    def process(self, name):
        for p in self.status()["processes"]:
            if p["name"] == name:
                return p
        return None

    def log(self):
        try:
            with open(os.path.join(self.root, "logs", "tinyagent.log")) as f:
                return f.read()
        except OSError:
            return ""

    def start_sample(self, name, *args, user=None, group=None, extra_groups=None, interval=0.2):
        """meter_reader.py started as a process the agent did not start."""
        cmd = [PYTHON, os.path.join(self.root, "SmartMeter", "meter_reader.py"), "--name", name,
               "--interval", str(interval), "--port", str(self.port)] + list(args)
        proc = subprocess.Popen(cmd, cwd=os.path.join(self.root, "SmartMeter"), user=user, group=group, extra_groups=extra_groups,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.samples.append(proc)
        return proc

    samples = []


HELPER_USER = "tinyagent"


@pytest.fixture(scope="session", autouse=True)
def helper_user():
    """The system user the agent runs its XMPP link and update worker as
    (the .deb and provisioning create it; without it the agent falls back to
    `nobody` with a warning)."""
    if subprocess.run(["id", "-u", HELPER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", HELPER_USER],
                       check=True)
    return HELPER_USER


@pytest.fixture
def root(monkeypatch):
    """A temporary root folder. Every process the test starts, and everything
    those start (the agents' supervised processes and helpers, in sessions of
    their own, as other users), carries a scope of the test's own in its
    environment (tests/runguard.py); when the test ends, whatever is left of
    it is killed, then the folder removed."""
    sid, env = runguard.scope()
    monkeypatch.setenv(runguard.SCOPE, env[runguard.SCOPE])
    path = tempfile.mkdtemp(prefix="tinyagent-it-")
    os.chmod(path, 0o755)
    yield path
    runguard.end_scope(sid)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agents(root):
    """Makes agents on `root`; stops them (SIGKILL) when the test ends (`root`
    then ends the processes they started)."""
    made = []

    def make(settings=None, **kwargs):
        agent = AgentRun(root, settings=settings, **kwargs)
        agent.samples = []
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.stop(signal.SIGKILL)
        for proc in agent.samples:
            proc.kill()
            proc.wait()


@pytest.fixture
def notify(root):
    sock = NotifySocket(os.path.join(root, "notify.sock"))
    yield sock
    sock.close()


FAST = {"heartbeat_timeout_ms": 1500, "kill_grace_ms": 500, "restart_backoff_initial_ms": 200}
