"""The Embedded binary under valgrind memcheck (issue 6, part 3): the agent,
its helper programs tinyagent-link and tinyagent-fetch (followed through their exec) and the
CLI, with a workload: processes heartbeating, a burst of garbage datagrams,
status and restart_process commands over XMPP, the link process killed and
restarted, two failing updates (sha256 mismatch, zip-slip) and a good one, then
SIGTERM. Pass: no memcheck error and no definitely lost block in any process's
log, and the agent exits 0 (valgrind's --error-exitcode otherwise).

Reuses tests/integration's harness (AgentRun through TINYAGENT_WRAPPER, the
update Device, prosody, the panel stand-in, the HTTPS fault server)."""

import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import conftest  # noqa: E402  (tests/integration's harness)
from conftest import FAST, agents, root, wait_for  # noqa: E402,F401  (fixtures)
from test_update import NEW, OLD, Device, command, processes, sha256, update  # noqa: E402
from test_xmpp import online, panel_for, pki, server  # noqa: E402,F401  (fixtures)

sys.path.insert(0, os.path.join(conftest.REPO, "tests", "https"))
from faultserver import FaultServer  # noqa: E402

# Everything under valgrind is 20-50x slower: generous deadlines.
SLOW = 6
SETTINGS = dict(FAST, heartbeat_timeout_ms=20000, kill_grace_ms=3000, restart_backoff_initial_ms=500,
                download_connect_timeout_ms=30000, download_idle_timeout_ms=30000, update_timeout_s=120)
VALGRIND_ERRORS = 99
# The processes the agent starts (/bin/sh -c "python3 p1.py") run natively:
# memcheck follows only tinyagent's own execs.
SKIP = "*/sh,*/dash,*/bash,*python*,*/env"


def memcheck_command(logs):
    return ["valgrind", "--tool=memcheck", "--trace-children=yes", "--trace-children-skip=" + SKIP,
            "--child-silent-after-fork=yes", "--log-file=%s/vg.%%p.log" % logs,
            "--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
            "--error-exitcode=%d" % VALGRIND_ERRORS, "--num-callers=40"]


@pytest.fixture
def memcheck(tmp_path, monkeypatch):
    """The agent started by the harness runs under valgrind; returns the log folder."""
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is not installed (apt-get install valgrind; `make sanitize` does)")
    if not os.path.exists(conftest.BINARY):
        pytest.fail("no agent binary at %s (make embedded)" % conftest.BINARY)
    # valgrind 3.19 (Debian 12) gives up on the DWARF 5 that Swift's clang
    # writes ("unhandled dwarf2 abbrev form code 0x25"): copies without the
    # debug sections, symbols kept (stack traces name the functions), of the
    # three programs, side by side as the agent wants its helpers.
    programs = tmp_path / "programs"
    programs.mkdir()
    for name in ("tinyagent", "tinyagent-link", "tinyagent-fetch"):
        subprocess.run(["objcopy", "--strip-debug", os.path.join(os.path.dirname(conftest.BINARY), name),
                        str(programs / name)], check=True)
    binary = str(programs / "tinyagent")
    logs = tmp_path / "valgrind"
    logs.mkdir()
    monkeypatch.setattr(conftest, "BINARY", binary)
    monkeypatch.setenv("TINYAGENT_WRAPPER", shlex.join(memcheck_command(logs)))
    monkeypatch.setenv("TINYAGENT_TIMEOUT_SCALE", str(SLOW))
    return str(logs)


def garbage(port, names, count=2000):
    """Datagrams the parser must refuse (or, for unverified senders, ignore)."""
    rng = random.Random(6)
    samples = [
        b"", b"{", b"null", b"[]", b"{}", b"\xff\xfe\x00garbage", b"x" * 3000,
        b'{"process_name": "p1", "pid": 1, "version": {"major": 1, "minor": 0, "patch": 0}}',
        b'{"process_name": "../evil", "pid": 4242, "run_command": "true", "version": {"major": 1, "minor": 0, "patch": 0}}',
        b'{"process_name": "p1", "pid": 99999999, "version": {"major": 70000, "minor": 0, "patch": 0}}',
        b'{"process_name": "p1", "pid": 4242, "run_command": "rm -rf /", "version": {"major": 1, "minor": 0, "patch": 0}, "x": 1}',
        b'{"process_name": "p1", "pid": 4242, "version": {"major": 1, "minor": 0, "patch": 0}}',
        b'{"process_name": "' + b"n" * 65 + b'", "pid": 4242, "version": {"major": 1, "minor": 0, "patch": 0}}',
        b'{"process_name": "p2", "pid": 4242, "version": {"major": 1, "minor": 0, "patch": 0',
        b'{"process_name": "p2", "pid": "4242", "version": "1.0.0"}',
        b'{"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
    ] + [('{"process_name": "stranger%d", "pid": %d, "version": {"major": 1, "minor": 2, "patch": 3}}'
          % (i, 1000 + i)).encode() for i in range(20)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            if i % 3 == 0:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))
            else:
                data = samples[i % len(samples)]
            s.sendto(data, ("127.0.0.1", port))
            if i % 50 == 49:
                time.sleep(0.1)  # a burst the agent under valgrind can read, not one the kernel drops


def link_pid(agent):
    """The agent's xmpp-link child."""
    pids = conftest.helper_pids(agent.proc.pid, "xmpp-link")
    return pids[0] if pids else None


def read_logs(logs):
    """{pid: (command, error count or None, definitely lost bytes or None, text)}"""
    found = {}
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), errors="replace") as f:
            text = f.read()
        pid = int(name.split(".")[1])
        cmd = re.search(r"==\d+== Command: (.*)", text)
        errors = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
        lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
        found[pid] = (cmd.group(1) if cmd else "",
                      int(errors.group(1).replace(",", "")) if errors else None,
                      int(lost.group(1).replace(",", "")) if lost else None, text)
    return found


def stop_letting_the_link_report(agent, link, logs):
    """SIGTERM for the agent, its link process ended first so that memcheck
    writes the link's summary: the agent would otherwise take it down with
    SIGKILL (PR_SET_PDEATHSIG), which leaves no summary. The agent is
    stopped meanwhile so that it cannot start another link: when it goes
    on, SIGTERM (15) and the link's SIGCHLD (17) wait in its signalfd, which
    hands out the lower number first, and the loop ends before any restart."""
    os.kill(agent.proc.pid, signal.SIGSTOP)
    os.kill(link, signal.SIGTERM)
    wait_for(lambda: read_logs(logs)[link][1] is not None, timeout=30, what="the last link's summary")
    os.kill(agent.proc.pid, signal.SIGTERM)
    os.kill(agent.proc.pid, signal.SIGCONT)
    return agent.stop(signal.SIGTERM)


def run_cli_under_memcheck(logs, *args):
    r = subprocess.run(memcheck_command(logs) + [conftest.BINARY] + list(args), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != VALGRIND_ERRORS, "memcheck errors in `tinyagent %s`" % " ".join(args)
    return r


def test_the_agent_and_its_helpers_under_memcheck(memcheck, agents, server, pki, tmp_path):  # noqa: F811
    logs = memcheck
    started = time.monotonic()
    device = Device(agents, server, pki, tmp_path, settings=SETTINGS)
    agent = device.agent
    assert agent.status()["pid"] == agent.proc.pid  # valgrind runs the agent in its own process

    # Garbage: the agent stays up, p1 and p2 stay running, nothing is adopted.
    before = agent.status()["heartbeats"]
    garbage(agent.port, ("p1", "p2"))
    wait_for(lambda: agent.status()["heartbeats"]["dropped"] > before["dropped"] + 300, timeout=20,
             what="the garbage to be dropped")
    device.wait_versions(OLD)
    assert sorted(p["name"] for p in agent.status()["processes"]) == ["p1", "p2"]

    # The CLI under memcheck too.
    r = run_cli_under_memcheck(logs, "status", "--root", agent.root, "--json")
    assert r.returncode == 0 and '"p1"' in r.stdout, r.stderr
    # For a pid that is not running (by default it names its parent, pytest, which it
    # would then verify as).
    r = run_cli_under_memcheck(logs, "heartbeat", "--name", "cli", "--version", "1.2.3", "--pid", "4194303",
                               "--port", str(agent.port))
    assert r.returncode == 0, r.stderr
    r = run_cli_under_memcheck(logs, "config", "check", "--root", agent.root)
    assert r.returncode == 0, r.stderr

    # Commands over XMPP: status, restart_process.
    with panel_for(server, pki) as panel:
        for no in (1, 2, 3):
            panel.send("device@localhost", {"command": "status", "command_no": no})
            answer = panel.wait_reply(timeout=10 * SLOW, predicate=lambda r, no=no: r.get("command_no") == no)
            assert answer["success"] is True, answer
            assert sorted(p["name"] for p in answer["status"]["processes"]) == ["p1", "p2"]
        old_pid = agent.process("p1")["pid"]
        panel.send("device@localhost", {"command": "restart_process", "command_no": 4, "name": "p1"})
        answer = panel.wait_reply(timeout=10 * SLOW, predicate=lambda r: r.get("command_no") == 4)
        assert answer["success"] is True, answer
        wait_for(lambda: (agent.process("p1") or {}).get("pid") not in (None, old_pid)
                 and agent.process("p1")["state"] == "running", timeout=20, what="p1 restarted")

    # The link process killed (SIGTERM: memcheck still writes its summary); the agent starts another.
    first_link = link_pid(agent)
    assert first_link, "no xmpp-link child of the agent"
    os.kill(first_link, signal.SIGTERM)
    wait_for(lambda: link_pid(agent) not in (None, first_link), timeout=20, what="a new link process")
    online(agent, timeout=20)

    # Updates: two refused, one good.
    with FaultServer(root=device.files, pki=device.pki) as https:
        archive = device.serve("v2.zip", "good", *processes(NEW))
        answer = update(device, server, command(10, https.url("/file/v2.zip"), sha256="00" * 32), timeout=60 * SLOW)
        assert answer["success"] is False and answer["remarks"].startswith("download: sha256 mismatch"), answer
        device.serve("slip.zip", "zip-slip", *processes(NEW))
        answer = update(device, server, command(11, https.url("/file/slip.zip")), timeout=60 * SLOW)
        assert answer["success"] is False and "escapes the folder" in answer["remarks"], answer
        device.assert_old_and_running()
        answer = update(device, server, command(12, https.url("/file/v2.zip"), sha256=sha256(archive)),
                        timeout=60 * SLOW)
        assert answer == {"command_no": 12, "from": "meter-0001", "success": True, "remarks": ""}, answer
        device.wait_versions(NEW)

    last_link = link_pid(agent)
    assert last_link, "no xmpp-link child of the agent"
    status = stop_letting_the_link_report(agent, last_link, logs)
    elapsed = time.monotonic() - started
    found = read_logs(logs)
    report = "\n".join("pid %d: %s: errors %s, definitely lost %s" % (pid, cmd, e, lost)
                       for pid, (cmd, e, lost, _) in sorted(found.items()))
    print("memcheck workload: %.0f s\n%s" % (elapsed, report))

    # A log without a summary is a process memcheck could not finish checking.
    unfinished = [pid for pid, (_, e, _, _) in found.items() if e is None]
    assert not unfinished, "no ERROR SUMMARY from pid(s) %s:\n%s" % (unfinished, report)
    bad = [(pid, text) for pid, (_, e, lost, text) in found.items() if (e or 0) > 0 or (lost or 0) > 0]
    assert not bad, "memcheck found errors or definite leaks:\n" + "\n\n".join(text for _, text in bad)
    assert status == 0, "the agent exited %s under valgrind\n%s" % (status, found.get(agent.proc.pid, ("",) * 4)[3])

    def finished(kind):
        """Logs of processes of that kind that ran to the end (a summary written)."""
        return [pid for pid, (cmd, e, _, _) in found.items() if kind in cmd and e is not None]

    assert agent.proc.pid in finished(" run "), report
    assert first_link in finished("xmpp-link") and last_link in finished("xmpp-link"), report
    assert len(finished("update-worker")) >= 3, report
    assert len(finished(" status ")) == 1 and len(finished(" heartbeat --name")) == 1, report
