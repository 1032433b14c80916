"""The three programs (ARCHITECTURE.md): the agent starts tinyagent-link and
tinyagent-fetch, and every first packet it sends them carries the protocol version
they must share; a helper from another install refuses to work, in one line, and the
agent says why it exited."""

import json
import os
import shutil
import socket
import subprocess

from conftest import BINARY, FAST, wait_for
from test_xmpp import configure, pki, server  # noqa: F401 (fixtures)

FOLDER = os.path.dirname(BINARY)
PROTOCOL_MISMATCH = 76


def first_packet(program, role, packet):
    """Runs `program role` with a packet channel on descriptor 3, sends `packet`
    first, as the agent does: (exit status, stderr). As nobody: a helper started as
    root without the user to drop to refuses to run at all."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = theirs.fileno()
    proc = subprocess.Popen([os.path.join(FOLDER, program), role], close_fds=False, stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, user=65534, group=65534, extra_groups=[], preexec_fn=lambda: os.dup2(fd, 3))  # Python's own descriptors are close-on-exec
    theirs.close()
    ours.send(json.dumps(packet).encode())
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        ours.close()
    return proc.returncode, err.decode()


def test_a_helper_given_another_protocol_version_exits_with_one_line_and_does_nothing():
    for program, role, packet in (
            ("tinyagent-fetch", "update-worker", {"protocol": 99, "job": "probe", "url": ""}),
            ("tinyagent-link", "xmpp-link", {"protocol": 99, "jid": "device@localhost"}),
            ("tinyagent-fetch", "update-worker", {"job": "probe", "url": ""})):
        status, err = first_packet(program, role, packet)
        assert status == PROTOCOL_MISMATCH, (program, status, err)
        lines = err.strip().splitlines()
        # The helper speaks for itself: its own name, once, not the agent's.
        assert len(lines) == 1 and lines[0].startswith(program + ": the agent speaks protocol "), err
    # The version they share is accepted: an empty probe job verifies nothing and is done.
    status, err = first_packet("tinyagent-fetch", "update-worker", {
        "protocol": 1, "job": "probe", "url": "", "sha256": None, "signature_url": "", "max_bytes": 1000,
        "allow_http": False, "connect_ms": 1000, "idle_ms": 1000, "reserve_bytes": 0, "unpack_max_bytes": 1000,
        "unpack_max_entries": 10, "unpack_max_ratio": 10, "targets": []})
    assert status != PROTOCOL_MISMATCH, err


def test_a_helper_program_run_by_hand_says_what_it_is():
    for program in ("tinyagent-link", "tinyagent-fetch"):
        r = subprocess.run([os.path.join(FOLDER, program)], capture_output=True, text=True, timeout=10)
        assert r.returncode == 64 and r.stderr.startswith(program + ": the agent's "), (program, r)
        assert "started by `tinyagent run`" in r.stderr and "tinyagent: " not in r.stderr, (program, r)


def test_the_agent_names_a_helper_from_another_install_when_it_exits(agents, server, pki, tmp_path):  # noqa: F811
    """A tinyagent-link that exits as a mismatched one does (an upgrade that replaced only
    the agent): the agent's log says so, rather than only a status number."""
    folder = tmp_path / "programs"
    folder.mkdir()
    os.chmod(str(folder), 0o755)
    for name in ("tinyagent", "tinyagent-fetch"):
        shutil.copy(os.path.join(FOLDER, name), str(folder / name))
    source = tmp_path / "old.c"
    source.write_text("int main(void) { return %d; }\n" % PROTOCOL_MISMATCH)
    subprocess.run(["cc", "-o", str(folder / "tinyagent-link"), str(source)], check=True)
    agent = agents(FAST, binary=str(folder / "tinyagent"))
    configure(agent, server.port, pki)
    agent.start()
    wait_for(lambda: "speaks another protocol version" in agent.log(), what="the agent's remark")
    assert "tinyagent-link speaks another protocol version than this agent" in agent.log()
