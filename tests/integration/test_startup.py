"""Starting the agent: one agent per root, and start-up failures that say
what is wrong and what to do (issue 13)."""

import json
import os
import signal
import subprocess

from conftest import BINARY, FAST, PYTHON, app_user, free_udp_port, pid_alive, uid_of, wait_for


def run_second_agent(root, port=None):
    return subprocess.run([BINARY, "run", "--root", root, "--heartbeat-port", str(port or free_udp_port())],
                          capture_output=True, text=True, timeout=10)


def test_a_second_agent_on_the_same_root_exits_69_naming_the_first_and_leaves_its_sockets(agents):
    """Caught: both agents ran and watched the same processes, and the second
    removed the first's control socket when it stopped."""
    first = agents(FAST).start()
    reader = first.start_sample("reader")
    wait_for(lambda: first.process("reader"), what="the sample to be known")
    sock = os.path.join(first.root, "wdog", "agent.sock")
    inode = os.stat(sock).st_ino

    second = run_second_agent(first.root)

    assert second.returncode == 69, second.stderr
    assert "another agent (pid %d) serves %s" % (first.proc.pid, first.root) in second.stderr
    assert os.stat(sock).st_ino == inode, "the first agent's control socket is untouched"
    assert first.proc.poll() is None
    assert first.process("reader")["pid"] == reader.pid, "the first agent still answers and watches"
    assert "another agent" not in first.log(), "the second wrote nothing into the first's log"


def open_files(pid):
    fds = os.path.join("/proc", str(pid), "fd")
    return [os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)]


def test_the_lock_goes_with_a_killed_agent_not_with_the_processes_it_started(agents):
    """The lock is the kernel's (no stale pid file after a SIGKILL), and its
    descriptor is close-on-exec: a process the agent restarted, still running,
    neither holds it nor keeps the next agent out."""
    first = agents(FAST).start()
    crasher = first.start_sample("crasher", "--crash-after", "3")
    wait_for(lambda: first.process("crasher"), what="the sample to be known")
    crasher.wait(timeout=6)
    child = wait_for(lambda: (lambda p: p["pid"] if p and p["pid"] != crasher.pid and p["state"] == "running"
                              else None)(first.process("crasher")), what="an instance the agent started")
    lock = os.path.join(first.root, "wdog", "agent.lock")
    assert lock not in open_files(child)
    first.stop(signal.SIGKILL)
    assert pid_alive(child)

    second = agents(FAST)
    second.start()
    assert open(lock).read().strip() == str(second.proc.pid)


def test_every_command_answers_help_with_its_own_usage_and_exit_0():
    """Caught: `run --help` was "unknown option --help" (exit 64)."""
    for args, first in ((["run"], "tinyagent run [--root DIR]"), (["heartbeat"], "tinyagent heartbeat --name NAME"),
                        (["status"], "tinyagent status [--root DIR]"), (["config"], "tinyagent config encrypt"),
                        (["config", "check"], "tinyagent config encrypt"), (["panelmap"], "tinyagent panelmap --url"),
                        (["version"], "tinyagent version")):
        for flag in ("--help", "-h"):
            r = subprocess.run([BINARY] + args + [flag], capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, (args, r.stderr)
            lines = r.stdout.splitlines()
            assert lines[0] == "usage:" and lines[1].startswith("  " + first), (args, r.stdout)
            assert "exit status:" in r.stdout
            if args != ["config"] and args != ["config", "check"]:
                assert sum(1 for l in lines if l.startswith("  tinyagent ")) == 1, "only this command's entry"


def with_nsswitch(monkeypatch, folder, text):
    """The agents the test starts run in a mount namespace whose /etc/nsswitch.conf is `text`."""
    nsswitch = folder / "nsswitch.conf"
    nsswitch.write_text(text)
    monkeypatch.setenv("TINYAGENT_WRAPPER", "unshare --mount sh -c 'mount --bind %s /etc/nsswitch.conf && exec \"$@\"' nss %s"
                       % (nsswitch, os.environ.get("TINYAGENT_WRAPPER", "")))


def test_user_look_ups_run_in_a_child_so_no_nss_module_is_ever_loaded_into_the_agent(agents, monkeypatch, tmp_path):
    """The agent looks users up (its helper user at start, each started process's groups and
    home) in a forked child that answers through a pipe (Sources/CShims/users.c): NSS's
    modules (systemd's, LDAP's, sssd's) never load into the root process, a hung backend
    costs a look-up 5 s instead of stalling the loop, and the agent does not map the libc
    that NSS runs. Seen with the loader's own log (LD_DEBUG=files: each line carries the pid
    of the process that loads a library). A name `files` does not know goes on to the next
    source, so the agent runs in a mount namespace whose nsswitch.conf names `systemd` after
    `files` (Debian's libnss-systemd) whatever this machine's says."""
    import re
    with_nsswitch(monkeypatch, tmp_path, "passwd: files systemd\ngroup: files systemd\n")
    agent = agents(dict(FAST, helper_user="ta-no-such-helper"), env={"LD_DEBUG": "files"})
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": [{"name": "ocr", "run_command": "%s meter_reader.py --name ocr --interval 0.2" % PYTHON}]}, f)
    agent.start()
    wait_for(lambda: (agent.process("ocr") or {}).get("state") == "running", what="ocr started")
    # The legitimate path: the unknown helper user falls back to nobody, ocr runs as the app user.
    assert 'helper user "ta-no-such-helper" does not exist' in agent.log(), agent.log()
    assert uid_of(agent.process("ocr")["pid"]) == app_user().pw_uid
    with open(os.path.join(agent.root, "agent.stderr"), errors="replace") as f:
        loads = re.findall(r"^\s*(\d+):\s+file=(libnss_\w+\.so\.2) \[0\];\s+dynamically loaded", f.read(), re.M)
    assert loads, "no look-up went past `files`: nothing to see (the namespace's nsswitch.conf was not used)"
    assert agent.proc.pid not in {int(pid) for pid, _ in loads}, "the agent itself loaded %s" % loads
    with open("/proc/%d/maps" % agent.proc.pid) as f:
        assert "libnss_" not in f.read()


def test_a_hung_user_database_costs_each_look_up_5_s_and_the_agent_starts_and_says_why(agents, monkeypatch, tmp_path):
    """A passwd source that never answers (an LDAP or sssd backend gone quiet; here an NSS
    module of the test's, tests/integration/hung_nss.c, first in the namespace's
    nsswitch.conf): the child that looks a user up is killed after 5 s, so the agent still
    starts, names the helper user it could not look up, and runs the listed process as the
    app user (found by uid, which the module does not answer). Without the deadline the agent
    would wait forever for its helper user."""
    module = tmp_path / "libnss_tahang.so.2"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(module), os.path.join(os.path.dirname(__file__), "hung_nss.c")],
                   check=True)
    with_nsswitch(monkeypatch, tmp_path, "passwd: tahang files\ngroup: files\n")
    agent = agents(FAST, env={"LD_LIBRARY_PATH": str(tmp_path)})
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": [{"name": "ocr", "run_command": "%s meter_reader.py --name ocr --interval 0.2" % PYTHON}]}, f)
    agent.start(wait=False)
    gave_up = "could not be looked up (the user database gave no answer within 5 s)"
    said = ('helper user "tinyagent" %s and "nobody" %s: the XMPP link and the update worker are not started'
            % (gave_up, gave_up))
    wait_for(lambda: said in agent.log(), timeout=60, what="the helper user's two look-ups given up")
    wait_for(lambda: (agent.process("ocr") or {}).get("state") == "running", what="ocr started")
    assert uid_of(agent.process("ocr")["pid"]) == app_user().pw_uid
    # Each child that looked a name up was killed and reaped: none is left in the module.
    stuck = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/maps" % entry) as f:
                if "libnss_tahang" in f.read():
                    stuck.append(entry)
        except (OSError, ValueError):
            pass
    assert stuck == [], stuck
