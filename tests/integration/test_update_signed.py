"""Signed update archives (issue 12 §3) end to end: the Embedded agent, the
panel's command over prosody, the archive and its detached signature served
over HTTPS with the test CA, keys and signatures made by the real openssl.
A device with a key in certs/update-keys/ installs only what that key
signed, and refuses everything else before unpacking a byte; a device with
none installs anything and says so in its log."""

import json
import os
import shutil
import signal
import time

import pytest

from conftest import REPO
from test_update import NEW, OLD, SETTINGS, Device, FaultServer, command, processes, update  # noqa: F401
from test_update import device, https  # noqa: F401 (fixtures)
from conftest import wait_for
from test_xmpp import online, panel_for, pki, server  # noqa: F401 (fixtures)

import sys
sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import install_key, make_key, sign  # noqa: E402


def prepare(device, tmp_path, signature, key_on_device):
    """Serves v2.zip with the given kind of signature at v2.zip.sig, and puts
    the fleet key on the device when asked. `signature`: signed, unsigned,
    wrong-key or corrupt."""
    keys = tmp_path / "keys"
    keys.mkdir()
    fleet, fleet_public = make_key(str(keys), "fleet")
    stranger, _ = make_key(str(keys), "stranger")
    if key_on_device:
        install_key(device.agent.root, fleet_public)
    archive = device.serve("v2.zip", "good", *processes(NEW))
    if signature == "signed":
        sign(fleet, archive)
    elif signature == "wrong-key":
        sign(stranger, archive)
    elif signature == "corrupt":
        with open(archive + ".sig", "wb") as f:
            f.write(b"-----BEGIN SIGNATURE----- not DER\n")
    return archive


REFUSALS = {
    "unsigned": "the archive is unsigned",
    "wrong-key": "does not match",
    "corrupt": "corrupt (not a DER ECDSA signature)",
}


@pytest.mark.parametrize("signature", ["signed", "unsigned", "wrong-key", "corrupt"])
def test_a_device_with_a_key_installs_only_what_that_key_signed(device, https, server, tmp_path, signature):  # noqa: F811
    prepare(device, tmp_path, signature, key_on_device=True)
    answer = update(device, server, command(80, https.url("/file/v2.zip")))
    last = device.agent.status()["last_update"]
    if signature == "signed":
        assert answer["success"] is True, answer
        device.wait_versions(NEW)
        assert "signature verified with certs/update-keys/fleet.pem" in device.agent.log()
        assert last["signature"] == "signed by fleet.pem" and last["result"] == "installed"
    else:
        assert answer["success"] is False and REFUSALS[signature] in answer["remarks"], answer
        assert answer["remarks"].startswith("signature: ") or "unsigned" in answer["remarks"]
        device.assert_old_and_running()
        assert last["result"] == "failed" and last["remark"] == answer["remarks"]
        assert last["origin"] == "panel command 80"
    assert [r["path"] for r in https.requests][-1] == "/file/v2.zip.sig"


@pytest.mark.parametrize("signature", ["signed", "unsigned", "wrong-key", "corrupt"])
def test_a_device_without_keys_installs_any_archive_and_logs_that_it_did(device, https, server, tmp_path, signature):  # noqa: F811
    prepare(device, tmp_path, signature, key_on_device=False)
    answer = update(device, server, command(81, https.url("/file/v2.zip")))
    assert answer["success"] is True, answer
    device.wait_versions(NEW)
    assert "installed without a signature check" in device.agent.log()


def test_a_hostile_archive_with_a_bad_signature_is_refused_for_its_signature_not_its_content(device, https, server, tmp_path):  # noqa: F811
    """The signature is checked before anything is unpacked: a zip-slip archive
    signed by a stranger is refused as wrongly signed, never reaching the
    unpacker that would have named the escape."""
    keys = tmp_path / "keys"
    keys.mkdir()
    _, public = make_key(str(keys), "fleet")
    stranger, _ = make_key(str(keys), "stranger")
    install_key(device.agent.root, public)
    sign(stranger, device.serve("slip.zip", "zip-slip"))
    answer = update(device, server, command(82, https.url("/file/slip.zip")))
    assert answer["success"] is False and "does not match" in answer["remarks"], answer
    assert "escapes" not in device.agent.log()
    device.assert_old_and_running()


def test_the_command_may_name_the_signature_url(device, https, server, tmp_path):  # noqa: F811
    archive = prepare(device, tmp_path, "signed", key_on_device=True)
    shutil.move(archive + ".sig", os.path.join(device.files, "release-2.sig"))
    answer = update(device, server, command(83, https.url("/file/v2.zip"), signature_url=https.url("/file/release-2.sig")))
    assert answer["success"] is True, answer
    device.wait_versions(NEW)


def test_killed_between_acquiring_and_installing_the_next_start_checks_again_and_installs(agents, server, pki, tmp_path):  # noqa: F811
    """SIGKILL once the journal says the archive is acquired and being unpacked: the
    archive and its signature are in downloads/, nothing is installed; the next agent
    checks the signature again (nothing of a check survives its process), unpacks with a
    fresh worker and answers once."""
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, download_max_bytes=400 << 20,
                                                                 unpack_max_bytes=400 << 20))
    keys = tmp_path / "keys"
    keys.mkdir()
    fleet, public = make_key(str(keys), "fleet")
    install_key(device.agent.root, public)
    sign(fleet, device.serve("v2.zip", "good", *processes(NEW), "--size", str(150 << 20)))
    journal = os.path.join(device.agent.root, "wdog", "update.json")
    downloads = os.path.join(device.agent.root, "downloads")

    def step():
        try:
            with open(journal) as f:
                return json.load(f)["step"]
        except (OSError, ValueError):
            return None

    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(84, s.url("/file/v2.zip")))
        wait_for(lambda: step() == "unpack", timeout=120, interval=0.001, what="the unpack step")
        device.agent.stop(signal.SIGKILL)
        assert step() == "unpack"
        assert os.path.getsize(os.path.join(downloads, "update-84.zip")) > 150 << 20
        assert os.path.getsize(os.path.join(downloads, "update-84.zip.sig")) > 0
        assert device.folder_version() == OLD
        device.agent.start()
        online(device.agent)
        answer = panel.wait_reply(timeout=90)
        assert answer["success"] is True, answer
        time.sleep(2)
        assert [r for r in panel.replies if r.get("command_no") == 84] == [answer]
    assert device.agent.log().count("signature verified with certs/update-keys/fleet.pem") == 2
    device.wait_versions(NEW)
    assert not os.path.exists(journal)


def test_verify_says_whether_this_device_would_accept_an_archive(root, tmp_path):
    """`tinyagent verify` makes the agent's check, installs nothing: 0 for an archive the
    device's key signed, 65 with the reason for another key's, with no key 0 and "unsigned"."""
    import subprocess
    from conftest import BINARY
    archive = str(tmp_path / "v2.zip")
    with open(archive, "wb") as f:
        f.write(os.urandom(100000))
    verify = lambda: subprocess.run([BINARY, "verify", archive, "--root", root], capture_output=True, text=True)  # noqa: E731
    assert verify().returncode == 0 and "unsigned (no update keys)" in verify().stdout
    fleet, public = make_key(str(tmp_path), "fleet")
    stranger, _ = make_key(str(tmp_path), "stranger")
    install_key(root, public)
    sign(fleet, archive)
    result = verify()
    assert result.returncode == 0 and result.stdout == "%s: signed by fleet.pem\n" % archive, result
    sign(stranger, archive)
    result = verify()
    assert result.returncode == 65 and "signature: does not match" in result.stderr, result
