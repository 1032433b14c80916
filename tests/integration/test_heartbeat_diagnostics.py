"""Bad heartbeats say why and who; unknown fields are ignored, not fatal
(issue 13). Real datagrams from real sockets to the Embedded agent."""

import json
import os
import socket
import subprocess

from conftest import BINARY, PYTHON, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, os.pardir, os.pardir, "Fuzz", "corpus", "heartbeat", "seed-sample")


def seed_sample():
    """The seed's own sample heartbeat, byte for byte (it misses a comma after run_command)."""
    with open(SEED, "rb") as f:
        return f.read()


def beat(name, pid, **extra):
    fields = {"process_name": name, "pid": pid, "run_command": "", "version": {"major": 1, "minor": 0, "patch": 0}}
    fields.update(extra)
    return json.dumps(fields).encode()


class Sender:
    """A socket held open by this test process (pid os.getpid()), so the agent
    can find its owner in /proc while it logs."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.source = self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def close(self):
        self.sock.close()


def test_the_seeds_sample_is_refused_naming_the_sender_the_field_and_the_line_and_column(agents):
    """Caught: the log said only "not valid JSON" and a port number."""
    agent = agents().start()
    own = Sender(agent.port)
    own.send(seed_sample().replace(b'"pid":444', b'"pid":%d' % os.getpid()))
    line = wait_for(lambda: [l for l in agent.log().splitlines() if "dropped heartbeat" in l], what="the refusal")[0]
    assert 'from pid %d (uid 0): not valid JSON at 5:2: expected "," or "}" after field "run_command"' % os.getpid() in line

    # Verbatim, from another user: pid 444 is not the sender's, so the socket tables name it.
    script = ("import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
              "s.sendto(sys.stdin.buffer.read(), ('127.0.0.1', %d)); print(s.getsockname()[1], flush=True); time.sleep(3)"
              % agent.port)
    other = subprocess.Popen([PYTHON, "-c", script], user="nobody", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    other.stdin.write(seed_sample())
    other.stdin.close()
    port = int(other.stdout.readline())
    wait_for(lambda: "from port %d (uid 65534): not valid JSON at 5:2" % port in agent.log(), what="the second refusal")
    other.kill()
    other.wait()
    own.close()


def test_one_noisy_sender_does_not_hide_another_senders_mistake(agents):
    """Caught: one line per 10 s for all senders together, so a flood from one
    process hid every other process's broken heartbeat."""
    agent = agents().start()
    noisy, quiet = Sender(agent.port), Sender(agent.port)
    for _ in range(50):
        noisy.send(b"{not json")
    wait_for(lambda: agent.status()["heartbeats"]["dropped"] == 50, what="the flood to be counted")
    quiet.send(beat("ocr", "x"))
    wait_for(lambda: 'field of the wrong type at 1:' in agent.log(), what="the quiet sender's refusal")
    log = agent.log()
    assert log.count("from port %d (uid 0): not valid JSON" % noisy.source) == 1
    assert log.count("from port %d (uid 0): field of the wrong type" % quiet.source) == 1
    assert log.count("dropped heartbeat") == 2, "one line for the flood, one for the other sender"
    noisy.close()
    quiet.close()


def test_an_unknown_field_is_ignored_and_counted_but_a_duplicated_key_is_still_refused(agents):
    """Caught: a newer SmartMeter sending one more field was dropped, so its
    process was restarted as silent."""
    agent = agents().start()
    sender = Sender(agent.port)
    sender.send(beat("newer", os.getpid(), hostname="pi-17", version={"major": 1, "minor": 2, "patch": 0, "build": "x"}))
    wait_for(lambda: agent.process("newer"), what="the heartbeat with unknown fields to be accepted")
    assert agent.process("newer")["version"] == "1.2.0"
    heartbeats = agent.status()["heartbeats"]
    assert heartbeats["with_unknown_fields"] == 1 and heartbeats["dropped"] == 0
    text = agent.cli("status", "--root", agent.root)
    assert "1 with unknown fields (ignored)" in text.stdout

    sender.send(beat("twice", os.getpid())[:-1] + b', "pid": 7}')
    wait_for(lambda: 'duplicate field at 1:' in agent.log(), what="the duplicated key's refusal")
    assert agent.process("twice") is None
    sender.close()


def test_the_cli_refuses_a_name_the_agent_would_refuse(agents):
    agent = agents().start()
    for name in ("a/b", "..", "ocr reader", "n" * 65):
        r = subprocess.run([BINARY, "heartbeat", "--name", name, "--version", "1.0.0", "--port", str(agent.port)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 64, (name, r.stderr)
        assert "the agent refuses" in r.stderr.splitlines()[0]
    assert agent.status()["heartbeats"]["dropped"] == 0, "nothing was sent"
