"""Heartbeat trust (issue 10 items 1, 2, 3 and 9-names): what a local user
can make the agent believe about a heartbeat, and whom it then runs. Each
test attacks as a throwaway non-root user against the Embedded binary, with
the app user's legitimate path beside it; each docstring says what today's
main did wrong."""

import json
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid

from .conftest import FAST, PYTHON, harness, make_tree, run_as

wait_for = harness.wait_for
pid_alive = harness.pid_alive
uid_of = harness.uid_of

# Sends each heartbeat in argv[3:] five times from one UDP socket bound to
# argv[1] (address, port 0 = any), to 127.0.0.1:argv[2]; "PID" becomes its
# pid, "PPID" its parent's.
UDP_SENDER = """import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
address, port = sys.argv[1].rsplit(":", 1)
s.bind((address, int(port)))
for _ in range(5):
    for beat in sys.argv[3:]:
        beat = beat.replace('"PID"', str(os.getpid())).replace('"PPID"', str(os.getppid()))
        s.sendto(beat.encode(), ("127.0.0.1", int(sys.argv[2])))
    time.sleep(0.1)
time.sleep(0.3)
"""

# The same, to the Unix socket argv[1]; prints "denied" if it may not.
UNIX_SENDER = """import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    for _ in range(5):
        s.sendto(sys.argv[2].replace('"PID"', str(os.getpid())).encode(), sys.argv[1])
        time.sleep(0.1)
except PermissionError:
    print("denied")
time.sleep(0.3)
"""


def heartbeat(name, pid, run_command="", major=1):
    return json.dumps({"process_name": name, "pid": pid, "run_command": run_command,
                       "version": {"major": major, "minor": 0, "patch": 0}})


def device(agents, settings=None):
    """An agent on a root laid out as DESIGN.md §3 says, SmartMeter/ the app user's."""
    app = harness.app_user()
    agent = agents(dict(FAST, **(settings or {})))
    make_tree(agent.root, app)
    return agent.start(), app


def victim():
    """A root process in a session of its own: what an attacker would like killed."""
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def restarted_as(agent, name, old_pid, timeout=8):
    """The process `name` once running again under a new pid, and the uid it runs as."""
    p = wait_for(lambda: (lambda q: q if q and q["pid"] != old_pid and q["state"] == "running" else None)(
        agent.process(name)), timeout=timeout, what="%s restarted" % name)
    return p, uid_of(p["pid"])


def app_sample(agent, app, name, *args):
    return agent.start_sample(name, *args, user=app.pw_uid, group=app.pw_gid)


def test_a_sender_on_another_loopback_address_cannot_speak_for_the_agents_pid(agents, make_user):
    """On main the verifier matched the source port only: a user bound
    127.0.0.2:<the agent's port> and named the agent's pid, the agent's own
    socket made that "verified, uid 0", and the agent SIGTERMed itself at the
    deadline (then would run the command as root)."""
    agent, app = device(agents)
    attacker = make_user()
    marker = os.path.join(agent.root, "marker-own-pid")
    legit = app_sample(agent, app, "meter", "--hang-after", "1")
    r = run_as(attacker, UDP_SENDER, "127.0.0.2:%d" % agent.port, agent.port,
               heartbeat("evil", agent.proc.pid, "touch " + marker))
    assert r.returncode == 0, r.stderr
    time.sleep(2.5)  # evil's deadline and grace, had it been taken
    assert agent.proc.poll() is None, "the agent is still running"
    assert agent.process("evil") is None
    assert not os.path.exists(marker)
    # The app user's own process: verified as the app user, restarted as it.
    p, uid = restarted_as(agent, "meter", legit.pid)
    assert uid == app.pw_uid and p["uid"] == app.pw_uid and p["verified"]


def test_a_user_cannot_have_the_agent_signal_its_root_parent(agents, make_user):
    """On main a heartbeat from any direct child of the claimed pid was
    verified: a process under su or cron named its root parent, and the agent
    SIGTERMed that parent's process group when the heartbeats stopped."""
    agent, app = device(agents)
    shutil.copy(harness.BINARY, os.path.join(agent.root, "bin", "tinyagent"))
    attacker = make_user()
    # A root parent whose child drops to the attacker and names the parent.
    parent = subprocess.Popen([PYTHON, "-c", """import os, sys, time
if os.fork() == 0:
    os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[1]))
    os.execv(sys.argv[3], sys.argv[3:])
time.sleep(60)
""", str(attacker.pw_uid), str(attacker.pw_gid), PYTHON, "-c", UDP_SENDER, "127.0.0.1:0", str(agent.port),
                               heartbeat("su", "PPID")], start_new_session=True)
    agent.samples.append(parent)
    # The legitimate path: the app user's shell script, whose CLI names the
    # script (its parent, the app user's too), is verified and restarted.
    env = dict(os.environ, TINYAGENT_HEARTBEAT_PORT=str(agent.port))
    env.pop("TINYAGENT_BIN", None)
    script = subprocess.Popen(["/bin/sh", os.path.join(agent.root, "SmartMeter", "meter_script.sh"), "shell_meter", "1.0.0", "0.3"],
                              env=env, user=app.pw_uid, group=app.pw_gid, extra_groups=[], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent.samples.append(script)
    p = wait_for(lambda: agent.process("shell_meter"), what="the script to be known")
    assert p["verified"] and p["pid"] == script.pid and p["uid"] == app.pw_uid
    time.sleep(2.5)
    assert parent.poll() is None and pid_alive(parent.pid), "the root parent was not signalled"
    assert agent.process("su") is None
    os.killpg(script.pid, signal.SIGKILL)
    script.wait()
    _, uid = restarted_as(agent, "shell_meter", script.pid)
    assert uid == app.pw_uid


def test_an_unverified_heartbeat_with_an_allowlisted_command_runs_it_as_the_app_user_not_root(agents, make_user):
    """On main, with `run_as` unset, an allowlisted command from a heartbeat
    nobody could verify ran as the agent: root."""
    command = "touch allowlisted-ran; exec sleep 60"
    agent, app = device(agents, {"allowlist": [command]})
    attacker = make_user()
    target = victim()
    agent.samples.append(target)
    r = run_as(attacker, UDP_SENDER, "127.0.0.1:0", agent.port, heartbeat("allowed", target.pid, command))
    assert r.returncode == 0, r.stderr
    marker = os.path.join(agent.root, "SmartMeter", "allowlisted-ran")
    wait_for(lambda: os.path.exists(marker), timeout=8, what="the allowlisted command to run")
    assert os.stat(marker).st_uid == app.pw_uid, "run as the app user (the owner of SmartMeter/), not root"
    assert agent.process("allowed")["verified"] is False
    assert pid_alive(target.pid), "the unverified claimed pid was never signalled"


def test_a_verified_root_process_is_restarted_as_root_only_if_root_processes_lists_it(agents):
    """On main every verified uid ran as itself, root included: whatever a
    root-run SmartMeter script said was restarted as root."""
    agent, app = device(agents, {"root_processes": ["trusted"]})
    rooted = agent.start_sample("rooted", "--hang-after", "1")
    trusted = agent.start_sample("trusted", "--hang-after", "1")
    assert wait_for(lambda: agent.process("rooted"), what="rooted known")["uid"] == 0
    _, uid = restarted_as(agent, "rooted", rooted.pid)
    assert uid == app.pw_uid, "not listed: the app user's"
    _, uid = restarted_as(agent, "trusted", trusted.pid)
    assert uid == 0, "listed in root's settings: root"


def test_without_an_app_user_smartmeter_code_is_refused_never_run_as_root(agents):
    """On main, with SmartMeter/ root's and no `run_as`, commands ran as root."""
    app = harness.app_user()
    agent = agents(FAST)
    make_tree(agent.root, app)
    os.chown(os.path.join(agent.root, "SmartMeter"), 0, 0)
    agent.start()
    rooted = agent.start_sample("rooted", "--hang-after", "1")
    wait_for(lambda: (agent.process("rooted") or {}).get("state") == "failed", timeout=8, what="the refusal")
    assert "never run as root" in agent.process("rooted")["failure"]
    assert "no app user" in agent.log()
    assert agent.process("rooted")["restarts"] == 0, "nothing was started"


def test_the_unix_socket_takes_the_senders_uid_from_the_kernel(agents, make_user):
    """On main there was no kernel-attested endpoint: `wdog/heartbeat.sock`
    did not exist, so the app user's datagram there reached nobody."""
    agent, app = device(agents)
    path = os.path.join(agent.root, "wdog", "heartbeat.sock")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620 and (st.st_uid, st.st_gid) == (0, app.pw_gid)
    # The app user's process names itself: verified, as the kernel's uid.
    r = run_as(app, UNIX_SENDER, path, heartbeat("attested", "PID"))
    assert r.returncode == 0 and "denied" not in r.stdout, r.stderr
    p = wait_for(lambda: agent.process("attested"), what="the attested sender")
    assert p["verified"] and p["uid"] == app.pw_uid
    # A member of the app group naming a root process: the kernel says who it is.
    member = make_user(groups=[app.pw_name])
    target = victim()
    agent.samples.append(target)
    run_as(member, UNIX_SENDER, path, heartbeat("forged", target.pid))
    # A user outside the app group cannot reach the socket at all.
    outsider = make_user()
    assert "denied" in run_as(outsider, UNIX_SENDER, path, heartbeat("outside", "PID")).stdout
    time.sleep(2.0)
    assert agent.process("forged") is None and agent.process("outside") is None
    assert pid_alive(target.pid)


def test_processes_the_agent_starts_heartbeat_over_the_unix_socket(agents):
    """On main the agent exported only the UDP port; now its children get the
    socket too, and the Python helper prefers it (the legitimate path of
    kernel-attested heartbeats, run as the app user)."""
    agent, app = device(agents, {"allowlist": []})
    hung = app_sample(agent, app, "meter", "--hang-after", "1")
    _, uid = restarted_as(agent, "meter", hung.pid)
    assert uid == app.pw_uid
    restarted = agent.process("meter")["pid"]
    with open("/proc/%d/environ" % restarted, "rb") as f:
        environ = f.read().split(b"\0")
    assert ("TINYAGENT_HEARTBEAT_SOCKET=%s" % os.path.join(agent.root, "wdog", "heartbeat.sock")).encode() in environ
    # The helper opened a Unix socket (only when it has a path to send to).
    held = {os.readlink("/proc/%d/fd/%s" % (restarted, fd)) for fd in os.listdir("/proc/%d/fd" % restarted)}
    with open("/proc/net/unix") as f:
        unix = {"socket:[%s]" % line.split()[6] for line in f.readlines()[1:] if len(line.split()) >= 7}
    assert held & unix
    accepted = agent.status()["heartbeats"]["accepted"]
    wait_for(lambda: agent.status()["heartbeats"]["accepted"] > accepted + 3, what="heartbeats from the restarted instance")
    assert agent.process("meter")["uid"] == app.pw_uid and agent.process("meter")["verified"]


def test_one_user_cannot_squat_every_process_name(agents, make_user):
    """On main any uid could register up to `max_processes` (64) names and
    keep them forever; now 16 per uid (`max_names_per_uid`)."""
    agent, app = device(agents)
    attacker = make_user()
    beats = [heartbeat("name%02d" % i, "PID") for i in range(20)]
    assert run_as(attacker, UDP_SENDER, "127.0.0.1:0", agent.port, *beats).returncode == 0
    legit = app_sample(agent, app, "meter")
    wait_for(lambda: agent.process("meter"), what="the app user's process")
    names = [p for p in agent.status()["processes"] if p["uid"] == attacker.pw_uid]
    assert len(names) == 16
    assert "already holds 16 names" in agent.log()
    assert agent.process("meter")["pid"] == legit.pid


def test_a_name_another_uid_left_failed_for_the_expiry_is_free_again(agents, make_user):
    """On main registry entries were kept for ever: a name another uid once
    took and left failed still refused the app user's own process."""
    app = harness.app_user()
    attacker = make_user()
    agent = agents(FAST)
    make_tree(agent.root, app)
    eight_days_ago = int(time.time()) - 8 * 86400
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    squat = {"name": "meter", "pid": 4194000, "start_time": None, "uid": attacker.pw_uid, "gid": attacker.pw_gid,
             "run_command": None, "verified": True, "version": "1.0.0", "state": "failed", "restarts": 0,
             "failure": "no run_command the agent may run", "last_heartbeat": eight_days_ago, "known_since": eight_days_ago}
    path = os.path.join(agent.root, "wdog", "registry.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump({"format": 1, "boot_id": boot_id, "processes": [squat]}, f)
    agent.start()
    assert "meter: not heard from for 7 days; forgotten" in agent.log()
    legit = app_sample(agent, app, "meter")
    p = wait_for(lambda: (lambda q: q if q and q["pid"] == legit.pid else None)(agent.process("meter")),
                 what="the app user's meter")
    assert p["uid"] == app.pw_uid and p["verified"]
