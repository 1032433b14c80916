"""What the link says when it cannot log in, which server it picks, and what
its first presence carries: the Embedded agent against a real prosody (or
nothing) on loopback."""

import re
import time

import pytest

from fleet_harness import FAST, configure, wait_for, xmpp_lines
from panel import Panel
from prosody import Prosody, free_port

# Short back-off windows, so that a few attempts fit in a few seconds.
SETTINGS = dict(FAST, reconnect_spread_ms=2000)


def online(agent, timeout=15):
    wait_for(lambda: agent.status()["xmpp"] == "online", timeout=timeout, what="the agent online")


def offline_lines(agent):
    return [line.split("xmpp: ", 1)[1] for line in xmpp_lines(agent) if "xmpp: offline:" in line]


def test_a_refused_connection_is_logged_once_then_summarised_when_the_server_comes(agents, pki, tmp_path):
    """Caught: every attempt logged `xmpp: offline: disconnected; next attempt in N ms`,
    the refusal nowhere."""
    port = free_port()
    agent = agents(SETTINGS)
    configure(agent, pki, ["127.0.0.1:%d" % port])
    agent.start()
    # Attempts at 0 s, ≤ 1 s and ≤ 3 s: at least three by 3.5 s.
    time.sleep(3.5)
    (line,) = offline_lines(agent)
    assert line.startswith("offline: connection refused by 127.0.0.1:%d; next attempt in " % port), line
    server = Prosody(str(tmp_path / "late"), port=port, tls="starttls", cert=pki.server_cert, key=pki.server_key)
    server.register("device", "device-secret")
    with server:
        online(agent, timeout=20)
        summary = [l for l in xmpp_lines(agent) if "online after" in l]
        assert len(summary) == 1, xmpp_lines(agent)
        n = int(re.search(r"online after (\d+) failures in ", summary[0]).group(1))
        assert n >= 3 and summary[0].endswith("connection refused by 127.0.0.1:%d ×%d" % (port, n)), summary[0]
        assert len(offline_lines(agent)) == 1


@pytest.mark.parametrize("kind", ["dns", "tls", "password"])
def test_each_cause_is_named_once_however_many_attempts_fail(agents, pki, prosody, kind):
    """Caught: a DNS failure, a certificate from another CA and a wrong password all
    read `offline: disconnected`, once per attempt."""
    agent = agents(SETTINGS)
    servers = ["127.0.0.1:%d" % prosody.port]
    if kind == "dns":
        configure(agent, pki, ["no-such-host.invalid:%d" % prosody.port])
        expected = "offline: DNS: cannot resolve no-such-host.invalid: "
    elif kind == "tls":
        configure(agent, pki, servers, ca=pki.rogue_ca_cert)
        expected = "offline: TLS: server certificate not trusted (CA file "
    else:
        configure(agent, pki, servers, password="wrong")
        expected = "offline: authentication failed for device@localhost; next attempt in "
    agent.start()
    time.sleep(3.5)
    lines = offline_lines(agent)
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert agent.status()["xmpp"] != "online"


def test_a_server_shutting_down_is_named_and_the_retry_spread_over_the_window(agents, pki, prosody):
    """Caught: `offline: disconnected` and a retry within the first second after a
    deliberate shutdown, for every device at once."""
    agent = agents(dict(FAST, reconnect_spread_ms=4000))
    configure(agent, pki, ["127.0.0.1:%d" % prosody.port])
    agent.start()
    online(agent)
    prosody.stop()  # SIGTERM: prosody closes every session with <system-shutdown/>
    wait_for(lambda: offline_lines(agent), timeout=10, what="the offline line")
    line = offline_lines(agent)[0]  # (a retry before the restart adds "connection refused")
    m = re.match(r"offline: stream error: system-shutdown.*; next attempt in ([\d.]+) (ms|s)$", line)
    assert m, line
    delay = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    assert 0 <= delay < 4.0
    prosody.start()
    online(agent, timeout=15)


def test_the_servers_are_tried_in_turn_so_a_dead_one_is_passed_over(agents, pki, prosody):
    dead = free_port()
    agent = agents(SETTINGS)
    configure(agent, pki, ["127.0.0.1:%d" % dead, "127.0.0.1:%d" % prosody.port])
    agent.start()
    online(agent, timeout=10)
    lines = offline_lines(agent)
    assert all(l.startswith("offline: connection refused by 127.0.0.1:%d;" % dead) for l in lines) and len(lines) <= 1, lines


def test_the_first_presence_after_login_carries_the_status_line(agents, pki, prosody):
    """Caught: each login sent an empty presence first and the status line only after
    the agent's first event (often the link's own `online`)."""
    agent = agents(SETTINGS)
    configure(agent, pki, ["127.0.0.1:%d" % prosody.port])
    agent.start()
    online(agent)
    with Panel("panel@localhost", "panel-secret", "127.0.0.1", prosody.port, pki.ca_cert) as panel:
        panel.subscribe("device@localhost")
        panel.wait_presence(timeout=10, predicate=lambda p: p["from"].startswith("device@localhost") and p["status"])
        agent.stop()
        # The session's own unavailable presence (the subscription brings one for the bare JID).
        panel.wait_presence(timeout=10, predicate=lambda p: p["from"].startswith("device@localhost/")
                            and p["type"] == "unavailable")
        mark = len(panel.presences)
        # Not waiting on the control socket: a status request would wake the agent
        # before the link logs in, which a device in the field does not have.
        agent.start(wait=False)
        panel.wait_presence(timeout=15, predicate=lambda p: p in panel.presences[mark:]
                            and p["from"].startswith("device@localhost/"))
        time.sleep(2)
        after = [p for p in panel.presences[mark:] if p["from"].startswith("device@localhost")]
    assert after[0]["type"] == "available" and after[0]["status"].startswith("tinyagent "), after
    assert len(after) == 1, "one presence per login while nothing changes: %s" % after


def test_a_direct_tls_port_is_named_as_such_and_the_starttls_port_works(agents, pki, prosody, tmp_path):
    """Caught: a device configured with a direct-TLS port (5223-style) logged only
    `connection lost: Connection reset by peer`. Beside it, the STARTTLS port logs in."""
    with Prosody(str(tmp_path / "direct"), tls="direct", cert=pki.server_cert, key=pki.server_key) as direct:
        direct.register("device", "device-secret")
        agent = agents(SETTINGS)
        configure(agent, pki, ["127.0.0.1:%d" % direct.port])
        agent.start()
        wait_for(lambda: offline_lines(agent), timeout=10, what="the first offline line")
        line = offline_lines(agent)[0]
        assert ("127.0.0.1:%d ended the connection (Connection reset by peer) before the XMPP stream began: "
                "a direct-TLS port (like 5223)? The agent starts TLS inside the stream (STARTTLS, usually port 5222)"
                % direct.port) in line, line
        agent.stop()
    agent = agents(SETTINGS)  # the same root: its log goes on
    configure(agent, pki, ["127.0.0.1:%d" % prosody.port])
    before = len(offline_lines(agent))
    agent.start()
    online(agent)
    assert len(offline_lines(agent)) == before
