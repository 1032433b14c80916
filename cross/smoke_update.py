#!/usr/bin/env python3
"""The Pi update worker under qemu-user (called by cross/smoke.sh):
`tinyagent update-worker` downloads a real zip over HTTPS from the fault
server (test CA pinned), checks its SHA-256 and unpacks it with the
device's TLS (trimmed static mbedTLS) and libzip; a certificate from
another CA and a zip-slip archive are refused.

    smoke_update.py QEMU_SYSROOT BINARY WORKDIR [QEMU [QEMU_ARG...]]

QEMU defaults to qemu-arm (the armhf binary); e.g. `qemu-aarch64 -cpu cortex-a53` for arm64.

Prints one line per case, "ok   - …" or "FAIL - …"; exit status 1 on a failure."""

import hashlib
import json
import os
import pwd
import socket
import subprocess
import sys
import types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "https"))
from faultserver import FaultServer, load_pki_module  # noqa: E402


def helper_ids():
    """UID:GID the agent's helpers drop to: `tinyagent`, else `nobody`."""
    for name in ("tinyagent", "nobody"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    raise SystemExit("smoke_update.py: no tinyagent or nobody user")


def run_worker(sysroot, binary, job, work, name, ca, timeout=120):
    """The worker's packets until it exits: [(event, packet)]. It is run as the agent runs
    it: `update-worker UID:GID` (it drops to the helper user), the job sent with the
    descriptors of a new archive file, a new staging folder of the helper user's
    (`WORK/NAME`) and the CA file."""
    uid, gid = helper_ids()
    staging = os.path.join(work, name)
    os.mkdir(staging, 0o700)
    os.chown(staging, uid, gid)
    fds = [os.open(os.path.join(work, name + ".zip"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600),
           os.open(staging, os.O_RDONLY | os.O_DIRECTORY), os.open(ca, os.O_RDONLY)]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # The worker reads its channel on descriptor 3 (the shell moves it there).
    command = (sys.argv[4:] or ["qemu-arm"]) + ["-L", sysroot, binary, "update-worker", "%d:%d" % (uid, gid)]
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


def job(url, sha=None):
    return {"url": url, "sha256": sha, "max_bytes": 100 << 20, "allow_http": False, "connect_ms": 10000,
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
        print(("ok   - " if condition else "FAIL - ") + name + ("" if condition else ": %s" % detail))
        failures += 0 if condition else 1

    with FaultServer(root=files, pki=pki) as s:
        out = run_worker(sysroot, binary, job(s.url("/chunked/good.zip"), digest), work, "good", pki.ca_cert)
        script = os.path.join(work, "good", "SmartMeter", "p1.py")
        check("update-worker: HTTPS download (chunked), sha256 and unpack under " + os.path.basename((sys.argv[4:] or ["qemu-arm"])[0]),
              out and out[-1] == {"event": "done"} and os.access(script, os.X_OK), out[-3:])
        out = run_worker(sysroot, binary, job(s.url("/file/slip.zip")), work, "slip", pki.ca_cert)
        check("update-worker: a zip-slip archive is refused",
              out and out[-1].get("event") == "failed" and "escapes the folder" in out[-1].get("remark", ""), out[-1:])
    rogue = types.SimpleNamespace(server_cert=pki.rogue_server_cert, server_key=pki.rogue_server_key)
    with FaultServer(root=files, pki=rogue) as s:
        out = run_worker(sysroot, binary, job(s.url("/file/good.zip")), work, "rogue", pki.ca_cert)
        check("update-worker: a certificate from another CA is refused",
              out and out[-1] == {"event": "failed", "remark": "download: certificate not trusted"}, out[-1:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
