"""A new CA in an update archive (`certs/cacert.pem`, issue 12 §2, DESIGN.md §6): the Embedded
agent, a real prosody with the test CA's certificate, real zips. The new CA must verify the
XMPP server (a STARTTLS probe in a worker) and the download host before it is swapped in, and
the link must log in with it afterwards; else the old CA stays, and the device stays online."""

import json
import os
import shutil
import signal
import subprocess
import types
import zipfile

from conftest import BINARY, PYTHON, wait_for
from test_update import (NEW, OLD, SETTINGS, ZIPS, Device, answers, command, ignoring_sigterm, online, processes,  # noqa: F401
                         sha256, update)
from test_update_local import local_update
from test_xmpp import panel_for, pki, server  # noqa: F401 (fixtures)

from faultserver import FaultServer


def renewed_ca(pki, folder):
    """The test CA re-issued (same key and name, new validity): it verifies the server's
    certificate, yet is another file."""
    out = os.path.join(folder, "renewed-ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", pki.ca_key, "-out", out, "-days", "7300",
                    "-subj", "/CN=tinyagent test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"],
                   check=True, capture_output=True)
    return out


def with_ca(device, name, ca, *args):
    """A good archive of NEW (processes args) that also carries certs/cacert.pem = ca."""
    path = device.serve(name, "good", *(args or processes(NEW)))
    with zipfile.ZipFile(path, "a") as z:
        z.write(ca, "certs/cacert.pem")
    return path


# A local update confirms the versions its manifest names.
LOCAL = processes(NEW) + ["--manifest-version", "p1:" + NEW, "--manifest-version", "p2:" + NEW]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def certs(device, name="cacert.pem"):
    return os.path.join(device.agent.root, "certs", name)


def assert_ca_kept(device, pki):
    assert read(certs(device)) == read(pki.ca_cert)
    for leftover in ("cacert.pem.prev", "cacert.pem.next"):
        assert not os.path.exists(certs(device, leftover)), leftover


def test_a_new_ca_that_verifies_the_servers_is_swapped_in_and_the_link_logs_in_with_it(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    ca = renewed_ca(pki, str(tmp_path))
    archive = with_ca(device, "v2.zip", ca)
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(90, s.url("/file/v2.zip"), sha256=sha256(archive)))
    assert answer["success"] is True, (answer, device.agent.log()[-3000:])
    assert read(certs(device)) == read(ca)
    assert not os.path.exists(certs(device, "cacert.pem.prev")), "kept only until confirmed"
    assert not os.path.exists(certs(device, "cacert.pem.next"))
    mode = os.stat(certs(device))
    assert (mode.st_uid, mode.st_mode & 0o777) == (0, 0o644)
    log = device.agent.log()
    assert "the archive's CA verifies the servers" in log
    assert "the link logged in with the new CA" in log
    after_swap = log[log.index("new certs/cacert.pem in place"):]
    assert "xmpp: online" in after_swap, "a new link, started after the swap, logged in with the new file"
    online(device.agent)
    device.wait_versions(NEW)


def test_a_new_ca_that_would_cut_the_device_off_is_refused_before_any_swap(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    archive = with_ca(device, "v2.zip", pki.rogue_ca_cert)
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(91, s.url("/file/v2.zip"), sha256=sha256(archive)))
    assert answer["success"] is False
    assert answer["remarks"].startswith("the archive's certs/cacert.pem does not verify the XMPP server 127.0.0.1:%d (certificate not trusted)"
                                        % server.port), answer
    assert "the old CA is kept" in answer["remarks"]
    assert_ca_kept(device, pki)
    device.assert_old_and_running()
    assert not os.path.exists(device.smart_meter + ".prev"), "refused before the SmartMeter swap too"
    online(device.agent)


def test_a_local_update_with_a_new_ca_probes_the_xmpp_server_only(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    archive = with_ca(device, "v2.zip", pki.rogue_ca_cert, *LOCAL)
    r = local_update(device, archive)
    assert r.returncode != 0
    assert "does not verify the XMPP server 127.0.0.1:%d" % server.port in r.stderr, r.stderr
    assert "download host" not in r.stderr
    assert_ca_kept(device, pki)
    device.assert_old_and_running()
    ca = renewed_ca(pki, str(tmp_path))
    good = with_ca(device, "v3.zip", ca, *LOCAL)
    r = local_update(device, good)
    assert r.returncode == 0, (r.stderr, device.agent.log()[-3000:])
    assert read(certs(device)) == read(ca)
    online(device.agent)


def test_a_local_update_with_a_new_ca_on_a_device_without_xmpp_is_refused_saying_so(agents, pki, tmp_path):  # noqa: F811
    agent = agents(SETTINGS)
    os.makedirs(os.path.join(agent.root, "certs"), exist_ok=True)
    with open(os.path.join(agent.root, "certs", "cacert.pem"), "wb") as f:
        f.write(read(pki.ca_cert))
    agent.start()
    archive = str(tmp_path / "v2.zip")
    subprocess.run([PYTHON, ZIPS, "good", archive] + LOCAL, check=True)
    with zipfile.ZipFile(archive, "a") as z:
        z.write(pki.rogue_ca_cert, "certs/cacert.pem")
    r = local_update(types.SimpleNamespace(agent=agent), archive)
    assert r.returncode != 0
    assert "no XMPP configuration" in r.stderr, r.stderr
    assert read(os.path.join(agent.root, "certs", "cacert.pem")) == read(pki.ca_cert)
    assert not os.path.exists(os.path.join(agent.root, "certs", "cacert.pem.next"))


def test_killed_right_after_the_ca_swap_the_next_start_rolls_back_and_answers_once(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    ca = renewed_ca(pki, str(tmp_path))
    # p2 never heartbeats: the verify step waits, with the new CA in place, until it rolls back.
    with_ca(device, "v2.zip", ca, *processes(NEW), "--silent", "p2")
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(92, s.url("/file/v2.zip"), timeout_s=6))
        wait_for(lambda: "waiting for the new versions" in device.agent.status()["update"], timeout=30,
                 what="the verify step")
        device.agent.stop(signal.SIGKILL)
        with open(os.path.join(device.agent.root, "wdog", "update.json")) as f:
            journal = json.load(f)
        assert journal["step"] == "verify" and journal["new_ca"] is True
        assert read(certs(device)) == read(ca) and read(certs(device, "cacert.pem.prev")) == read(pki.ca_cert)
        device.agent.start()
        answer = panel.wait_reply(timeout=40)
        assert answer["success"] is False and answer["remarks"] == "p2 sent no heartbeat within 6 s", answer
        assert answers(panel, 92) == [answer]
    assert_ca_kept(device, pki)
    device.assert_old_and_running()
    online(device.agent)


def test_a_new_ca_the_link_cannot_log_in_with_is_put_back_after_the_deadline(agents, server, pki, tmp_path):  # noqa: F811
    """The probe passes, then the server's certificate changes (to the rogue CA's) while the
    processes stop: the link cannot log in with the new CA, so the rollback puts the old one back."""
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, kill_grace_ms=3000))
    ca = renewed_ca(pki, str(tmp_path))
    archive = with_ca(device, "v2.zip", ca, *LOCAL)
    ignoring_sigterm(device, ["p1", "p2"])
    cli = subprocess.Popen([BINARY, "update", "--file", archive, "--wait", "--root", device.agent.root],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "stopping processes" in device.agent.status()["update"], timeout=30, what="the swap step")
        assert "the archive's CA verifies the servers" in device.agent.log()
        shutil.copyfile(pki.rogue_server_cert, server.cert)
        shutil.copyfile(pki.rogue_server_key, server.key)
        server.kill()
        server.start()
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode != 0
    assert "the link did not log in with the new CA within 8 s" in err, (err, device.agent.log()[-3000:])
    assert_ca_kept(device, pki)
    shutil.copyfile(pki.server_cert, server.cert)
    shutil.copyfile(pki.server_key, server.key)
    server.kill()
    server.start()
    online(device.agent, timeout=30)


def test_killed_during_the_probe_the_next_start_probes_again_and_finishes(agents, server, pki, tmp_path):  # noqa: F811
    """prosody, stopped (SIGSTOP), holds the probe (bounded by the idle timeout) while the agent
    is killed in the probe step; with prosody back, the next agent probes again and installs."""
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, download_idle_timeout_ms=10000))
    ca = renewed_ca(pki, str(tmp_path))
    archive = with_ca(device, "v2.zip", ca, *LOCAL)
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        cli = subprocess.Popen([BINARY, "update", "--file", archive, "--wait", "--root", device.agent.root],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: "checking the new CA" in device.agent.status()["update"], timeout=30, what="the probe step")
            device.agent.stop(signal.SIGKILL)
            cli.communicate(timeout=10)  # the connection ends with the agent
        finally:
            if cli.poll() is None:
                cli.kill()
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    with open(os.path.join(device.agent.root, "wdog", "update.json")) as f:
        journal = json.load(f)
    assert journal["step"] == "probe" and journal["new_ca"] is True
    assert read(certs(device, "cacert.pem.next")) == read(ca) and read(certs(device)) == read(pki.ca_cert)
    device.agent.start()
    wait_for(lambda: device.agent.status().get("last_update"), timeout=40, what="the update's end")
    last = device.agent.status()["last_update"]
    assert last["result"] == "installed", (last, device.agent.log()[-3000:])
    assert device.agent.log().count("the archive's CA verifies the servers") == 1, "probed to the end once"
    assert read(certs(device)) == read(ca)
    assert not os.path.exists(certs(device, "cacert.pem.prev")) and not os.path.exists(certs(device, "cacert.pem.next"))
    device.wait_versions(NEW)
    online(device.agent)
