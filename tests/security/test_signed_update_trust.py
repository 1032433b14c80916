"""Signed updates across the trust line (issue 12 §3): what a worker
compromised by the server it downloads from, a process it leaves behind, or
the app user can do against a device that holds an update key. Each test
attacks the Embedded binary with the legitimate path beside it; each
docstring says what main did wrong before."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .conftest import harness, run_as

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "update"))
from signing import install_key, make_key, sign  # noqa: E402
from test_update import NEW, SETTINGS, Device, FaultServer, command, processes, update  # noqa: E402
from test_xmpp import panel_for, pki, server  # noqa: E402,F401 (fixtures)

wait_for = harness.wait_for


def keyed_device(agents, server, pki, tmp_path, settings=SETTINGS):  # noqa: F811
    """A device holding the fleet key; (device, the fleet's private key)."""
    device = Device(agents, server, pki, tmp_path, settings=settings)
    keys = tmp_path / "keys"
    keys.mkdir()
    fleet, public = make_key(str(keys), "fleet")
    install_key(device.agent.root, public)
    return device, fleet


def test_a_compromised_worker_cannot_get_an_unsigned_archive_installed_on_a_device_with_keys(agents, server, pki, tmp_path):  # noqa: F811
    """Before: the worker that downloaded also unpacked, so whatever bytes it chose were
    staged and installed. A compromised worker writes what it likes into the archive and
    signature files — here a hostile archive and the fleet's genuine signature of an
    earlier release (replayed) — and reports success: root checks the bytes, refuses them,
    and nothing is unpacked (a zip-slip would otherwise be named)."""
    device, fleet = keyed_device(agents, server, pki, tmp_path)
    genuine = device.serve("v1-release.zip", "good", *processes(NEW))
    sign(fleet, genuine)
    hostile = device.serve("evil.zip", "zip-slip")
    shutil.copy(genuine + ".sig", hostile + ".sig")
    with FaultServer(root=device.files, pki=pki) as https:
        answer = update(device, server, command(90, https.url("/file/evil.zip")))
    assert answer["success"] is False and "signature: does not match" in answer["remarks"], answer
    assert "escapes" not in device.agent.log()
    device.assert_old_and_running()
    # The legitimate path beside it: the genuine release installs.
    with FaultServer(root=device.files, pki=pki) as https:
        answer = update(device, server, command(91, https.url("/file/v1-release.zip")))
    assert answer["success"] is True, answer


def test_an_archive_still_open_elsewhere_is_not_installed(agents, server, pki, tmp_path):  # noqa: F811
    """Before: nothing stopped a process the worker left behind from rewriting the archive
    through a descriptor it kept, after the check and before the unpacking. Here a
    process holds downloads/update-N.zip open for writing while a signed archive arrives:
    root refuses to go on with a file it cannot be sure of."""
    device, fleet = keyed_device(agents, server, pki, tmp_path)
    sign(fleet, device.serve("v2.zip", "good", *processes(NEW), "--size", "2000000"))
    kept = None
    with FaultServer(root=device.files, pki=pki) as https, panel_for(server, pki) as panel:
        https.slow_rate = 1 << 20
        panel.send("device@localhost", command(92, https.url("/slow/v2.zip")))
        path = os.path.join(device.agent.root, "downloads", "update-92.zip")
        wait_for(lambda: os.path.exists(path), what="the archive file")
        kept = os.open(path, os.O_WRONLY)
        answer = panel.wait_reply(timeout=40)
    os.close(kept)
    assert answer["success"] is False and "still open in another process" in answer["remarks"], answer
    device.assert_old_and_running()


def test_a_key_writable_by_the_app_user_refuses_every_update(agents, server, pki, tmp_path, make_user):  # noqa: F811
    """Before: there were no keys. A key the app user can rewrite would let it sign its own
    archives: such a key (or key folder) refuses every update, naming the file, rather than
    being skipped; given back to root, the same signed archive installs."""
    app = make_user()
    device, fleet = keyed_device(agents, server, pki, tmp_path, settings=dict(SETTINGS, run_as=app.pw_name))
    key = os.path.join(device.agent.root, "certs", "update-keys", "fleet.pem")
    os.chown(key, app.pw_uid, app.pw_gid)
    sign(fleet, device.serve("v2.zip", "good", *processes(NEW)))
    with FaultServer(root=device.files, pki=pki) as https:
        answer = update(device, server, command(93, https.url("/file/v2.zip")))
        assert answer["success"] is False, answer
        assert "update-keys/fleet.pem is not trusted" in answer["remarks"], answer
        device.assert_old_and_running()
        os.chown(key, 0, 0)
        time.sleep(0.5)
        answer = update(device, server, command(94, https.url("/file/v2.zip")))
    assert answer["success"] is True, answer
    device.wait_versions(NEW)


RAW_UPDATE = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = open(sys.argv[2], "rb")
line = json.dumps({"verb": "update", "file": sys.argv[2], "signature": None, "wait": True}) + "\\n"
socket.send_fds(s, [line.encode()], [f.fileno()])
print(s.makefile().read())
"""


def test_a_non_root_user_cannot_install_a_local_update(agents, server, pki, tmp_path, make_user, request):  # noqa: F811
    """`update --file` changes the code root runs processes from: root only. The app user
    may connect to the control socket (it reads the status), but neither the CLI nor a
    request it writes by hand, descriptor attached, gets an update started; root's does."""
    app = make_user()
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, run_as=app.pw_name))
    # A stick every user can read (pytest's folders are root's 0700).
    stick = tempfile.mkdtemp(prefix="ta-stick-", dir="/tmp")
    os.chmod(stick, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(stick))
    archive = shutil.copy(device.serve("v2.zip", "good", *processes(NEW), "--manifest-version", "p1:" + NEW), stick)
    os.chmod(archive, 0o644)
    cli = [harness.BINARY, "update", "--file", archive, "--wait", "--root", device.agent.root]
    theirs = subprocess.run(cli, user=app.pw_uid, group=app.pw_gid, capture_output=True, text=True, timeout=30)
    assert theirs.returncode == 77, (theirs.stdout, theirs.stderr)
    raw = run_as(app, RAW_UPDATE, os.path.join(device.agent.root, "wdog", "agent.sock"), archive)
    answer = json.loads(raw.stdout)
    assert answer["code"] == "permission", (raw.stdout, raw.stderr)
    assert "local update" not in device.agent.log()
    assert device.agent.status()["last_update"] is None
    device.assert_old_and_running()
    mine = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert mine.returncode == 0, (mine.stdout, mine.stderr)
    device.wait_versions(NEW)
