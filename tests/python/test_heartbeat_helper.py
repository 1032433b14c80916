"""Tests for helpers/python/tinyagent_heartbeat.py and the SmartMeter samples.

Each test listens on its own UDP socket (127.0.0.1, port 0) in place of the
agent and checks the exact datagrams that arrive.
"""

import errno
import importlib
import json
import os
import queue
import select
import shlex
import socket
import subprocess
import sys
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
HELPER_DIR = os.path.join(REPO, "helpers", "python")
HELPER = os.path.join(HELPER_DIR, "tinyagent_heartbeat.py")
METER_READER = os.path.join(REPO, "samples", "SmartMeter", "meter_reader.py")
METER_SCRIPT = os.path.join(REPO, "samples", "SmartMeter", "meter_script.sh")
# The Pis run Python 3.5, which no Debian 12 package provides. The 3.5 floor is
# checked statically by vermin (in the venv; never skipped), and the helper and
# the sample run under the oldest interpreter this machine has: pyenv's 3.6 where
# it exists (the development machine), else Debian's own.
OLD_PYTHON = next(p for p in ("/root/.pyenv/versions/3.6.15/bin/python3", "/usr/bin/python3") if os.path.exists(p))

sys.path.insert(0, HELPER_DIR)
tinyagent_heartbeat = importlib.import_module("tinyagent_heartbeat")
Heartbeat = tinyagent_heartbeat.Heartbeat

KEYS = {"process_name", "pid", "run_command", "version"}


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def port_of(sock):
    return sock.getsockname()[1]


def receive(sock, timeout=2.0):
    """One datagram as (decoded JSON object, raw bytes, sender address)."""
    sock.settimeout(timeout)
    data, sender = sock.recvfrom(65536)
    return json.loads(data.decode("utf-8")), data, sender


def assert_valid_heartbeat(msg, raw):
    """The agent's rules: exactly four keys, right types and ranges."""
    assert set(msg) == KEYS
    assert len(raw) <= 2048
    assert isinstance(msg["pid"], int) and msg["pid"] > 1
    assert isinstance(msg["run_command"], str)
    assert len(msg["run_command"].encode("utf-8")) <= 1024
    assert set(msg["version"]) == {"major", "minor", "patch"}
    assert all(type(v) is int and 0 <= v <= 65535 for v in msg["version"].values())


def no_datagram_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        sock.recvfrom(65536)
    except socket.timeout:
        return True
    return False


# --- the helper ------------------------------------------------------------

def test_beat_sends_exactly_the_agents_json(listener):
    with Heartbeat("ocr", "1.2.3", run_command="python3 /x/ocr.py", port=port_of(listener)) as hb:
        assert hb.beat() is True
        msg, raw, sender = receive(listener)
        # The sender's socket is the helper's, so the agent's ownership check can work.
        assert sender == hb._sock.getsockname()
    assert msg == {"process_name": "ocr", "pid": os.getpid(), "run_command": "python3 /x/ocr.py",
                   "version": {"major": 1, "minor": 2, "patch": 3}}
    assert_valid_heartbeat(msg, raw)
    assert hb.sent == 1 and hb.errors == 0


def test_every_beat_uses_the_same_socket(listener):
    with Heartbeat("ocr", "1.0.0", port=port_of(listener)) as hb:
        hb.beat()
        hb.beat()
        senders = {receive(listener)[2], receive(listener)[2]}
    assert len(senders) == 1


@pytest.mark.parametrize("version, expected", [
    ("0.0.0", (0, 0, 0)),
    ("10.20.65535", (10, 20, 65535)),
    ((4, 5, 6), (4, 5, 6)),
    ([7, 8, 9], (7, 8, 9)),
])
def test_version_is_parsed_from_string_or_tuple(listener, version, expected):
    with Heartbeat("meter", version, run_command="", port=port_of(listener)) as hb:
        hb.beat()
    msg, raw, _ = receive(listener)
    assert msg["version"] == dict(zip(("major", "minor", "patch"), expected))
    assert_valid_heartbeat(msg, raw)


def test_empty_run_command_is_sent_as_empty_string(listener):
    with Heartbeat("meter", "1.0.0", run_command="", port=port_of(listener)) as hb:
        hb.beat()
    assert receive(listener)[0]["run_command"] == ""


def test_port_comes_from_environment_variable(listener, monkeypatch):
    monkeypatch.setenv("TINYAGENT_HEARTBEAT_PORT", str(port_of(listener)))
    with Heartbeat("envport", "1.0.0") as hb:
        assert hb.address == ("127.0.0.1", port_of(listener))
        hb.beat()
    assert receive(listener)[0]["process_name"] == "envport"


def test_port_defaults_to_4951(monkeypatch):
    monkeypatch.delenv("TINYAGENT_HEARTBEAT_PORT", raising=False)
    with Heartbeat("meter", "1.0.0") as hb:
        assert hb.address == ("127.0.0.1", 4951)


def test_bad_port_in_environment_raises_value_error(monkeypatch):
    monkeypatch.setenv("TINYAGENT_HEARTBEAT_PORT", "nope")
    with pytest.raises(ValueError, match="TINYAGENT_HEARTBEAT_PORT"):
        Heartbeat("meter", "1.0.0")


def until(condition, timeout=5.0):
    """Polls `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def error_pending(sock):
    """Whether the kernel holds an error for the socket (an ICMP "port
    unreachable" for a connected UDP socket): POLLERR, without reading
    SO_ERROR, which would clear it."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    return any(events & select.POLLERR for _, events in p.poll(0))


def test_beat_without_listener_never_raises_and_counts_errors(listener):
    port = port_of(listener)
    listener.close()  # nobody listens there now: the kernel answers "port unreachable"
    with Heartbeat("lonely", "1.0.0", port=port) as hb:
        def beat_and_count():
            hb.beat()
            return hb.errors >= 1
        # The refusal comes back asynchronously; a later beat reports it.
        assert until(beat_and_count), "no error counted"
        assert hb.last_error is not None and hb.last_error.errno == errno.ECONNREFUSED


def test_first_beat_after_the_agent_appears_is_not_lost():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = port_of(probe)
    probe.close()
    with Heartbeat("late", "1.0.0", port=port) as hb:
        hb.beat()  # refused: leaves an error pending on the socket
        assert until(lambda: error_pending(hb._sock)), "the refusal came back"
        agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        agent.bind(("127.0.0.1", port))
        try:
            assert hb.beat() is True
            assert receive(agent)[0]["process_name"] == "late"
        finally:
            agent.close()


@pytest.fixture
def unix_listener(tmp_path, monkeypatch):
    """The agent's Unix socket stand-in (SO_PASSCRED: the kernel names senders)."""
    monkeypatch.delenv(tinyagent_heartbeat.SOCKET_ENV, raising=False)
    path = str(tmp_path / "heartbeat.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def test_beats_go_to_the_unix_socket_with_the_kernels_word_on_the_sender(unix_listener, listener):
    sock, path = unix_listener
    with Heartbeat("attested", "1.0.0", port=port_of(listener), socket_path=path) as hb:
        assert hb.beat() is True and hb.transport == "unix"
        data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    assert json.loads(data.decode())["pid"] == os.getpid()
    level, kind, creds = ancillary[0]
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    assert int.from_bytes(creds[:4], sys.byteorder) == os.getpid()
    assert no_datagram_within(listener, 0.2), "not also over UDP"


def test_the_socket_comes_from_the_environment_as_the_agent_exports_it(unix_listener, listener, monkeypatch):
    sock, path = unix_listener
    monkeypatch.setenv(tinyagent_heartbeat.SOCKET_ENV, path)
    with Heartbeat("from-env", "1.0.0", port=port_of(listener)) as hb:
        hb.beat()
    assert json.loads(sock.recv(4096).decode())["process_name"] == "from-env"


def test_an_unreachable_socket_falls_back_to_udp(tmp_path, listener):
    with Heartbeat("fallback", "1.0.0", port=port_of(listener), socket_path=str(tmp_path / "none.sock")) as hb:
        assert hb.beat() is True and hb.transport == "udp"
        assert hb.last_error.errno == errno.ENOENT
        assert hb._unix.get_inheritable() is False and hb._unix.gettimeout() == 0.0
    assert receive(listener)[0]["process_name"] == "fallback"


def test_beat_after_close_does_nothing(listener):
    hb = Heartbeat("meter", "1.0.0", port=port_of(listener))
    hb.close()
    hb.close()
    assert hb.beat() is False
    assert no_datagram_within(listener, 0.2)


def test_socket_is_close_on_exec_and_non_blocking(listener):
    with Heartbeat("meter", "1.0.0", port=port_of(listener)) as hb:
        assert hb._sock.get_inheritable() is False
        assert hb._sock.gettimeout() == 0.0


def test_forked_child_beats_with_its_own_pid(listener):
    with Heartbeat("forky", "1.0.0", port=port_of(listener)) as hb:
        child = os.fork()
        if child == 0:
            try:
                hb.beat()
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert status == 0
        msg = receive(listener)[0]
    assert msg["pid"] == child
    assert msg["pid"] != os.getpid()


def test_start_thread_beats_repeatedly_until_close(listener):
    hb = Heartbeat("threaded", "1.0.0", port=port_of(listener))
    thread = hb.start_thread(0.05)
    assert thread.daemon
    for _ in range(3):
        assert receive(listener)[0]["process_name"] == "threaded"
    hb.close()
    assert not thread.is_alive()
    while not no_datagram_within(listener, 0.01):
        pass  # drain anything sent before close()
    assert no_datagram_within(listener, 0.2)


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "slash/name", "é", None, 42])
def test_invalid_name_raises_value_error(name):
    with pytest.raises(ValueError, match="name"):
        Heartbeat(name, "1.0.0", port=4951)


def test_longest_valid_name_is_accepted(listener):
    name = "A-z_0.9" + "x" * 57
    with Heartbeat(name, "1.0.0", port=port_of(listener)) as hb:
        hb.beat()
    assert receive(listener)[0]["process_name"] == name


@pytest.mark.parametrize("version", [
    "1.0", "1.0.0.0", "1.0.x", "v1.0.0", "1.0.0\n", "-1.0.0", "1.65536.0", " 1.0.0",
    (1, 2), (1, 2, 3, 4), (1, 2, -1), (1, 2, 65536), (1, 2, "3"), (1.0, 2, 3), (True, 0, 0),
    None, 100,
])
def test_invalid_version_raises_value_error(version):
    with pytest.raises(ValueError, match="version"):
        Heartbeat("meter", version, port=4951)


def test_run_command_over_1024_bytes_raises_value_error():
    Heartbeat("meter", "1.0.0", run_command="x" * 1024, port=4951).close()
    with pytest.raises(ValueError, match="run_command"):
        Heartbeat("meter", "1.0.0", run_command="é" * 513, port=4951)  # 1026 bytes


def test_datagram_that_escaping_makes_too_big_raises_value_error():
    with pytest.raises(ValueError, match="2048"):
        Heartbeat("meter", "1.0.0", run_command='"' * 1024, port=4951)


def run_helper_script(tmp_path, listener, argv, python=sys.executable):
    """Run a script that beats once with the default run_command; return that command."""
    script = tmp_path / "proc.py"
    script.write_text(
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "import tinyagent_heartbeat\n"
        "hb = tinyagent_heartbeat.Heartbeat('proc', '1.0.0', port=%d)\n"
        "hb.beat()\n" % (HELPER_DIR, port_of(listener)))
    (tmp_path / "procmod.py").write_text(script.read_text())
    subprocess.run([python] + argv, cwd=str(tmp_path), check=True, timeout=10)
    msg, raw, _ = receive(listener)
    assert_valid_heartbeat(msg, raw)
    return msg["run_command"]


def test_default_run_command_is_interpreter_and_absolute_script(tmp_path, listener):
    command = run_helper_script(tmp_path, listener, ["proc.py", "a b", "it's", "--x=1"])
    assert shlex.split(command) == [sys.executable, str(tmp_path / "proc.py"), "a b", "it's", "--x=1"]


def test_default_run_command_keeps_dash_m(tmp_path, listener):
    command = run_helper_script(tmp_path, listener, ["-m", "procmod", "arg"])
    assert shlex.split(command) == [sys.executable, "-m", "procmod", "arg"]


def test_default_run_command_is_empty_for_dash_c(listener):
    code = ("import sys; sys.path.insert(0, %r); import tinyagent_heartbeat as t; "
            "t.Heartbeat('c', '1.0.0', port=%d).beat()" % (HELPER_DIR, port_of(listener)))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=10)
    assert receive(listener)[0]["run_command"] == ""


# --- old Python, as on the Pis ----------------------------------------------

def test_helper_imports_and_beats_under_oldest_python(tmp_path, listener):
    command = run_helper_script(tmp_path, listener, ["proc.py", "x"], python=OLD_PYTHON)
    assert shlex.split(command) == [OLD_PYTHON, str(tmp_path / "proc.py"), "x"]


def test_meter_reader_runs_under_oldest_python(listener):
    with MeterReader(["--interval", "0.05", "--crash-after", "0.3"], listener, python=OLD_PYTHON) as m:
        msg = receive(listener)[0]
        assert msg["pid"] == m.proc.pid
        assert m.proc.wait(timeout=3) == 3


def test_helper_and_sample_need_at_most_python_3_5():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())",
         "-t=3.5-", "--violations", "--no-tips", HELPER, METER_READER],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stdout


# --- samples/SmartMeter/meter_reader.py --------------------------------------

class MeterReader(object):
    """meter_reader.py as a child process, its stdout lines in a queue."""

    def __init__(self, args, listener, python=sys.executable, env=None):
        self.proc = subprocess.Popen(
            [python, METER_READER, "--port", str(port_of(listener))] + args,
            stdout=subprocess.PIPE, universal_newlines=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def line(self, timeout=2.0):
        return self.lines.get(timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self.proc.stdout.close()


def test_meter_reader_heartbeats_at_the_interval(listener):
    with MeterReader(["--name", "meter_1", "--version", "2.3.4", "--interval", "0.1"], listener) as m:
        assert m.line() == "started pid=%d name=meter_1 version=2.3.4 port=%d" % (
            m.proc.pid, port_of(listener))
        times = []
        for _ in range(8):
            msg, raw, _ = receive(listener)
            times.append(time.monotonic())
            assert_valid_heartbeat(msg, raw)
            assert msg["process_name"] == "meter_1"
            assert msg["pid"] == m.proc.pid
            assert msg["version"] == {"major": 2, "minor": 3, "patch": 4}
        assert m.proc.poll() is None
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    median = gaps[len(gaps) // 2]
    assert 0.05 <= median <= 0.3, gaps
    argv = shlex.split(msg["run_command"])
    assert argv[:2] == [sys.executable, METER_READER]
    assert "--interval" in argv and "meter_1" in argv


def test_meter_reader_hang_after_stops_beats_but_stays_alive(listener):
    with MeterReader(["--interval", "0.05", "--hang-after", "0.4"], listener) as m:
        assert m.line().startswith("started pid=%d " % m.proc.pid)
        assert receive(listener)[0]["pid"] == m.proc.pid
        assert m.line(timeout=2.0) == "hanging"
        while not no_datagram_within(listener, 0.01):
            pass  # beats sent before the hang
        assert no_datagram_within(listener, 0.6)
        assert m.proc.poll() is None


def test_meter_reader_crash_after_exits_with_status_3(listener):
    with MeterReader(["--interval", "0.05", "--crash-after", "0.4"], listener) as m:
        assert m.line().startswith("started pid=")
        assert receive(listener)[0]["pid"] == m.proc.pid
        assert m.proc.wait(timeout=3) == 3
        assert m.line() == "crashing"


def test_meter_reader_finds_helper_through_env_dir(tmp_path, listener):
    # Installed layout: SmartMeter/ and bin/ side by side, plus a decoy
    # helper in bin/ that must lose to $TINYAGENT_PY_HELPER_DIR.
    smartmeter, bin_dir, env_dir = tmp_path / "SmartMeter", tmp_path / "bin", tmp_path / "env"
    for d in (smartmeter, bin_dir, env_dir):
        d.mkdir()
    (smartmeter / "meter_reader.py").write_text(open(METER_READER).read())
    (bin_dir / "tinyagent_heartbeat.py").write_text("raise SystemExit('decoy helper used')\n")
    (env_dir / "tinyagent_heartbeat.py").write_text(open(HELPER).read())
    env = dict(os.environ, TINYAGENT_PY_HELPER_DIR=str(env_dir))
    proc = subprocess.run(
        [sys.executable, str(smartmeter / "meter_reader.py"), "--port", str(port_of(listener)),
         "--interval", "0.05", "--crash-after", "0.2"],
        env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=10)
    assert proc.returncode == 3, proc.stdout
    assert receive(listener)[0]["process_name"] == "meter_reader"


def test_meter_reader_finds_helper_in_installed_bin(tmp_path, listener):
    smartmeter, bin_dir = tmp_path / "SmartMeter", tmp_path / "bin"
    smartmeter.mkdir()
    bin_dir.mkdir()
    (smartmeter / "meter_reader.py").write_text(open(METER_READER).read())
    (bin_dir / "tinyagent_heartbeat.py").write_text(open(HELPER).read())
    env = dict(os.environ)
    env.pop("TINYAGENT_PY_HELPER_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(smartmeter / "meter_reader.py"), "--port", str(port_of(listener)),
         "--crash-after", "0.1"],
        env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=10)
    assert proc.returncode == 3, proc.stdout
    assert receive(listener)[0]["process_name"] == "meter_reader"


def test_meter_reader_rejects_a_bad_version(listener):
    proc = subprocess.run([sys.executable, METER_READER, "--version", "1.0", "--port", "4951"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=10)
    assert proc.returncode == 2
    assert "version" in proc.stderr


# --- samples/SmartMeter/meter_script.sh -------------------------------------

def test_meter_script_calls_the_cli_in_a_loop(tmp_path):
    record = tmp_path / "calls"
    fake = tmp_path / "fake-tinyagent"
    # Records its parent's pid (the CLI's default --pid) and its arguments.
    fake.write_text('#!/bin/sh\nprintf "%%s\\n" "$PPID" "$@" "--" >> %s\n' % shlex.quote(str(record)))
    fake.chmod(0o755)
    env = dict(os.environ, TINYAGENT_BIN=str(fake))
    started = time.monotonic()
    proc = subprocess.Popen(["/bin/sh", METER_SCRIPT, "meter_sh", "3.2.1", "0.1"], env=env)

    def calls():
        text = record.read_text() if record.exists() else ""
        return [c.strip("\n").split("\n") for c in text.split("--\n") if c.strip()]
    try:
        assert until(lambda: len(calls()) >= 3), calls()
    finally:
        proc.kill()
        proc.wait(timeout=5)
    elapsed = time.monotonic() - started
    calls = calls()
    # 0.1 s apart: n calls take at least (n - 1) * 0.1 s.
    assert 3 <= len(calls) <= 1 + elapsed / 0.1, (calls, elapsed)
    for call in calls:
        assert int(call[0]) == proc.pid
        assert call[1:7] == ["heartbeat", "--name", "meter_sh", "--version", "3.2.1", "--run-command"]
        assert shlex.split(call[7]) == ["/bin/sh", METER_SCRIPT, "meter_sh", "3.2.1", "0.1"]
