"""The control channel end to end: the Embedded agent logs in to a real
prosody on loopback (STARTTLS, certificate from the test CA pinned in
certs/cacert.pem) and answers a panel stand-in (slixmpp)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BINARY, FAST, NotifySocket, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "xmpp"))
from panel import Panel  # noqa: E402
from pki import make_pki  # noqa: E402
from prosody import Prosody, ensure_installed, free_port  # noqa: E402
from stall import StallListener  # noqa: E402

DEVICE_ID = "meter-0001"
STREAM_HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 b"xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def server(pki, tmp_path):
    ensure_installed()
    p = Prosody(str(tmp_path / "server"), tls="starttls", cert=pki.server_cert, key=pki.server_key)
    for user in ("device", "panel", "stranger"):
        p.register(user, user + "-secret")
    p.start()
    yield p
    p.close()


def configure(agent, port, pki, ca=None, host="127.0.0.1"):
    """cfg/config_file.bin (encrypted by the agent's own CLI) and the CA."""
    os.makedirs(os.path.join(agent.root, "certs"), exist_ok=True)
    shutil.copy(ca or pki.ca_cert, os.path.join(agent.root, "certs", "cacert.pem"))
    plain = os.path.join(agent.root, "plain.json")
    with open(plain, "w") as f:
        json.dump({"xmpp_client": {"client_jid": "device@localhost", "client_password": "device-secret",
                                   "cpanel_jid": "panel@localhost", "rpi_unique_id": DEVICE_ID,
                                   "host": host, "port": port}}, f)
    r = agent.cli("config", "encrypt", "--in", plain, "--out", os.path.join(agent.root, "cfg", "config_file.bin"))
    assert r.returncode == 0, r.stderr
    os.unlink(plain)


def panel_for(server, pki, user="panel"):
    return Panel("%s@localhost" % user, user + "-secret", "127.0.0.1", server.port, pki.ca_cert)


def online(agent, timeout=10):
    wait_for(lambda: agent.status()["xmpp"] == "online", timeout=timeout, what="the agent online")


def test_status_round_trip_through_prosody(agents, server, pki):
    agent = agents(FAST)
    configure(agent, server.port, pki)
    agent.start()
    online(agent)
    agent.start_sample("reader", "--version", "1.0.3")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    with panel_for(server, pki) as panel:
        panel.send("device@localhost", {"command": "status", "command_no": 11})
        answer = panel.wait_reply(timeout=10)
    assert answer["command_no"] == 11 and answer["from"] == DEVICE_ID
    assert answer["success"] is True and answer["remarks"] == ""
    status = answer["status"]
    assert status["agent_version"] and status["xmpp"] == "online" and status["free_bytes"] > 0
    (p,) = status["processes"]
    assert (p["name"], p["version"], p["state"]) == ("reader", "1.0.3", "running")


def test_the_panel_may_subscribe_and_reads_a_status_line_kept_current(agents, server, pki):
    agent = agents(FAST)
    configure(agent, server.port, pki)
    agent.start()
    online(agent)
    with panel_for(server, pki) as panel:
        panel.subscribe("device@localhost")
        first = panel.wait_presence(timeout=10, predicate=lambda p: p["from"].startswith("device@localhost") and p["status"])
        assert first["status"].startswith("tinyagent ") and "processes 0/0 up" in first["status"]
        assert "no update in progress" in first["status"]
        agent.start_sample("reader")
        panel.wait_presence(timeout=10, predicate=lambda p: "processes 1/1 up" in p["status"])
    with panel_for(server, pki, "stranger") as stranger:
        stranger.subscribe("device@localhost")
        time.sleep(1.5)
        assert not [p for p in stranger.presences if p["from"].startswith("device@") and p["status"]]
    assert "presence subscription from stranger@localhost" in agent.log()


def test_a_message_from_another_jid_gets_no_reply_and_has_no_effect(agents, server, pki):
    agent = agents(FAST)
    configure(agent, server.port, pki)
    agent.start()
    online(agent)
    agent.start_sample("reader")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    with panel_for(server, pki, "stranger") as stranger:
        stranger.send("device@localhost", {"command": "restart_process", "command_no": 5, "name": "reader"})
        time.sleep(2)
        assert stranger.replies == []
    assert agent.process("reader")["restarts"] == 0
    assert "message from stranger@localhost" in agent.log() and "ignored" in agent.log()


def test_the_same_command_no_twice_is_executed_once_and_answered_twice_alike(agents, server, pki):
    agent = agents(dict(FAST, heartbeat_timeout_ms=10000))
    configure(agent, server.port, pki)
    agent.start()
    online(agent)
    agent.start_sample("reader")
    wait_for(lambda: agent.process("reader"), what="the sample to be known")
    command = {"command": "restart_process", "command_no": 21, "name": "reader"}
    with panel_for(server, pki) as panel:
        panel.send("device@localhost", command)
        first = panel.wait_reply(timeout=10)
        panel.send("device@localhost", command)
        second = panel.wait_reply(timeout=10)
    assert first["success"] is True and first["command_no"] == 21
    assert second == first
    time.sleep(1)
    assert agent.process("reader")["restarts"] == 1, "executed once"
    assert "command 21 seen before" in agent.log()


def test_the_agent_reconnects_after_prosody_is_killed_and_answers(agents, server, pki):
    # A lost session's first retry is spread over reconnect_spread_ms (60 s
    # by default, for a fleet); one device need not wait.
    agent = agents(dict(FAST, reconnect_spread_ms=1000))
    configure(agent, server.port, pki)
    agent.start()
    online(agent)
    server.kill()
    wait_for(lambda: agent.status()["xmpp"] != "online", timeout=10, what="the link to notice")
    server.start()
    online(agent, timeout=20)
    with panel_for(server, pki) as panel:
        panel.send("device@localhost", {"command": "status", "command_no": 31})
        answer = panel.wait_reply(timeout=10)
    assert answer["command_no"] == 31 and answer["success"] is True


def test_a_server_certificate_from_another_ca_is_refused_and_the_log_says_why(agents, server, pki):
    agent = agents(FAST)
    configure(agent, server.port, pki, ca=pki.rogue_ca_cert)
    agent.start()
    wait_for(lambda: "xmpp: offline" in agent.log(), timeout=10, what="the failed login")
    time.sleep(1)
    assert agent.status()["xmpp"] != "online"
    log = agent.log().lower()
    assert "certificate" in log or "verify" in log, agent.log()
    assert "authenticated as device@localhost" not in server.log_tail(200).lower()


def test_only_the_pinned_ca_is_trusted_not_the_system_store(agents, server, pki, monkeypatch):
    # The server's CA stands in the "system store" (OpenSSL's default verify
    # paths) while certs/cacert.pem holds another CA: no login.
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_cert)
    monkeypatch.setenv("SSL_CERT_DIR", os.path.dirname(pki.ca_cert))
    agent = agents(FAST)
    configure(agent, server.port, pki, ca=pki.rogue_ca_cert)
    agent.start()
    wait_for(lambda: "server certificate not trusted" in agent.log(), timeout=10, what="the refusal")
    assert agent.status()["xmpp"] != "online"
    assert "authenticated as device@localhost" not in server.log_tail(200).lower()


@pytest.fixture(scope="module")
def without_set_cafile():
    """Environment for an agent whose libstrophe lacks xmpp_conn_set_cafile and the
    certificate-failure handler (Buster's 0.9.2): hide_symbols.c preloaded, and the
    file its hidden look-ups are written to."""
    folder = tempfile.mkdtemp(prefix="tinyagent-hide-")
    os.chmod(folder, 0o755)  # the link may run as another user (pytest's tmp_path is 0700)
    library = os.path.join(folder, "hide_symbols.so")
    # Any C compiler: the Swift toolchain's clang is one (on PATH under make).
    compiler = shutil.which("cc") or shutil.which("clang")
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", library,
                    os.path.join(os.path.dirname(__file__), "hide_symbols.c"), "-ldl"], check=True)
    yield {"LD_PRELOAD": library, "HIDE_SYMBOLS_LOG": os.path.join(folder, "hidden.log")}
    shutil.rmtree(folder)


def hidden_lookups(env):
    with open(env["HIDE_SYMBOLS_LOG"]) as f:
        return set(f.read().split())


@pytest.mark.parametrize("pinned", ["the server's CA", "another CA"])
def test_without_xmpp_conn_set_cafile_only_the_pinned_ca_is_trusted(agents, server, pki, without_set_cafile,
                                                                    monkeypatch, pinned):
    """Buster's path: the CA is pinned through OpenSSL's default verify paths alone."""
    with open(without_set_cafile["HIDE_SYMBOLS_LOG"], "w"):
        pass
    os.chmod(without_set_cafile["HIDE_SYMBOLS_LOG"], 0o666)
    # The other CA stands in the "system store": only the pin may decide.
    other = pki.rogue_ca_cert if pinned == "the server's CA" else pki.ca_cert
    monkeypatch.setenv("SSL_CERT_FILE", other)
    monkeypatch.setenv("SSL_CERT_DIR", os.path.dirname(other))
    agent = agents(FAST, env=without_set_cafile)
    configure(agent, server.port, pki, ca=pki.ca_cert if pinned == "the server's CA" else pki.rogue_ca_cert)
    agent.start()
    if pinned == "the server's CA":
        online(agent)
    else:
        wait_for(lambda: "xmpp: offline" in agent.log(), timeout=10, what="the failed login")
        assert agent.status()["xmpp"] != "online"
        assert "authenticated as device@localhost" not in server.log_tail(200).lower()
    assert hidden_lookups(without_set_cafile) == {"xmpp_conn_set_cafile"}, "the fallback path was taken"


@pytest.mark.parametrize("kind", ["unreachable", "dns failure", "silent", "stalls mid-handshake"])
def test_heartbeats_and_watchdog_pings_go_on_while_the_server_is_unreachable_or_stalls(agents, pki, root, kind):
    notify = NotifySocket(os.path.join(root, "notify.sock"))
    try:
        agent = agents(FAST, notify=notify, watchdog_usec=400_000)
        host = "127.0.0.1"
        if kind in ("unreachable", "dns failure"):
            listener = None
            port = free_port()
            if kind == "dns failure":
                host = "no-such-host.invalid"
        else:
            # "silent" accepts and never answers; the other answers the
            # stream header and then goes quiet in the middle of the handshake.
            listener = StallListener(prefix=STREAM_HEADER if kind == "stalls mid-handshake" else b"")
            port = listener.port
        configure(agent, port, pki, host=host)
        agent.start()
        agent.start_sample("reader", interval=0.1)
        wait_for(lambda: agent.process("reader"), what="the sample to be known")
        start = time.monotonic()
        time.sleep(3)
        pings = [t for t, m in notify.collect() if m == "WATCHDOG=1" and t >= start]
        assert len(pings) >= 12, len(pings)
        assert max(b - a for a, b in zip(pings, pings[1:])) < 0.4
        p = agent.process("reader")
        assert p["state"] == "running" and p["since_heartbeat_s"] <= 1 and p["restarts"] == 0
        assert agent.status()["xmpp"] != "online"
        if listener:
            assert listener.accepted >= 1, "the link did try to connect"
            listener.close()
    finally:
        notify.close()


def test_an_answer_owed_across_an_agent_restart_is_delivered_when_the_link_is_back(agents, server, pki, root):
    # The state an agent leaves when it is killed after journaling an
    # answer and before the link took it.
    owed = {"command_no": 41, "from": DEVICE_ID, "success": True, "remarks": ""}
    os.makedirs(os.path.join(root, "wdog"), exist_ok=True)
    # Root's 0600 file, as the agent writes it (any other is not trusted: tests/security).
    with open(os.open(os.path.join(root, "wdog", "commands.json"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        json.dump({"format": 1, "answers": [{"command_no": 41, "answer": json.dumps(owed), "delivered": False}]}, f)
    agent = agents(FAST)
    configure(agent, server.port, pki)
    with panel_for(server, pki) as panel:
        agent.start()
        answer = panel.wait_reply(timeout=15)
        assert answer == owed
        journal = wait_for(lambda: (lambda j: j if j["answers"][0]["delivered"] else None)(
            json.load(open(os.path.join(root, "wdog", "commands.json")))), what="the journal to record delivery")
        assert len(journal["answers"]) == 1
        # And once delivered it is not sent again by the next agent.
        agent.stop()
        again = agents(FAST)
        again.port = agent.port
        again.start()
        online(again)
        time.sleep(1.5)
        assert len(panel.replies) == 1


def test_a_missing_ca_file_is_said_plainly_at_start_and_as_the_links_cause(agents, server, pki):
    """Caught: only OpenSSL's "SSL_CTX_load_verify_locations() failed" and "TLS is not supported"."""
    agent = agents(FAST)
    configure(agent, server.port, pki)
    os.unlink(os.path.join(agent.root, "certs", "cacert.pem"))
    agent.start()
    wait_for(lambda: "xmpp: offline" in agent.log(), timeout=10, what="the failed login")
    log = agent.log()
    assert "XMPP: ./certs/cacert.pem is missing: the server's certificate cannot be verified" in log
    assert "xmpp: offline: TLS: no CA certificate to verify the server with: ./certs/cacert.pem is missing" in log
    assert agent.status()["xmpp"] != "online"
