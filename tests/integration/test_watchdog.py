"""The process watchdog end to end: real processes hang, crash and are
restarted by the Embedded agent binary."""

import os
import shutil
import signal
import subprocess
import time

from conftest import BINARY, FAST, pid_alive, uid_of, wait_for


def test_a_process_that_stops_heartbeating_but_stays_alive_is_killed_and_restarted(agents):
    agent = agents(FAST).start()
    hung = agent.start_sample("reader", "--hang-after", "1")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    assert agent.process("reader")["pid"] == hung.pid

    restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != hung.pid and p["since_heartbeat_s"] is not None
                                  and p["state"] == "running" else None)(agent.process("reader")),
                         timeout=8, what="a restarted instance that heartbeats")
    assert restarted["restarts"] >= 1
    hung.wait(timeout=5)
    assert hung.returncode == -signal.SIGTERM, "the hung process was terminated by the agent"
    assert pid_alive(restarted["pid"])
    log = agent.log()
    assert "reader (pid %d): no heartbeat for 1500 ms" % hung.pid in log
    assert "SIGTERM" in log and "reader: started (no heartbeat for 1500 ms), shell pid" in log


def test_a_process_that_does_not_exit_on_sigterm_is_killed(agents):
    agent = agents(dict(FAST, kill_grace_ms=300)).start()
    stubborn = agent.start_sample("stubborn", "--hang-after", "0.5", "--ignore-sigterm")
    wait_for(lambda: agent.process("stubborn"), what="the sample to be known")
    stubborn.wait(timeout=8)
    assert stubborn.returncode == -signal.SIGKILL
    assert "stubborn: SIGKILL" in agent.log()


def test_a_process_that_crashes_is_restarted_and_its_restarted_crashes_at_once(agents):
    # A heartbeat deadline (5 s) ten times as long as an instance lives (0.5 s),
    # and no back-off: restarts that waited for a deadline would come 5 s apart.
    agent = agents(dict(FAST, heartbeat_timeout_ms=5000, restart_backoff_initial_ms=0, restart_limit=10)).start()
    crasher = agent.start_sample("crasher", "--crash-after", "0.5")
    wait_for(lambda: agent.process("crasher"), what="the sample to be known")
    crasher.wait(timeout=5)
    assert crasher.returncode == 3
    # The first instance was not the agent's child: found at its deadline.
    wait_for(lambda: agent.process("crasher")["restarts"] >= 1, timeout=10, what="the first restart")
    first = time.monotonic()
    # The restarted ones are, and are restarted as soon as they exit.
    wait_for(lambda: agent.process("crasher")["restarts"] >= 4, timeout=10, what="three more restarts")
    assert time.monotonic() - first < 5.0, "three restarts within one heartbeat deadline"
    log = agent.log()
    assert "exited with status 3" in log
    assert open(os.path.join(agent.root, "logs", "crasher.log")).read().count("crashing") >= 3, \
        "the restarted instances' output goes to logs/crasher.log"


def test_the_restarted_instance_runs_as_the_same_uid(agents):
    agent = agents(FAST).start()
    hung = agent.start_sample("as_nobody", "--hang-after", "1", user="nobody")
    assert uid_of(hung.pid) == 65534
    wait_for(lambda: agent.process("as_nobody"), what="the sample to be known")
    restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != hung.pid and p["state"] == "running" else None)(
        agent.process("as_nobody")), timeout=8, what="the restarted instance")
    assert uid_of(restarted["pid"]) == 65534
    assert agent.process("as_nobody")["uid"] == 65534


def test_over_the_restart_cap_a_process_is_marked_failed(agents):
    agent = agents(dict(FAST, restart_limit=2, restart_backoff_initial_ms=100)).start()
    agent.start_sample("flapper", "--crash-after", "0.3")
    wait_for(lambda: (agent.process("flapper") or {}).get("state") == "failed", timeout=10, what="the failed state")
    p = agent.process("flapper")
    assert p["restarts"] == 2
    assert "restarted 2 times" in p["failure"]
    time.sleep(1.0)
    assert agent.process("flapper")["restarts"] == 2, "no restart loop once failed"


def test_a_shell_script_heartbeating_through_the_cli_is_verified_and_restarted(agents):
    agent = agents(FAST).start()
    # The installed layout: the CLI in bin/, found by the script from there.
    shutil.copy(BINARY, os.path.join(agent.root, "bin", "tinyagent"))
    env = dict(os.environ, TINYAGENT_HEARTBEAT_PORT=str(agent.port))
    env.pop("TINYAGENT_BIN", None)
    script = os.path.join(agent.root, "SmartMeter", "meter_script.sh")
    proc = subprocess.Popen(["/bin/sh", script, "shell_meter", "2.0.1", "0.3"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent.samples.append(proc)
    p = wait_for(lambda: agent.process("shell_meter"), what="the script to be known")
    assert p["verified"] is True
    assert p["pid"] == proc.pid
    assert p["version"] == "2.0.1"
    os.killpg(proc.pid, signal.SIGKILL)  # it dies without a word
    proc.wait()
    restarted = wait_for(lambda: (lambda q: q if q["pid"] != proc.pid and q["state"] == "running" else None)(
        agent.process("shell_meter")), timeout=8, what="the script restarted from its run_command")
    assert pid_alive(restarted["pid"])


def test_the_restarted_instance_keeps_its_users_supplementary_groups(agents):
    # A meter reader's user is in groups such as video or gpio; a restart
    # must not drop them.
    subprocess.run(["groupadd", "-f", "tinyagent-it-extra"], check=True)
    if subprocess.run(["id", "tinyagent-it-user"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "-G", "tinyagent-it-extra", "tinyagent-it-user"], check=True)
    extra = int(subprocess.run(["getent", "group", "tinyagent-it-extra"], capture_output=True, text=True,
                               check=True).stdout.split(":")[2])
    agent = agents(FAST).start()
    hung = agent.start_sample("grouped", "--hang-after", "1", user="tinyagent-it-user", extra_groups=[extra])
    wait_for(lambda: agent.process("grouped"), what="the sample to be known")
    restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != hung.pid and p["state"] == "running" else None)(
        agent.process("grouped")), timeout=8, what="the restarted instance")
    with open("/proc/%d/status" % restarted["pid"]) as f:
        groups = next(line for line in f if line.startswith("Groups:")).split()[1:]
    assert str(extra) in groups


def test_beyond_max_processes_a_new_name_is_ignored_and_the_known_ones_stay_watched(agents):
    agent = agents(dict(FAST, max_processes=2)).start()
    agent.start_sample("one")
    agent.start_sample("two")
    wait_for(lambda: agent.process("one") and agent.process("two"), what="two processes known")
    agent.start_sample("three")
    wait_for(lambda: "heartbeat for three ignored: already watching 2 processes" in agent.log(),
             what="the third refused")
    assert sorted(p["name"] for p in agent.status()["processes"]) == ["one", "two"]
    assert all(p["state"] == "running" for p in agent.status()["processes"])


def test_a_process_log_is_capped_at_process_log_max_bytes_on_each_start(agents):
    agent = agents(dict(FAST, process_log_max_bytes=4096, restart_backoff_initial_ms=0, restart_limit=10)).start()
    # Each instance the agent starts writes 5001 bytes to logs/chatty.log and exits.
    command = "head -c 5000 /dev/zero | tr '\\0' x; echo; exit 3"
    first = subprocess.Popen(["/bin/sh", "-c", '"$0" heartbeat --name chatty --version 1.0.0 --port %d'
                              ' --run-command "$1"; exec sleep 1' % agent.port, BINARY, command],
                             start_new_session=True)
    agent.samples.append(first)
    wait_for(lambda: (agent.process("chatty") or {}).get("restarts", 0) >= 4, timeout=15, what="four restarts")
    log = os.path.join(agent.root, "logs", "chatty.log")

    def sizes():
        """(chatty.log, chatty.log.1) sizes; None in the moment a start moves the log aside
        (where the file system has no RENAME_EXCHANGE)."""
        try:
            return os.path.getsize(log), os.path.getsize(log + ".1")
        except FileNotFoundError:
            return None
    current, previous = wait_for(sizes, what="the logs in place")
    # Four instances wrote 20 KB, each after its start's marker line; each
    # start moved a log over the cap aside.
    with open(log + ".1") as f:
        marker = f.readline()
    assert marker.endswith(" tinyagent: starting chatty (exited with status 3)\n"), marker
    assert current <= len(marker) + 5001 and previous == len(marker) + 5001
    assert not os.path.exists(log + ".2")
