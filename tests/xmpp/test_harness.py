"""The harness tested against itself: two slixmpp clients through a real
prosody on loopback (the agent is not in the loop here)."""

import os
import subprocess
import threading
import time

import pytest

from .panel import EchoDevice, Panel, XmppClient, XmppError, send_once
from .prosody import Prosody
from .stall import HeaderStallListener, StallListener


def accounts(server, **users):
    return {name: (server.register(name, pw), pw) for name, pw in users.items()}


def client(cls, server, ca, jid_pw, **kw):
    jid, pw = jid_pw
    return cls(jid, pw, server.host, server.port, ca, **kw)


def test_pki(xmpp_pki):
    p = xmpp_pki
    for path in (p.ca_cert, p.server_cert, p.server_key, p.rogue_ca_cert,
                 p.rogue_server_cert, p.rogue_server_key):
        assert os.path.getsize(path) > 0
    verify = lambda ca, cert: subprocess.run(  # noqa: E731
        ["openssl", "verify", "-CAfile", ca, cert], capture_output=True).returncode
    assert verify(p.ca_cert, p.server_cert) == 0
    assert verify(p.rogue_ca_cert, p.rogue_server_cert) == 0
    assert verify(p.ca_cert, p.rogue_server_cert) != 0
    assert verify(p.rogue_ca_cert, p.server_cert) != 0
    text = subprocess.run(["openssl", "x509", "-in", p.server_cert, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "DNS:localhost" in text and "127.0.0.1" in text and "prime256v1" in text


def test_panel_device_round_trip(xmpp_server, xmpp_pki, no_leaked_threads):
    acc = accounts(xmpp_server, panel="panel-pw", device="device-pw")
    with client(EchoDevice, xmpp_server, xmpp_pki.ca_cert, acc["device"]) as device, \
            client(Panel, xmpp_server, xmpp_pki.ca_cert, acc["panel"]) as panel:
        t0 = time.monotonic()
        panel.send(device.jid, {"command": "status", "command_no": 1})
        reply = panel.wait_reply(5)
        elapsed = time.monotonic() - t0
        assert reply == {"echo": {"command": "status", "command_no": 1}, "from": device.jid}
        assert panel.messages[-1]["from"] == device.jid
        assert device.messages[0]["from"] == panel.jid
        # predicate selection, and a plain-text body is a message but not a reply
        panel.send(device.jid, {"command_no": 2})
        panel.send(device.jid, {"command_no": 3})
        device.send(panel.jid, "not json")
        assert panel.wait_reply(5, lambda r: r["echo"]["command_no"] == 3)["echo"]["command_no"] == 3
        assert panel.wait_reply(5)["echo"]["command_no"] == 2
        panel.wait_message(5, lambda m: m["body"] == "not json")
        panel.assert_no_reply(0.3)
        assert elapsed < 3, elapsed


def test_stranger_is_seen_as_another_sender(xmpp_server, xmpp_pki, no_leaked_threads):
    acc = accounts(xmpp_server, panel="p", device="d", stranger="s")
    seen = []
    with client(XmppClient, xmpp_server, xmpp_pki.ca_cert, acc["device"],
                on_message=lambda c, m: seen.append(m["from"])) as device, \
            client(Panel, xmpp_server, xmpp_pki.ca_cert, acc["panel"]) as panel:
        with panel.stranger(*acc["stranger"]) as stranger:
            stranger.send(device.jid, {"command": "status", "command_no": 7})
            device.wait_message(5, lambda m: m["from"] == stranger.jid)
        send_once(*acc["stranger"], device.jid, {"command_no": 8}, host=xmpp_server.host,
                  port=xmpp_server.port, ca_file=xmpp_pki.ca_cert)
        device.wait_message(5, lambda m: m["json"] == {"command_no": 8})
        assert seen == [stranger.jid, stranger.jid]
        panel.assert_no_reply(0.2)


def test_offline_recipient_bounces(xmpp_server, xmpp_pki, no_leaked_threads):
    acc = accounts(xmpp_server, panel="p", device="d")
    with client(Panel, xmpp_server, xmpp_pki.ca_cert, acc["panel"]) as panel:
        panel.send(acc["device"][0], {"command_no": 1})
        deadline = time.monotonic() + 5
        while not panel.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [e["condition"] for e in panel.errors] == ["service-unavailable"]
        assert panel.errors[0]["from"] == acc["device"][0]
        assert panel.replies == []


@pytest.mark.parametrize("case,tls", [("client-pins-rogue-ca", "starttls"),
                                      ("server-has-rogue-cert", "starttls"),
                                      ("server-has-rogue-cert", "direct")])
def test_wrong_ca_fails_promptly(case, tls, tmp_path, xmpp_pki, xmpp_installed,
                                 no_leaked_threads):
    p = xmpp_pki
    if case == "client-pins-rogue-ca":
        cert, key, ca = p.server_cert, p.server_key, p.rogue_ca_cert
    else:
        cert, key, ca = p.rogue_server_cert, p.rogue_server_key, p.ca_cert
    with Prosody(str(tmp_path / "xmpp"), tls=tls, cert=cert, key=key) as server:
        jid = server.register("panel", "pw")
        t0 = time.monotonic()
        with pytest.raises(XmppError, match="server certificate rejected: "
                                            "unable to get local issuer certificate"):
            Panel(jid, "pw", server.host, server.port, ca, tls=tls, timeout=5).start()
        assert time.monotonic() - t0 < 3
        # the right CA logs in on the same server
        right = p.rogue_ca_cert if case == "server-has-rogue-cert" else p.ca_cert
        with Panel(jid, "pw", server.host, server.port, right, tls=tls) as ok:
            assert ok.connected


def test_wrong_password_fails_promptly(xmpp_server, xmpp_pki, no_leaked_threads):
    jid = xmpp_server.register("panel", "pw")
    with pytest.raises(XmppError, match="authentication failed"):
        Panel(jid, "wrong", xmpp_server.host, xmpp_server.port, xmpp_pki.ca_cert).start()


@pytest.mark.parametrize("tls", ["direct", "none"])
def test_other_transports(tls, tmp_path, xmpp_pki, xmpp_installed, no_leaked_threads):
    with Prosody(str(tmp_path / "xmpp"), tls=tls, cert=xmpp_pki.server_cert,
                 key=xmpp_pki.server_key) as server:
        acc = accounts(server, panel="p", device="d")
        with client(EchoDevice, server, xmpp_pki.ca_cert, acc["device"], tls=tls) as device, \
                client(Panel, server, xmpp_pki.ca_cert, acc["panel"], tls=tls) as panel:
            panel.send(device.jid, {"n": 1})
            assert panel.wait_reply(5)["echo"] == {"n": 1}
        # a client that wants STARTTLS against a plain server does not log in
        if tls == "none":
            with pytest.raises(XmppError, match="did not offer TLS"):
                Panel(acc["panel"][0], "p", server.host, server.port, xmpp_pki.ca_cert,
                      tls="starttls", timeout=3).start()


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_kill_and_restart(xmpp_server, xmpp_pki, no_leaked_threads):
    acc = accounts(xmpp_server, panel="p", device="d")
    panel = client(Panel, xmpp_server, xmpp_pki.ca_cert, acc["panel"]).start()
    try:
        with client(EchoDevice, xmpp_server, xmpp_pki.ca_cert, acc["device"]) as device:
            old_pid = xmpp_server.pid
            xmpp_server.kill()
            assert xmpp_server.pid is None
            assert wait_until(lambda: not device.connected and not panel.connected)
            assert device.disconnects == 1 and panel.disconnects == 1
            with pytest.raises(XmppError, match="connection failed"):
                panel.reconnect(timeout=2)
        xmpp_server.start()
        assert xmpp_server.pid != old_pid
        # accounts survived the SIGKILL; clients log in (again) and talk
        panel.reconnect()
        with client(EchoDevice, xmpp_server, xmpp_pki.ca_cert, acc["device"]) as device:
            # The device's first presence may reach prosody after the panel's message (two
            # connections, no order between them): a message to a bare JID with no available
            # resource is bounced, so it is sent again until the device has answered.
            reply = None
            for _ in range(5):
                panel.send(device.jid, {"after": "restart"})
                try:
                    reply = panel.wait_reply(2)
                    break
                except TimeoutError:
                    continue
            assert reply and reply["echo"] == {"after": "restart"}
    finally:
        panel.stop()
    xmpp_server.restart()
    with client(Panel, xmpp_server, xmpp_pki.ca_cert, acc["panel"]) as panel:
        assert panel.connected


def test_stall_listener_accepts_and_never_answers(xmpp_pki, no_leaked_threads):
    with StallListener() as s:
        t0 = time.monotonic()
        with pytest.raises(XmppError, match="no login within"):
            Panel("panel@localhost", "pw", s.host, s.port, xmpp_pki.ca_cert, timeout=1).start()
        assert 1 <= time.monotonic() - t0 < 3
        assert s.accepted == 1
        assert b"<stream:stream" in s.wait_received(lambda d: b"stream" in d)
        # a raw socket sees no byte at all
        import socket
        with socket.create_connection((s.host, s.port), timeout=2) as raw:
            raw.settimeout(0.3)
            with pytest.raises(socket.timeout):
                raw.recv(1)
        assert s.wait_accepted(2) == 2


def test_header_stall_listener(xmpp_pki, no_leaked_threads):
    with HeaderStallListener() as s:
        with pytest.raises(XmppError, match="no login within"):
            Panel("panel@localhost", "pw", s.host, s.port, xmpp_pki.ca_cert, timeout=1).start()
        assert s.accepted == 1
        import socket
        with socket.create_connection((s.host, s.port), timeout=2) as raw:
            raw.sendall(b"<?xml version='1.0'?><stream:stream to='localhost'>")
            raw.settimeout(2)
            got = raw.recv(4096)
            assert got.startswith(b"<?xml") and b"<stream:stream" in got
            raw.settimeout(0.3)
            with pytest.raises(socket.timeout):
                raw.recv(1)
        s.drop_all()


def test_repeated_clients_shut_down_cleanly(xmpp_server, xmpp_pki, no_leaked_threads):
    jid = xmpp_server.register("panel", "pw")
    before = threading.active_count()
    for _ in range(5):
        p = Panel(jid, "pw", xmpp_server.host, xmpp_server.port, xmpp_pki.ca_cert)
        p.start()
        p.stop()
        p.stop()  # idempotent
    failed = Panel(jid, "bad", xmpp_server.host, xmpp_server.port, xmpp_pki.ca_cert)
    with pytest.raises(XmppError):
        failed.start()
    failed.stop()
    assert threading.active_count() == before
