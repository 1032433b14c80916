"""The local control socket's request protocol (issue 13, "Local control"):
one JSON request line, the answer until EOF, a one-line error for what is not
a request, and an agent that never waits for a client."""

import json
import os
import signal
import socket
import time

from conftest import FAST, pid_alive, wait_for
from test_manifest_processes import running, write_manifest


def ask(agent, payload, timeout=5):
    """Sends `payload` (bytes) on wdog/agent.sock; the answer lines, parsed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(agent.root, "wdog", "agent.sock"))
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before all of it was read: the answer is there
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break  # closed with some of a long request unread: after its answer
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.decode().splitlines()]


def test_status_is_one_request_line_and_one_answer_line_with_the_report(agents):
    agent = agents(FAST).start()
    [answer] = ask(agent, b'{"verb":"status"}\n')
    assert answer["ok"] == "status" and answer["data"]["pid"] == agent.proc.pid
    r = agent.cli("status", "--root", agent.root, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["pid"] == agent.proc.pid, r.stderr
    table = agent.cli("status", "--root", agent.root)
    assert table.returncode == 0 and table.stdout.startswith("tinyagent "), table


def test_a_request_closed_without_a_newline_is_still_answered(agents):
    agent = agents(FAST).start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(os.path.join(agent.root, "wdog", "agent.sock"))
        s.sendall(b'{"verb":"status"}')
        s.shutdown(socket.SHUT_WR)
        answer = json.loads(s.makefile().readline())
    assert answer["ok"] == "status"


def test_an_unknown_verb_or_a_bad_shape_gets_one_error_line(agents):
    agent = agents(FAST).start()
    cases = {
        b'{"verb":"format_disk"}\n': 'unknown verb "format_disk"',
        b'status\n': "request is not JSON",
        b'{"verb":"restart"}\n': 'restart needs a "name" string',
        b'{"verb":"restart","name":"../cfg/key"}\n': "restart: not a process name",
        b'{"verb":"status","extra":1}\n': 'status: unknown key "extra"',
    }
    for payload, error in cases.items():
        answers = ask(agent, payload)
        assert len(answers) == 1 and answers[0]["code"] == "usage" and answers[0]["error"].startswith(error), (payload, answers)
    assert agent.status()["pid"] == agent.proc.pid


def test_a_silent_client_is_dropped_and_does_not_stop_the_agent_serving(agents):
    """Before: the agent answered on connect and read nothing; now it reads a
    request, and a client that sends none must not hold its thread."""
    agent = agents(FAST).start()
    reader = agent.start_sample("reader")
    wait_for(lambda: agent.process("reader"), what="reader known")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(os.path.join(agent.root, "wdog", "agent.sock"))
    began = time.monotonic()
    assert agent.status()["pid"] == agent.proc.pid, "served while the silent client waits"
    silent.settimeout(5)
    answer = json.loads(silent.makefile().readline())
    assert answer["code"] == "usage" and "no request line within 1000 ms" in answer["error"]
    assert time.monotonic() - began < 3
    silent.close()
    assert agent.process("reader")["pid"] == reader.pid and agent.process("reader")["state"] == "running"


def test_a_megabyte_request_is_refused_after_the_first_kilobytes(agents):
    agent = agents(FAST).start()
    [answer] = ask(agent, b"x" * (1 << 20))
    assert answer == {"error": "request longer than 4096 bytes", "code": "usage"}
    assert agent.status()["pid"] == agent.proc.pid


def test_clients_beyond_the_pending_cap_are_turned_away_and_the_agent_keeps_serving(agents):
    agent = agents(FAST).start()
    silent = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(agent.root, "wdog", "agent.sock"))
        silent.append(s)
    time.sleep(0.2)
    [busy] = ask(agent, b'{"verb":"status"}\n')
    assert busy["code"] == "unavailable" and busy["error"].startswith("busy"), busy
    for s in silent:
        s.close()
    wait_for(lambda: agent.status_or_none(), what="served again once the silent clients are gone")


def test_restart_stops_the_process_and_starts_it_again(agents):
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr"])
    agent.start()
    first = wait_for(lambda: running(agent, "ocr"), what="ocr started")["pid"]
    r = agent.cli("restart", "ocr", "--root", agent.root)
    assert r.returncode == 0, r
    requested, started = r.stdout.splitlines()
    assert requested == "ocr: restart requested" and started.startswith("ocr: started (pid "), r
    assert not pid_alive(first), "the old one is gone when restart returns"
    wait_for(lambda: (running(agent, "ocr") or {}).get("pid") not in (None, first), what="ocr running again")
    assert "ocr: restart requested" in agent.log()


def test_restart_of_an_unknown_name_says_so_and_exits_65(agents):
    agent = agents(FAST).start()
    r = agent.cli("restart", "nosuch", "--root", agent.root)
    assert r.returncode == 65 and r.stderr.strip() == 'tinyagent: restart nosuch: no process named "nosuch"', r


def test_reload_starts_what_the_manifest_now_lists(agents):
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr"])
    agent.start()
    wait_for(lambda: running(agent, "ocr"), what="ocr started")
    write_manifest(agent, ["ocr", "gauge"])
    r = agent.cli("reload", "--root", agent.root)
    assert r.returncode == 0, r
    wait_for(lambda: running(agent, "gauge"), what="gauge started on reload")
    assert "reload (uid 0): starting gauge" in agent.log()


def test_a_verb_without_an_agent_exits_69(root):
    from conftest import BINARY
    import subprocess
    r = subprocess.run([BINARY, "reload", "--root", root], capture_output=True, text=True)
    assert r.returncode == 69 and "the agent is not running" in r.stderr and r.stderr.count("\n") == 1, r


def manifest_agent(agents, names=("ocr",)):
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, list(names))
    agent.start()
    for name in names:
        wait_for(lambda: running(agent, name), what="%s started" % name)
    return agent


def test_stop_waits_until_the_process_is_gone_and_nothing_brings_it_back_until_start(agents):
    """Operator stop: not restarted by silence, the manifest, reload, SIGHUP or
    an agent restart (the registry keeps it); `start` brings it back."""
    agent = manifest_agent(agents)
    pid = agent.process("ocr")["pid"]
    r = agent.cli("stop", "ocr", "--root", agent.root)
    assert r.returncode == 0 and r.stdout.splitlines() == ["ocr: stop requested", "ocr: stopped"], r
    assert not pid_alive(pid), "gone when stop returns"
    ocr = agent.process("ocr")
    assert ocr["state"] == "stopped" and ocr["operator_stopped"] is True
    assert "stopped (by operator)" in agent.cli("status", "--root", agent.root).stdout

    assert agent.cli("reload", "--root", agent.root).returncode == 0
    agent.proc.send_signal(signal.SIGHUP)
    time.sleep(FAST["heartbeat_timeout_ms"] / 1000 * 2)  # silence, a restart back-off, the manifest's start
    assert agent.process("ocr")["state"] == "stopped", agent.log()

    agent.stop()
    again = agents(dict(FAST, run_as="nobody"))
    again.port = agent.port
    again.start()
    time.sleep(FAST["heartbeat_timeout_ms"] / 1000 * 2)
    assert again.process("ocr")["state"] == "stopped", "an agent restart keeps it stopped"

    r = again.cli("start", "ocr", "--root", again.root)
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("ocr: started (pid "), r
    wait_for(lambda: running(again, "ocr"), what="ocr running after start")
    assert again.process("ocr")["operator_stopped"] is False
    r = again.cli("start", "ocr", "--root", again.root)
    assert r.returncode == 0 and r.stdout.strip() in ("ocr: already running", "ocr: already starting"), r


def test_forget_retires_a_stopped_process_but_not_a_running_or_listed_one(agents):
    agent = manifest_agent(agents)
    loose = agent.start_sample("loose")
    wait_for(lambda: agent.process("loose"), what="loose known")
    r = agent.cli("forget", "loose", "--root", agent.root)
    assert r.returncode == 69 and "loose: it is running; stop it first" in r.stderr, r
    r = agent.cli("forget", "ocr", "--root", agent.root)
    assert r.returncode == 69 and "listed in SmartMeter/tinyagent.json" in r.stderr, r

    assert agent.cli("stop", "loose", "--root", agent.root).returncode == 0
    loose.wait(timeout=5)
    r = agent.cli("forget", "loose", "--root", agent.root)
    assert r.returncode == 0 and r.stdout.strip() == "loose: forgotten", r
    assert agent.process("loose") is None
    with open(os.path.join(agent.root, "wdog", "registry.json")) as f:
        assert "loose" not in f.read()
    r = agent.cli("forget", "loose", "--root", agent.root)
    assert r.returncode == 65 and 'no process named "loose"' in r.stderr, r


def test_a_verb_needs_a_valid_name_on_the_command_line(agents):
    agent = agents(FAST).start()
    r = agent.cli("stop", "--root", agent.root)
    assert r.returncode == 64 and "stop needs a process name" in r.stderr, r
    r = agent.cli("stop", "../x", "--root", agent.root)
    assert r.returncode == 64 and "not a process name" in r.stderr, r


def test_every_verb_answers_help_with_its_own_usage(agents):
    from conftest import BINARY
    import subprocess
    for verb, first in (("stop", "stop NAME"), ("start", "start NAME"), ("restart", "restart NAME"), ("forget", "forget NAME"),
                        ("reload", "reload [--root DIR]"), ("logs", "logs NAME"), ("check", "check [--root DIR] [--json]")):
        for args in ([verb, "--help"], [verb, "ocr", "--help"]) if verb not in ("reload", "check") else ([verb, "--help"],):
            r = subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=10)
            lines = r.stdout.splitlines()
            assert r.returncode == 0 and lines[1].startswith("  tinyagent " + first), (args, r.stdout, r.stderr)
            assert sum(1 for l in lines if l.startswith("  tinyagent ")) == 1 and "exit status:" in r.stdout


def test_reload_applies_new_settings_and_says_which_wait_for_a_restart(agents):
    """SIGHUP used to re-read the manifest only; settings were read at start."""
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr"])
    agent.start()
    wait_for(lambda: running(agent, "ocr"), what="ocr started")
    with open(os.path.join(agent.root, "cfg", "agent.json"), "w") as f:
        json.dump(dict(FAST, run_as="nobody", heartbeat_timeout_ms=600, helper_user="root", bogus_key=1), f)
    r = agent.cli("reload", "--root", agent.root)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert any('"bogus_key"' in l for l in lines), lines
    assert any("helper_user changed: applied at the agent's next start" in l for l in lines), lines
    assert lines[-1] == "reloaded cfg/agent.json and SmartMeter/tinyagent.json", lines
    # ocr heartbeats every 200 ms: with 600 ms it still runs; a silent one is now killed after 600 ms, not 1500.
    silent = agent.start_sample("silent", "--hang-after", "0.3")
    wait_for(lambda: agent.process("silent"), what="silent known")
    began = time.monotonic()
    wait_for(lambda: "silent (pid %d): no heartbeat for 600 ms" % silent.pid in agent.log(), what="the new timeout")
    assert time.monotonic() - began < 1.4
    assert running(agent, "ocr")


def write_log(agent, name, text):
    path = os.path.join(agent.root, "logs", name + ".log")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_logs_prints_the_last_lines_of_the_process_log(agents):
    agent = agents(FAST).start()
    write_log(agent, "ocr", "".join("line %d\n" % i for i in range(1, 31)))
    r = agent.cli("logs", "ocr", "--root", agent.root)
    assert r.returncode == 0 and r.stdout.splitlines() == ["line %d" % i for i in range(21, 31)], r
    r = agent.cli("logs", "ocr", "-n", "3", "--root", agent.root)
    assert r.stdout == "line 28\nline 29\nline 30\n", r
    r = agent.cli("logs", "ocr", "-n", "100", "--root", agent.root)
    assert len(r.stdout.splitlines()) == 30
    r = agent.cli("logs", "nosuch", "--root", agent.root)
    assert r.returncode == 65 and "logs/nosuch.log: no such log" in r.stderr, r


def test_logs_follow_prints_what_the_process_writes_across_a_restart(agents):
    agent = manifest_agent(agents)
    import subprocess
    from conftest import BINARY
    follower = subprocess.Popen([BINARY, "logs", "ocr", "-f", "-n", "0", "--root", agent.root], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        path = os.path.join(agent.root, "logs", "ocr.log")
        with open(path, "a") as f:
            f.write("marker one\n")
        assert follower.stdout.readline() == "marker one\n"
        # A restart over the size cap moves the log aside for a new one (RotatingLog.openProcessLog).
        os.rename(path, path + ".1")
        with open(path, "w") as f:
            f.write("marker two\n")
        line = follower.stdout.readline()
        while line != "marker two\n":
            line = follower.stdout.readline()
    finally:
        follower.kill()
        follower.wait()


def test_check_passes_a_good_root_and_names_each_problem_on_a_bad_one(agents):
    from conftest import BINARY
    import subprocess
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr"])
    agent.start()
    agent.stop()
    os.chmod(os.path.join(agent.root, "cfg"), 0o700)
    r = subprocess.run([BINARY, "check", "--root", agent.root], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok: folders, settings, manifest (1 process)"), r
    with open(os.path.join(agent.root, "cfg", "agent.json"), "w") as f:
        f.write('{"heartbeat_timeout_ms": 1500,}')
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        f.write('{"processes": [{"name": "x", "run_command": "y", "restart": "sometimes"}]}')
    os.chmod(os.path.join(agent.root, "bin"), 0o777)
    with open(os.path.join(agent.root, "cfg", "config_file.bin"), "wb") as f:
        f.write(b"\0" * 64)
    os.chmod(os.path.join(agent.root, "cfg", "config_file.bin"), 0o600)
    r = subprocess.run([BINARY, "check", "--root", agent.root], capture_output=True, text=True)
    assert r.returncode == 78, r
    problems = r.stdout.splitlines()
    assert len(problems) == 4, problems
    assert any("/bin: " in p and "another user can change" in p for p in problems), problems
    assert any("agent.json" in p for p in problems) and any("tinyagent.json" in p and '"sometimes" is not' in p for p in problems)
    assert any("config_file.bin" in p for p in problems), problems
    assert r.stderr == "tinyagent: 4 problems (above)\n"
    r = subprocess.run([BINARY, "check", "--root", agent.root, "--json"], capture_output=True, text=True)
    report = json.loads(r.stdout)
    assert r.returncode == 78 and report["ok"] is False and report["problems"] == problems, r
