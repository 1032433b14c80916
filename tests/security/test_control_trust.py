"""The control socket on the trust line (issue 13, "Local control"): changing the
agent's state is root's only, reading is root's and the app group's, and no
client — silent, flooding, or naming a file through a link — can stall the agent
or read what it may not. Each test attacks as a throwaway user or as the app user
and checks root's path beside it."""

import json
import os
import socket
import subprocess
import time

import pytest

from .conftest import FAST, PYTHON, harness, make_tree, run_as

BINARY = harness.BINARY
wait_for = harness.wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attacks need throwaway users: run as root")

CHANGING = ("stop", "start", "restart", "forget")


def cli(user, *args):
    """`tinyagent ARGS` as `user` (a pwd entry; its supplementary groups too)."""
    return subprocess.run([BINARY] + list(args), user=user.pw_uid, group=user.pw_gid,
                          extra_groups=os.getgrouplist(user.pw_name, user.pw_gid), capture_output=True, text=True, timeout=10)


def listed_agent(root, pi, agents):
    make_tree(root, pi)
    agent = agents(dict(FAST, run_as=pi.pw_name))
    with open(os.path.join(root, "SmartMeter", "tinyagent.json"), "w") as f:
        json.dump({"processes": [{"name": "ocr", "run_command": "%s meter_reader.py --name ocr --interval 0.2" % PYTHON}]}, f)
    agent.start()
    wait_for(lambda: (agent.process("ocr") or {}).get("state") == "running", what="ocr running")
    return agent


def test_only_root_changes_state_the_app_user_and_its_group_may_only_read(root, make_user, agents):
    """Before: the socket answered the status to anyone who could connect and had no
    other verb. Now each changing verb checks SO_PEERCRED for uid 0."""
    pi = make_user()
    member = make_user(groups=[pi.pw_name])
    stranger = make_user()
    agent = listed_agent(root, pi, agents)
    pid = agent.process("ocr")["pid"]
    for user in (pi, member):
        for verb in CHANGING:
            r = cli(user, verb, "ocr", "--root", root)
            assert r.returncode == 77 and r.stderr == "tinyagent: permission denied: %s is root's only (it changes the agent's state)\n" % verb, (user, verb, r)
        r = cli(user, "reload", "--root", root)
        assert r.returncode == 77 and "reload is root's only" in r.stderr, r
    for verb in CHANGING + ("reload", "status", "logs"):
        r = cli(stranger, *([verb, "ocr"] if verb in CHANGING + ("logs",) else [verb]), "--root", root)
        assert r.returncode == 77 and r.stderr.count("\n") == 1, (verb, r)
    assert agent.process("ocr")["pid"] == pid and agent.process("ocr")["state"] == "running", "nothing changed"
    for user in (pi, member):  # the app user, and a member of its group (usermod -aG)
        assert cli(user, "status", "--root", root).returncode == 0, user
        assert cli(user, "logs", "ocr", "--root", root).returncode == 0, user

    r = subprocess.run([BINARY, "stop", "ocr", "--root", root], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "ocr: stopped", r
    assert not harness.pid_alive(pid)


def test_a_raw_request_cannot_claim_to_be_root(root, make_user, agents):
    """What a client says about itself is not read: only the kernel's credentials."""
    pi = make_user()
    agent = listed_agent(root, pi, agents)
    code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            "s.sendall(b'{\"verb\":\"stop\",\"name\":\"ocr\",\"uid\":0}\\n'); print(s.recv(4096).decode())")
    r = run_as(pi, code, os.path.join(root, "wdog", "agent.sock"))
    assert '"code":"usage"' in r.stdout and 'unknown key \\"uid\\"' in r.stdout, r
    code = code.replace(',"uid":0', "")
    r = run_as(pi, code, os.path.join(root, "wdog", "agent.sock"))
    assert '"code":"permission"' in r.stdout, r
    assert agent.process("ocr")["state"] == "running"


def test_a_silent_or_flooding_app_user_client_does_not_stall_heartbeats(root, make_user, agents):
    """The agent's one thread serves heartbeats: a client that connects and sends
    nothing, or sends a megabyte, must not hold it (non-blocking reads, a 1 s
    deadline, 4096 bytes at most)."""
    pi = make_user()
    agent = listed_agent(root, pi, agents)
    sock = os.path.join(root, "wdog", "agent.sock")
    hold = ("import socket,sys,time; s=[socket.socket(socket.AF_UNIX) for _ in range(20)];"
            "[c.connect(sys.argv[1]) for c in s]; time.sleep(4)")
    flood = ("import socket,sys\n"
             "for _ in range(20):\n"
             "    s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
             "    try: s.sendall(b'x' * (1 << 20))\n"
             "    except OSError: pass\n")
    holders = subprocess.Popen([PYTHON, "-c", hold, sock], user=pi.pw_uid, group=pi.pw_gid)
    flooder = subprocess.Popen([PYTHON, "-c", flood, sock], user=pi.pw_uid, group=pi.pw_gid)
    began = time.monotonic()
    worst = 0
    while time.monotonic() - began < 3.5:
        r = subprocess.run([BINARY, "status", "--root", root, "--json"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            ocr = [p for p in json.loads(r.stdout)["processes"] if p["name"] == "ocr"][0]
            assert ocr["state"] == "running", ocr
            worst = max(worst, ocr["since_heartbeat_s"])
        time.sleep(0.2)
    flooder.wait(timeout=10)
    holders.wait(timeout=10)
    assert worst <= 1, "heartbeats were served all along"
    assert "no heartbeat" not in agent.log()
    wait_for(lambda: agent.status_or_none(), what="status served once they are gone")


def test_logs_never_follows_a_link_or_a_second_name_to_a_file_the_app_group_may_not_read(root, make_user, agents):
    """logs/ is root's, but the agent opens NAME.log as it opens everything there:
    no link followed, a regular file of root's with one name, and NAME a process
    name (no ../)."""
    pi = make_user()
    agent = listed_agent(root, pi, agents)
    secret = os.path.join(root, "cfg", "secret")
    with open(secret, "w") as f:
        f.write("root only\n")
    os.chmod(secret, 0o600)
    os.symlink(secret, os.path.join(root, "logs", "linked.log"))
    os.link(secret, os.path.join(root, "logs", "hard.log"))
    for name, why in (("linked", "symbolic link"), ("hard", "not the agent's own file")):
        r = cli(pi, "logs", name, "--root", root)
        assert r.returncode == 77 and why in r.stderr and "root only" not in r.stdout, (name, r)
    r = cli(pi, "logs", "../cfg/secret", "--root", root)
    assert r.returncode == 64 and "root only" not in r.stdout, r
    code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            "s.sendall(b'{\"verb\":\"logs\",\"name\":\"../cfg/secret\"}\\n'); print(s.recv(4096).decode())")
    r = run_as(pi, code, os.path.join(root, "wdog", "agent.sock"))
    assert "not a process name" in r.stdout, r
    r = cli(pi, "logs", "ocr", "--root", root)
    assert r.returncode == 0, r


# A TCP socket whose close waits: its send buffer is full, its peer never reads, and it lingers
# for 68 years. Passed (SCM_RIGHTS) to the agent's socket in argv[1], then held for 30 s.
LINGERING = r'''
import array, socket, struct, sys, time
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.create_connection(server.getsockname()); peer, _ = server.accept()
client.setblocking(False)
try:
    while True: client.send(b"x" * 65536)
except BlockingIOError:
    pass
client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 2**31 - 1))
passed = client
if sys.argv[2] == "nested":
    # The lingering socket queued, unread, inside a Unix socket that is what gets passed:
    # only its last close (the agent's) drops it, and nothing the agent can set first.
    passed, inner = socket.socketpair()
    inner.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [client.fileno()]))])
rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [passed.fileno()] * 3))]
if sys.argv[1].endswith("agent.sock"):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendmsg([b'{"verb":"status"}\n'], rights)
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendmsg([b'{"process_name":"x"}'], rights, 0, sys.argv[1])
# Our own copies go at once: the last close, the one that waits, must be the agent's
# (closed after it, ours would be, and this script would wait on itself).
client.close()
passed.close()
if sys.argv[1].endswith("agent.sock"):
    s.recv(65536)
print("passed", flush=True)
time.sleep(30)
'''


@pytest.mark.parametrize("target", ["agent.sock", "heartbeat.sock"])
@pytest.mark.parametrize("how", ["direct", "nested"])
def test_a_descriptor_the_app_user_passes_whose_close_would_wait_never_holds_the_loop(root, make_user, agents, target, how):
    """The kernel closes what a client passes where the receiver lets go of it: in the
    agent's one thread, which a lingering TCP socket with unsent data (or a FUSE file)
    held for as long as the client liked. Passed descriptors, and the connections that
    carried them, are closed by a thread of their own (Sources/CShims/closer.c): root's
    status is answered and heartbeats go on while the client holds on. `nested`: the
    lingering socket rides inside a passed Unix socket, out of reach of the reset
    (SO_LINGER 0) the agent gives a passed socket: only the thread keeps the loop free."""
    pi = make_user()
    agent = listed_agent(root, pi, agents)
    attacker = subprocess.Popen([PYTHON, "-c", LINGERING, os.path.join(root, "wdog", target), how], user=pi.pw_uid,
                                group=pi.pw_gid, stdout=subprocess.PIPE, text=True)
    try:
        assert attacker.stdout.readline() == "passed\n"
        for _ in range(3):
            r = subprocess.run([BINARY, "status", "--root", root, "--json"], capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, r
            ocr = [p for p in json.loads(r.stdout)["processes"] if p["name"] == "ocr"][0]
            assert ocr["state"] == "running" and ocr["since_heartbeat_s"] <= 1, ocr
            time.sleep(1)
        assert attacker.poll() is None, "the client still holds its end"
    finally:
        attacker.kill()
        attacker.wait()
    assert "no heartbeat" not in agent.log()


def test_the_app_user_holding_every_slot_does_not_lock_root_out(root, make_user, agents):
    """The control socket takes 8 clients at once; the app user kept 12 connections open
    (reconnecting when dropped) and root's status was refused as busy every time. Root's
    client now takes the place of the oldest that is not root's."""
    pi = make_user()
    listed_agent(root, pi, agents)
    hold = ("import socket,sys,time\n"
            "held = []\n"
            "end = time.monotonic() + 6\n"
            "while time.monotonic() < end:\n"
            "    held = [c for c in held if c.fileno() >= 0]\n"
            "    while len(held) < 12:\n"
            "        c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); held.append(c)\n"
            "    for c in held:\n"
            "        try:\n"
            "            c.recv(4096, socket.MSG_DONTWAIT)\n"
            "            c.close()\n"
            "        except BlockingIOError:\n"
            "            pass\n"
            "    time.sleep(0.05)\n")
    holder = subprocess.Popen([PYTHON, "-c", hold, os.path.join(root, "wdog", "agent.sock")], user=pi.pw_uid, group=pi.pw_gid)
    try:
        time.sleep(1)
        for _ in range(10):
            r = subprocess.run([BINARY, "status", "--root", root], capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, r
            time.sleep(0.2)
        assert holder.poll() is None, "it held the slots all along"
    finally:
        holder.kill()
        holder.wait()
