"""Fixtures for the fleet tests: the integration harness's agents, a test CA,
prosody (tests/xmpp/). Shared helpers are in fleet_harness.py."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "xmpp"))
sys.path.insert(0, HERE)

from fleet_harness import agents, root  # noqa: E402,F401 - fixtures
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


