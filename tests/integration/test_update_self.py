"""What an update archive may carry besides `SmartMeter/` (issue 12 §2, DESIGN.md §6): a CA
alone, or the agent's own programs in `bin/`. The Embedded agent, a real prosody, the panel
stand-in, an HTTPS fault server with the test CA and real zips. An archive with nothing to
install is refused saying so; one with only a CA rotates the CA and leaves the processes
running untouched."""

import os
import zipfile

from conftest import BINARY, wait_for
from test_update import OLD, Device, command, sha256, update
from test_update_ca import assert_ca_kept, certs, read, renewed_ca
from test_update_local import local_update
from test_xmpp import online, pki, server  # noqa: F401 (fixtures)

from faultserver import FaultServer
from signing import install_key, make_key, sign


def archive(device, name, entries):
    """A zip in the device's served files of `entries`: archive name → file path or bytes."""
    path = os.path.join(device.files, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for entry, source in entries.items():
            if isinstance(source, bytes):
                z.writestr(entry, source)
            else:
                z.write(source, entry)
    return path


def pids(device):
    return {p["name"]: p["pid"] for p in device.agent.status()["processes"]}


def programs():
    """The three programs of the build under test, as an archive's bin/ carries them."""
    folder = os.path.dirname(BINARY)
    return {"bin/" + name: os.path.join(folder, name) for name in ("tinyagent", "tinyagent-link", "tinyagent-fetch")}


def test_a_ca_only_archive_from_the_panel_rotates_the_ca_and_leaves_the_processes_running(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    before = pids(device)
    ca = renewed_ca(pki, str(tmp_path))
    path = archive(device, "ca.zip", {"certs/cacert.pem": ca, "README.txt": b"a new CA\n"})
    with FaultServer(root=device.files, pki=pki) as s:
        # The command names the versions that run: nothing of SmartMeter/ changes.
        answer = update(device, server, command(95, s.url("/file/ca.zip"), version=OLD, sha256=sha256(path)))
    assert answer["success"] is True, (answer, device.agent.log()[-3000:])
    assert read(certs(device)) == read(ca)
    assert not os.path.exists(certs(device, "cacert.pem.prev")) and not os.path.exists(certs(device, "cacert.pem.next"))
    assert not os.path.exists(device.smart_meter + ".prev"), "SmartMeter/ was not swapped"
    assert pids(device) == before, "the processes were not stopped"
    log = device.agent.log()
    assert "no SmartMeter/ in it: the processes run on" in log
    assert "the link logged in with the new CA" in log
    online(device.agent)
    last = device.agent.status()["last_update"]
    assert last["after"] == "p1 %s, p2 %s, certs/cacert.pem" % (OLD, OLD), last


def test_a_local_ca_only_archive_is_confirmed_by_the_links_login_alone(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    before = pids(device)
    ca = renewed_ca(pki, str(tmp_path))
    r = local_update(device, archive(device, "ca.zip", {"certs/cacert.pem": ca}))
    assert r.returncode == 0, (r.stderr, device.agent.log()[-3000:])
    assert r.stdout == "installed and confirmed: certs/cacert.pem\n", r.stdout
    assert read(certs(device)) == read(ca)
    assert pids(device) == before
    online(device.agent)


def test_a_ca_only_archive_that_would_cut_the_device_off_is_refused_with_nothing_stopped(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    before = pids(device)
    r = local_update(device, archive(device, "ca.zip", {"certs/cacert.pem": pki.rogue_ca_cert}))
    assert r.returncode != 0
    assert "does not verify the XMPP server" in r.stderr, r.stderr
    assert_ca_kept(device, pki)
    assert pids(device) == before
    device.assert_old_and_running()


def test_an_archive_with_nothing_to_install_is_refused_saying_so(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    path = archive(device, "empty.zip", {"App/run.sh": b"#!/bin/sh\n", "bin/run.sh": b"#!/bin/sh\n",
                                         "certs/other.pem": b"PEM"})
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(96, s.url("/file/empty.zip"), sha256=sha256(path)))
    assert answer["success"] is False
    assert answer["remarks"] == ("archive: nothing to install: no SmartMeter/ folder, no certs/cacert.pem, "
                                 "no agent programs in bin/"), answer
    assert_ca_kept(device, pki)
    device.assert_old_and_running()


def test_a_hostile_server_cannot_replace_the_agents_programs_on_a_device_without_update_keys(agents, server, pki, tmp_path):  # noqa: F811
    """On TLS and the panel's word alone (a server that can forge the panel's commands and
    serve files under the pinned CA), root would run whatever bin/ held: without keys to
    check who made them, the programs are refused, and the whole archive with them. (Signed,
    every self-update below is taken.)"""
    device = Device(agents, server, pki, tmp_path)
    rogue = failing_build(str(tmp_path), "return 0;")
    path = device.serve("both.zip", "good", *processes(NEW))
    with zipfile.ZipFile(path, "a") as z:
        for entry, source in programs().items():
            z.write(rogue if entry == "bin/tinyagent" else source, entry)
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(94, s.url("/file/both.zip"), sha256=sha256(path), agent_version=NEW_AGENT))
    assert answer["success"] is False
    assert answer["remarks"] == ("archive: bin/ carries the agent's own programs, which run as root: this device has no "
                                 "update keys (certs/update-keys/), so it does not replace them; nothing installed"), answer
    assert "passed its trial run" not in device.agent.log(), "nothing of bin/ was run, not even as the helper user"
    device.assert_old_and_running()


def test_an_archive_with_some_of_the_agents_programs_is_refused_naming_the_missing_ones(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    entries = programs()
    del entries["bin/tinyagent-link"]
    r = local_update(device, archive(device, "partial.zip", entries))
    assert r.returncode != 0
    assert "archive: bin/ lacks tinyagent-link: the agent's programs are replaced together" in r.stderr, r.stderr
    device.assert_old_and_running()


# ---- the agent updates itself: the real unit's lines under a stand-in for systemd ----------

import shutil  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402

import pytest  # noqa: E402

from conftest import PYTHON, REPO  # noqa: E402
import json  # noqa: E402

from test_update import NEW, SETTINGS, answers, ignoring_sigterm, processes  # noqa: E402
from test_xmpp import panel_for  # noqa: E402

UNIT = os.path.join(REPO, "buildroot", "overlay", "lib", "systemd", "system", "tinyagent.service")
GUARD = os.path.join(REPO, "buildroot", "overlay", "usr", "lib", "tinyagent", "tinyagent-guard")
STANDIN = os.path.join(REPO, "tests", "integration", "unit_standin.py")
PROGRAMS = ("tinyagent", "tinyagent-link", "tinyagent-fetch")
WATCHDOG_S = 4


def version_of(program):
    return subprocess.run([program, "version"], capture_output=True, text=True, timeout=10).stdout.split()[1]


OLD_AGENT = version_of(BINARY)
NEW_AGENT = "9.9.9"


def root_file(path, data, mode=0o755):
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, 0, 0)
    os.chmod(path, mode)
    return path


def new_build(folder, version=NEW_AGENT):
    """The real agent of this build with another version: its version constant is a Swift
    small string (five bytes), inlined at each use; each copy is rewritten, same length."""
    data = open(BINARY, "rb").read()
    old = OLD_AGENT.encode()
    assert len(old) == len(version) and data.count(old) >= 1
    path = root_file(os.path.join(folder, "tinyagent"), data.replace(old, version.encode()))
    assert version_of(path) == version
    return path


def failing_build(folder, otherwise, name="tinyagent", version=NEW_AGENT, trial=""):
    """A program that passes the trial (`version` does `trial`, C statements, then prints
    `tinyagent VERSION`) and at any other start does `otherwise` (C statements)."""
    source = os.path.join(folder, name + ".c")
    with open(source, "w") as f:
        f.write('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n'
                'int main(int c, char **v) { if (c == 2 && !strcmp(v[1], "version")) { %s puts("tinyagent %s"); return 0; }'
                ' %s }\n' % (trial, version, otherwise))
    out = os.path.join(folder, name)
    subprocess.run(["cc", "-o", out, source], check=True)
    os.chmod(out, 0o755)
    return out


class StandIn:
    """unit_standin.py running the unit for an agent on `agent.root`, its programs in `install`."""

    def __init__(self, install, agent):
        self.events = []
        self.proc = subprocess.Popen(
            [PYTHON, STANDIN, UNIT, install, agent.root, "--watchdog", str(WATCHDOG_S), "--restart", "0.3",
             "--", "--heartbeat-port", str(agent.port)],
            stdout=subprocess.PIPE, stderr=open(os.path.join(agent.root, "agent.stderr"), "ab"), text=True)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            self.events.append(line.split())

    def starts(self):
        return [e for e in self.events if e[0] == "start"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for event in self.starts():
            try:
                os.kill(int(event[2]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def unit(agents, tmp_path):
    """Agents that the stand-in starts from a root-owned install folder holding this build's
    three programs and the guard; yields (make, install folder, stand-ins)."""
    install = str(tmp_path / "lib")
    os.makedirs(install)
    os.chmod(install, 0o755)
    for name in PROGRAMS:
        root_file(os.path.join(install, name), open(os.path.join(os.path.dirname(BINARY), name), "rb").read())
    root_file(os.path.join(install, "tinyagent-guard"), open(GUARD, "rb").read())
    standins = []

    def make(settings=None, **kwargs):
        agent = agents(settings, **kwargs)

        def start(wait=True):
            standins.append(StandIn(install, agent))
            if wait:
                wait_for(lambda: agent.status_or_none() is not None, what="the agent's control socket")
            return agent
        agent.start = start
        return agent

    yield make, install, standins
    for s in standins:
        s.stop()


def signed(device, path):
    """Signs the archive at `path` (PATH.sig beside it, where the panel's URL + .sig and a
    local install find it) with a fleet key the device holds, made at the first call: a
    device replaces its own programs only from a signed archive (DESIGN.md §6)."""
    keys = device.files + ".keys"
    if not os.path.isdir(keys):
        os.makedirs(keys)
        install_key(device.agent.root, make_key(keys, "fleet")[1])
    sign(os.path.join(keys, "fleet.key"), path)
    return path


def bin_archive(device, name, agent_path, link_path=None):
    """A signed archive of this build's programs, `agent_path` (and `link_path`) instead."""
    entries = programs()
    entries["bin/tinyagent"] = agent_path
    if link_path:
        entries["bin/tinyagent-link"] = link_path
    return signed(device, archive(device, name, entries))


def self_update(device, server, pki, no, path, timeout=90):
    """Sends the update for the archive at `path` (agent_version NEW_AGENT); returns every
    answer to `no` once one came and a few seconds passed without another."""
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(no, s.url("/file/" + os.path.basename(path)), version=OLD,
                                              sha256=sha256(path), agent_version=NEW_AGENT))
        try:
            panel.wait_reply(timeout=timeout)
        except TimeoutError as e:
            raise AssertionError("%s\nagent log:\n%s" % (e, device.agent.log()[-5000:]))
        return answers(panel, no, settle=3.0)


def trial_file(device):
    return os.path.join(device.agent.root, "wdog", "self-update.trial")


def test_a_self_update_restarts_into_the_new_agent_which_confirms_it_once(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path, settings=dict(SETTINGS, update_timeout_s=30))
    new = new_build(str(tmp_path))
    replies = self_update(device, server, pki, 97, bin_archive(device, "self.zip", new))
    assert [r["success"] for r in replies] == [True], (replies, device.agent.log()[-5000:])
    assert version_of(os.path.join(install, "tinyagent")) == NEW_AGENT
    assert version_of(os.path.join(install, "tinyagent.prev")) == OLD_AGENT
    for name in PROGRAMS:
        st = os.stat(os.path.join(install, name))
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755), name
        assert not os.path.exists(os.path.join(install, name + ".next"))
    assert not os.path.exists(trial_file(device))
    assert len(standins[0].starts()) == 2, standins[0].events
    assert device.agent.status()["agent_version"] == NEW_AGENT
    log = device.agent.log()
    assert "the new tinyagent passed its trial run: version %s" % NEW_AGENT in log
    assert "restarting into tinyagent %s" % NEW_AGENT in log
    online(device.agent)
    device.wait_versions(OLD)


def test_new_programs_that_crash_at_start_are_rolled_back_by_the_guard_with_one_answer(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path)
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    replies = self_update(device, server, pki, 98, bin_archive(device, "crash.zip", failing_build(str(tmp_path), "abort();")))
    assert [r["success"] for r in replies] == [False], (replies, device.agent.log()[-5000:])
    assert "did not come up" in replies[0]["remarks"], replies
    assert open(os.path.join(install, "tinyagent"), "rb").read() == old
    assert not os.path.exists(os.path.join(install, "tinyagent.prev"))
    assert os.path.exists(os.path.join(install, "tinyagent.failed"))
    assert not os.path.exists(trial_file(device))
    exits = [e for e in standins[0].events if e[0] == "exit"]
    assert [e[2] for e in exits[1:3]] == [str(-signal.SIGABRT)] * 2, standins[0].events
    assert len(standins[0].starts()) == 4, "old, new crashed twice, old again"
    assert device.agent.status()["agent_version"] == OLD_AGENT
    device.assert_old_and_running()


def assert_rolled_back_once(device, install, replies, old, cause):
    assert [r["success"] for r in replies] == [False], (replies, device.agent.log()[-5000:])
    assert cause in replies[0]["remarks"], replies
    assert open(os.path.join(install, "tinyagent"), "rb").read() == old
    assert not os.path.exists(os.path.join(install, "tinyagent.prev"))
    assert not os.path.exists(trial_file(device))
    assert device.agent.status()["agent_version"] == OLD_AGENT
    device.assert_old_and_running()


def test_a_new_agent_that_hangs_is_killed_by_the_watchdog_twice_then_rolled_back_with_one_answer(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path)
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    # Starts, never pings the watchdog, ignores nothing: systemd's SIGABRT ends it.
    hangs = failing_build(str(tmp_path), "for (;;) pause();")
    replies = self_update(device, server, pki, 99, bin_archive(device, "hang.zip", hangs), timeout=120)
    assert_rolled_back_once(device, install, replies, old, "did not come up")
    assert [e[0] for e in standins[0].events].count("watchdog") == 2, standins[0].events


def test_a_new_agent_that_never_logs_in_gives_up_at_the_deadline_and_is_rolled_back_with_one_answer(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path)
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    # The real new agent, with a link program that exits at once: it never logs in.
    folder = tmp_path / "new"
    folder.mkdir()
    link = failing_build(str(folder), "return 1;", name="tinyagent-link")
    path = bin_archive(device, "nologin.zip", new_build(str(folder)), link)
    replies = self_update(device, server, pki, 100, path, timeout=120)
    assert_rolled_back_once(device, install, replies, old, "the new agent did not log in within 8 s")
    log = device.agent.log()
    assert "exiting so that the previous programs are put back" in log
    assert len(standins[0].starts()) == 3, "old, new (gave up), old again: %s" % standins[0].events


def agent_pid(standin):
    return int(standin.starts()[-1][2])


def journal(device):
    with open(os.path.join(device.agent.root, "wdog", "update.json")) as f:
        return json.load(f)


def test_killed_with_the_new_programs_staged_the_next_start_swaps_them_and_the_new_agent_confirms_once(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path, settings=dict(SETTINGS, update_timeout_s=30))
    ignoring_sigterm(device, ["p1"])  # the swap step waits out the kill grace
    path = device.serve("both.zip", "good", *processes(NEW))
    with zipfile.ZipFile(path, "a") as z:
        for entry, source in programs().items():
            z.write(new_build(str(tmp_path)) if entry == "bin/tinyagent" else source, entry)
    signed(device, path)
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(101, s.url("/file/both.zip"), agent_version=NEW_AGENT))
        wait_for(lambda: "stopping processes and installing" in device.agent.status()["update"], timeout=30, what="the swap step")
        os.kill(agent_pid(standins[0]), signal.SIGKILL)
        # Where it was: the swap journaled, the new programs staged beside the old ones, no trial yet.
        assert journal(device)["step"] == "swap" and journal(device)["new_programs"] is True
        assert all(os.path.exists(os.path.join(install, n + ".next")) for n in PROGRAMS)
        assert version_of(os.path.join(install, "tinyagent")) == OLD_AGENT
        assert not os.path.exists(trial_file(device))
        panel.wait_reply(timeout=90)
        replies = answers(panel, 101, settle=3.0)
    assert [r["success"] for r in replies] == [True], (replies, device.agent.log()[-5000:])
    assert version_of(os.path.join(install, "tinyagent")) == NEW_AGENT
    assert device.agent.status()["agent_version"] == NEW_AGENT
    device.wait_versions(NEW)
    assert not os.path.exists(trial_file(device))


def trial_runs():
    """Pids of the trial runs going on: `tinyagent version` as the helper user."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if f.read() == b"tinyagent\0version\0" and os.stat("/proc/" + entry).st_uid != 0:
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found


def test_killed_during_the_trial_run_the_next_start_stages_and_tries_the_programs_again_and_answers_once(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path)
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    # Its `version` takes a second (the window to kill the agent in); at start it crashes.
    slow = failing_build(str(tmp_path), "abort();", trial="sleep(1);")
    path = bin_archive(device, "slow.zip", slow)
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(103, s.url("/file/slow.zip"), version=OLD, sha256=sha256(path),
                                              agent_version=NEW_AGENT))
        wait_for(trial_runs, timeout=60, interval=0.02, what="the trial run")
        os.kill(agent_pid(standins[0]), signal.SIGKILL)
        # Where it was: unpacked, the programs staged beside the old ones, no trial state yet;
        # the trial run itself ends with the agent (its parent-death signal).
        assert journal(device)["step"] == "unpack" and journal(device)["new_programs"] is True
        assert all(os.path.exists(os.path.join(install, n + ".next")) for n in PROGRAMS)
        assert open(os.path.join(install, "tinyagent"), "rb").read() == old
        assert not os.path.exists(trial_file(device))
        wait_for(lambda: not trial_runs(), timeout=10, what="the killed agent's trial run to end")
        panel.wait_reply(timeout=120)
        replies = answers(panel, 103, settle=3.0)
    # The next start checked, staged and tried them again; they passed (the killed trial never
    # did), crashed at start twice and were rolled back: one answer.
    assert_rolled_back_once(device, install, replies, old, "did not come up")
    log = device.agent.log()
    assert "update 103 was at step unpack when the agent stopped; carrying on" in log
    assert log.count("the new tinyagent passed its trial run: version %s" % NEW_AGENT) == 1, log
    assert not any(os.path.exists(os.path.join(install, n + ".next")) for n in PROGRAMS)


def test_the_new_agent_killed_while_it_verifies_carries_on_and_the_rollback_answers_once(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path, settings=dict(SETTINGS, update_timeout_s=12))
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    path = bin_archive(device, "self.zip", new_build(str(tmp_path)))
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        # p3 never heartbeats: the new agent waits in verify until the deadline.
        panel.send("device@localhost", command(102, s.url("/file/self.zip"), version=OLD, names=("p1", "p2", "p3"),
                                              agent_version=NEW_AGENT))
        wait_for(lambda: len(standins[0].starts()) == 2 and device.agent.status_or_none() is not None
                 and device.agent.status()["agent_version"] == NEW_AGENT, timeout=60, what="the new agent")
        assert journal(device)["step"] == "verify"
        assert "state=trial\nstarts=1\n" in open(trial_file(device)).read()
        os.kill(agent_pid(standins[0]), signal.SIGKILL)
        panel.wait_reply(timeout=90)
        replies = answers(panel, 102, settle=3.0)
    assert [r["success"] for r in replies] == [False], (replies, device.agent.log()[-5000:])
    assert "p3 sent no heartbeat within 12 s" in replies[0]["remarks"], replies
    assert open(os.path.join(install, "tinyagent"), "rb").read() == old
    assert device.agent.status()["agent_version"] == OLD_AGENT
    assert not os.path.exists(trial_file(device))
    assert len(standins[0].starts()) == 4, "old, new (killed), new (gave up), old: %s" % standins[0].events


def test_a_local_bin_only_update_waits_through_the_restart_and_exits_0_once_confirmed(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path, settings=dict(SETTINGS, update_timeout_s=30))
    r = local_update(device, bin_archive(device, "self.zip", new_build(str(tmp_path))))
    assert r.returncode == 0, (r.stdout, r.stderr, device.agent.log()[-4000:])
    assert r.stdout == "installed and confirmed: tinyagent %s\n" % NEW_AGENT, r.stdout
    assert "restarting into tinyagent %s" % NEW_AGENT in r.stderr, r.stderr
    assert device.agent.status()["agent_version"] == NEW_AGENT
    assert len(standins[0].starts()) == 2


def test_a_local_update_whose_new_agent_crashes_exits_65_with_the_rollbacks_reason(unit, server, pki, tmp_path):  # noqa: F811
    make, install, standins = unit
    device = Device(make, server, pki, tmp_path)
    r = local_update(device, bin_archive(device, "crash.zip", failing_build(str(tmp_path), "abort();")))
    assert r.returncode == 65, (r.stdout, r.stderr, device.agent.log()[-4000:])
    assert "did not come up" in r.stderr, r.stderr
    assert device.agent.status()["agent_version"] == OLD_AGENT
