#!/usr/bin/env python3
"""bench/update.py: the software update's figures (issue 5) for BENCHMARKS.md.

    update.py --bin TINYAGENT --work DIR --out SECTION.md --rows ROWS.md

Called by bench/run.sh (SECTION.md becomes "Software update", ROWS.md goes into
the summary table); runs on its own too. Same files, same run, side by side:

1. download of a 50 MB archive over loopback HTTPS (tests/https/faultserver.py,
   certificate from a tests/xmpp/pki.py CA): the update worker vs `curl`;
2. unpacking the same archive: the update worker vs Info-ZIP `unzip`;
3. + 4. a whole update through XMPP (private prosody, panel stand-in, as in
   bench/xmpp.py): panel command to answer, and the agent's RSS (sampled every
   20 ms) against its idle RSS with the link up; the worker's peak RSS too.

About 30 s. Everything it starts is stopped at the end (also on SIGTERM).
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import zipfile

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "tests", "https"))
from faultserver import FaultServer  # noqa: E402
from xmpp import DEVICE, PANEL, Agent, Failed, children, cmdline, kib, wait_for  # noqa: E402  (bench/xmpp.py)
from panel import Panel  # noqa: E402  (tests/xmpp, on the path through bench/xmpp.py)
from pki import make_pki  # noqa: E402
from prosody import Prosody, ensure_installed  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import install_key, make_key, sign  # noqa: E402
from helper_user import helper_ids  # noqa: E402

ZIPS = os.path.join(REPO, "tests", "update", "zips.py")
MB = 1000 * 1000
# run_as: SmartMeter code never runs as root (DESIGN.md §3); nobody, as in the demo.
SETTINGS = {"heartbeat_timeout_ms": 30000, "download_max_bytes": 209715200, "unpack_max_bytes": 209715200,
            "run_as": "nobody"}
# The job the agent would send with SETTINGS (other fields: the agent's defaults).
JOB = {"protocol": 1, "sha256": None, "max_bytes": 209715200, "allow_http": False, "connect_ms": 30000, "idle_ms": 60000,
       "reserve_bytes": 16 << 20, "unpack_max_bytes": 209715200, "unpack_max_entries": 10000, "unpack_max_ratio": 100}


with open("/proc/cpuinfo") as _f:
    SHA_NI = " sha_ni" in _f.read()


def say(text):
    print("bench: update: " + text, file=sys.stderr, flush=True)


def make_zip(path, version, size):
    subprocess.run([sys.executable, ZIPS, "good", path, "--process", "p1:" + version, "--interval", "0.2"]
                   + (["--size", str(size)] if size else []), check=True)
    return path


# Peak RSS through GNU time: ru_maxrss from wait4() on a child of this Python would count
# this process's own peak (the kernel carries the pre-exec memory's high-water mark over exec).
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RUNNING = []  # what spawn() started and reap() has not reaped (killed by Bench.close)


def spawn(cmd, work, **kwargs):
    out = os.path.join(work, "time.out")
    prefix = [TIME, "-f", "%M", "-o", out] if TIME else []
    proc = subprocess.Popen(prefix + cmd, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    proc.t0, proc.rss_file = time.monotonic(), out
    RUNNING.append(proc)
    return proc


def reap(proc):
    """wait4: (wall seconds since the start, exit status, CPU seconds (user + sys), peak RSS KiB or None)."""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - proc.t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    RUNNING.remove(proc)
    rss = None
    if TIME:
        with open(proc.rss_file) as f:
            rss = int(f.read().split()[-1])
    return seconds, proc.returncode, usage.ru_utime + usage.ru_stime, rss


def timed(cmd, work):
    seconds, code, cpu, rss = reap(spawn(cmd, work))
    if code != 0:
        raise Failed("%s exited with %d" % (" ".join(cmd), code))
    return seconds, cpu, rss


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(top):
    """fsync every file and folder under TOP (what the worker does as it unpacks)."""
    for folder, _, files in os.walk(top):
        for name in files + ["."]:
            fsync_path(os.path.join(folder, name))


def worker(binary, job, work, archive, staging, ca):
    """An update's two workers as the agent runs them (dropping to the helper user, a job on
    a SEQPACKET pair): the acquiring one with the descriptors of a new archive file, a new
    signature file and the CA file, then a fresh one unpacking the archive (read-only) into a
    new staging folder of the helper user's. (seconds, CPU seconds, peak RSS KiB of either,
    seconds to the download's last progress packet)."""
    uid, gid = helper_ids()
    fds = [os.open(archive, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600),
           os.open(archive + ".sig", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), os.open(ca, os.O_RDONLY)]
    acquired = run_job(binary, dict(job, job="download", signature_url=job["url"] + ".sig"), work, fds)
    os.mkdir(staging, 0o700)
    os.chown(staging, uid, gid)
    fds = [os.open(archive, os.O_RDONLY), os.open(staging, os.O_RDONLY | os.O_DIRECTORY)]
    unpacked = run_job(binary, dict(job, job="unpack", url="", signature_url=""), work, fds)
    return (acquired[0] + unpacked[0], acquired[1] + unpacked[1], max(acquired[2] or 0, unpacked[2] or 0) or None,
            acquired[3])


def run_job(binary, job, work, fds):
    """One `tinyagent-fetch update-worker` (its end of the pair on fd 3) given `job` and `fds`."""
    uid, gid = helper_ids()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = theirs.fileno()
    fetch = os.path.join(os.path.dirname(binary), "tinyagent-fetch")
    proc = spawn([fetch, "update-worker", "%d:%d" % (uid, gid)], work, close_fds=False,
                 preexec_fn=lambda: os.dup2(fd, 3))  # Python's own descriptors are close-on-exec
    theirs.close()
    socket.send_fds(ours, [json.dumps(job).encode()], fds)
    for d in fds:
        os.close(d)
    downloaded, end = None, None
    while end is None:
        packet = ours.recv(65536)
        event = json.loads(packet) if packet else {"event": "failed", "remark": "the worker closed the channel"}
        if event["event"] == "progress" and event["phase"] == "download" and event["done"] == event["total"]:
            downloaded = time.monotonic() - proc.t0
        elif event["event"] in ("done", "failed"):
            end = event
    ours.close()
    seconds, code, cpu, rss = reap(proc)
    if end["event"] != "done" or code != 0:
        raise Failed("the update worker: %s (exit %s)" % (end.get("remark", end["event"]), code))
    return seconds, cpu, rss, downloaded


def loadavg():
    with open("/proc/loadavg") as f:
        return ", ".join(f.read().split()[:3])


def med(values):
    return statistics.median(values)


def verdict(ok):
    return "met" if ok else "**MISSED**"


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.realpath(args.bin)
        self.work = os.path.abspath(args.work)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.agents, self.started = [], []
        self.server = self.panel = self.https = None

    def archives(self):
        self.pki = make_pki(os.path.join(self.work, "pki"))
        self.files = os.path.join(self.work, "files")
        os.makedirs(self.files, exist_ok=True)
        say("archives: 50 MB and 5 MB (tests/update/zips.py)")
        self.v1 = make_zip(os.path.join(self.work, "v1.zip"), "1.0.0", 0)
        self.big = make_zip(os.path.join(self.files, "v2-50MB.zip"), "1.0.1", 50 * MB)
        self.small = make_zip(os.path.join(self.files, "v3-5MB.zip"), "1.0.2", 5 * MB)
        # Signed as the README says; the device's key where `tinyagent verify --root` reads it.
        secret, self.public = make_key(self.work, "fleet")
        sign(secret, self.big)
        sign(secret, self.small)
        self.keyroot = os.path.join(self.work, "device")
        install_key(self.keyroot, self.public)
        self.https = FaultServer(root=self.files, pki=self.pki).start()

    # -- 1 + 2: the worker vs curl and unzip, interleaved --------------------------

    def tools(self):
        url = self.https.url("/file/" + os.path.basename(self.big))
        ca = self.pki.ca_cert
        t, c, m = self.t, self.c, self.m = {}, {}, {}  # wall s, CPU s, peak RSS KiB: lists per key

        def add(key, seconds, cpu=None, rss=None):
            t.setdefault(key, []).append(seconds)
            c.setdefault(key, []).append(cpu)
            m.setdefault(key, []).append(rss)

        scratch = os.path.join(self.work, "runs")
        os.makedirs(scratch, exist_ok=True)
        self.rss_floor = timed(["true"], scratch)[2]
        for i in range(self.args.runs):
            shutil.rmtree(scratch, ignore_errors=True)
            os.makedirs(scratch)
            job = dict(JOB, url=url)
            s, cpu, rss, dl = worker(self.bin, job, scratch, os.path.join(scratch, "update.zip"),
                                     os.path.join(scratch, "staging"), ca)
            # One run: the worker always downloads (it never reuses an archive), so the
            # split is at its last download progress packet.
            add("full", s, cpu, rss), add("dl_last", dl)
            add("download", dl), add("unpack", s - dl)
            out = os.path.join(scratch, "curl.zip")
            add("curl", *timed(["curl", "-s", "--cacert", ca, "-o", out, url], scratch))
            if os.path.getsize(out) != os.path.getsize(self.big):
                raise Failed("curl fetched %d bytes, not %d" % (os.path.getsize(out), os.path.getsize(self.big)))
            t0 = time.monotonic()
            fsync_path(out)
            add("curl_fsync", t["curl"][-1] + time.monotonic() - t0)
            dest = os.path.join(scratch, "unzip")
            add("unzip", *timed(["unzip", "-q", "-o", self.big, "SmartMeter/*", "-d", dest], scratch))
            t0 = time.monotonic()
            fsync_tree(dest)
            add("unzip_fsync", t["unzip"][-1] + time.monotonic() - t0)
            add("verify", *timed([self.bin, "verify", self.big, "--root", self.keyroot], scratch))
            add("openssl_verify", *timed(["openssl", "dgst", "-sha256", "-verify", self.public, "-signature",
                                          self.big + ".sig", self.big], scratch))
            say("run %d: worker download+unpack %.2f s, of which unpack %.2f s; curl %.2f s; unzip %.2f s"
                % (i + 1, t["full"][-1], t["unpack"][-1], t["curl"][-1], t["unzip"][-1]))
        shutil.rmtree(scratch, ignore_errors=True)

    # -- 3 + 4: whole updates through XMPP -----------------------------------------

    def xmpp(self):
        ensure_installed()
        say("prosody, panel stand-in, agent running p1 1.0.0 from SmartMeter/")
        self.server = Prosody(os.path.join(self.work, "xmpp"), tls="starttls",
                              cert=self.pki.server_cert, key=self.pki.server_key)
        for user in ("device", "panel"):
            self.server.register(user, user + "-secret")
        self.server.start()
        self.panel = Panel(PANEL, "panel-secret", "127.0.0.1", self.server.port, self.pki.ca_cert).start()
        agent = self.agent = Agent(self, "agent")
        with open(os.path.join(agent.root, "cfg", "agent.json"), "w") as f:
            json.dump(SETTINGS, f)
        with zipfile.ZipFile(self.v1) as z:
            for info in z.infolist():
                if info.filename.startswith("SmartMeter/"):
                    z.extract(info, agent.root)
                    os.chmod(os.path.join(agent.root, info.filename), (info.external_attr >> 16) & 0o777 or 0o755)
        agent.start()
        wait_for(agent.started, 10, "the agent's control socket")
        wait_for(lambda: (agent.status() or {}).get("xmpp") == "online", 15, "xmpp online", interval=0.1)
        env = dict(os.environ, TINYAGENT_HEARTBEAT_PORT=str(agent.port))
        self.started.append(subprocess.Popen([sys.executable, "p1.py"], cwd=os.path.join(agent.root, "SmartMeter"),
                                             env=env, start_new_session=True,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.updates = [self.update(10, self.big, "1.0.1"), self.update(11, self.small, "1.0.2")]

    def running(self, version):
        procs = (self.agent.status() or {}).get("processes", [])
        return [(p["name"], p["version"], p["state"]) for p in procs] == [("p1", version, "running")]

    def update(self, no, archive, version):
        agent, pid = self.agent, self.agent.pid
        previous = "1.0.0" if no == 10 else "1.0.1"
        wait_for(lambda: self.running(previous), 15, "p1 %s running" % previous, interval=0.1)
        time.sleep(self.args.settle)
        idle = kib(pid, "status", "VmRSS")
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # VmHWM := VmRSS: the peak of this update alone
        with open(archive, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        major, minor, patch = map(int, version.split("."))
        body = {"command": "smart_meter_update", "command_no": no, "sha256": digest,
                "url": self.https.url("/file/" + os.path.basename(archive)),
                "processes": [{"name": "p1", "version": {"major": major, "minor": minor, "patch": patch}}]}
        say("update %d: %s (%d bytes) -> p1 %s" % (no, os.path.basename(archive), os.path.getsize(archive), version))
        peak, wpeak, wseen, wgone, answer = idle, 0, None, None, None
        t0 = time.monotonic()
        self.panel.send(DEVICE, body)
        while answer is None:
            peak = max(peak, kib(pid, "status", "VmRSS") or 0)
            w = [c for c in children(pid) if b"update-worker" in cmdline(c)]
            if w:
                wseen = wseen or time.monotonic()
                try:
                    wpeak = max(wpeak, kib(w[0], "status", "VmHWM") or 0)
                except OSError:
                    pass  # it just ended
            elif wseen and not wgone:
                wgone = time.monotonic()
            try:
                answer = self.panel.wait_reply(0.02, lambda r: r.get("command_no") == no)
            except TimeoutError:
                if time.monotonic() - t0 > 90:
                    raise Failed("update %d: no answer within 90 s; agent log: %s" % (no, agent.tail()))
        elapsed = time.monotonic() - t0
        if not answer.get("success"):
            raise Failed("update %d failed: %s" % (no, answer.get("remarks")))
        hwm = kib(pid, "status", "VmHWM")
        r = dict(no=no, name=os.path.basename(archive), size=os.path.getsize(archive), seconds=elapsed, idle=idle,
                 peak=peak, hwm=hwm, worker_peak=wpeak, worker_s=(wgone or time.monotonic()) - (wseen or t0),
                 worker_at=(wseen or t0) - t0, above=max(peak, hwm) - idle)
        say("update %d: %.2f s; agent idle %d KiB, peak %d KiB (VmHWM %d), +%d KiB; worker peak %d KiB"
            % (no, elapsed, idle, peak, hwm, r["above"], wpeak))
        return r

    def close(self):
        for a in list(self.agents):
            try:
                a.stop()
            except Exception as e:  # noqa: BLE001 - go on stopping the rest
                say("stopping the agent: %s" % e)
        for p in list(RUNNING):  # a worker, curl or unzip cut short, with its `time`
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            RUNNING.remove(p)
        # p1 as started by the agent after an update (in its own session): by cwd, ours only.
        smart_meter = os.path.join(self.work, "agent", "SmartMeter")
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink("/proc/%s/cwd" % p).startswith(smart_meter):
                    os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
        for p in self.started:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.panel:
            self.panel.stop()
        if self.server:
            self.server.close()
        if self.https:
            self.https.stop()

    # -- the report ------------------------------------------------------------------

    def write(self):
        t, c, m, a = self.t, self.c, self.m, self.args
        ms = lambda xs: "%.0f ms" % (med(xs) * 1000)  # noqa: E731
        cpu = lambda k: ms(c[k]) if None not in c[k] else ""  # noqa: E731
        rss = lambda k: str(max(m[k])) if None not in m[k] else ("?" if not TIME else "")  # noqa: E731
        samples = lambda xs: ", ".join("%.0f" % (x * 1000) for x in xs)  # noqa: E731
        dl_ratio, unzip_ratio = med(t["download"]) / med(t["curl"]), med(t["unpack"]) / med(t["unzip"])
        big, small = self.updates
        mem_ok = all(u["above"] <= 2048 for u in self.updates)
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
        size = os.path.getsize(self.big)
        rows = [
            "| Update: download of a %.1f MB archive over loopback HTTPS, worker vs `curl` (§8.1) | %s vs %s "
            "(%.2f×; CPU %s for the worker's whole job vs %s) | ≤ 1.25× curl | %s |"
            % (size / MB, ms(t["download"]), ms(t["curl"]), dl_ratio, cpu("full"), cpu("curl"), verdict(dl_ratio <= 1.25)),
            "| Update: unpacking the same archive, worker vs `unzip` (§8.2; the worker fsyncs, unzip does not) | %s vs "
            "%s (%.2f×); `unzip` + fsync %s | ≤ 1.25× unzip | %s |" % (ms(t["unpack"]), ms(t["unzip"]), unzip_ratio,
                                                                   ms(t["unzip_fsync"]), verdict(unzip_ratio <= 1.25)),
            "| Update: end to end through XMPP, command to answer (§8.3) | %.2f s (50 MB), %.2f s (5 MB) | — | |"
            % (big["seconds"], small["seconds"]),
            "| Update: agent's peak RSS above its idle RSS, link up (§8.4) | +%d KiB (50 MB), +%d KiB (5 MB); the "
            "worker process peaks at %d KiB | ≤ 2048 KiB | %s |"
            % (big["above"], small["above"], max(u["worker_peak"] for u in self.updates), verdict(mem_ok)),
            "| Update: signature check of the same archive (SHA-256 + ECDSA P-256), `tinyagent verify` vs "
            "`openssl dgst -sha256 -verify` (§8.5) | %.0f ms vs %.0f ms (%.2f×) | ≤ 1.1× openssl | %s |"
            % (med(t["verify"]) * 1000, med(t["openssl_verify"]) * 1000, med(t["verify"]) / med(t["openssl_verify"]),
               verdict(med(t["verify"]) / med(t["openssl_verify"]) <= 1.1)),
        ]
        with open(a.rows, "w") as f:
            f.write("\n".join(rows) + "\n")
        upd = "\n".join("| %s (%d bytes) | %.2f | %.2f after %.2f | %d | %d | %d | **+%d** (%s) | %d |" % (
            u["name"], u["size"], u["seconds"], u["worker_s"], u["worker_at"], u["idle"], u["peak"], u["hwm"],
            u["above"], verdict(u["above"] <= 2048), u["worker_peak"]) for u in self.updates)
        text = f"""## 8. Software update

All of it is `bench/update.py`, run by `bench/run.sh`. Archives from `tests/update/zips.py` (SmartMeter/ with
`p1.py`, the heartbeat helper, a manifest, and `data/filler.bin` of incompressible filler):
`zips.py good v2-50MB.zip --process p1:1.0.1 --size 50000000` ({size} bytes) and the same with
`--size 5000000` for p1 1.0.2. They are served by `tests/https/faultserver.py` (`/file/NAME`: a
Python `ThreadingHTTPServer` in the bench's own process, TLS by Python's `ssl`, certificate from a
`tests/xmpp/pki.py` test CA); the server reads and hashes the file (ETag) for each request and its
CPU cost is the same for both clients. Everything is on loopback, the files are in the page cache.
Machine: {os.cpu_count()} CPUs (nproc), {model}; shared with other work during this run (load average
at the start {self.load0}, at the end {loadavg()}). Median of {a.runs}, interleaved.

### 8.1 Download, worker vs curl

The worker is run as the agent runs it: `tinyagent-fetch update-worker UID:GID` (it drops to the helper
user) with one end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)` on descriptor 3, sent the job packet
the agent would send (`{{"url", "sha256": null, "max_bytes": 209715200, ...}}`) with the
descriptors of a new archive file, a new staging folder and the CA file. Every
command runs under GNU `/usr/bin/time -f %M` for its peak RSS (`ru_maxrss`; taken directly from a
child of this Python it would include the Python's own peak, which the kernel carries over `exec`;
`time`'s own share is the floor, `time -f %M true`: {self.rss_floor} KiB); CPU = user + sys from
`wait4()`. (a) = the whole job, download + unpack. The worker never reuses an archive, so the
split is in that one run: download = from the job sent to the worker's last download progress
packet (the last byte written), process start and TLS handshake included, as in curl's time;
unpack = the rest, which includes the worker's fsync of the archive (curl does not fsync; curl +
fsync of its file is shown too).

| Client | Command | Median | Samples (ms) | CPU, median | Peak RSS KiB |
|---|---|---|---|---|---|
| worker, download: job sent → last download progress packet | `tinyagent update-worker` (job on fd 3) | **{ms(t["download"])}** | {samples(t["download"])} | {cpu("full")} for (a) | {rss("full")} in (a) |
| curl | `curl -s --cacert ca.pem -o FILE https://localhost:$PORT/file/v2-50MB.zip` | **{ms(t["curl"])}** | {samples(t["curl"])} | {cpu("curl")} | {rss("curl")} |
| curl + fsync of its file | (fsync from Python after curl exits) | {ms(t["curl_fsync"])} | {samples(t["curl_fsync"])} | | |

Worker / curl: **{dl_ratio:.2f}×** (target ≤ 1.25×: {verdict(dl_ratio <= 1.25)}); against curl + fsync
{med(t["download"]) / med(t["curl_fsync"]):.2f}×. CPU (user + sys), worker vs curl:
{med(c["full"]) / med(c["curl"]):.1f}× (the worker's for download and unpack). The server's share (reading, hashing and encrypting the file) is the same for both.

### 8.2 Unpacking, worker vs unzip

Same archive. The worker checks every entry first (names, types, sizes, ratio), then unpacks
`SmartMeter/…` with libzip, checks CRCs, and fsyncs every file and folder it makes; Info-ZIP
`unzip` does not fsync, so `unzip` followed by an fsync of every file and folder it made (from
Python, timed on top) is shown as the fairer reference.

| Tool | Command | Median | Samples (ms) | CPU, median | Peak RSS KiB |
|---|---|---|---|---|---|
| worker, unpack: the rest of (a) | same run | **{ms(t["unpack"])}** | {samples(t["unpack"])} | | |
| unzip | `unzip -q -o v2-50MB.zip 'SmartMeter/*' -d DIR` | **{ms(t["unzip"])}** | {samples(t["unzip"])} | {cpu("unzip")} | {rss("unzip")} |
| unzip + fsync of each file and folder | | {ms(t["unzip_fsync"])} | {samples(t["unzip_fsync"])} | | |

Worker / unzip: **{unzip_ratio:.2f}×** (target ≤ 1.25×: {verdict(unzip_ratio <= 1.25)}); against unzip +
fsync {med(t["unpack"]) / med(t["unzip_fsync"]):.2f}×.

### 8.5 Signature check, agent vs openssl

The check the agent makes (as root, after the acquiring worker has exited) on the 50 MB archive:
SHA-256 of the open descriptor (libgcrypt, `pread` in 256 KiB reads) and the ECDSA P-256
signature (mbedTLS) against `certs/update-keys/fleet.pem`, run as `tinyagent verify` (the same code, in its
own process), against OpenSSL on the same file in the same runs, interleaved. Both include process
start and reading the key.

| Tool | Command | Median | Samples (ms) | CPU, median | Peak RSS KiB |
|---|---|---|---|---|---|
| tinyagent | `tinyagent verify v2-50MB.zip --root DEVICE` | **{ms(t["verify"])}** | {samples(t["verify"])} | {cpu("verify")} | {rss("verify")} |
| openssl | `openssl dgst -sha256 -verify fleet.pem -signature v2-50MB.zip.sig v2-50MB.zip` | **{ms(t["openssl_verify"])}** | {samples(t["openssl_verify"])} | {cpu("openssl_verify")} | {rss("openssl_verify")} |

tinyagent / openssl: **{med(t["verify"]) / med(t["openssl_verify"]):.2f}×** (target ≤ 1.1×: {verdict(med(t["verify"]) / med(t["openssl_verify"]) <= 1.1)}).
{"This CPU has the SHA extensions (`sha_ni`): libgcrypt uses them, as OpenSSL does (mbedTLS 2.28's portable SHA-256, which the agent used before, took 3.3× OpenSSL's time here). The hash is nearly all of the time: one ECDSA verification is well under a millisecond." if SHA_NI else ""}

### 8.3 + 8.4 A whole update through XMPP, and the agent's memory

A private prosody and the panel stand-in as in §7; the agent (settings `{json.dumps(SETTINGS)}`)
supervises p1 1.0.0, started from its SmartMeter/ (unpacked from a `zips.py` archive) with
`TINYAGENT_HEARTBEAT_PORT`, heartbeating every 0.2 s. The panel sends `smart_meter_update` with the
archive's URL and sha256 for p1 1.0.1 (50 MB), then, same agent, p1 1.0.2 (5 MB). Time = from
the panel's send to its receipt of the answer (`success: true`): download, sha256 check, unpack,
swap, start of the new p1 from the manifest, its first heartbeat with the new version. Idle RSS:
the agent's VmRSS after {a.settle:.0f} s settled with the link up and p1 running. Then VmHWM is reset
(`echo 5 > /proc/PID/clear_refs`) and, until the answer, every 20 ms: the agent's VmRSS and its
child `tinyagent update-worker`'s VmHWM (`/proc/PID/status`). Above idle = max(peak VmRSS sampled,
VmHWM after) − idle.

| Archive | Command → answer, s | Worker alive, s | Agent idle VmRSS KiB | Peak VmRSS sampled | VmHWM after | Above idle, KiB (≤ 2048) | Worker peak VmHWM KiB |
|---|---|---|---|---|---|---|---|
{upd}

The agent's own memory does not follow the archive's size (the download and the unpacking
happen in the worker, a separate process, whose memory is returned when it exits); the worker's
peak is reported separately above.
"""
        with open(a.out, "w") as f:
            f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True, help="the section's text (markdown)")
    p.add_argument("--rows", required=True, help="rows for the summary table")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=5.0, help="seconds idle before each update")
    p.add_argument("--limit", type=int, default=170, help="seconds before giving up")
    args = p.parse_args()

    def stop(signum, frame):
        raise SystemExit("bench: update: %s" % ("out of time (%d s)" % args.limit if signum == signal.SIGALRM
                                                 else "stopped by signal %d" % signum))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(args.limit)
    bench = Bench(args)
    bench.load0 = loadavg()
    try:
        bench.archives()
        say("download and unpack: worker, curl, unzip, %d runs" % args.runs)
        bench.tools()
        bench.xmpp()
        bench.write()
    except Failed as e:
        say(str(e))
        with open(args.out, "w") as f:
            f.write("## 8. Software update\n\nNot measured in this run: %s.\n" % e)
        open(args.rows, "w").close()
        return 1
    finally:
        signal.alarm(0)
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
