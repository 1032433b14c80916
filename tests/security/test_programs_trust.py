"""The agent's helper programs across the trust line (issue 11): root starts
tinyagent-link and tinyagent-fetch from its own folder, so a program file (or that
folder) another user could write must never be run, and a file replaced after the
agent started must not be what a restarted helper runs. Each test attacks as a
throwaway user with the legitimate path beside it; each docstring says what the
code before this change did."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from .conftest import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "integration"))
from test_xmpp import configure, pki, server  # noqa: E402,F401 (fixtures)

wait_for = harness.wait_for
PROGRAMS = ("tinyagent", "tinyagent-link", "tinyagent-fetch")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attacks need throwaway users: run as root")


def install(folder):
    """The three programs in `folder` as the .deb lays them: root's, 0755, in a root 0755
    folder; returns the agent's path."""
    os.makedirs(folder)
    os.chmod(folder, 0o755)
    for name in PROGRAMS:
        shutil.copy(os.path.join(os.path.dirname(harness.BINARY), name), os.path.join(folder, name))
        os.chmod(os.path.join(folder, name), 0o755)
    return os.path.join(folder, "tinyagent")


def planted(path, marker):
    """An executable at `path` that records that it ran, in place of a helper program."""
    source = path + ".c"
    with open(source, "w") as f:
        f.write('#include <stdio.h>\nint main(void) { FILE *f = fopen("%s", "w"); if (f) fclose(f); return 0; }\n'
                % marker)
    subprocess.run(["cc", "-o", path + ".new", source], check=True)
    os.unlink(source)
    os.chmod(path + ".new", 0o755)
    os.rename(path + ".new", path)


def test_a_helper_program_another_user_owns_is_never_run_and_the_agent_goes_on_without_it(
        agents, server, pki, tmp_path, make_user):  # noqa: F811
    """Before: the agent re-executed /proc/self/exe, so there was no second file to plant;
    this guards the three programs: a tinyagent-link that a local user owns (so could
    have written) would otherwise be run by root, with the config's credentials."""
    attacker = make_user()
    marker = str(tmp_path / "ran-as-link")
    agent_bin = install(str(tmp_path / "programs"))
    link = os.path.join(os.path.dirname(agent_bin), "tinyagent-link")
    planted(link, marker)
    os.chown(link, attacker.pw_uid, attacker.pw_gid)
    agent = agents(harness.FAST, binary=agent_bin)
    configure(agent, server.port, pki)
    agent.start()
    wait_for(lambda: "XMPP control channel is off" in agent.log(), what="the refusal")
    line = [l for l in agent.log().splitlines() if "tinyagent-link" in l][0]
    assert "not trusted: uid %d" % attacker.pw_uid in line, line
    assert harness.helper_pids(agent.proc.pid, "xmpp-link") == []
    # The watchdog goes on: a process heartbeats and is watched.
    agent.start_sample("alive")
    wait_for(lambda: (agent.process("alive") or {}).get("state") == "running", what="the sample watched")
    time.sleep(1)
    assert not os.path.exists(marker), "the planted program ran"
    agent.stop()

    # The legitimate path: root's own tinyagent-link is started, from that very file.
    shutil.copy(os.path.join(os.path.dirname(harness.BINARY), "tinyagent-link"), link)
    os.chown(link, 0, 0)
    os.chmod(link, 0o755)
    again = agents(harness.FAST, binary=agent_bin)
    again.start()
    pids = wait_for(lambda: harness.helper_pids(again.proc.pid, "xmpp-link"), what="the link process")
    assert os.readlink("/proc/%d/exe" % pids[0]) == link


def test_a_helper_program_in_a_folder_others_can_write_is_refused(agents, server, pki, tmp_path):  # noqa: F811
    """A folder anyone can write lets anyone rename a planted file over the program
    between the agent's start and a helper's: refused as a whole."""
    agent_bin = install(str(tmp_path / "programs"))
    os.chmod(os.path.dirname(agent_bin), 0o777)
    agent = agents(harness.FAST, binary=agent_bin)
    configure(agent, server.port, pki)
    agent.start()
    wait_for(lambda: "XMPP control channel is off" in agent.log(), what="the refusal")
    assert "updates are refused" in agent.log()
    assert harness.helper_pids(agent.proc.pid, "xmpp-link") == []


def test_a_helper_restarted_after_its_file_was_replaced_runs_the_program_the_agent_checked_at_start(
        agents, server, pki, tmp_path):  # noqa: F811
    """The agent starts its helpers through descriptors opened at its start: a file
    replaced later (an upgrade in progress, or anyone who could) is not what runs."""
    marker = str(tmp_path / "ran-replacement")
    agent_bin = install(str(tmp_path / "programs"))
    agent = agents(harness.FAST, binary=agent_bin)
    configure(agent, server.port, pki)
    agent.start()
    first = wait_for(lambda: harness.helper_pids(agent.proc.pid, "xmpp-link"), what="the link process")[0]
    link = os.path.join(os.path.dirname(agent_bin), "tinyagent-link")
    planted(link, marker)
    os.kill(first, 9)
    second = wait_for(lambda: [p for p in harness.helper_pids(agent.proc.pid, "xmpp-link") if p != first],
                      timeout=15, what="the restarted link")[0]
    assert os.readlink("/proc/%d/exe" % second) == link + " (deleted)"
    time.sleep(1)
    assert not os.path.exists(marker)
