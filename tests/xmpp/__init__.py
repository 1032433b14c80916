"""Test harness for the XMPP side of tinyagent: a private prosody on loopback,
test certificates, a control-panel stand-in and stalling listeners.

Import it from any test with `tests/` on sys.path:

    sys.path.insert(0, os.path.join(REPO, "tests"))
    from xmpp import make_pki, Prosody, Panel, EchoDevice, StallListener

Debian packages: prosody (pulls lua5.4, lua-sec, lua-socket, lua-expat,
lua-filesystem, lua-bitop), openssl. PyPI: slixmpp (tests/python/requirements.txt).
See README.md beside this file.
"""

from .pki import Pki, CertKey, make_pki, make_ca, make_server_cert
from .prosody import Prosody, ProsodyError, ensure_installed, ensure_user, free_port
from .panel import XmppClient, Panel, EchoDevice, XmppError, send_once
from .stall import StallListener, HeaderStallListener, STREAM_HEADER_PREFIX

__all__ = [
    "Pki", "CertKey", "make_pki", "make_ca", "make_server_cert",
    "Prosody", "ProsodyError", "ensure_installed", "ensure_user", "free_port",
    "XmppClient", "Panel", "EchoDevice", "XmppError", "send_once",
    "StallListener", "HeaderStallListener", "STREAM_HEADER_PREFIX",
]
