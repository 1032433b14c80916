import signal

import pytest

from .fixtures import xmpp_installed, xmpp_pki, xmpp_server, no_leaked_threads  # noqa: F401

PER_TEST_LIMIT = 10  # seconds, set-up and tear-down included


@pytest.fixture(autouse=True)
def _time_limit():
    """A hang anywhere in a harness test becomes a failure after 10 s."""
    def expired(signum, frame):
        raise TimeoutError("test took longer than %d s" % PER_TEST_LIMIT)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, PER_TEST_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
