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


def test_an_archive_with_some_of_the_agents_programs_is_refused_naming_the_missing_ones(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    entries = programs()
    del entries["bin/tinyagent-link"]
    r = local_update(device, archive(device, "partial.zip", entries))
    assert r.returncode != 0
    assert "archive: bin/ lacks tinyagent-link: the agent's programs are replaced together" in r.stderr, r.stderr
    device.assert_old_and_running()


def test_a_bin_only_archive_is_refused_whole_while_the_agent_cannot_update_itself(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    before = pids(device)
    r = local_update(device, archive(device, "bin.zip", programs()))
    assert r.returncode != 0
    assert "the archive carries the agent's programs in bin/, which this agent does not install" in r.stderr, r.stderr
    assert pids(device) == before
    device.assert_old_and_running()
    wait_for(lambda: os.listdir(os.path.join(device.agent.root, "downloads")) == [], what="the staging folder removed")
