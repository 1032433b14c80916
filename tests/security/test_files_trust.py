"""Files and folders on the trust line (DESIGN.md §3; issue 10 items 4, 5, 9, 10): what a
non-root user plants in the agent's tree, or in its own folders, must never make root
follow a link, open a FIFO, trust a state file, or run a binary the user chose. Each
test attacks as a throwaway user (or as the app user itself) and checks the legitimate
path beside it; each docstring says what it caught on the code before this change."""

import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from .conftest import FAST, PYTHON, harness, make_old_tree, make_tree, run_as

REPO = harness.REPO
BINARY = harness.BINARY
wait_for = harness.wait_for
pid_alive = harness.pid_alive

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attacks need throwaway users: run as root")


@pytest.fixture
def etc_marker():
    """A path root could create and nobody else: the attacks aim at it (removed after,
    should an attack succeed)."""
    path = "/etc/ta-%s" % uuid.uuid4().hex[:12]
    yield path
    if os.path.lexists(path):
        os.unlink(path)


def run_agent(root, port, timeout=5):
    """`tinyagent run` that is expected to stop by itself: (exit status, stderr)."""
    p = subprocess.run([BINARY, "run", "--root", root, "--heartbeat-port", str(port)],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def registry_entry(name, pid, uid, gid, command):
    return {"name": name, "pid": pid, "start_time": None, "uid": uid, "gid": gid, "run_command": command,
            "verified": True, "version": "1.0.0", "state": "running", "restarts": 0, "failure": None}


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


# ---- item 4: folders and state files --------------------------------------------------

def test_a_tree_the_app_user_owns_stops_the_agent_with_one_line_per_problem(root, make_user, agents):
    """Before: the agent ran on a tree pi owned, trusting its registry, settings and
    sockets. Now it exits 78 and says what is wrong; on DESIGN.md §3's tree it runs."""
    pi = make_user()
    make_old_tree(root, pi)
    port = harness.free_udp_port()
    code, err = run_agent(root, port)
    lines = [l for l in err.strip().splitlines() if " error " in l]
    assert code == 78, err
    assert any(l.endswith("error %s: uid %d, gid %d, mode 0755: another user can replace what root reads and runs "
                          "here; make it root:root 0755 (the package's postinst does)" % (root, pi.pw_uid, pi.pw_gid))
               for l in lines), err
    for folder in ("bin", "cfg", "wdog"):
        assert any("%s/%s: uid %d" % (root, folder, pi.pw_uid) in l for l in lines), (folder, err)
    assert len(lines) == 4, "one line per problem: the base, bin/, cfg/, wdog/"
    assert err.strip().splitlines()[-1] == "tinyagent: refusing to run: 4 problems with the agent's folders (above)"
    make_tree(root, pi)
    agent = agents(FAST).start()
    assert agent.status()["processes"] == []


def test_settings_the_app_user_can_write_are_refused(root, make_user, agents):
    """Before: a cfg/agent.json pi could write set run_as or the allowlist for root.
    Now a settings file writable by another user is fatal; root's own (0644) is read."""
    pi = make_user()
    make_tree(root, pi)
    settings = os.path.join(root, "cfg", "agent.json")
    with open(settings, "w") as f:
        json.dump(FAST, f)
    os.chown(settings, pi.pw_uid, pi.pw_gid)
    code, err = run_agent(root, harness.free_udp_port())
    assert code == 78 and "cfg/agent.json: uid %d" % pi.pw_uid in err, err
    os.chown(settings, 0, 0)
    os.chmod(settings, 0o644)
    agent = agents(FAST).start()
    assert agent.status()["heartbeat_port"] == agent.port


def test_a_fifo_at_registry_json_new_never_blocks_the_agent(root, make_user, agents):
    """Before: with wdog/ pi's, a FIFO at wdog/registry.json.new blocked the agent's
    first registry write for ever (no WATCHDOG=1, SIGTERM ignored). Now the agent refuses
    such a wdog/ at once; and a FIFO left there (root's wdog/) is replaced, not opened."""
    pi = make_user()
    make_old_tree(root, pi)
    r = run_as(pi, "import os,sys; os.mkfifo(sys.argv[1])", os.path.join(root, "wdog", "registry.json.new"))
    assert r.returncode == 0, r.stderr
    start = time.monotonic()
    code, err = run_agent(root, harness.free_udp_port())
    assert code == 78 and "%s/wdog: uid %d" % (root, pi.pw_uid) in err, err
    assert time.monotonic() - start < 3

    make_tree(root, pi)  # the upgrade fixed the owners; the FIFO is still there
    agent = agents(FAST).start()
    sample = agent.start_sample("reader", user=pi.pw_uid)
    wait_for(lambda: agent.process("reader"), what="a registry write")
    wait_for(lambda: os.path.isfile(os.path.join(root, "wdog", "registry.json")), what="registry.json")
    assert agent.stop() == 0, "SIGTERM is answered"
    assert not os.path.exists(os.path.join(root, "wdog", "registry.json.new"))
    os.killpg(sample.pid, signal.SIGKILL)


def test_a_registry_that_is_not_roots_0600_is_not_trusted(root, make_user, agents, etc_marker):
    """Before: a registry.json pi wrote (uid 0, any run_command) made root run the
    command on the next start. Now only root's 0600 file is read; another is set aside."""
    pi = make_user()
    make_tree(root, pi)
    marker = etc_marker
    path = os.path.join(root, "wdog", "registry.json")
    document = {"format": 1, "boot_id": boot_id(),
                "processes": [registry_entry("evil", dead_pid(), 0, 0, "touch " + marker)]}
    with open(path, "w") as f:
        json.dump(document, f)
    os.chown(path, pi.pw_uid, pi.pw_gid)
    os.chmod(path, 0o600)
    agent = agents(FAST).start()
    time.sleep(2)  # the restart back-off is 200 ms
    assert not os.path.exists(marker)
    assert "registry.json: unreadable: not trusted: uid %d" % pi.pw_uid in agent.log()
    assert agent.process("evil") is None
    assert os.path.exists(path + ".bad")
    agent.stop()

    # Beside it: root's own 0600 registry is trusted (a process restarted from it).
    legit = os.path.join(root, "SmartMeter", "legit-restarted")
    document["processes"] = [registry_entry("legit", dead_pid(), pi.pw_uid, pi.pw_gid, "touch %s; exec sleep 60" % legit)]
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(document, f)
    agents(FAST).start()
    wait_for(lambda: os.path.exists(legit), what="the trusted registry's restart")


def test_the_app_user_cannot_replace_what_systemd_runs_after_provision(tmp_path, make_user):
    """Before: ExecStart ran /home/pi/technospurs/bin/tinyagent; pi owns /home/pi, so it
    could rename technospurs and put its own bin/tinyagent there for root to run. Now the
    unit runs /usr/lib/tinyagent/tinyagent, and every folder on that path is root's."""
    pi = make_user()
    card = tempfile.mkdtemp(prefix="ta-card-")
    os.chmod(card, 0o755)
    try:
        binary = provision_card(card, pi)
        with open(os.path.join(REPO, "buildroot", "overlay", "lib", "systemd", "system", "tinyagent.service")) as f:
            exec_start = [l.split("=", 1)[1].split()[0] for l in f if l.startswith("ExecStart=")][0]
        base = os.path.join(card, "home/pi/technospurs")
        attack = ("import os,sys\nbase,lib=sys.argv[1],sys.argv[2]\nout=[]\n"
                  "for what,f in (('rename base',lambda: os.rename(base, base+'.old')),"
                  "('write lib',lambda: open(lib+'/tinyagent','wb')),"
                  "('create in lib',lambda: open(lib+'/x','wb'))):\n"
                  "    try: f(); out.append(what)\n"
                  "    except OSError: pass\n"
                  "if 'rename base' in out:\n"
                  "    os.makedirs(base+'/bin'); open(base+'/bin/tinyagent','w').write('#!/bin/sh\\nid\\n')\n"
                  "print(','.join(out))\n")
        r = run_as(pi, attack, base, os.path.join(card, "usr/lib/tinyagent"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "rename base", "pi may rename its own home's entries, nothing else"
        with open(card + exec_start, "rb") as f, open(binary, "rb") as g:
            assert f.read() == g.read(), "what systemd would run is still the agent"
        path = ""
        for part in exec_start.strip("/").split("/")[:-1]:
            path += "/" + part
            st = os.lstat(card + path)
            assert st.st_uid == 0 and st.st_mode & 0o022 == 0, path
    finally:
        subprocess.run(["rm", "-rf", card], check=False)


def provision_card(card, pi):
    """A fake card provisioned with the host agent, its pi being the throwaway user."""
    sys_path = os.path.join(REPO, "tests", "provision")
    import sys
    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    import provisioning
    provisioning.make_fake_rootfs(card)
    with open(os.path.join(card, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/bash\npi:x:%d:%d:,,,:/home/pi:/bin/bash\n" % (pi.pw_uid, pi.pw_gid))
    inputs = os.path.join(card, "..", os.path.basename(card) + "-in")
    os.makedirs(inputs)
    with open(os.path.join(inputs, "plain.json"), "w") as f:
        json.dump(provisioning.CONFIG, f)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", os.path.join(inputs, "ca.key"), "-out", os.path.join(inputs, "ca.pem"),
                    "-subj", "/CN=t", "-days", "2"], check=True, capture_output=True)
    args = ["--rootfs", card, "--password-stdin", "--config", os.path.join(inputs, "plain.json"),
            "--cacert", os.path.join(inputs, "ca.pem"), "--smartmeter", os.path.join(REPO, "samples", "SmartMeter"),
            "--agent", provisioning.HOST_AGENT]
    result = provisioning.run_provision(args)
    subprocess.run(["rm", "-rf", inputs], check=False)
    assert result.returncode == 0, result.stderr.decode()
    for rel in ("home", "home/pi"):  # a real card: /home root's, /home/pi pi's
        os.chmod(os.path.join(card, rel), 0o755)
    os.chown(os.path.join(card, "home/pi"), pi.pw_uid, pi.pw_gid)
    return provisioning.HOST_AGENT


# ---- item 5: links and FIFOs in folders another user can write --------------------------

def test_a_link_at_a_process_log_is_not_followed_when_the_process_restarts(root, make_user, agents, etc_marker):
    """Before: logs/NAME.log was opened create/append following links and handed to the
    restarted process: with logs/ pi's, a link to /etc/X made root create /etc/X. Now the
    log is opened with O_NOFOLLOW; the process still restarts (its output refused). And an
    old card's logs/ is made root's at start, so pi plants nothing more there."""
    pi = make_user()
    make_tree(root, pi)
    os.chown(os.path.join(root, "logs"), pi.pw_uid, pi.pw_gid)  # an old card's logs/
    marker = etc_marker
    log = os.path.join(root, "logs", "ocr.log")
    r = run_as(pi, "import os,sys; os.symlink(sys.argv[1], sys.argv[2])", marker, log)
    assert r.returncode == 0, r.stderr
    agent = agents(FAST).start()
    assert "%s/logs: uid %d" % (root, pi.pw_uid) in agent.log(), "a warning at start, not fatal"
    st = os.stat(os.path.join(root, "logs"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, pi.pw_gid, 0o750), "made root's"
    again = run_as(pi, "import os,sys; os.symlink(sys.argv[1], sys.argv[2])", marker, log + ".2")
    assert again.returncode != 0 and "PermissionError" in again.stderr, again
    sample = agent.start_sample("ocr", user=pi.pw_uid)
    wait_for(lambda: (agent.process("ocr") or {}).get("verified"), what="the verified sample")
    os.killpg(sample.pid, signal.SIGKILL)
    sample.wait()
    restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != sample.pid and p["state"] == "running" else None)(
        agent.process("ocr")), timeout=15, what="the restart")
    assert not os.path.exists(marker)
    assert harness.uid_of(restarted["pid"]) == pi.pw_uid
    assert os.readlink(log) == marker, "the link itself is left alone"
    assert "ocr: logs/ocr.log is a symbolic link (not followed)" in agent.log()
    # Beside it: a plain log is written, root:app group 0640, readable by the app user.
    os.unlink(log)
    os.kill(restarted["pid"], signal.SIGKILL)
    # The file is created, then given its group on the descriptor: wait for the group.
    wait_for(lambda: os.path.isfile(log) and os.stat(log).st_gid == pi.pw_gid, timeout=15,
             what="a fresh ocr.log of the app group")
    st = os.stat(log)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, pi.pw_gid, 0o640)


def test_a_file_the_app_user_left_in_an_old_logs_folder_is_never_made_roots(root, make_user, agents):
    """With logs/ pi's, pi wrote logs/zzz.log holding a manifest that runs a command as
    root, heartbeated as zzz, and the agent made the file root's 0640 (its contents pi's);
    renamed into SmartMeter/ (pi owned both folders) it passed for root's own manifest. Now
    a log another user made stays that user's, and logs/ is made root's at start, so
    nothing is renamed out of it."""
    pi = make_user()
    make_tree(root, pi)
    os.chown(os.path.join(root, "logs"), pi.pw_uid, pi.pw_gid)
    planted = os.path.join(root, "logs", "zzz.log")
    manifest = json.dumps({"processes": [{"name": "blessed", "user": "root", "run_command": "id > /tmp/ta-pwned"}]})
    assert run_as(pi, "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", planted, manifest).returncode == 0
    agent = agents(dict(FAST, root_processes=["blessed"])).start()
    sample = agent.start_sample("zzz", user=pi.pw_uid)
    wait_for(lambda: (agent.process("zzz") or {}).get("verified"), what="the verified zzz")
    os.killpg(sample.pid, signal.SIGKILL)
    sample.wait()
    wait_for(lambda: (lambda p: p and p["pid"] != sample.pid and p["state"] == "running")(agent.process("zzz")),
             timeout=15, what="zzz restarted with its output in logs/zzz.log")
    assert os.stat(planted).st_uid == pi.pw_uid, "pi's file stays pi's"
    moved = run_as(pi, "import os,sys; os.rename(sys.argv[1], sys.argv[2])", planted,
                   os.path.join(root, "SmartMeter", "tinyagent.json"))
    assert moved.returncode != 0 and "PermissionError" in moved.stderr, moved
    assert not os.path.exists("/tmp/ta-pwned")


def test_config_encrypt_into_a_users_folder_never_writes_through_a_planted_link(tmp_path, make_user, etc_marker):
    """Before: `config encrypt --out` unlinked OUT.new and then opened it with O_CREAT, a
    window in which a user who can write the folder plants a link and root creates or
    truncates the file it names. Now OUT.new is created with O_EXCL in the opened folder:
    a racing link makes it fail, never followed."""
    user = make_user()
    folder = tempfile.mkdtemp(prefix="ta-out-")
    os.chmod(folder, 0o755)
    os.chown(folder, user.pw_uid, user.pw_gid)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"xmpp_client": {"client_jid": "a@b.c", "client_password": "p",
                                                 "cpanel_jid": "p@b.c", "rpi_unique_id": "x"}}))
    out = os.path.join(folder, "config_file.bin")
    marker = etc_marker
    racer = subprocess.Popen([PYTHON, "-c", "import os,sys\nwhile True:\n    try: os.symlink(sys.argv[1], sys.argv[2])\n"
                              "    except OSError: pass\n", marker, out + ".new"], user=user.pw_uid, group=user.pw_gid)
    try:
        for _ in range(150):
            subprocess.run([BINARY, "config", "encrypt", "--in", str(plain), "--out", out], capture_output=True)
            assert not os.path.exists(marker)
    finally:
        racer.kill()
        racer.wait()
        subprocess.run(["rm", "-rf", folder], check=False)
    # Beside it: without the racer the file is written, root's 0600.
    clean = tmp_path / "clean"
    clean.mkdir()
    r = subprocess.run([BINARY, "config", "encrypt", "--in", str(plain), "--out", str(clean / "c.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.stat(clean / "c.bin").st_mode & 0o777 == 0o600


def test_a_fifo_or_link_at_the_apps_manifest_neither_blocks_nor_is_read(root, make_user, agents):
    """Before: SmartMeter/tinyagent.json (the app user's folder) was opened following
    links and blocking: a FIFO there hung the agent at start (no READY, no status), a link
    made root read any file. Now it is opened O_NOFOLLOW|O_NONBLOCK and fstat-checked."""
    pi = make_user()
    make_tree(root, pi)
    manifest = os.path.join(root, "SmartMeter", "tinyagent.json")
    assert run_as(pi, "import os,sys; os.mkfifo(sys.argv[1])", manifest).returncode == 0
    agent = agents(FAST).start()  # waits for the status socket to answer
    assert "tinyagent.json: is a FIFO, not a regular file; ignored" in agent.log()
    agent.stop()
    os.unlink(manifest)
    assert run_as(pi, "import os,sys; os.symlink('/etc/shadow', sys.argv[1])", manifest).returncode == 0
    agent = agents(FAST).start()
    assert "tinyagent.json: is a symbolic link (not followed); ignored" in agent.log()
    # Beside it: the app's own manifest is read.
    os.unlink(manifest)
    with open(manifest, "w") as f:
        json.dump({"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py"}]}, f)
    agent.stop()
    before = len(agent.log())
    agent = agents(FAST).start()
    assert "tinyagent.json" not in agent.log()[before:]


# ---- item 9: status and logs for the app user's group -----------------------------------

def test_status_is_for_root_and_the_app_group_and_nobody_else(root, make_user, agents):
    """Before: agent.sock was 0600, so pi got "Permission denied" from `tinyagent status`.
    Now the app user reads the status (SO_PEERCRED checked) and a stranger is refused."""
    pi = make_user()
    stranger = make_user()
    make_tree(root, pi)
    agent = agents(FAST).start()
    cli = [BINARY, "status", "--root", root, "--json"]
    mine = subprocess.run(cli, user=pi.pw_uid, group=pi.pw_gid, capture_output=True, text=True)
    assert mine.returncode == 0, mine.stderr
    assert json.loads(mine.stdout)["pid"] == agent.proc.pid
    theirs = subprocess.run(cli, user=stranger.pw_uid, group=stranger.pw_gid, capture_output=True, text=True)
    assert theirs.returncode == 77 and "permission denied" in theirs.stderr.lower(), theirs
    st = os.stat(os.path.join(root, "wdog", "agent.sock"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, pi.pw_gid, 0o660)


def test_the_agents_log_is_readable_by_the_app_group_only(root, make_user, agents):
    """Before: logs/tinyagent.log was 0644, update URLs (tokens) readable by every user.
    Now it is root:app group 0640 in a 0750 logs/."""
    pi = make_user()
    stranger = make_user()
    make_tree(root, pi)
    agents(FAST).start()
    code = "import sys; print(len(open(sys.argv[1]).read()))"
    path = os.path.join(root, "logs", "tinyagent.log")
    assert run_as(pi, code, path).returncode == 0
    assert run_as(stranger, code, path).returncode != 0
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, pi.pw_gid, 0o640)


# ---- item 10: the capabilities a child keeps --------------------------------------------

def capabilities(pid):
    with open("/proc/%d/status" % pid) as f:
        return {k: int(v, 16) for k, v in (l.split(":\t") for l in f if l.startswith("Cap"))}


def test_a_process_the_agent_starts_as_the_app_user_has_no_capabilities(root, make_user, agents, tmp_path):
    """The agent runs behind the unit's bounding set (setpriv, as systemd would); what it
    restarts as the app user has no effective, permitted, inheritable or ambient
    capability, and a bounding set no larger than an ordinary process of that user's."""
    pi = make_user()
    make_tree(root, pi)
    with open(os.path.join(REPO, "buildroot", "overlay", "lib", "systemd", "system", "tinyagent.service")) as f:
        caps = [l.split("=", 1)[1].split() for l in f if l.startswith("CapabilityBoundingSet=")][0]
    wrapper = tmp_path / "agent"
    wrapper.write_text("#!/bin/sh\nexec setpriv --no-new-privs --bounding-set=-all,%s -- %s \"$@\"\n"
                       % (",".join("+" + c[4:].lower() for c in caps), BINARY))
    wrapper.chmod(0o755)
    harness_binary = harness.BINARY
    harness.BINARY = str(wrapper)
    try:
        agent = agents(FAST).start()
    finally:
        harness.BINARY = harness_binary
    sample = agent.start_sample("capcheck", user=pi.pw_uid)
    wait_for(lambda: (agent.process("capcheck") or {}).get("verified"), what="the verified sample")
    os.killpg(sample.pid, signal.SIGKILL)
    sample.wait()
    child = wait_for(lambda: (lambda p: p["pid"] if p and p["pid"] != sample.pid and p["state"] == "running" else None)(
        agent.process("capcheck")), timeout=15, what="the restart")
    ordinary = subprocess.Popen(["sleep", "30"], user=pi.pw_uid, group=pi.pw_gid)
    try:
        mine, theirs = capabilities(child), capabilities(ordinary.pid)
    finally:
        ordinary.kill()
        ordinary.wait()
    assert harness.uid_of(child) == pi.pw_uid
    for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert mine[key] == 0 == theirs[key], key
    assert mine["CapBnd"] & ~theirs["CapBnd"] == 0
    assert mine["CapBnd"] == capabilities(agent.proc.pid)["CapBnd"], "the unit's set, nothing more"
