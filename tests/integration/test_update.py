"""Software updates end to end (DESIGN.md §6, issue 5): the Embedded agent, a real
prosody, the panel stand-in sending `smart_meter_update`, an HTTPS fault
server with the test CA serving real zip archives, and real processes that
heartbeat their versions. Every failure must end with `success: false`, a
remark naming the cause, and the old folder in place and running."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import zipfile

import pytest

from conftest import APP_USER, FAST, PYTHON, REPO, pid_alive, wait_for
from test_xmpp import configure, online, panel_for, pki, server  # noqa: F401 (fixtures)

sys.path.insert(0, os.path.join(REPO, "tests", "https"))
from faultserver import FaultServer  # noqa: E402

ZIPS = os.path.join(REPO, "tests", "update", "zips.py")
OLD, NEW = "1.0.0", "1.0.1"
# run_as named: the SmartMeter/ an update installs is root's until the unpacker
# gives it to the app user, and a start mid-update may find none at all.
SETTINGS = dict(FAST, download_idle_timeout_ms=1000, download_connect_timeout_ms=2000, update_timeout_s=8,
                run_as=APP_USER)


def make_zip(path, kind="good", *args):
    subprocess.run([PYTHON, ZIPS, kind, path] + list(args), check=True)
    return path


def processes(version, names=("p1", "p2")):
    args = []
    for name in names:
        args += ["--process", "%s:%s" % (name, version)]
    return args + ["--interval", "0.2"]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def command(no, url, version=NEW, names=("p1", "p2"), **extra):
    body = {"command": "smart_meter_update", "command_no": no, "url": url,
            "processes": [{"name": n, "version": dict(zip(("major", "minor", "patch"), map(int, version.split("."))))}
                          for n in names]}
    body.update(extra)
    return body


class Device:
    """An agent on a temporary root, logged in to prosody, running version
    1.0.0 of processes p1 and p2 from SmartMeter/; the files it serves in
    `files`."""

    def __init__(self, agents, server, pki, tmp_path, settings=SETTINGS):
        self.agent = agents(settings)
        self.pki = pki
        self.files = str(tmp_path / "files")
        os.makedirs(self.files)
        configure(self.agent, server.port, pki)
        self.smart_meter = os.path.join(self.agent.root, "SmartMeter")
        old = make_zip(str(tmp_path / "v1.zip"), "good", *processes(OLD))
        with zipfile.ZipFile(old) as z:
            for info in z.infolist():
                if info.filename.startswith("SmartMeter/"):
                    z.extract(info, self.agent.root)
                    os.chmod(os.path.join(self.agent.root, info.filename), (info.external_attr >> 16) & 0o777 or 0o755)
        self.agent.start()
        online(self.agent)
        env = dict(os.environ, TINYAGENT_HEARTBEAT_PORT=str(self.agent.port))
        for name in ("p1", "p2"):
            self.agent.samples.append(subprocess.Popen(
                [PYTHON, name + ".py"], cwd=self.smart_meter, env=env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait_versions(OLD)

    def serve(self, name, kind="good", *args):
        return make_zip(os.path.join(self.files, name), kind, *args)

    def versions(self):
        return {p["name"]: (p["version"], p["state"]) for p in self.agent.status()["processes"]}

    def wait_versions(self, version, timeout=15):
        want = {"p1": (version, "running"), "p2": (version, "running")}
        wait_for(lambda: self.versions() == want, timeout=timeout,
                 what="p1 and p2 running %s (now %s)" % (version, self.versions()))

    def folder_version(self, folder=None):
        """The version p1.py in a SmartMeter folder heartbeats."""
        with open(os.path.join(folder or self.smart_meter, "p1.py")) as f:
            for line in f:
                if line.startswith("VERSION = "):
                    return line.split("'")[1]

    def assert_old_and_running(self):
        assert self.folder_version() == OLD
        self.wait_versions(OLD)
        for p in self.agent.status()["processes"]:
            assert pid_alive(p["pid"])
        assert self.agent.status()["update"] == "no update in progress"


@pytest.fixture
def device(agents, server, pki, tmp_path):  # noqa: F811
    return Device(agents, server, pki, tmp_path)


@pytest.fixture
def https(device):
    with FaultServer(root=device.files, pki=device.pki, stall_seconds=60) as s:
        yield s


def update(device, server, body, timeout=40):  # noqa: F811
    with panel_for(server, device.pki) as panel:
        panel.send("device@localhost", body)
        try:
            return panel.wait_reply(timeout=timeout)
        except TimeoutError as e:
            raise AssertionError("%s\nagent log:\n%s" % (e, device.agent.log()[-4000:]))


def test_a_good_update_installs_the_new_folder_and_keeps_the_previous_one(device, https, server):  # noqa: F811
    archive = device.serve("v2.zip", "good", *processes(NEW))
    answer = update(device, server, command(10, https.url("/file/v2.zip"), sha256=sha256(archive)))
    assert answer == {"command_no": 10, "from": "meter-0001", "success": True, "remarks": ""}
    assert device.folder_version() == NEW
    assert device.folder_version(device.smart_meter + ".prev") == OLD
    device.wait_versions(NEW)
    # Started by the agent from the manifest, in the new folder.
    for p in device.agent.status()["processes"]:
        assert os.readlink("/proc/%d/cwd" % p["pid"]) == device.smart_meter
    log = device.agent.log()
    assert "not installed: __MACOSX/, README.txt" in log or "not installed: README.txt, __MACOSX/" in log
    # Nothing left behind in downloads/ and no update journal.
    assert os.listdir(os.path.join(device.agent.root, "downloads")) == []
    assert not os.path.exists(os.path.join(device.agent.root, "wdog", "update.json"))
    assert device.agent.status()["update"] == "no update in progress"


def test_a_repeated_command_is_answered_again_not_run_again(device, https, server):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW))
    body = command(11, https.url("/file/v2.zip"))
    with panel_for(server, device.pki) as panel:
        panel.send("device@localhost", body)
        panel.send("device@localhost", body)  # while it runs: no second answer
        first = panel.wait_reply(timeout=40)
        assert first["success"] is True
        panel.send("device@localhost", body)
        again = panel.wait_reply(timeout=10)
        assert again == first
        time.sleep(1)
        assert [r for r in panel.replies if r.get("command_no") == 11] == [first, again]
    assert sum(1 for r in https.requests if r["path"] == "/file/v2.zip") == 1


def test_a_second_update_while_one_runs_is_refused(device, https, server):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW))
    with panel_for(server, device.pki) as panel:
        panel.send("device@localhost", command(20, https.url("/stall/v2.zip")))
        wait_for(lambda: device.agent.status()["update"].startswith("update 20: downloading"), what="the download")
        panel.send("device@localhost", command(21, https.url("/file/v2.zip")))
        refused = panel.wait_reply(timeout=10)
    assert refused["command_no"] == 21 and refused["success"] is False
    assert refused["remarks"] == "an update (command 20) is in progress"


# ---- failures: each leaves the old folder in place and running ---------------------------

DOWNLOAD_FAULTS = [
    ("/truncated/v2.zip", "body ended"),
    ("/short/v2.zip", "body ended"),
    ("/stall/v2.zip", "no data for 1 s"),
    ("/status/404", "HTTP 404"),
    ("/status/503", "HTTP 503"),
    ("/redirect-loop", "too many redirects"),
    ("/redirect-http/v2.zip", "plain http"),
]


@pytest.mark.parametrize("path,cause", DOWNLOAD_FAULTS, ids=[p.split("/")[1] for p, _ in DOWNLOAD_FAULTS])
def test_a_failed_download_changes_nothing(device, https, server, path, cause):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW))
    answer = update(device, server, command(30, https.url(path)))
    assert answer["success"] is False
    assert answer["remarks"].startswith("download: ") and cause in answer["remarks"], answer["remarks"]
    device.assert_old_and_running()


def test_a_server_certificate_from_another_ca_is_refused(device, server):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW))
    rogue = types.SimpleNamespace(server_cert=device.pki.rogue_server_cert, server_key=device.pki.rogue_server_key)
    with FaultServer(root=device.files, pki=rogue) as s:
        answer = update(device, server, command(31, s.url("/file/v2.zip")))
        assert s.requests == []  # the handshake failed: no request was sent
    assert answer["success"] is False and "certificate not trusted" in answer["remarks"], answer["remarks"]
    device.assert_old_and_running()


def test_a_sha256_mismatch_fails_before_anything_is_touched(device, https, server):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW))
    answer = update(device, server, command(32, https.url("/file/v2.zip"), sha256="00" * 32))
    assert answer["success"] is False and answer["remarks"].startswith("download: sha256 mismatch"), answer["remarks"]
    device.assert_old_and_running()


ARCHIVE_FAULTS = [
    ("zip-slip", "escapes the folder"),
    ("symlink", "symbolic link"),
    ("bomb-ratio", "zip bomb"),
    ("no-smartmeter", "no SmartMeter/ folder"),
]


@pytest.mark.parametrize("kind,cause", ARCHIVE_FAULTS, ids=[k for k, _ in ARCHIVE_FAULTS])
def test_a_hostile_archive_is_refused(device, https, server, kind, cause):  # noqa: F811
    device.serve("v2.zip", kind, *processes(NEW))
    answer = update(device, server, command(33, https.url("/file/v2.zip")))
    assert answer["success"] is False
    assert answer["remarks"].startswith("archive: ") and cause in answer["remarks"], answer["remarks"]
    device.assert_old_and_running()
    assert not os.path.exists(device.smart_meter + ".failed")


def test_an_archive_over_the_size_cap_is_refused(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, download_max_bytes=200_000))
    device.serve("v2.zip", "good", *processes(NEW), "--size", "300000")
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(34, s.url("/file/v2.zip")))
    assert answer["success"] is False and "limit" in answer["remarks"], answer["remarks"]
    device.assert_old_and_running()


def test_an_archive_that_unpacks_past_the_cap_is_refused(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, unpack_max_bytes=100_000))
    device.serve("v2.zip", "good", *processes(NEW), "--size", "300000")
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(35, s.url("/file/v2.zip")))
    assert answer["success"] is False and answer["remarks"].startswith("archive: "), answer["remarks"]
    device.assert_old_and_running()


def test_not_enough_free_space_is_refused_before_downloading(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, reserve_free_bytes=1 << 40))
    device.serve("v2.zip", "good", *processes(NEW))
    with FaultServer(root=device.files, pki=pki) as s:
        answer = update(device, server, command(36, s.url("/file/v2.zip")))
    assert answer["success"] is False and "not enough free space" in answer["remarks"], answer["remarks"]
    device.assert_old_and_running()


def test_a_process_reporting_the_wrong_version_rolls_the_update_back(device, https, server):  # noqa: F811
    device.serve("v2.zip", "good", "--process", "p1:" + NEW, "--process", "p2:1.0.0", "--interval", "0.2")
    answer = update(device, server, command(40, https.url("/file/v2.zip")))
    assert answer["success"] is False
    assert answer["remarks"] == "p2 reported 1.0.0, expected 1.0.1"
    device.assert_old_and_running()
    assert device.folder_version(device.smart_meter + ".failed") == NEW


def test_a_process_that_never_heartbeats_rolls_the_update_back(device, https, server):  # noqa: F811
    device.serve("v2.zip", "good", *processes(NEW), "--silent", "p2")
    answer = update(device, server, command(41, https.url("/file/v2.zip"), timeout_s=3))
    assert answer["success"] is False
    assert answer["remarks"] == "p2 sent no heartbeat within 3 s"
    device.assert_old_and_running()
    assert device.folder_version(device.smart_meter + ".failed") == NEW


# ---- resume -------------------------------------------------------------------------------

def test_a_download_cut_halfway_resumes_from_the_byte_it_had(device, https, server):  # noqa: F811
    archive = device.serve("v2.zip", "good", *processes(NEW), "--size", "2000000")
    answer = update(device, server, command(50, https.url("/cut-once/v2.zip"), sha256=sha256(archive)))
    assert answer["success"] is True, answer
    gets = [r for r in https.requests if r["path"] == "/cut-once/v2.zip"]
    assert len(gets) == 2 and gets[0]["range"] is None
    assert gets[1]["range"] is not None and gets[1]["range"].startswith("bytes=")
    assert int(gets[1]["range"][6:].rstrip("-")) > 0
    assert gets[1]["if_range"]  # the ETag it was given
    device.wait_versions(NEW)


# ---- crash safety: SIGKILL at each step, then a restart ------------------------------------

def restart(device):
    device.agent.stop(signal.SIGKILL)
    device.agent.start()
    online(device.agent)


def answers(panel, no, settle=2.0):
    time.sleep(settle)
    return [r for r in panel.replies if r.get("command_no") == no]


def test_killed_during_the_download_the_next_start_downloads_it_again_from_the_first_byte(agents, server, pki, tmp_path):  # noqa: F811
    """Bytes a worker of an earlier run wrote are never trusted (RELIABILITY.md, threat
    model): the next agent fetches the archive whole, into a new file."""
    device = Device(agents, server, pki, tmp_path)
    archive = device.serve("v2.zip", "good", *processes(NEW), "--size", "3000000")
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        s.slow_rate = 512 * 1024  # bytes a second: the download takes seconds
        panel.send("device@localhost", command(60, s.url("/slow/v2.zip"), sha256=sha256(archive)))
        wait_for(lambda: " of " in device.agent.status()["update"], what="download progress")
        time.sleep(1)
        restart(device)
        answer = panel.wait_reply(timeout=60)
        assert answer["success"] is True, answer
        assert answers(panel, 60) == [answer]
        gets = [r for r in s.requests if r["path"] == "/slow/v2.zip"]
        assert len(gets) == 2 and all(r["range"] is None for r in gets), gets
    device.wait_versions(NEW)


def test_killed_during_unpacking_the_next_start_unpacks_again(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, download_max_bytes=400 << 20,
                                                                 unpack_max_bytes=400 << 20))
    device.serve("v2.zip", "good", *processes(NEW), "--size", str(150 << 20))
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(61, s.url("/file/v2.zip")))
        # The unpacking takes a second or so: watched on the file system (cheap,
        # every millisecond), not by a `tinyagent status` per poll, which can
        # miss it on a loaded machine.
        filler = os.path.join(device.agent.root, "downloads", "update-61", "SmartMeter", "data", "filler.bin")
        wait_for(lambda: os.path.exists(filler), timeout=120, interval=0.001, what="the big file being unpacked")
        device.agent.stop(signal.SIGKILL)
        assert os.path.getsize(filler) < 150 << 20, "killed after the unpacking, not during it"
        device.agent.start()
        online(device.agent)
        answer = panel.wait_reply(timeout=90)
        assert answer["success"] is True, answer
        assert answers(panel, 61) == [answer]
    device.wait_versions(NEW)


def ignoring_sigterm(device, names):
    """Replaces the running processes NAMES with ones that ignore SIGTERM:
    the agent then sits in the swap step for its kill grace."""
    for sample in device.agent.samples:
        if [n for n in names if sample.args[-1] == n + ".py"]:
            os.killpg(sample.pid, signal.SIGKILL)
    env = dict(os.environ, TINYAGENT_HEARTBEAT_PORT=str(device.agent.port))
    for name in names:
        device.agent.samples.append(subprocess.Popen(
            [PYTHON, os.path.join(device.agent.root, "SmartMeter", "meter_reader.py"), "--name", name, "--version", OLD,
             "--interval", "0.2", "--ignore-sigterm"], cwd=device.smart_meter, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    device.wait_versions(OLD)


def test_killed_while_stopping_the_processes_the_swap_completes(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, kill_grace_ms=3000))
    device.serve("v2.zip", "good", *processes(NEW))
    ignoring_sigterm(device, ["p2"])
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(62, s.url("/file/v2.zip")))
        wait_for(lambda: "stopping processes" in device.agent.status()["update"], timeout=30, what="the swap step")
        restart(device)
        answer = panel.wait_reply(timeout=60)
        assert answer["success"] is True, answer
        assert answers(panel, 62) == [answer]
    assert device.folder_version() == NEW
    device.wait_versions(NEW)


def test_killed_between_the_two_renames_the_next_start_finishes_the_swap(agents, server, pki, tmp_path):  # noqa: F811
    """The journal is the agent's own (step swap); the first rename is then
    done by hand, leaving exactly what a crash between the renames leaves:
    no SmartMeter folder at all."""
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, kill_grace_ms=3000))
    device.serve("v2.zip", "good", *processes(NEW))
    ignoring_sigterm(device, ["p1", "p2"])
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(63, s.url("/file/v2.zip")))
        wait_for(lambda: "stopping processes" in device.agent.status()["update"], timeout=30, what="the swap step")
        device.agent.stop(signal.SIGKILL)
        with open(os.path.join(device.agent.root, "wdog", "update.json")) as f:
            assert json.load(f)["step"] == "swap"
        os.rename(device.smart_meter, device.smart_meter + ".prev")
        device.agent.start()
        online(device.agent)
        answer = panel.wait_reply(timeout=60)
        assert answer["success"] is True, answer
        assert answers(panel, 63) == [answer]
    assert device.folder_version() == NEW


def test_killed_during_a_rollback_the_next_start_finishes_it_and_answers_once(agents, server, pki, tmp_path):  # noqa: F811
    # p2 never heartbeats: a rollback; p1 ignores SIGTERM: the rollback waits out the kill grace.
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, kill_grace_ms=3000))
    device.serve("v2.zip", "good", *processes(NEW), "--silent", "p2", "--stubborn", "p1")
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(65, s.url("/file/v2.zip"), timeout_s=3))
        wait_for(lambda: "rolling back" in device.agent.status()["update"], timeout=30, what="the rollback")
        device.agent.stop(signal.SIGKILL)
        with open(os.path.join(device.agent.root, "wdog", "update.json")) as f:
            assert json.load(f)["step"] == "rollback"
        device.agent.start()
        online(device.agent)
        answer = panel.wait_reply(timeout=30)
        assert answer["success"] is False and answer["remarks"] == "p2 sent no heartbeat within 3 s", answer
        assert answers(panel, 65) == [answer]
    device.assert_old_and_running()
    assert os.path.isdir(device.smart_meter + ".failed"), "the failed version is kept aside"


def test_killed_during_verification_the_next_start_waits_on_and_answers_once(agents, server, pki, tmp_path):  # noqa: F811
    device = Device(agents, server, pki, tmp_path)
    device.serve("v2.zip", "good", *processes(NEW), "--silent", "p2")
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(64, s.url("/file/v2.zip"), timeout_s=6))
        wait_for(lambda: "waiting for the new versions" in device.agent.status()["update"], timeout=30,
                 what="the verify step")
        restart(device)
        answer = panel.wait_reply(timeout=30)
        assert answer["success"] is False and answer["remarks"] == "p2 sent no heartbeat within 6 s", answer
        assert answers(panel, 64) == [answer]
    device.assert_old_and_running()


# ---- the event loop keeps going -------------------------------------------------------------

def test_heartbeats_and_watchdog_pings_go_on_during_a_large_update(agents, server, pki, tmp_path, notify):  # noqa: F811
    agent_settings = dict(SETTINGS, download_max_bytes=400 << 20, unpack_max_bytes=400 << 20)
    agents_with_notify = lambda settings: agents(settings, notify=notify, watchdog_usec=400_000)  # noqa: E731
    device = Device(agents_with_notify, server, pki, tmp_path, settings=agent_settings)
    device.serve("v2.zip", "good", *processes(NEW), "--size", str(100 << 20))
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        start = time.monotonic()
        panel.send("device@localhost", command(70, s.url("/file/v2.zip"), timeout_s=30))
        accepted = []
        while not panel.replies and time.monotonic() - start < 120:
            accepted.append((time.monotonic(), device.agent.status()["heartbeats"]["accepted"]))
            time.sleep(0.2)
        answer = panel.wait_reply(timeout=10)
    assert answer["success"] is True, answer
    pings = [t for t, m in notify.collect() if m == "WATCHDOG=1" and t >= start]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert pings and max(gaps) < 0.4, "WATCHDOG=1 gaps up to %.3f s" % max(gaps)
    assert any("update 70: downloading" in m for m in notify.texts())
    assert any("update 70: unpacking" in m for m in notify.texts())
    # Heartbeats were counted all along (status answered every 0.2 s, count rising). How
    # many answers fit depends on how fast the machine unpacks 100 MB: two are enough.
    assert len(accepted) >= 2 and accepted[-1][1] > accepted[0][1], accepted


def test_a_heartbeat_still_on_its_way_from_a_stopped_process_does_not_revive_it(agents, server, pki, tmp_path):  # noqa: F811
    """While the update holds the processes (p2 ignores SIGTERM, so for the
    kill grace), a heartbeat for the dead p1 — as one sent just before it
    died arrives late — must leave p1 stopped, not make the update wait for
    a heartbeat deadline."""
    device = Device(agents, server, pki, tmp_path, settings=dict(SETTINGS, kill_grace_ms=4000, heartbeat_timeout_ms=20000))
    device.serve("v2.zip", "good", *processes(NEW))
    ignoring_sigterm(device, ["p2"])
    old_p1 = device.agent.process("p1")["pid"]
    with FaultServer(root=device.files, pki=pki) as s, panel_for(server, pki) as panel:
        panel.send("device@localhost", command(65, s.url("/file/v2.zip")))
        wait_for(lambda: device.agent.process("p1")["state"] == "stopped", timeout=30, interval=0.02, what="p1 stopped")
        beat = {"process_name": "p1", "pid": old_p1, "run_command": "python3 p1.py",
                "version": {"major": 1, "minor": 0, "patch": 0}}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(json.dumps(beat).encode(), ("127.0.0.1", device.agent.port))
        time.sleep(0.3)
        assert device.agent.process("p1")["state"] == "stopped"
        started = time.monotonic()
        answer = panel.wait_reply(timeout=30)
        assert answer["success"] is True, answer
        assert time.monotonic() - started < 15, "the update waited for a heartbeat deadline"
    assert "p1 (pid %d) is heartbeating again" % old_p1 not in device.agent.log()
