"""The local update source (issue 12 §4) end to end: `tinyagent update --file
X.zip [--sig X.zip.sig] --wait` as a technician runs it from a USB stick,
against the Embedded agent over its control socket. The same install path as
the panel's: signature, unpack, swap, confirmation by the versions the
archive's manifest names, rollback; the CLI's exit status says which."""

import os
import subprocess
import sys

from conftest import BINARY, REPO, app_user
from test_update import NEW, OLD, SETTINGS, Device, processes  # noqa: F401
from test_update import device  # noqa: F401 (fixture)
from test_xmpp import pki, server  # noqa: F401 (fixtures)

sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import install_key, make_key, sign  # noqa: E402


def local_update(device, archive, *extra):
    return subprocess.run([BINARY, "update", "--file", archive, "--wait", "--root", device.agent.root] + list(extra),
                          capture_output=True, text=True, timeout=60)


def stick(device, tmp_path, *zip_args):
    """A USB stick's files: v2.zip signed by the fleet key the device holds."""
    keys = tmp_path / "keys"
    keys.mkdir()
    fleet, public = make_key(str(keys), "fleet")
    install_key(device.agent.root, public)
    archive = device.serve("v2.zip", "good", *zip_args)
    sign(fleet, archive)
    return archive, fleet


def test_a_local_update_installs_confirms_and_exits_0(device, tmp_path):  # noqa: F811
    archive, _ = stick(device, tmp_path, *processes(NEW), "--manifest-version", "p1:" + NEW, "--manifest-version", "p2:" + NEW)
    result = local_update(device, archive)
    assert result.returncode == 0, (result.stdout, result.stderr, device.agent.log()[-3000:])
    assert result.stdout == "installed and confirmed: p1 %s, p2 %s\n" % (NEW, NEW), result.stdout
    progress = result.stderr.splitlines()
    assert progress and all(line.startswith("tinyagent: local update ") for line in progress), progress
    assert any("waiting for the new versions" in line for line in progress), progress
    device.wait_versions(NEW)
    last = device.agent.status()["last_update"]
    assert last["origin"] == "local" and last["source"] == archive and last["result"] == "installed"
    assert last["before"] == "p1 %s, p2 %s" % (OLD, OLD) and last["after"] == "p1 %s, p2 %s" % (NEW, NEW)
    assert last["signature"] == "signed by fleet.pem" and last["ended_at"] > 0
    table = subprocess.run([BINARY, "status", "--root", device.agent.root], capture_output=True, text=True).stdout
    assert "last update: local %s, p1 %s, p2 %s → p1 %s, p2 %s, installed (signed by fleet.pem) at " % (
        archive, OLD, OLD, NEW, NEW) in table, table


def test_a_local_update_whose_processes_report_other_versions_rolls_back_and_exits_65(device, tmp_path):  # noqa: F811
    archive, _ = stick(device, tmp_path, *processes(NEW), "--manifest-version", "p1:2.0.0")
    result = local_update(device, archive)
    assert result.returncode == 65, (result.stdout, result.stderr)
    assert "p1 reported %s, expected 2.0.0" % NEW in result.stderr, result.stderr
    device.assert_old_and_running()
    assert device.agent.status()["last_update"]["result"] == "failed"


def test_a_local_update_with_a_wrong_signature_is_refused_and_exits_65(device, tmp_path):  # noqa: F811
    archive, _ = stick(device, tmp_path, *processes(NEW), "--manifest-version", "p1:" + NEW)
    stranger, _ = make_key(str(tmp_path), "stranger")
    sign(stranger, archive)
    result = local_update(device, archive)
    assert result.returncode == 65, (result.stdout, result.stderr)
    assert "signature: does not match" in result.stderr, result.stderr
    device.assert_old_and_running()


def test_a_local_archive_whose_manifest_names_no_version_is_refused(device, tmp_path):  # noqa: F811
    archive, _ = stick(device, tmp_path, *processes(NEW))
    result = local_update(device, archive)
    assert result.returncode == 65, (result.stdout, result.stderr)
    assert "names no process version" in result.stderr, result.stderr
    device.assert_old_and_running()


def test_a_missing_local_file_exits_66_without_asking_the_agent(device, tmp_path):  # noqa: F811
    result = local_update(device, str(tmp_path / "nowhere.zip"))
    assert result.returncode == 66 and "nowhere.zip" in result.stderr, (result.stdout, result.stderr)
    assert "local update" not in device.agent.log()


def test_a_local_archive_that_would_leave_less_than_the_reserve_free_is_refused_before_it_is_copied_and_exits_65(
        agents, server, pki, tmp_path):  # noqa: F811
    # A reserve (1 TiB, the most the setting takes) larger than this disk: the copy must refuse
    # the archive before writing it, as a download does, and name the figures.
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, reserve_free_bytes=1 << 40))
    archive, _ = stick(device, tmp_path, *processes(NEW), "--manifest-version", "p1:" + NEW)
    result = local_update(device, archive)
    assert result.returncode == 65, (result.stdout, result.stderr)
    reason = "local archive: not enough free space (need %d bytes: %d for the archive and %d kept free by " \
        "reserve_free_bytes; have " % (os.path.getsize(archive) + (1 << 40), os.path.getsize(archive), 1 << 40)
    assert reason in result.stderr, result.stderr
    device.assert_old_and_running()


def test_an_older_smartmeter_prev_root_cannot_remove_refuses_the_update_before_anything_moves(device, tmp_path):  # noqa: F811
    """SmartMeter.prev, an earlier update's, belongs to the app user, who can leave in it a tree
    deeper than root's removal goes (or the card fails there). The update is refused before
    the processes are stopped and before any folder moves. It used to fail at the swap, and its
    rollback put the half-removed older folder in place and set the working one aside as
    SmartMeter.failed."""
    prev = os.path.join(device.agent.root, "SmartMeter.prev")
    os.makedirs(os.path.join(prev, *["d"] * 300))
    subprocess.run(["chown", "-R", "%d:%d" % (app_user().pw_uid, app_user().pw_gid), prev], check=True)
    pids = {p["name"]: p["pid"] for p in device.agent.status()["processes"]}
    archive, _ = stick(device, tmp_path, *processes(NEW), "--manifest-version", "p1:" + NEW, "--manifest-version", "p2:" + NEW)
    result = local_update(device, archive)
    assert result.returncode == 65, (result.stdout, result.stderr, device.agent.log()[-3000:])
    assert "install: cannot remove the SmartMeter.prev an earlier update left" in result.stderr, result.stderr
    device.assert_old_and_running()
    assert {p["name"]: p["pid"] for p in device.agent.status()["processes"]} == pids, "never stopped"
    assert not os.path.exists(os.path.join(device.agent.root, "SmartMeter.failed"))
