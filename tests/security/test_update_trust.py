"""The update, the XMPP link and the command journal across the trust line
(issue 10 items 6, 7, 8 and 9-tls/journal): what a local user, a planted
file, a hostile archive, a compromised helper or a re-delivered command can
make the agent do. Each test attacks against the Embedded binary with the
legitimate path beside it; each docstring says what main did wrong before."""

import json
import os
import pwd
import stat
import subprocess
import sys
import time

import pytest

from .conftest import harness, run_as

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "integration"))
from test_update import (NEW, OLD, SETTINGS, Device, FaultServer, command, make_zip, processes,  # noqa: E402
                         update)
from test_xmpp import configure, online, panel_for, pki, server  # noqa: E402,F401 (fixtures)

wait_for = harness.wait_for
BINARY = harness.BINARY


def status_fields(pid):
    """Uid, Gid, Groups, CapEff, CapPrm, CapBnd, NoNewPrivs of a process."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def assert_unprivileged(pid, user):
    """Runs as `user` (a pwd entry) in every uid and gid, no other group, no capability."""
    s = status_fields(pid)
    assert s["Uid"] == [str(user.pw_uid)] * 4, s["Uid"]
    assert s["Gid"] == [str(user.pw_gid)] * 4, s["Gid"]
    assert s.get("Groups", []) == []
    for caps in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert int(s[caps][0], 16) == 0, (caps, s[caps])
    assert s["NoNewPrivs"] == ["1"]


def tree_of(folder):
    """(relative path, lstat) of everything under `folder`, itself included."""
    items = [(".", os.lstat(folder))]
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            items.append((os.path.relpath(full, folder), os.lstat(full)))
    return items


@pytest.fixture
def app_device(agents, server, pki, tmp_path, make_user):  # noqa: F811
    """A device whose app user (run_as) is a throwaway user: the processes an
    update starts run as it, and what it installs is its."""
    app = make_user()
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, run_as=app.pw_name))
    return device, app


# ---- item 6: downloads/ -------------------------------------------------------------------

def test_an_archive_planted_in_downloads_is_never_installed(agents, server, pki, tmp_path):  # noqa: F811
    """Before: an existing downloads/update-N.zip was installed without asking the server
    when the command had no sha256 (anyone who could write there chose the code)."""
    device = Device(agents, server, pki, tmp_path)
    downloads = os.path.join(device.agent.root, "downloads")
    os.makedirs(downloads, exist_ok=True)
    make_zip(os.path.join(downloads, "update-70.zip"), "good", *processes("6.6.6"))
    device.serve("v2.zip", "good", *processes(NEW))
    with FaultServer(root=device.files, pki=pki) as https:
        answer = update(device, server, command(70, https.url("/file/v2.zip")))
        assert answer["success"] is True, answer
        assert [r["path"] for r in https.requests] == ["/file/v2.zip", "/file/v2.zip.sig"]
    assert device.folder_version() == NEW
    device.wait_versions(NEW)
    # downloads/ is root's alone; nothing is left in it.
    st = os.stat(downloads)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
    assert os.listdir(downloads) == []


# ---- item 7: archive modes and owners -----------------------------------------------------

def test_world_writable_archive_entries_are_installed_without_group_or_other_write_and_owned_by_the_app_user(app_device, server):  # noqa: F811
    """Before: only setuid/setgid/sticky were dropped, so 0777 entries were installed
    world-writable (any local user could change the code the app runs), and root kept
    owning the files."""
    device, app = app_device
    # Processes run as another user use Debian's interpreter (root's python3 is private).
    device.serve("v2.zip", "world-writable", "--interval", "0.2",
                 *[arg for name in ("p1", "p2") for arg in ("--process", "%s:%s:/usr/bin/python3 %s.py" % (name, NEW, name))])
    with FaultServer(root=device.files, pki=device.pki) as https:
        answer = update(device, server, command(71, https.url("/file/v2.zip")))
    assert answer["success"] is True, answer
    installed = tree_of(device.smart_meter)
    assert len(installed) > 5
    for path, st in installed:
        assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) & 0o7022 == 0, (path, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (app.pw_uid, app.pw_gid), (path, st.st_uid)
    # The legitimate path: the new processes run, as the app user, their new version.
    device.wait_versions(NEW)
    for p in device.agent.status()["processes"]:
        assert harness.uid_of(p["pid"]) == app.pw_uid


# ---- item 8: the network-facing helpers ---------------------------------------------------

def test_the_update_worker_and_the_xmpp_link_run_as_the_helper_user_without_capabilities(agents, server, pki, tmp_path, helper_user):  # noqa: F811
    """Before: both ran as root, so a bug in libstrophe's XML, mbedTLS, the HTTP parser
    or libzip handed root (and cfg/config_file.bin) to whoever sent the bytes."""
    helper = pwd.getpwnam(helper_user)
    device = Device(agents, server, pki, tmp_path)
    agent_pid = device.agent.proc.pid
    links = harness.helper_pids(agent_pid, "xmpp-link")
    assert len(links) == 1
    assert_unprivileged(links[0], helper)
    # What a compromised link or worker could try first: the credentials. They are
    # root's, 0600 (cfg/ is 0700 on a device); the helper user cannot read them.
    config = os.path.join(device.agent.root, "cfg", "config_file.bin")
    st = os.stat(config)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    attempt = run_as(helper, "open(__import__('sys').argv[1], 'rb').read()", config)
    assert "PermissionError" in attempt.stderr

    archive = device.serve("v2.zip", "good", *processes(NEW), "--size", "3000000")
    with FaultServer(root=device.files, pki=pki) as https, panel_for(server, pki) as panel:
        https.slow_rate = 512 * 1024  # the download takes seconds
        panel.send("device@localhost", command(72, https.url("/slow/v2.zip")))
        workers = wait_for(lambda: harness.helper_pids(agent_pid, "update-worker"), what="the update worker")
        assert_unprivileged(workers[0], helper)
        # The worker reaches nothing of the agent's by path: not downloads/ (root's, 0700).
        downloads = os.path.join(device.agent.root, "downloads")
        assert stat.S_IMODE(os.stat(downloads).st_mode) == 0o700 and os.stat(downloads).st_uid == 0
        # The legitimate path: the update and the panel's commands work end to end.
        answer = panel.wait_reply(timeout=60)
        assert answer["success"] is True, answer
        panel.send("device@localhost", {"command": "status", "command_no": 73})
        status = panel.wait_reply(timeout=10)
        assert status["success"] is True and status["command_no"] == 73
    assert os.path.getsize(archive) > 3000000
    device.wait_versions(NEW)


def test_the_helpers_die_with_the_agent_after_dropping_to_the_helper_user(agents, server, pki, tmp_path, helper_user):  # noqa: F811
    """Changing uids clears PR_SET_PDEATHSIG: before it was set again after the drop, a
    SIGKILLed agent left its update worker (stalled in a download here, not reading its
    socket) running on as the helper user, an orphan holding what root had handed it."""
    device = Device(agents, server, pki, tmp_path)
    device.serve("v2.zip", "good", *processes(NEW))
    agent_pid = device.agent.proc.pid
    with FaultServer(root=device.files, pki=pki, stall_seconds=60) as https, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(74, https.url("/stall/v2.zip")))
        workers = wait_for(lambda: harness.helper_pids(agent_pid, "update-worker"), what="the update worker")
        device.agent.proc.kill()
        device.agent.proc.wait()
        wait_for(lambda: _gone(workers[0]), timeout=5, what="the update worker to die with the agent")


def _gone(pid):
    """Exited: no such process, or a zombie waiting for init."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_without_the_helper_user_the_helpers_run_as_nobody_with_a_warning(agents, server, pki, tmp_path):  # noqa: F811
    """The fallback: never root. (Before: root.)"""
    nobody = pwd.getpwnam("nobody")
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, helper_user="ta-no-such-user"))
    links = harness.helper_pids(device.agent.proc.pid, "xmpp-link")
    assert len(links) == 1
    assert_unprivileged(links[0], nobody)
    assert 'helper user "ta-no-such-user" does not exist' in device.agent.log()


# ---- item 9: TLS and the command journal --------------------------------------------------

def test_tls_disabled_is_refused_for_a_server_off_loopback(agents, tmp_path):
    """Before: `"tls": "disabled"` was accepted for any host, so a config could send the
    password in the clear across the network and take commands from whoever answered."""
    agent = agents()
    plain = str(tmp_path / "plain.json")

    def encrypt(host):
        with open(plain, "w") as f:
            json.dump({"xmpp_client": {"client_jid": "device@example.com", "client_password": "secret",
                                       "cpanel_jid": "panel@example.com", "rpi_unique_id": "meter-1",
                                       "host": host, "port": 5222, "tls": "disabled"}}, f)
        return agent.cli("config", "encrypt", "--in", plain, "--out", str(tmp_path / "config_file.bin"))

    refused = encrypt("xmpp.example.com")
    assert refused.returncode == 65
    assert "allowed only for a loopback server" in refused.stderr and "xmpp.example.com" in refused.stderr
    assert not os.path.exists(tmp_path / "config_file.bin")
    # The legitimate path: a test server on loopback.
    assert encrypt("127.0.0.1").returncode == 0


def test_a_command_older_than_the_journals_window_is_refused_not_run_again(agents, server, pki):  # noqa: F811
    """Before: the journal forgot after 200 answers, and an old command_no re-delivered
    (a panel's retry, a replayed message) was executed a second time."""
    agent = agents()
    configure(agent, server.port, pki)
    answers = [{"command_no": n, "answer": json.dumps({"command_no": n, "from": "meter-0001", "success": True, "remarks": ""}),
                "delivered": True} for n in range(1000, 1200)]
    journal = os.path.join(agent.root, "wdog", "commands.json")
    with open(os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump({"format": 1, "answers": answers}, f)
    agent.start()
    online(agent)
    with panel_for(server, pki) as panel:
        panel.send("device@localhost", {"command": "restart_process", "command_no": 900, "name": "p1"})
        old = panel.wait_reply(timeout=10)
        assert old["success"] is False and "older than the journal's window" in old["remarks"], old
        # The legitimate path: kept answers are repeated, new commands run.
        panel.send("device@localhost", {"command": "status", "command_no": 1100})
        assert panel.wait_reply(timeout=10)["remarks"] == ""
        panel.send("device@localhost", {"command": "status", "command_no": 1300})
        new = panel.wait_reply(timeout=10)
        assert new["success"] is True and "status" in new


def unit_capabilities():
    """The capabilities the systemd unit leaves the agent (CapabilityBoundingSet=)."""
    unit = os.path.join(harness.REPO, "buildroot", "overlay", "lib", "systemd", "system", "tinyagent.service")
    with open(unit) as f:
        for line in f:
            if line.startswith("CapabilityBoundingSet="):
                return [c.lower()[len("cap_"):] for c in line.split("=", 1)[1].split()]
    raise AssertionError("no CapabilityBoundingSet= in %s" % unit)


def test_an_update_installs_with_only_the_units_capabilities(agents, server, pki, tmp_path, make_user, monkeypatch):  # noqa: F811
    """The legitimate path as systemd runs the agent: without CAP_FOWNER or CAP_SETPCAP the
    staged tree is still taken back, its modes set and handed to the app user, and the
    helpers still drop to the helper user."""
    caps = unit_capabilities()
    assert "fowner" not in caps
    monkeypatch.setenv("TINYAGENT_WRAPPER", "setpriv --bounding-set -all,%s --" % ",".join("+" + c for c in caps))
    app = make_user()
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, run_as=app.pw_name))
    assert int(status_fields(device.agent.proc.pid)["CapBnd"][0], 16) & (1 << 3) == 0  # CAP_FOWNER
    device.serve("v2.zip", "world-writable", "--interval", "0.2",
                 *[arg for name in ("p1", "p2") for arg in ("--process", "%s:%s:/usr/bin/python3 %s.py" % (name, NEW, name))])
    with FaultServer(root=device.files, pki=device.pki) as https:
        answer = update(device, server, command(74, https.url("/file/v2.zip")))
    assert answer["success"] is True, answer
    for path, st in tree_of(device.smart_meter):
        assert stat.S_IMODE(st.st_mode) & 0o7022 == 0 and st.st_uid == app.pw_uid, (path, oct(st.st_mode), st.st_uid)
    device.wait_versions(NEW)
