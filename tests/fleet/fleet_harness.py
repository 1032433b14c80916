"""What the fleet tests share besides fixtures: the integration harness
(loaded under its own name), and helpers for an agent's config and log."""

import importlib.util
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

# The agent harness lives in tests/integration/conftest.py; load it under its
# own name (two modules called `conftest` would shadow each other).
_spec = importlib.util.spec_from_file_location("integration_harness", os.path.join(TESTS, "integration", "conftest.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

root = harness.root
agents = harness.agents
FAST = harness.FAST
wait_for = harness.wait_for


def configure(agent, pki, servers, password="device-secret", ca=None, jid="device@localhost"):
    """cfg/config_file.bin (encrypted by the agent's own CLI) naming SERVERS
    ("host:port" strings), and certs/cacert.pem."""
    os.makedirs(os.path.join(agent.root, "certs"), exist_ok=True)
    shutil.copy(ca or pki.ca_cert, os.path.join(agent.root, "certs", "cacert.pem"))
    plain = os.path.join(agent.root, "plain.json")
    with open(plain, "w") as f:
        json.dump({"xmpp_client": {"client_jid": jid, "client_password": password,
                                   "cpanel_jid": "panel@localhost", "rpi_unique_id": "meter-fleet",
                                   "servers": servers}}, f)
    r = agent.cli("config", "encrypt", "--in", plain, "--out", os.path.join(agent.root, "cfg", "config_file.bin"))
    assert r.returncode == 0, r.stderr
    os.unlink(plain)


def xmpp_lines(agent):
    """The agent's log lines from the link about being offline or back."""
    return [line for line in agent.log().splitlines() if "xmpp: offline:" in line or "xmpp: online after" in line
            or "xmpp: still offline" in line]
