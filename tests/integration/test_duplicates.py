"""Two instances of one process name (issue 13): a second `meter_reader` started
by hand with the same name is detected and logged once, shown as `duplicate`
in status, and ignored: the agent keeps the instance it started, and the
other's heartbeats never hide that one's silence."""

import json
import os
import pwd

from conftest import APP_USER, FAST, PYTHON, wait_for


def start_listed(agent, *args):
    command = "exec %s %s/SmartMeter/meter_reader.py --name ocr --interval 0.2 %s" % (PYTHON, agent.root, " ".join(args))
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": [{"name": "ocr", "run_command": command}]}, f)
    agent.start()
    return wait_for(lambda: (agent.process("ocr") or {}).get("state") == "running" and agent.process("ocr"),
                    what="ocr started from the manifest")["pid"]


def test_a_second_instance_is_logged_once_shown_as_duplicate_and_the_started_one_kept(agents):
    """Caught: the tracked pid flipped between the two instances."""
    agent = agents(FAST)
    tracked = start_listed(agent)
    app = pwd.getpwnam(APP_USER)
    other = agent.start_sample("ocr", user=app.pw_uid, group=app.pw_gid)
    wait_for(lambda: agent.process("ocr")["duplicate"] == other.pid, what="the duplicate in status")
    for _ in range(10):
        assert agent.process("ocr")["pid"] == tracked, "the started instance stays tracked"
    text = agent.cli("status", "--root", agent.root).stdout
    assert "running, duplicate pid %d" % other.pid in text
    assert agent.log().count("ocr: a second instance, pid %d" % other.pid) == 1
    assert "the agent keeps watching pid %d and ignores the other's heartbeats" % tracked in agent.log()
    other.kill()
    other.wait()
    wait_for(lambda: agent.process("ocr")["duplicate"] is None, what="a gone duplicate no longer shown")


def test_a_hung_tracked_instance_is_killed_and_restarted_although_a_duplicate_heartbeats(agents):
    """Caught: the other's heartbeats kept the name alive, so the hung instance
    was never killed."""
    agent = agents(FAST)
    tracked = start_listed(agent, "--hang-after", "1.5")
    app = pwd.getpwnam(APP_USER)
    other = agent.start_sample("ocr", user=app.pw_uid, group=app.pw_gid)
    wait_for(lambda: "ocr (pid %d): no heartbeat for 1500 ms" % tracked in agent.log(), timeout=8,
             what="the tracked instance's silence noticed")
    restarted = wait_for(lambda: agent.process("ocr")["pid"] not in (tracked, other.pid) and agent.process("ocr"),
                         what="a new instance started by the agent")
    assert restarted["pid"] != other.pid
    assert other.poll() is None, "the other instance is not the agent's to kill"
