"""pytest fixtures over the harness. In a conftest.py:

    from xmpp.fixtures import xmpp_installed, xmpp_pki, xmpp_server, no_leaked_threads  # noqa: F401
"""

import threading
import time

import pytest

from .pki import make_pki
from .prosody import Prosody, ensure_installed


@pytest.fixture(scope="session")
def xmpp_installed():
    """prosody and prosodyctl present (apt-get installs them on a fresh machine)."""
    ensure_installed()


@pytest.fixture(scope="session")
def xmpp_pki(tmp_path_factory):
    """Test CA, `localhost` server certificate, rogue CA and its own `localhost` certificate."""
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def xmpp_server(tmp_path, xmpp_pki, xmpp_installed):
    """A running prosody with STARTTLS and the test CA's certificate, on a free port."""
    server = Prosody(str(tmp_path / "xmpp"), tls="starttls",
                     cert=xmpp_pki.server_cert, key=xmpp_pki.server_key)
    with server:
        yield server


@pytest.fixture
def no_leaked_threads():
    """Fail the test if it leaves threads behind (client loops, listeners)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not extra, "threads left behind: %s" % [t.name for t in extra]
