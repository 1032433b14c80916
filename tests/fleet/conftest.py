"""Fixtures for the fleet tests: the integration harness's agents (loaded
under its own name), the XMPP harness (tests/xmpp/), a test CA, prosody."""

import importlib.util
import json
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "xmpp"))
sys.path.insert(0, HERE)

# The agent harness lives in tests/integration/conftest.py; load it under its
# own name (two modules called `conftest` would shadow each other).
_spec = importlib.util.spec_from_file_location("integration_harness", os.path.join(TESTS, "integration", "conftest.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

root = harness.root
agents = harness.agents
FAST = harness.FAST
wait_for = harness.wait_for

from pki import make_pki  # noqa: E402
from prosody import Prosody, ensure_installed  # noqa: E402


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def prosody(pki, tmp_path):
    """A prosody (STARTTLS, the test CA's certificate) with `device` and `panel`."""
    ensure_installed()
    p = Prosody(str(tmp_path / "server"), tls="starttls", cert=pki.server_cert, key=pki.server_key)
    for user in ("device", "panel"):
        p.register(user, user + "-secret")
    p.start()
    yield p
    p.close()


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
