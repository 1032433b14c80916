"""SmartMeter/tinyagent.json as the list of processes that should run: on a
fresh card the agent starts them; re-adopted ones are kept; SIGHUP re-reads
it (issue 13)."""

import json
import os
import signal

from conftest import FAST, PYTHON, pid_alive, uid_of, wait_for


def write_manifest(agent, names):
    processes = [{"name": n, "run_command": "%s meter_reader.py --name %s --interval 0.2" % (PYTHON, n)} for n in names]
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": processes}, f)


def running(agent, name):
    p = agent.process(name)
    return p if p and p["state"] == "running" and p["pid"] and p["since_heartbeat_s"] is not None else None


def test_on_a_fresh_card_the_listed_processes_are_started_as_the_app_user_and_kept_across_agent_restarts(agents):
    """Caught: the manifest was read only during an update, so nothing started
    the processes on a fresh card."""
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr", "gauge"])
    agent.start()
    first = {n: wait_for(lambda: running(agent, n), what="%s started from the manifest" % n)["pid"] for n in ("ocr", "gauge")}
    for pid in first.values():
        assert uid_of(pid) == 65534, "run as the app user"
    assert "start: starting ocr, gauge, listed in SmartMeter/tinyagent.json and not running" in agent.log()

    agent.stop()
    again = agents(dict(FAST, run_as="nobody"))
    again.port = agent.port
    again.start()
    wait_for(lambda: all(running(again, n) for n in first), what="both re-adopted")
    assert {n: again.process(n)["pid"] for n in first} == first, "re-adopted, not started twice"
    assert again.log().count("listed in SmartMeter/tinyagent.json") == 1, "nothing started by the second agent"


def test_a_listed_process_already_running_but_unregistered_is_not_started_twice(agents):
    """One heartbeat deadline after start before the listed processes it has not
    heard from are started: one started by hand makes itself known first."""
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr", "gauge"])
    agent.start()
    by_hand = agent.start_sample("ocr")
    gauge = wait_for(lambda: running(agent, "gauge"), what="gauge started from the manifest")
    assert agent.process("ocr")["pid"] == by_hand.pid
    assert "start: starting gauge, listed" in agent.log()
    assert gauge["pid"] != by_hand.pid


def test_sighup_rereads_the_manifest_and_starts_what_was_added(agents):
    agent = agents(dict(FAST, run_as="nobody"))
    write_manifest(agent, ["ocr"])
    agent.start()
    ocr = wait_for(lambda: running(agent, "ocr"), what="ocr started")["pid"]
    write_manifest(agent, ["ocr", "gauge"])
    agent.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: running(agent, "gauge"), what="gauge started on SIGHUP")
    assert agent.process("ocr")["pid"] == ocr and pid_alive(ocr)
    assert "SIGHUP: starting gauge, listed in SmartMeter/tinyagent.json" in agent.log()
