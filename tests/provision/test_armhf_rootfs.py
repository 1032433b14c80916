"""End to end on a real armhf root filesystem (cross/rootfs-armhf.sh: debootstrapped
bookworm, cached in build/armhf/rootfs): a copy of it without libstrophe (a card with no
network at first boot) is provisioned with the armhf .deb, the library and a Python
package; then, in a chroot under qemu-user, the agent runs there and restarts a
heartbeating Python process that hangs; last, run as the unit runs it (guard, then agent),
it updates itself to the same tree built again with another version, from a signed archive,
and the new armhf agent confirms it logged in to a real prosody. Skipped, with the reason,
when the rootfs, the armhf binary or binfmt_misc's qemu-arm is missing (`make
provision-test` makes them)."""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile

import pytest

from provisioning import BASE, CONFIG, REPO, UNIT, XMPP_PASSWORD, provision_args, requires_root, run_provision

sys.path.insert(0, os.path.join(REPO, "tests"))
import runguard  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import install_key, make_key, sign  # noqa: E402
from xmpp.pki import make_pki  # noqa: E402
from xmpp.prosody import Prosody, ensure_installed  # noqa: E402

CACHE = os.path.join(os.environ.get("TA_CACHE", os.path.join(REPO, "build")), "armhf")
ROOTFS = os.path.join(CACHE, "rootfs")
ARMHF_AGENT = os.path.join(REPO, "build", "armhf", "tinyagent")
MULTIARCH = "usr/lib/arm-linux-gnueabihf"

# Outside CI a missing piece skips (a developer's partial run); in CI (`make test`
# builds them all first, .ci/run passes CI) it runs, and fails.
IN_CI = bool(os.environ.get("CI"))
pytestmark = [
    requires_root,
    pytest.mark.skipif(not IN_CI and not os.path.isfile(os.path.join(ROOTFS, "etc", "passwd")),
                       reason="no armhf rootfs at %s: run cross/rootfs-armhf.sh (~4 min once)" % ROOTFS),
    pytest.mark.skipif(not IN_CI and not os.path.isfile(ARMHF_AGENT), reason="no armhf binary: run `make armhf`"),
    pytest.mark.skipif(not IN_CI and not os.path.exists("/proc/sys/fs/binfmt_misc/qemu-arm"),
                       reason="binfmt_misc does not run armhf binaries: run cross/rootfs-armhf.sh --binfmt"),
]


def chroot(root, *cmd, user=None, env=None, check=True, timeout=60):
    spec = ["--userspec=%d:%d" % user] if user else []
    environment = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=%s" % ("/home/pi" if user else "/root")]
    environment += ["%s=%s" % kv for kv in (env or {}).items()]
    result = subprocess.run(["chroot"] + spec + [root] + environment + list(cmd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=timeout)
    if check:
        assert result.returncode == 0, "%s: %s" % (" ".join(cmd), result.stderr.decode())
    return result


def chroot_status(root):
    r = chroot(root, "/usr/bin/tinyagent", "status", "--root", "/" + BASE, "--json", check=False)
    return json.loads(r.stdout.decode()) if r.returncode == 0 else None


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_in(root):
    """Pids of the processes whose root directory is `root`: only what this test started."""
    pids, root = [], os.path.realpath(root)
    for entry in glob.glob("/proc/[0-9]*/root"):
        try:
            if os.readlink(entry) == root:
                pids.append(int(entry.split("/")[2]))
        except OSError:
            pass
    return pids


def stop_processes_in(root):
    for pid in processes_in(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for _ in range(50):
        if not processes_in(root):
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("armhf")
    deb_dir = tmp / "deb"
    built = subprocess.run([os.path.join(REPO, "cross", "build-deb.sh"), "--binary", ARMHF_AGENT,
                            "--out", str(deb_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert built.returncode == 0, built.stdout.decode()
    deb = glob.glob(str(deb_dir / "tinyagent_*_armhf.deb"))[0]

    root = str(tmp / "rootfs")
    subprocess.run(["cp", "-a", ROOTFS, root], check=True)
    # A card without libstrophe0: the library comes with --libs instead.
    libs = tmp / "libs"
    libs.mkdir()
    for path in glob.glob(os.path.join(root, MULTIARCH, "libstrophe.so.0*")):
        if os.path.islink(path):
            os.symlink(os.readlink(path), str(libs / os.path.basename(path)))
        else:
            shutil.copy(path, str(libs))
        os.unlink(path)
    chroot(root, "/sbin/ldconfig")
    assert b"libstrophe" not in chroot(root, "/sbin/ldconfig", "-p").stdout

    inputs = tmp / "inputs"
    (inputs / "meterlib").mkdir(parents=True)
    (inputs / "meterlib" / "__init__.py").write_text("VALUE = 42\n")
    config = json.loads(json.dumps(CONFIG))
    # Nothing listens there (no network needed); a fixed id, as no /sys is mounted for the MAC.
    config["xmpp_client"].update(host="127.0.0.1", port=9, tls="disabled", rpi_unique_id="rpi-e2e-0001")
    (inputs / "plain.json").write_text(json.dumps(config))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(inputs / "ca.key"), "-out", str(inputs / "ca.pem"), "-subj", "/CN=test CA"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    given = {"config": str(inputs / "plain.json"), "cacert": str(inputs / "ca.pem"),
             "smartmeter": os.path.join(REPO, "samples", "SmartMeter"), "libs": str(libs), "python": str(inputs)}
    args = provision_args(root, given, "--deb", deb)
    first = run_provision(args)
    assert first.returncode == 0, first.stderr.decode()
    subprocess.run(["mount", "--bind", "/proc", os.path.join(root, "proc")], check=True)
    try:
        yield {"root": root, "args": args, "first": first, "deb": deb, "tmp": tmp}
    finally:
        stop_processes_in(root)
        subprocess.run(["umount", os.path.join(root, "proc")], check=True)
    subprocess.run(["rm", "-rf", "--one-file-system", root])


def test_provisioning_the_real_rootfs_with_the_deb_succeeds_and_runs_its_ldconfig(card):
    out = card["first"].stdout.decode()
    assert "chroot %s /sbin/ldconfig" % card["root"] in out
    assert "warning" not in card["first"].stderr.decode()
    assert b"libstrophe.so.0 " in chroot(card["root"], "/sbin/ldconfig", "-p").stdout


def test_the_deb_is_unpacked_with_pis_owners_from_the_cards_passwd(card):
    root = card["root"]
    with open(os.path.join(root, "etc/passwd")) as f:
        pi = [line.split(":") for line in f if line.startswith("pi:")][0]
    uid, gid = int(pi[2]), int(pi[3])
    # DESIGN.md §3's tree (the .deb's postinst lays the same): root's but for SmartMeter/ (pi's)
    # and pi's group on wdog/ and logs/.
    layout = {"": (0, 0, 0o755), "/cfg": (0, 0, 0o700), "/SmartMeter": (uid, gid, 0o755), "/bin": (0, 0, 0o755),
              "/wdog": (0, gid, 0o710), "/logs": (0, gid, 0o750), "/downloads": (0, 0, 0o700)}
    for name, want in layout.items():
        st = os.stat(os.path.join(root, BASE + name))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == want, name
    assert os.readlink(os.path.join(root, BASE, "bin/tinyagent")) == "/usr/lib/tinyagent/tinyagent"
    with open(os.path.join(root, "lib/systemd/system/tinyagent.service"), "rb") as a, open(UNIT, "rb") as b:
        assert a.read() == b.read()
    assert os.readlink(os.path.join(root, "etc/systemd/system/multi-user.target.wants/tinyagent.service")) \
        == "/lib/systemd/system/tinyagent.service"
    assert os.path.isfile(os.path.join(root, "usr/share/doc/tinyagent/README")), "the whole package"


def test_a_second_run_on_the_real_rootfs_is_unchanged(card):
    again = run_provision(card["args"])
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout.decode().splitlines()[-1] == "provision: unchanged"


def test_the_armhf_agent_runs_with_the_provisioned_library_and_reads_the_config(card):
    root = card["root"]
    assert chroot(root, "/usr/bin/tinyagent", "version").stdout.startswith(b"tinyagent ")
    check = chroot(root, "/usr/bin/tinyagent", "config", "check", "--root", "/home/pi/technospurs")
    assert XMPP_PASSWORD.encode() not in check.stdout + check.stderr


def test_pis_python_imports_the_provisioned_package_from_its_user_site(card):
    out = chroot(card["root"], "python3", "-c", "import meterlib; print(meterlib.__file__, meterlib.VALUE)",
                 user=(1000, 1000)).stdout.decode()
    assert out.startswith("/home/pi/.local/lib/python3.") and "/site-packages/meterlib/" in out and out.endswith(" 42\n")


def test_systemd_analyze_verifies_the_provisioned_unit(card, tmp_path):
    # The minbase rootfs has no systemd: this machine's units plus the card's unit and agent.
    scratch = tmp_path / "root"
    shutil.copytree("/lib/systemd/system", str(scratch / "lib/systemd/system"), symlinks=True)
    shutil.copy(os.path.join(card["root"], "lib/systemd/system/tinyagent.service"), str(scratch / "lib/systemd/system"))
    (scratch / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    os.symlink("/lib/systemd/system/tinyagent.service", str(scratch / "etc/systemd/system/multi-user.target.wants/tinyagent.service"))
    (scratch / "usr/lib/tinyagent").mkdir(parents=True)  # ExecStart's path, outside /home/pi
    # The programs, and the guard the unit runs before each start (ExecStartPre=): the card's own.
    for program in ("tinyagent", "tinyagent-link", "tinyagent-fetch", "tinyagent-guard"):
        shutil.copy(os.path.join(card["root"], "usr/lib/tinyagent", program), str(scratch / "usr/lib/tinyagent"))
    (scratch / BASE).mkdir(parents=True)
    (scratch / "bin").mkdir()
    shutil.copy("/bin/kill", str(scratch / "bin" / "kill"))  # ExecReload's
    # --man=no: verify would look for Documentation='s page on this machine; it is on the card.
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=%s" % scratch, "tinyagent.service"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert (result.returncode, result.stdout.decode()) == (0, "")
    page = subprocess.run(["man", "-l", os.path.join(card["root"], "usr/share/man/man1/tinyagent.1.gz")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, MANPAGER="cat"))
    assert page.returncode == 0 and b"tinyagent run" in page.stdout


def test_in_the_chroot_the_agent_restarts_a_hung_python_process_as_pi(card):
    root = card["root"]
    port = free_udp_port()
    settings = {"heartbeat_port": port, "heartbeat_timeout_ms": 3000, "kill_grace_ms": 1000}
    with open(os.path.join(root, BASE, "cfg", "agent.json"), "w") as f:
        json.dump(settings, f)
    agent = None
    try:
        agent = subprocess.Popen(["chroot", root, "/usr/bin/tinyagent", "run", "--root", "/home/pi/technospurs"],
                                 env=runguard.marked({"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        sample = subprocess.Popen(
            ["chroot", "--userspec=1000:1000", root, "env", "HOME=/home/pi", "python3",
             "/home/pi/technospurs/SmartMeter/meter_reader.py", "--name", "reader", "--interval", "0.5",
             "--port", str(port), "--hang-after", "6"],
            cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def reader():
            status = chroot_status(root)
            return status and next((p for p in status["processes"] if p["name"] == "reader"), None)

        deadline = time.monotonic() + 90
        first = restarted = None
        while time.monotonic() < deadline and restarted is None:
            assert agent.poll() is None, "the agent exited with %s" % agent.returncode
            p = reader()
            if p and first is None and p["pid"] == sample.pid:
                first = p
            if p and first and p["pid"] != sample.pid and p["restarts"] >= 1:
                restarted = p
            time.sleep(0.5)
        log = open(os.path.join(root, BASE, "logs", "tinyagent.log")).read()[-3000:]
        assert first, "the sample's heartbeats never reached the agent:\n" + log
        assert restarted, "the hung sample was not restarted within 90 s:\n" + log
        with open("/proc/%d/status" % restarted["pid"]) as f:
            uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
        assert uid == "1000", "restarted as pi, not as root"
    finally:
        stop_processes_in(root)  # the agent, the sample, what the agent started
        if agent:
            agent.wait(timeout=10)


NEXT_VERSION = "9.9.9"
PROGRAMS = ("tinyagent", "tinyagent-link", "tinyagent-fetch")
STANDIN = os.path.join(REPO, "tests", "integration", "unit_standin.py")


@pytest.fixture(scope="module")
def next_build(tmp_path_factory):
    """A fleet's next release: this tree's armhf programs built again (cross/build.sh --src)
    with the version NEXT_VERSION; the folder holding the three."""
    tmp = tmp_path_factory.mktemp("next")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(os.path.join(REPO, "Package.swift"), str(src))
    for folder in ("Sources", "Tests"):
        shutil.copytree(os.path.join(REPO, folder), str(src / folder))
    version = src / "Sources" / "TinyBase" / "Base" / "AgentVersion.swift"
    text, n = re.subn(r'agentVersion = "[^"]*"', 'agentVersion = "%s"' % NEXT_VERSION, version.read_text())
    assert n == 1, "no agentVersion constant in %s" % version
    version.write_text(text)
    out = tmp / "out"
    built = subprocess.run([os.path.join(REPO, "cross", "build.sh"), "armhf", "--src", str(src), "--out", str(out / "tinyagent")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    assert built.returncode == 0, built.stdout.decode()[-3000:]
    return str(out)


def wait_in_chroot(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "%s: not within %d s" % (what, timeout)
        time.sleep(0.5)


def test_in_the_chroot_the_agent_updates_itself_to_a_new_armhf_build_from_a_signed_archive(card, next_build, tmp_path):
    root = card["root"]
    base = os.path.join(root, BASE)
    port = free_udp_port()
    with open(os.path.join(base, "cfg", "agent.json"), "w") as f:
        json.dump({"heartbeat_port": port, "update_timeout_s": 120}, f)
    # The processes of the test before are gone (stop_processes_in): so is their record.
    registry = os.path.join(base, "wdog", "registry.json")
    if os.path.exists(registry):
        os.unlink(registry)
    # The card's link goes to a real prosody on loopback (the chroot shares the network),
    # its CA the test CA's; the config encrypted by the card's own agent.
    pki = make_pki(str(tmp_path / "pki"))
    shutil.copy(pki.ca_cert, os.path.join(base, "certs", "cacert.pem"))
    ensure_installed()
    xmpp = Prosody(str(tmp_path / "xmpp"), tls="starttls", cert=pki.server_cert, key=pki.server_key)
    xmpp.register("device", "device-secret")
    with open(os.path.join(root, "root", "plain.json"), "w") as f:
        json.dump({"xmpp_client": {"client_jid": "device@localhost", "client_password": "device-secret",
                                   "cpanel_jid": "panel@localhost", "rpi_unique_id": "rpi-e2e-0001",
                                   "host": "127.0.0.1", "port": xmpp.port}}, f)
    chroot(root, "/usr/bin/tinyagent", "config", "encrypt", "--in", "/root/plain.json",
           "--out", "/%s/cfg/config_file.bin" % BASE)
    # The fleet's key on the device, the archive (bin/: the next build's three programs) signed with it.
    fleet, public = make_key(str(tmp_path), "fleet")
    install_key(base, public)
    archive = os.path.join(root, "root", "next.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for program in PROGRAMS:
            z.write(os.path.join(next_build, program), "bin/" + program)
    sign(fleet, archive)

    install = os.path.join(root, "usr", "lib", "tinyagent")
    old = open(os.path.join(install, "tinyagent"), "rb").read()
    events = os.path.join(str(tmp_path), "standin.events")
    standin = None
    with xmpp:
        try:
            # systemd's part: the card's own unit, guard then agent, restarted when it exits.
            standin = subprocess.Popen(
                ["/usr/bin/python3", STANDIN, os.path.join(root, "lib/systemd/system/tinyagent.service"),
                 "/usr/lib/tinyagent", "/" + BASE, "--chroot", root, "--watchdog", "30", "--restart", "0.5"],
                env=runguard.marked({"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}), stdout=open(events, "w"),
                stderr=subprocess.STDOUT, start_new_session=True)
            sample = subprocess.Popen(
                ["chroot", "--userspec=1000:1000", root, "env", "HOME=/home/pi", "python3",
                 "/%s/SmartMeter/meter_reader.py" % BASE, "--name", "reader", "--version", "1.0.3",
                 "--interval", "0.5", "--port", str(port)],
                cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

            def ready():
                status = chroot_status(root)
                return status and status["xmpp"] == "online" and any(p["name"] == "reader" for p in status["processes"])
            wait_in_chroot("the old agent online with the reader", ready, 120)

            update = chroot(root, "/usr/bin/tinyagent", "update", "--file", "/root/next.zip", "--wait",
                            "--root", "/" + BASE, check=False, timeout=600)
            log = open(os.path.join(base, "logs", "tinyagent.log")).read()[-5000:]
            assert update.returncode == 0, (update.stdout, update.stderr, log)
            assert update.stdout.decode() == "installed and confirmed: tinyagent %s\n" % NEXT_VERSION
            assert "restarting into tinyagent %s" % NEXT_VERSION in update.stderr.decode()
            assert "signature verified with certs/update-keys/fleet.pem" in log, log
            for program in PROGRAMS:
                assert open(os.path.join(install, program), "rb").read() == open(os.path.join(next_build, program), "rb").read()
            assert open(os.path.join(install, "tinyagent.prev"), "rb").read() == old
            assert chroot(root, "/usr/lib/tinyagent/tinyagent", "version").stdout.decode().split()[1] == NEXT_VERSION
            assert not os.path.exists(os.path.join(base, "wdog", "self-update.trial"))
            status = chroot_status(root)
            assert status["agent_version"] == NEXT_VERSION and status["xmpp"] == "online", status
            reader = next(p for p in status["processes"] if p["name"] == "reader")
            assert reader["pid"] == sample.pid and reader["restarts"] == 0, "the reader ran on through the swap"
            starts = [line for line in open(events) if line.startswith("start ")]
            assert len(starts) == 2, open(events).read()
        finally:
            if standin:
                standin.terminate()
                standin.wait(timeout=30)
            stop_processes_in(root)
