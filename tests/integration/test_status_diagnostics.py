"""`tinyagent status` says why (issue 13 Diagnostics): the XMPP state and since
when; per process the pid of the real process (not its `sh -c`), the last
start's time and reason, the restart count, no stale pid for one that ended;
and each (re)start leaves a timestamped line with its reason in the
process's own log."""

import json
import os
import re

from conftest import FAST, PYTHON, wait_for


def write_processes(agent, processes):
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": processes}, f)


def output_log(agent, name):
    with open(os.path.join(agent.root, "logs", name + ".log")) as f:
        return f.read()


def reader(agent, name, *args, exec_it=True):
    """meter_reader.py as NAME; without `exec_it` the shell stays, waiting for it."""
    command = "%s %s/SmartMeter/meter_reader.py --name %s --interval 0.2 %s" % (PYTHON, agent.root, name, " ".join(args))
    return "exec " + command if exec_it else command + "; exit $?"


def test_status_gives_the_reason_and_time_of_the_last_start_and_no_pid_once_a_process_ended(agents):
    agent = agents(dict(FAST, restart_limit=2))
    write_processes(agent, [
        {"name": "hung", "run_command": reader(agent, "hung", "--hang-after", "1")},
        {"name": "flaky", "run_command": "echo ran; exit 3"},
    ])
    agent.start()
    hung = wait_for(lambda: (agent.process("hung") or {}).get("restarts") == 1 and agent.process("hung"), timeout=8,
                    what="hung restarted once")
    assert hung["last_start_reason"] == "no heartbeat for 1500 ms"
    assert abs(hung["last_start"] - agent.status()["wall_clock"]) < 10
    flaky = wait_for(lambda: agent.process("flaky")["state"] == "failed" and agent.process("flaky"), what="flaky failed")
    assert flaky["pid"] is None, "no stale pid for a process that ended"
    assert flaky["last_start_reason"] == "exited with status 3" and flaky["restarts"] == 1
    text = agent.cli("status", "--root", agent.root).stdout
    row = [line for line in text.splitlines() if line.startswith("flaky")][0]
    assert re.search(r"^flaky +- +0\.0\.0 +failed .* \d+ s ago: exited with status 3$", row), row
    assert re.search(r"^xmpp off since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s\)$", text, re.M), text

    markers = re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ tinyagent: starting flaky \((.*)\)$", output_log(agent, "flaky"), re.M)
    assert markers == ["listed in the manifest", "exited with status 3"], markers
    assert "tinyagent: starting hung (no heartbeat for 1500 ms)" in output_log(agent, "hung")


def test_a_restart_asked_for_is_the_reason_given(agents):
    agent = agents(FAST)
    write_processes(agent, [{"name": "ocr", "run_command": reader(agent, "ocr")}])
    agent.start()
    first = wait_for(lambda: (agent.process("ocr") or {}).get("state") == "running" and agent.process("ocr"), what="ocr")
    assert first["restarts"] == 0 and first["last_start_reason"] == "listed in the manifest"
    r = agent.cli("restart", "ocr", "--root", agent.root)
    assert r.returncode == 0, r
    again = wait_for(lambda: agent.process("ocr")["restarts"] == 1 and agent.process("ocr"), what="restarted")
    assert again["last_start_reason"] == "restart requested"
    assert "tinyagent: starting ocr (restart requested)" in output_log(agent, "ocr")


def test_the_pid_shown_and_logged_is_the_real_process_not_its_shell(agents):
    """Caught: the log said "started pid" of the `sh -c` wrapper."""
    agent = agents(FAST)
    write_processes(agent, [{"name": "wrapped", "run_command": reader(agent, "wrapped", exec_it=False)}])
    agent.start()
    p = wait_for(lambda: (agent.process("wrapped") or {}).get("state") == "running" and agent.process("wrapped"),
                 what="wrapped running")
    with open("/proc/%d/cmdline" % p["pid"], "rb") as f:
        assert b"meter_reader.py" in f.read(), "the pid is the Python process"
    shell = re.search(r"wrapped: started \(listed in the manifest\), shell pid (\d+)", agent.log()).group(1)
    assert int(shell) != p["pid"]
    assert "wrapped: runs as pid %d (started by its shell, pid %s)" % (p["pid"], shell) in agent.log()


def test_before_its_first_heartbeat_a_process_started_through_a_shell_shows_its_own_pid(agents):
    agent = agents(dict(FAST, process_timeouts_ms={"slow": 20000}))
    write_processes(agent, [{"name": "slow", "run_command": "%s -c 'import time; time.sleep(60)'; exit $?" % PYTHON}])
    agent.start()
    p = wait_for(lambda: (agent.process("slow") or {}).get("pid") and agent.process("slow"), timeout=25, what="slow started")
    assert p["state"] == "starting"
    with open("/proc/%d/cmdline" % p["pid"], "rb") as f:
        assert f.read().split(b"\0")[0] == PYTHON.encode(), "the Python process, not its shell"
    shell = int(re.search(r"slow: started \(listed in the manifest\), shell pid (\d+)", agent.log()).group(1))
    assert shell != p["pid"]
