"""Test certificates made with the `openssl` command line (Debian `openssl`).

    pki = make_pki(folder)          # ~0.1 s
    pki.ca_cert                     # test CA (PEM) - what the agent pins
    pki.server_cert, pki.server_key # `localhost`, signed by the test CA
    pki.rogue_ca_cert               # another CA ...
    pki.rogue_server_cert, pki.rogue_server_key  # ... and its own `localhost`

All keys are P-256 (prime256v1), unencrypted PEM. Server certificates carry
SAN DNS:localhost, IP:127.0.0.1, IP:::1, extendedKeyUsage serverAuth, and an
authority key identifier, so strict verifiers (OpenSSL 3, mbedTLS) accept them.

`make_ca` and `make_server_cert` are exported for other shapes (e.g. a
certificate for another name, to test hostname checks).
"""

import os
import secrets
import subprocess
from dataclasses import dataclass

__all__ = ["Pki", "CertKey", "make_pki", "make_ca", "make_server_cert"]

_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class CertKey:
    cert: str
    key: str


@dataclass(frozen=True)
class Pki:
    folder: str
    ca_cert: str
    ca_key: str
    server_cert: str
    server_key: str
    rogue_ca_cert: str
    rogue_ca_key: str
    rogue_server_cert: str
    rogue_server_key: str


def _openssl(*args, cwd=None):
    proc = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s"
                           % (" ".join(args[:2]), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def make_ca(folder, name="ca", common_name="tinyagent test CA", days=3650):
    """A self-signed CA: FOLDER/NAME.pem and FOLDER/NAME.key."""
    os.makedirs(folder, exist_ok=True)
    cert = os.path.join(folder, name + ".pem")
    key = os.path.join(folder, name + ".key")
    _openssl("req", "-x509", *_CURVE, "-keyout", key, "-out", cert,
             "-days", str(days), "-subj", "/CN=" + common_name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return CertKey(cert, key)


def make_server_cert(folder, ca, name="server", common_name="localhost",
                     dns=("localhost",), ips=("127.0.0.1", "::1"), days=825):
    """A server certificate signed by CA (a CertKey): FOLDER/NAME.pem, FOLDER/NAME.key.
    One `openssl req -x509 -CA` call (OpenSSL >= 3.0)."""
    os.makedirs(folder, exist_ok=True)
    cert = os.path.join(folder, name + ".pem")
    key = os.path.join(folder, name + ".key")
    san = ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])
    exts = ["basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth"]
    if san:
        exts.append("subjectAltName=" + san)
    args = ["req", "-x509", *_CURVE, "-keyout", key, "-out", cert,
            "-subj", "/CN=" + common_name, "-CA", ca.cert, "-CAkey", ca.key,
            "-set_serial", "0x" + secrets.token_hex(16), "-days", str(days)]
    for e in exts:
        args += ["-addext", e]
    _openssl(*args)
    return CertKey(cert, key)


def make_pki(folder):
    """Test CA + `localhost` server certificate, and a rogue CA + its own
    `localhost` server certificate, all in FOLDER (created if missing)."""
    folder = os.path.abspath(folder)
    ca = make_ca(folder, "ca", "tinyagent test CA")
    server = make_server_cert(folder, ca, "server")
    rogue_ca = make_ca(folder, "rogue-ca", "tinyagent rogue CA")
    rogue_server = make_server_cert(folder, rogue_ca, "rogue-server")
    return Pki(folder=folder, ca_cert=ca.cert, ca_key=ca.key,
               server_cert=server.cert, server_key=server.key,
               rogue_ca_cert=rogue_ca.cert, rogue_ca_key=rogue_ca.key,
               rogue_server_cert=rogue_server.cert, rogue_server_key=rogue_server.key)
