"""SmartMeter/tinyagent.json as the list of processes that should run: on a
fresh card the agent starts them; re-adopted ones are kept; SIGHUP re-reads
it (issue 13)."""

import json
import os
import pwd
import signal

from conftest import APP_USER, FAST, PYTHON, pid_alive, uid_of, wait_for


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


def write_processes(agent, processes):
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": processes}, f, indent=2)


def reader(agent, name, prefix=""):
    """A run_command that says where it runs, as whom and with MODE, then heartbeats."""
    return ('%secho "uid=$(id -u) cwd=$(pwd) mode=$MODE home=$HOME"; exec %s %s/SmartMeter/meter_reader.py --name %s --interval 0.2'
            % (prefix, PYTHON, agent.root, name))


def output_log(agent, name):
    try:
        with open(os.path.join(agent.root, "logs", name + ".log")) as f:
            return f.read()
    except OSError:
        return ""


def test_a_listed_process_runs_as_its_user_in_its_folder_with_its_environment(agents):
    # An account besides the app user: root's settings name it (process_users).
    agent = agents(dict(FAST, process_users=["nobody"]))
    folder = os.path.join(agent.root, "SmartMeter", "jobs", "ocr")
    os.makedirs(folder)
    write_processes(agent, [
        {"name": "ocr", "run_command": reader(agent, "ocr"), "user": "nobody", "cwd": "jobs/ocr",
         "env": {"MODE": "fast", "HOME": "/tmp"}},
        {"name": "gauge", "run_command": reader(agent, "gauge")},
    ])
    agent.start()
    ocr = wait_for(lambda: running(agent, "ocr"), what="ocr started from the manifest")
    gauge = wait_for(lambda: running(agent, "gauge"), what="gauge started from the manifest")
    assert uid_of(ocr["pid"]) == 65534, "run as the manifest's user"
    assert uid_of(gauge["pid"]) == pwd.getpwnam(APP_USER).pw_uid, "no user: the app user"
    assert "uid=65534 cwd=%s mode=fast home=/tmp" % folder in output_log(agent, "ocr"), "its folder and environment"
    assert "cwd=%s/SmartMeter mode= " % agent.root in output_log(agent, "gauge"), "defaults: SmartMeter/, no MODE"


def test_a_listed_user_that_does_not_exist_is_refused_with_a_clear_line_and_the_others_start(agents):
    agent = agents(FAST)
    write_processes(agent, [
        {"name": "ocr", "run_command": reader(agent, "ocr"), "user": "ta-no-such-user"},
        {"name": "gauge", "run_command": reader(agent, "gauge")},
    ])
    agent.start()
    wait_for(lambda: running(agent, "gauge"), what="gauge started from the manifest")
    assert ('SmartMeter/tinyagent.json: process ocr: user "ta-no-such-user" does not exist on this machine; not started'
            in agent.log())
    assert agent.process("ocr") is None


def test_a_manifest_error_names_the_file_once_with_the_process_key_and_position(agents):
    """Caught: the path came twice (`./SmartMeter/tinyagent.json: archive:
    SmartMeter/tinyagent.json: …`), with no position or key."""
    agent = agents(FAST)
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        f.write('{"processes": [\n  {"name": "ocr", "run_command": "x",\n   "restart": "sometimes"}]}\n')
    agent.start()
    line = wait_for(lambda: [l for l in agent.log().splitlines() if "tinyagent.json:" in l], what="the manifest error")[0]
    assert line.endswith('/SmartMeter/tinyagent.json: process ocr, "restart" at 3:4: "sometimes" is not always, '
                         'on-failure or never; ignored'), line
    assert line.count("tinyagent.json") == 1 and "archive:" not in line


def runs(agent, name):
    return output_log(agent, name).count("ran\n")


def test_restart_on_failure_treats_exit_zero_as_a_finished_job_and_never_restarts_nothing(agents):
    agent = agents(FAST)
    write_processes(agent, [
        {"name": "job", "run_command": "echo ran; exit 0", "restart": "on-failure"},
        {"name": "flaky", "run_command": "echo ran; exit 3", "restart": "on-failure"},
        {"name": "once", "run_command": "echo ran; exit 3", "restart": "never"},
        {"name": "daemon", "run_command": "echo ran; exit 0"},
        {"name": "hung", "run_command": "exec %s %s/SmartMeter/meter_reader.py --name hung --interval 0.2 --hang-after 0.3"
         % (PYTHON, agent.root), "restart": "never"},
    ])
    agent.start()
    wait_for(lambda: agent.process("job") and agent.process("job")["state"] == "finished", what="the job finished")
    wait_for(lambda: runs(agent, "flaky") >= 3, what="a failing on-failure process restarted")
    wait_for(lambda: runs(agent, "daemon") >= 3, what="an always process restarted after exit 0")
    once = wait_for(lambda: agent.process("once")["state"] == "failed" and agent.process("once"), what="never: failed")
    assert "restart mode is never" in once["failure"]
    hung = wait_for(lambda: agent.process("hung")["state"] == "failed" and agent.process("hung"), timeout=8,
                    what="a hung never process stopped, not restarted")
    assert "hung (pid" in agent.log() and "no heartbeat for 1500 ms" in agent.log()
    assert "hung: SIGTERM" in agent.log(), "a hang is still stopped under never"
    assert runs(agent, "job") == 1 and runs(agent, "once") == 1
    assert "job: finished (exit status 0, restart on-failure); not restarted until a restart is asked for" in agent.log()
    assert agent.log().count("hung: started (") == 1


def test_a_listed_process_found_dead_at_start_or_killed_after_sighup_restarts_the_manifests_way(agents):
    """Caught: a process restored from the registry was restarted before the
    manifest was read, so in SmartMeter/ without its environment."""
    agent = agents(FAST)
    folder = os.path.join(agent.root, "SmartMeter", "jobs")
    os.makedirs(folder)
    write_processes(agent, [{"name": "ocr", "run_command": reader(agent, "ocr"), "cwd": "jobs", "env": {"MODE": "one"}}])
    agent.start()
    first = wait_for(lambda: running(agent, "ocr"), what="ocr started")["pid"]
    agent.stop()
    os.kill(first, signal.SIGKILL)
    again = agents(FAST)
    again.port = agent.port
    again.start()
    second = wait_for(lambda: running(again, "ocr") if running(again, "ocr") and running(again, "ocr")["pid"] != first
                      else None, what="restarted after the agent's restart")["pid"]
    assert output_log(agent, "ocr").count("cwd=%s mode=one" % folder) == 2, output_log(agent, "ocr")

    write_processes(agent, [{"name": "ocr", "run_command": reader(agent, "ocr"), "env": {"MODE": "two"}}])
    again.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP" in again.log(), what="the reload")
    assert running(again, "ocr")["pid"] == second, "a reload does not restart a running process"
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: "cwd=%s/SmartMeter mode=two" % agent.root in output_log(agent, "ocr"), what="restarted the new way")
