"""The command line: usage errors, status output, settings problems."""

import json
import os
import re
import socket
import subprocess

import pytest

from conftest import BINARY, FAST, wait_for


def run(*args, **kwargs):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=10, **kwargs)


def test_usage_errors_exit_64_with_one_clear_line():
    for args, message in [((), "no command given"), (("frobnicate",), "unknown command frobnicate"),
                          (("heartbeat", "--version", "1.0.0"), "heartbeat needs --name"),
                          (("heartbeat", "--name", "x", "--version", "1.0"), "--version: not X.Y.Z: 1.0"),
                          (("run", "--heartbeat-port", "99999"), "--heartbeat-port: not a port number: 99999"),
                          (("status", "--bogus"), "unknown option --bogus"),
                          (("run", "--root"), "--root needs a value")]:
        r = run(*args)
        assert r.returncode == 64, args
        assert r.stderr.splitlines()[0] == "tinyagent: " + message


def test_help_lists_every_command():
    r = run("--help")
    assert r.returncode == 0
    for command in ("run", "heartbeat", "status", "version"):
        assert "\n  %s" % command in r.stdout


def test_version():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("tinyagent ")


def test_status_without_an_agent_exits_69(root):
    r = run("status", "--root", root)
    assert r.returncode == 69
    assert "the agent is not running" in r.stderr


def test_status_json_and_table(agents):
    agent = agents(FAST).start()
    agent.start_sample("reader", "--version", "3.1.4")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    s = json.loads(agent.cli("status", "--root", agent.root, "--json").stdout)
    (p,) = s["processes"]
    assert {k: p[k] for k in ("name", "version", "state")} == {"name": "reader", "version": "3.1.4", "state": "running"}
    assert isinstance(p["pid"], int) and p["restarts"] == 0
    table = agent.cli("status", "--root", agent.root).stdout
    assert "NAME" in table and "reader" in table and "3.1.4" in table and "running" in table


def test_heartbeat_cli_sends_the_seed_format():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        r = run("heartbeat", "--name", "ocr", "--version", "1.2.3", "--pid", "4242", "--run-command", "python3 ocr.py",
                "--port", str(s.getsockname()[1]))
        assert r.returncode == 0
        datagram = json.loads(s.recv(4096))
    assert datagram == {"process_name": "ocr", "pid": 4242, "run_command": "python3 ocr.py",
                        "version": {"major": 1, "minor": 2, "patch": 3}}


def test_the_heartbeat_cli_pid_defaults_to_its_parent():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        shell = subprocess.run(["/bin/sh", "-c", 'echo $$; "$0" heartbeat --name x --version 1.0.0 --port %d' % s.getsockname()[1],
                                BINARY], capture_output=True, text=True, timeout=10)
        assert json.loads(s.recv(4096))["pid"] == int(shell.stdout.split()[0])


def test_the_heartbeat_cli_sends_to_the_unix_socket_when_named_else_over_udp(tmp_path):
    path = str(tmp_path / "heartbeat.sock")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unix:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(2)
        unix.settimeout(2)
        port = str(udp.getsockname()[1])
        assert run("heartbeat", "--name", "x", "--version", "1.0.0", "--port", port, "--socket", path).returncode == 0
        assert json.loads(udp.recv(4096))["process_name"] == "x", "no socket there: UDP"
        unix.bind(path)
        env = dict(os.environ, TINYAGENT_HEARTBEAT_SOCKET=path)
        assert run("heartbeat", "--name", "y", "--version", "1.0.0", "--port", port, env=env).returncode == 0
        assert json.loads(unix.recv(4096))["process_name"] == "y"
        udp.settimeout(0.3)
        with pytest.raises(socket.timeout):
            udp.recv(4096)


def test_a_broken_settings_file_is_reported_and_the_agent_runs_with_what_came_before_the_break(agents):
    agent = agents('{"heartbeat_timeout_ms": 1500, oops').start()
    assert ("cfg/agent.json: not valid JSON at 1:32 after \"heartbeat_timeout_ms\": unexpected 'o'; "
            "keeping the 1 setting before it, defaults for the rest") in agent.log()
    assert agent.status()["heartbeat_port"] == agent.port


def test_a_port_in_use_is_a_clear_error_that_hints_at_a_running_agent(agents):
    """Caught: the port's errno alone, and a missing root exited 69 without saying how to make it."""
    agent = agents(FAST).start()
    missing = run("run", "--root", agent.root + "/other", "--heartbeat-port", str(agent.port))
    assert missing.returncode == 71
    assert missing.stderr.startswith("tinyagent: root folder %s/other does not exist: make it with `install -d -m 0755 %s/other`"
                                     % (agent.root, agent.root))
    os.makedirs(agent.root + "/other")
    r = run("run", "--root", agent.root + "/other", "--heartbeat-port", str(agent.port))
    assert r.returncode == 69
    assert ("cannot listen for heartbeats on 127.0.0.1:%d: Address already in use: another program has the port; "
            "is the agent already running for another root" % agent.port) in r.stderr


def test_the_agents_own_log_is_capped_and_rotated(agents, root):
    agent = agents(dict(FAST, heartbeat_timeout_ms=60000, log_max_bytes=4096, log_keep=2, max_names_per_uid=40)).start()
    # 40 processes appear, each logged with its (long) restart command: over
    # 20 KiB, five files' worth, so older files must have been dropped.
    script = ('for i in $(seq 40); do "$0" heartbeat --name n$i --version 1.0.0 --port %d --run-command "sleep 1 #%s"; done;'
              ' exec sleep 30') % (agent.port, "x" * 500)
    shell = subprocess.Popen(["/bin/sh", "-c", script, BINARY], start_new_session=True)
    agent.samples.append(shell)
    logs = os.path.join(root, "logs")

    def text(name):
        try:
            with open(os.path.join(logs, name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""
    wait_for(lambda: re.search(r"\bn40\b", text("tinyagent.log") + text("tinyagent.log.1")), timeout=15,
             what="the last process logged")
    assert sorted(n for n in os.listdir(logs) if n.startswith("tinyagent.log")) == [
        "tinyagent.log", "tinyagent.log.1", "tinyagent.log.2"], "log_keep=2: two old files kept"
    for name in ("tinyagent.log", "tinyagent.log.1", "tinyagent.log.2"):
        assert os.path.getsize(os.path.join(logs, name)) <= 4096, name
    kept = text("tinyagent.log.2") + text("tinyagent.log.1") + text("tinyagent.log")
    assert not re.search(r"\bn1\b", kept), "the oldest lines were dropped with the files beyond log_keep"


def test_under_the_journal_stderr_lines_carry_syslog_priorities(agents, root):
    port = str(agents(FAST).port)
    env = dict(os.environ, JOURNAL_STREAM="8:12345")
    proc = subprocess.Popen([BINARY, "run", "--root", root, "--heartbeat-port", port], env=env,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: run("status", "--root", root).returncode == 0, what="the agent")
    proc.terminate()
    lines = proc.communicate(timeout=10)[1].splitlines()
    assert any(line.startswith("<5>tinyagent ") and "serving heartbeats" in line for line in lines), lines
    assert all(line[:3] in ("<3>", "<4>", "<5>", "<6>") for line in lines), lines
