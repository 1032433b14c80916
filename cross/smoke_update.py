#!/usr/bin/env python3
"""The Pi update path under qemu-user (called by cross/smoke.sh): a
`tinyagent-fetch update-worker` downloads a real zip and its signature over HTTPS
from the fault server (test CA pinned) and checks its SHA-256 with the
device's TLS (trimmed static mbedTLS); `tinyagent verify` hashes it with the
device's libgcrypt and checks the ECDSA P-256 signature with the same mbedTLS
(a good one accepted, one by another key refused); a fresh worker unpacks it with libzip, as the agent runs them.
A certificate from another CA and a zip-slip archive are refused. CA rotation's
probe: a `probe` worker opens a STARTTLS stream to a real XMPP server (a private
prosody on loopback, certificate from the test CA) trusting only the archive's
new CA: the test CA passes, another CA is refused.

    smoke_update.py QEMU_SYSROOT BINARY WORKDIR [QEMU [QEMU_ARG...]]

QEMU defaults to qemu-arm (the armhf binary); e.g. `qemu-aarch64 -cpu cortex-a53` for arm64.

Prints one line per case, "ok   - …" or "FAIL - …"; exit status 1 on a failure."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "https"))
from faultserver import FaultServer, load_pki_module  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import install_key, make_key, sign  # noqa: E402
from helper_user import helper_ids  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "xmpp"))
from prosody import Prosody, ensure_installed  # noqa: E402


def qemu():
    return sys.argv[4:] or ["qemu-arm"]


def acquire(sysroot, binary, url, sha, work, name, ca):
    """Runs a `download` worker as the agent does: the descriptors of a new archive file
    (WORK/NAME.zip), a new signature file (WORK/NAME.zip.sig) and the CA file."""
    fds = [os.open(os.path.join(work, name + ".zip"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600),
           os.open(os.path.join(work, name + ".zip.sig"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600),
           os.open(ca, os.O_RDONLY)]
    return run_worker(sysroot, binary, job("download", url, sha, url + ".sig"), fds)


def unpack(sysroot, binary, work, name):
    """Runs a fresh `unpack` worker on the acquired archive (read-only) and a new staging
    folder of the helper user's (WORK/NAME)."""
    uid, gid = helper_ids()
    staging = os.path.join(work, name)
    os.mkdir(staging, 0o700)
    os.chown(staging, uid, gid)
    fds = [os.open(os.path.join(work, name + ".zip"), os.O_RDONLY), os.open(staging, os.O_RDONLY | os.O_DIRECTORY)]
    return run_worker(sysroot, binary, job("unpack"), fds)


def probe(sysroot, binary, ca, server):
    """Runs a `probe` worker as CA rotation does: the new CA's descriptor (read-only), and
    one XMPP server to verify with it (STARTTLS, the certificate checked against its domain)."""
    target = {"host": server.host, "port": server.port, "xmpp_domain": server.domain}
    return run_worker(sysroot, binary, dict(job("probe"), targets=[target]), [os.open(ca, os.O_RDONLY)])


def run_worker(sysroot, binary, job, fds, timeout=120):
    """The worker's packets until it exits: [(event, packet)]. It is run as the agent runs
    it: `update-worker UID:GID` (it drops to the helper user), the job sent with `fds`."""
    uid, gid = helper_ids()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # The worker reads its channel on descriptor 3 (the shell moves it there).
    fetch = os.path.join(os.path.dirname(binary), "tinyagent-fetch")
    command = qemu() + ["-L", sysroot, fetch, "update-worker", "%d:%d" % (uid, gid)]
    proc = subprocess.Popen(["/bin/sh", "-c", 'exec "$@" 3<&%d' % theirs.fileno(), "sh"] + command,
                            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
    theirs.close()
    socket.send_fds(ours, [json.dumps(job).encode()], fds)
    for fd in fds:
        os.close(fd)
    ours.settimeout(timeout)
    packets = []
    try:
        while True:
            data = ours.recv(65536)
            if not data:
                break
            packets.append(json.loads(data))
    finally:
        ours.close()
        proc.wait(timeout=10)
    return packets


def verify(sysroot, binary, archive, root):
    """`tinyagent verify ARCHIVE --root ROOT` under qemu: (exit status, output)."""
    proc = subprocess.run(qemu() + ["-L", sysroot, binary, "verify", archive, "--root", root],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return proc.returncode, proc.stdout.decode(errors="replace").strip()


def job(kind, url="", sha=None, signature_url=""):
    return {"protocol": 1, "job": kind, "url": url, "sha256": sha, "signature_url": signature_url, "max_bytes": 100 << 20, "allow_http": False, "connect_ms": 10000,
            "idle_ms": 30000, "reserve_bytes": 0, "unpack_max_bytes": 100 << 20, "unpack_max_entries": 1000,
            "unpack_max_ratio": 100}


def main():
    sysroot, binary, work = sys.argv[1:4]
    files = os.path.join(work, "files")
    os.makedirs(files)
    pki = load_pki_module().make_pki(os.path.join(work, "pki"))
    zips = os.path.join(REPO, "tests", "update", "zips.py")
    subprocess.run([sys.executable, zips, "good", os.path.join(files, "good.zip"), "--process", "p1:1.2.3",
                    "--size", "3000000"], check=True)
    subprocess.run([sys.executable, zips, "zip-slip", os.path.join(files, "slip.zip")], check=True)
    with open(os.path.join(files, "good.zip"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    failures = 0

    def check(name, condition, detail):
        nonlocal failures
        print(("ok   - " if condition else "FAIL - ") + name + ("" if condition else ": %s" % (detail,)))
        failures += 0 if condition else 1

    keys = os.path.join(work, "keys")
    os.makedirs(keys)
    fleet, public = make_key(keys, "fleet")
    stranger, _ = make_key(keys, "stranger")
    sign(fleet, os.path.join(files, "good.zip"))
    device = os.path.join(work, "device")
    install_key(device, public)
    where = " under " + os.path.basename(qemu()[0])
    with FaultServer(root=files, pki=pki) as s:
        out = acquire(sysroot, binary, s.url("/chunked/good.zip"), digest, work, "good", pki.ca_cert)
        check("update-worker: HTTPS download (chunked) of the archive and its signature, sha256" + where,
              out and out[-1] == {"event": "done"} and os.path.getsize(os.path.join(work, "good.zip.sig")) > 0, out[-3:])
        status, text = verify(sysroot, binary, os.path.join(work, "good.zip"), device)
        check("verify: an ECDSA P-256 signature by the device's key is accepted (libgcrypt)" + where,
              status == 0 and "signed by fleet.pem" in text, (status, text))
        sign(stranger, os.path.join(work, "good.zip"))
        status, text = verify(sysroot, binary, os.path.join(work, "good.zip"), device)
        check("verify: a signature by another key is refused" + where,
              status == 65 and "does not match" in text, (status, text))
        out = unpack(sysroot, binary, work, "good")
        script = os.path.join(work, "good", "SmartMeter", "p1.py")
        check("update-worker: a fresh worker unpacks the checked archive" + where,
              out and out[-1] == {"event": "done"} and os.access(script, os.X_OK), out[-3:])
        out = acquire(sysroot, binary, s.url("/file/slip.zip"), None, work, "slip", pki.ca_cert)
        out = unpack(sysroot, binary, work, "slip") if out and out[-1] == {"event": "done"} else out
        check("update-worker: a zip-slip archive is refused",
              out and out[-1].get("event") == "failed" and "escapes the folder" in out[-1].get("remark", ""), out[-1:])
    ensure_installed()
    with Prosody(os.path.join(work, "xmpp"), tls="starttls", cert=pki.server_cert, key=pki.server_key) as xmpp:
        out = probe(sysroot, binary, pki.ca_cert, xmpp)
        check("probe: a new CA that verifies the XMPP server (prosody, STARTTLS) passes" + where,
              out and out[-1] == {"event": "done"}, out[-3:])
        out = probe(sysroot, binary, pki.rogue_ca_cert, xmpp)
        check("probe: a new CA that does not verify the XMPP server is refused" + where,
              out and out[-1].get("event") == "failed"
              and "does not verify the XMPP server" in out[-1].get("remark", ""), out[-1:])
    rogue = types.SimpleNamespace(server_cert=pki.rogue_server_cert, server_key=pki.rogue_server_key)
    with FaultServer(root=files, pki=rogue) as s:
        out = acquire(sysroot, binary, s.url("/file/good.zip"), None, work, "rogue", pki.ca_cert)
        check("update-worker: a certificate from another CA is refused",
              out and out[-1] == {"event": "failed", "remark": "download: certificate not trusted"}, out[-1:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
