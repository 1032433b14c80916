"""The manifest's trust line (issue 13): SmartMeter/tinyagent.json is the app
user's file, so nothing in it may make the root agent run a process as root
(unless root's own settings name it in root_processes) or outside
SmartMeter/. Each attack is made as a throwaway app user against the Embedded
binary, with the legitimate path beside it."""

import json
import os
import signal

from .conftest import FAST, PYTHON, harness, make_tree, run_as

wait_for = harness.wait_for
uid_of = harness.uid_of


def write_as(user, path, processes):
    """The app user writes its manifest (its own file in its own folder)."""
    text = json.dumps({"processes": processes})
    r = run_as(user, "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, text)
    assert r.returncode == 0, r.stderr


def reader(root, name):
    return 'echo "cwd=$(pwd)"; exec %s %s/SmartMeter/meter_reader.py --name %s --interval 0.2' % (PYTHON, root, name)


def running(agent, name):
    p = agent.process(name)
    return p if p and p["state"] == "running" and p["pid"] else None


def test_the_app_users_manifest_cannot_make_root_run_its_command_as_root_nor_as_another_account(root, make_user, agents):
    """The manifest is the app user's file: listing a name in root_processes
    is not enough for `user: root` (the app user would choose the command root
    runs; it did, before), and another account needs root's process_users.
    The same manifest written by root starts the root process."""
    pi = make_user()
    alice = make_user()
    meter = make_user()
    make_tree(root, pi)
    settings = dict(FAST, root_processes=["blessed"], process_users=[meter.pw_name])
    agent = agents(settings)
    manifest = os.path.join(root, "SmartMeter", "tinyagent.json")
    processes = [
        {"name": "evil", "run_command": reader(root, "evil"), "user": "root"},
        {"name": "blessed", "run_command": reader(root, "blessed"), "user": "root"},
        {"name": "borrowed", "run_command": reader(root, "borrowed"), "user": alice.pw_name},
        {"name": "metered", "run_command": reader(root, "metered"), "user": meter.pw_name},
        {"name": "plain", "run_command": reader(root, "plain")},
    ]
    write_as(pi, manifest, processes)
    agent.start()
    plain = wait_for(lambda: running(agent, "plain"), what="the app's own process")
    metered = wait_for(lambda: running(agent, "metered"), what="the process as the account root's settings allow")
    assert uid_of(plain["pid"]) == pi.pw_uid
    assert uid_of(metered["pid"]) == meter.pw_uid
    log = agent.log()
    assert ('process evil: user "root" is root, and root\'s settings do not list evil in root_processes; not started'
            in log)
    assert ('process blessed: user "root" is root, and the manifest is not root\'s (owned by root, not group- or '
            'other-writable): the app user could have written it; not started' in log)
    assert ('process borrowed: user "%s" is not the app user, and root\'s settings do not list it in process_users; '
            'not started' % alice.pw_name in log)
    for name in ("evil", "blessed", "borrowed"):
        assert agent.process(name) is None
        assert not os.path.exists(os.path.join(root, "logs", name + ".log")), name + " never started"
    agent.stop()

    # Root's own manifest (root's file, 0644, in the app's folder): root chose
    # the command, so the name root_processes lists runs as root.
    os.unlink(manifest)
    with open(manifest, "w") as f:
        json.dump({"processes": processes}, f)
    os.chmod(manifest, 0o644)
    agent = agents(settings).start()
    blessed = wait_for(lambda: running(agent, "blessed"), what="the process root's settings and root's manifest allow as root")
    assert uid_of(blessed["pid"]) == 0
    assert agent.process("evil") is None and agent.process("borrowed") is None


def test_a_manifest_cwd_cannot_leave_smartmeter_by_dotdot_or_by_a_symbolic_link(root, make_user, agents):
    pi = make_user()
    make_tree(root, pi)
    smartmeter = os.path.join(root, "SmartMeter")
    outside = os.path.join(root, "cfg")
    r = run_as(pi, "import os,sys; os.symlink(sys.argv[1], sys.argv[2] + '/out'); os.mkdir(sys.argv[2] + '/work')",
               outside, smartmeter)
    assert r.returncode == 0, r.stderr
    manifest = os.path.join(smartmeter, "tinyagent.json")
    # `..` is refused when the manifest is read: nothing in it starts.
    write_as(pi, manifest, [{"name": "up", "run_command": reader(root, "up"), "cwd": "../.."}])
    agent = agents(FAST).start()
    wait_for(lambda: 'process up, "cwd" at 1:' in agent.log(), what="the manifest refused")
    assert '"../.." is not a folder inside SmartMeter/' in agent.log()
    agent.stop()
    # A link to outside is not followed when the process is started; beside
    # it, a real folder inside SmartMeter/ is used.
    write_as(pi, manifest, [{"name": "linked", "run_command": reader(root, "linked"), "cwd": "out"},
                            {"name": "inside", "run_command": reader(root, "inside"), "cwd": "work"}])
    agent = agents(FAST).start()
    wait_for(lambda: running(agent, "inside"), what="the process in a folder inside SmartMeter/")
    wait_for(lambda: "linked: cannot start in SmartMeter/out: is a symbolic link (not followed)" in agent.log(),
             what="the link refused")
    with open(os.path.join(root, "logs", "inside.log")) as f:
        assert "cwd=%s/work" % smartmeter in f.read()
    assert not os.path.exists(os.path.join(root, "logs", "linked.log")), "never started"


def test_another_users_instance_of_a_name_cannot_keep_a_hung_process_alive_nor_take_its_place(root, make_user, agents):
    """A stranger runs its own `ocr` heartbeating the app's name: it is shown
    as a duplicate and ignored; the app's hung instance is still stopped and
    restarted (as the app user), and the stranger's process is never signalled."""
    pi = make_user()
    stranger = make_user()
    make_tree(root, pi)
    agent = agents(FAST)
    write_as(pi, os.path.join(root, "SmartMeter", "tinyagent.json"), [
        {"name": "ocr", "run_command": "exec %s %s/SmartMeter/meter_reader.py --name ocr --interval 0.2 --hang-after 2"
         % (PYTHON, root)}])
    agent.start()
    tracked = wait_for(lambda: running(agent, "ocr"), what="the app's ocr")["pid"]
    other = agent.start_sample("ocr", user=stranger.pw_uid, group=stranger.pw_gid)
    wait_for(lambda: agent.process("ocr")["duplicate"] == other.pid, what="the stranger's instance shown as duplicate")
    wait_for(lambda: "ocr (pid %d): no heartbeat for 1500 ms" % tracked in agent.log(), timeout=8,
             what="the hung instance noticed despite the stranger's heartbeats")
    restarted = wait_for(lambda: running(agent, "ocr") if running(agent, "ocr") and running(agent, "ocr")["pid"] != tracked
                         else None, what="restarted")
    assert uid_of(restarted["pid"]) == pi.pw_uid and restarted["pid"] != other.pid
    assert other.poll() is None, "the stranger's process is not signalled"


def test_the_apps_manifest_does_not_choose_the_command_another_users_process_is_restarted_with(root, make_user, agents):
    """A listed process is restarted with the manifest's command only when it
    runs as the uid the manifest runs it as: here a stranger's verified
    `ocr` holds the name, so its own command is what is run as the stranger,
    never the app user's manifest command."""
    pi = make_user()
    stranger = make_user()
    make_tree(root, pi)
    agent = agents(FAST)
    write_as(pi, os.path.join(root, "SmartMeter", "tinyagent.json"), [
        {"name": "ocr", "run_command": "echo MANIFEST-CMD; " + reader(root, "ocr")},
        {"name": "gauge", "run_command": "echo MANIFEST-CMD; " + reader(root, "gauge")}])
    agent.start()
    squatter = agent.start_sample("ocr", user=stranger.pw_uid, group=stranger.pw_gid)
    wait_for(lambda: (agent.process("ocr") or {}).get("pid") == squatter.pid, what="the stranger's ocr known")
    gauge = wait_for(lambda: running(agent, "gauge"), what="the app's gauge started from the manifest")
    squatter.kill()
    squatter.wait()
    def another_ocr():
        p = running(agent, "ocr")
        return p if p and p["pid"] != squatter.pid else None
    restarted = wait_for(another_ocr, timeout=8, what="the stranger's ocr restarted")
    assert uid_of(restarted["pid"]) == stranger.pw_uid
    with open(os.path.join(root, "logs", "ocr.log")) as f:
        assert "MANIFEST-CMD" not in f.read(), "the manifest's command was run as the stranger"
    # Beside it: the app's own listed process is restarted with the manifest's command.
    os.kill(gauge["pid"], 9)
    wait_for(lambda: open(os.path.join(root, "logs", "gauge.log")).read().count("MANIFEST-CMD") == 2,
             what="gauge restarted the manifest's way")


def environment_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(entry.split(b"=", 1) for entry in f.read().split(b"\0") if b"=" in entry)


def test_the_apps_manifest_does_not_set_what_roots_or_another_users_process_is_restarted_with(root, make_user, agents):
    """Like the command, the manifest's `env`, `cwd` and `restart` are taken only for a process
    that runs as the manifest's user: the app user listed root's `modem` (a name in
    root_processes, heartbeating as root) with LD_PRELOAD in its env, and root restarted it
    with that preload. Now root's and a stranger's processes are restarted their own way; the
    app's listed process beside them gets the manifest's variables."""
    pi = make_user()
    stranger = make_user()
    make_tree(root, pi)
    agent = agents(dict(FAST, root_processes=["modem"]))
    agent.start()
    modem = agent.start_sample("modem")
    job = agent.start_sample("job", user=stranger.pw_uid, group=stranger.pw_gid)
    for name, sample in (("modem", modem), ("job", job)):
        wait_for(lambda: (agent.process(name) or {}).get("pid") == sample.pid, what="%s known" % name)
    planted = {"LD_PRELOAD": "/nonexistent/planted.so", "TA_PLANTED": "1"}
    write_as(pi, os.path.join(root, "SmartMeter", "tinyagent.json"), [
        {"name": "modem", "run_command": reader(root, "modem"), "env": planted, "restart": "never"},
        {"name": "job", "run_command": reader(root, "job"), "env": planted},
        {"name": "gauge", "run_command": reader(root, "gauge"), "env": {"TA_PLANTED": "1"}}])
    os.kill(agent.proc.pid, signal.SIGHUP)
    gauge = wait_for(lambda: running(agent, "gauge"), what="the app's gauge started from the manifest")
    assert environment_of(gauge["pid"]).get(b"TA_PLANTED") == b"1", "the app's own process gets its variables"
    for name, sample, uid in (("modem", modem, 0), ("job", job, stranger.pw_uid)):
        sample.kill()
        sample.wait()
        restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != sample.pid else None)(running(agent, name)),
                             timeout=8, what="%s restarted (not under the manifest's restart: never)" % name)
        assert uid_of(restarted["pid"]) == uid
        environment = environment_of(restarted["pid"])
        assert b"TA_PLANTED" not in environment and b"LD_PRELOAD" not in environment, (name, environment)
