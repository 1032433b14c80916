"""Update signing as the README tells a fleet owner to do it, with the real
openssl: a P-256 key pair, a detached `openssl dgst -sha256 -sign`
signature, and the public key installed as the device's root wants it
(certs/update-keys/NAME.pem, root's, 0644, in a root 0755 folder)."""

import os
import subprocess


def make_key(folder, name):
    """(private key path, public key path) of a new P-256 key pair in `folder`."""
    secret = os.path.join(folder, name + ".key")
    public = os.path.join(folder, name + ".pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", secret], check=True)
    subprocess.run(["openssl", "ec", "-in", secret, "-pubout", "-out", public], check=True,
                   stderr=subprocess.DEVNULL)
    return secret, public


def sign(secret, archive, out=None):
    """Signs `archive` into `out` (default: ARCHIVE.sig); returns its path."""
    out = out or archive + ".sig"
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", secret, "-out", out, archive], check=True)
    return out


def install_key(root, public, name="fleet.pem"):
    """Puts a public key where the agent under `root` reads update keys."""
    keys = os.path.join(root, "certs", "update-keys")
    os.makedirs(keys, mode=0o755, exist_ok=True)
    os.chmod(keys, 0o755)
    path = os.path.join(keys, name)
    with open(public, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chmod(path, 0o644)
    return path
