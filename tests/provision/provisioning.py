"""Shared pieces of the provisioning tests: a fake Raspbian root filesystem, the inputs
of buildroot/provision, running it, and a full listing of a tree to compare runs."""

import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROVISION = os.path.join(REPO, "buildroot", "provision")
OVERLAY = os.path.join(REPO, "buildroot", "overlay")
UNIT = os.path.join(OVERLAY, "lib", "systemd", "system", "tinyagent.service")
HOST_AGENT = os.environ.get("TINYAGENT_HOST_BIN",
                            os.path.join(REPO, ".build-embedded", "release", "tinyagent"))
BASE = "home/pi/technospurs"
PASSWORD = "Welcome 123$:x"  # a space, a '$' and a ':' on purpose
XMPP_PASSWORD = "xmpp-s3cret-abcd1234"
CONFIG = {"xmpp_client": {"client_jid": "altimeter_0001@im.example.net",
                          "client_password": XMPP_PASSWORD,
                          "cpanel_jid": "technospurs@im.example.net",
                          "rpi_unique_id": "mac-address"}}

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="provisioning sets owners: needs root")


@pytest.fixture(scope="session")
def host_agent():
    assert os.access(HOST_AGENT, os.X_OK), "no host tinyagent at %s: run `make embedded`" % HOST_AGENT
    return HOST_AGENT


def make_fake_rootfs(root, python="python3.7"):
    """The least a Raspbian root has for provisioning: root and pi (1000:1000), shadow
    (root:shadow 0640, pi with the seed's MD5 hash), a Python under usr/lib. No home/pi."""
    os.makedirs(os.path.join(root, "etc"))
    for d in ("usr/lib/" + python, "usr/lib/python2.7", "usr/bin"):
        os.makedirs(os.path.join(root, d))
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n",
        "etc/group": "root:x:0:\nshadow:x:42:\npi:x:1000:\n",
        "etc/shadow": "root:*:18000:0:99999:7:::\npi:$1$techno$mZJBmAVNmjRkg6ZaBYvAJ/:18000:0:99999:7:::\n",
    }
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    os.chown(os.path.join(root, "etc/shadow"), 0, 42)
    os.chmod(os.path.join(root, "etc/shadow"), 0o640)
    return root


@pytest.fixture
def inputs(tmp_path):
    """The operator's inputs: config, CA, SmartMeter code, libraries, Python packages."""
    d = tmp_path / "inputs"
    d.mkdir()
    (d / "plain.json").write_text(json.dumps(CONFIG))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
                    "-subj", "/CN=provision test CA", "-days", "30"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sm = d / "SmartMeter"
    shutil.copytree(os.path.join(REPO, "samples", "SmartMeter"), str(sm))
    (sm / "models").mkdir()
    (sm / "models" / "digits.txt").write_text("0123456789\n")
    (sm / "__pycache__").mkdir()
    (sm / "__pycache__" / "meter_reader.cpython-311.pyc").write_bytes(b"host bytecode")
    libs = d / "libs"
    libs.mkdir()
    (libs / "libexample.so.1.2.3").write_bytes(b"\x7fELF not really")
    os.symlink("libexample.so.1.2.3", str(libs / "libexample.so.1"))
    pkgs = d / "python"
    (pkgs / "meterlib").mkdir(parents=True)
    (pkgs / "meterlib" / "__init__.py").write_text("VALUE = 42\n")
    (pkgs / "meterlib-1.0.dist-info").mkdir()
    (pkgs / "meterlib-1.0.dist-info" / "METADATA").write_text("Name: meterlib\nVersion: 1.0\n")
    return {"dir": d, "config": str(d / "plain.json"), "cacert": str(d / "ca.pem"),
            "smartmeter": str(sm), "libs": str(libs), "python": str(pkgs)}


def provision_args(root, inputs, *extra, agent=HOST_AGENT, libs=True, python=True):
    """provision's arguments; the host agent as --agent unless a --deb is in `extra` or
    `agent` is None."""
    args = ["--rootfs", str(root), "--password-stdin", "--config", inputs["config"],
            "--cacert", inputs["cacert"], "--smartmeter", inputs["smartmeter"]]
    if agent and "--deb" not in extra:
        args += ["--agent", agent]
    if libs:
        args += ["--libs", inputs["libs"]]
    if python:
        args += ["--python-packages", inputs["python"]]
    return args + list(extra)


def run_provision(args, password=PASSWORD, env=None, timeout=300):
    full_env = dict(os.environ, TINYAGENT_HOST_BIN=HOST_AGENT)
    full_env.update(env or {})
    return subprocess.run([PROVISION] + args, input=(password + "\n").encode() if password is not None else b"",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, timeout=timeout)


def listing(root):
    """Every entry under root: type, mode, owner, size, mtime, ctime, and a content hash or
    link target. Two equal listings mean nothing was written, chmod-ed or chown-ed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + dirnames + filenames:
            path = os.path.join(dirpath, name) if name else dirpath
            if not name and dirpath != root:
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = ""
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                                st.st_mtime_ns, st.st_ctime_ns, what)
    return out
