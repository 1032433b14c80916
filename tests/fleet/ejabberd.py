"""A two-node ejabberd cluster on loopback, for the fleet test and bench.

    with EjabberdCluster(folder, pki) as cluster:      # Debian's ejabberd 23.01
        cluster.register("device-001", "secret")       # over its HTTP API, on node 1
        cluster.ports                                   # c2s port of each node
        cluster.kill(0)                                 # SIGKILL node 1's VM

Each node has its own folder (ejabberd.yml, ejabberdctl.cfg, spool, logs)
owned by the `ejabberd` user and runs `ejabberdctl foreground` as it (both
share its Erlang cookie, /var/lib/ejabberd/.erlang.cookie). Node 2 joins
node 1 with `ejabberdctl join_cluster`. Every listener is on 127.0.0.1: the
c2s ports (STARTTLS required, the test CA's certificate), node 1's HTTP API,
the Erlang distribution (INET_DIST_INTERFACE) and epmd (ERL_EPMD_ADDRESS);
`listeners()` lists them from /proc for the test to check. epmd, which the
first node starts, is stopped by pid at close() when it was not running before.

`ensure_installed()` apt-gets ejabberd with a policy-rc.d that keeps its
system service from starting.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid

from prosody import ProsodyError, _listening, free_port

import aptget  # noqa: E402,I100 - from tests/, which prosody puts on the path

USER = "ejabberd"
CTL = "/usr/sbin/ejabberdctl"
DOMAIN = "localhost"


def ensure_installed():
    """apt-get install ejabberd (its service kept from starting) when missing."""
    if os.path.exists(CTL):
        return False
    aptget.install("ejabberd")
    return True


def _children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _descendants(pid):
    found, todo = [], [pid]
    while todo:
        for c in _children(todo.pop()):
            found.append(c)
            todo.append(c)
    return found


def _exe(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


def epmd_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _exe(int(p)) == "epmd"]


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def listening_addresses(pids):
    """(address, port) of every TCP socket in LISTEN and UDP socket bound by PIDS."""
    inodes = set()
    for pid in pids:
        inodes |= _socket_inodes(pid)
    found = []
    for table, listen_state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            with open("/proc/net/" + table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == listen_state and fields[9] in inodes:
                        addr, port = fields[1].rsplit(":", 1)
                        found.append((_address(addr), int(port, 16)))
        except OSError:
            continue
    return found


def _address(hexaddr):
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    return ":".join("%02x%02x" % (w[i], w[i + 1]) for w in words for i in (0, 2))


class Node:
    def __init__(self, cluster, index):
        self.index = index
        self.name = "ta%d-%s@localhost" % (index + 1, cluster.tag)
        self.folder = os.path.join(cluster.folder, "node%d" % (index + 1))
        self.port = free_port()
        self.http_port = free_port() if index == 0 else None
        self.proc = None
        for d in ("spool", "logs"):
            os.makedirs(os.path.join(self.folder, d), exist_ok=True)
        pem = os.path.join(self.folder, "server.pem")
        with open(pem, "w") as f:
            for part in (cluster.pki.server_cert, cluster.pki.server_key):
                f.write(open(part).read())
        os.chmod(pem, 0o600)
        with open(os.path.join(self.folder, "ejabberd.yml"), "w") as f:
            f.write(self._config(pem, cluster.extra))
        with open(os.path.join(self.folder, "ejabberdctl.cfg"), "w") as f:
            f.write("ERLANG_NODE=%s\nINET_DIST_INTERFACE=127.0.0.1\nERL_EPMD_ADDRESS=127.0.0.1\n"
                    "EJABBERD_PID_PATH=%s/ejabberd.pid\nERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\n"
                    % (self.name, self.folder))

    def _config(self, pem, extra):
        http = ""
        if self.http_port:
            http = ("  -\n    port: %d\n    ip: \"127.0.0.1\"\n    module: ejabberd_http\n"
                    "    request_handlers:\n      /api: mod_http_api\n" % self.http_port)
        return """# written by tests/fleet/ejabberd.py
hosts: [%(domain)s]
loglevel: warning
log_rotate_count: 0
certfiles: ["%(pem)s"]
listen:
  -
    port: %(port)d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls_required: true
%(http)sauth_method: internal
auth_password_format: scram
s2s_access: none
acl:
  loopback:
    ip: [127.0.0.0/8]
access_rules:
  c2s:
    allow: all
api_permissions:
  "loopback admin":
    from: [mod_http_api]
    who:
      ip: 127.0.0.0/8
    what: ["register", "connected_users_number", "list_cluster"]
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_stream_mgmt: {}
%(extra)s
""" % dict(domain=DOMAIN, pem=pem, port=self.port, http=http, extra=extra)

    def ctl(self, *args, timeout=60):
        cmd = [CTL, "-n", self.name, "-s", os.path.join(self.folder, "spool"), "-l", os.path.join(self.folder, "logs"),
               "-f", os.path.join(self.folder, "ejabberd.yml"), "-c", os.path.join(self.folder, "ejabberdctl.cfg")]
        return cmd + list(args)

    def start(self):
        out = open(os.path.join(self.folder, "stdout.log"), "ab")
        self.proc = subprocess.Popen(self.ctl("foreground"), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     cwd=self.folder, start_new_session=True)
        out.close()

    def vm(self):
        """The node's Erlang VM (beam.smp), a descendant of `ejabberdctl foreground`."""
        if not self.proc:
            return None
        for p in _descendants(self.proc.pid):
            if _exe(p).startswith("beam"):
                return p
        return None

    def pids(self):
        return [self.proc.pid] + _descendants(self.proc.pid) if self.proc else []

    def wait_up(self, timeout):
        deadline = time.monotonic() + timeout
        while not (_listening(self.port) and (not self.http_port or _listening(self.http_port))):
            if self.proc.poll() is not None:
                raise ProsodyError("ejabberd node %s exited (%s):\n%s" % (self.name, self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise ProsodyError("ejabberd node %s not listening within %.0f s:\n%s" % (self.name, timeout, self.log_tail()))
            time.sleep(0.1)

    def signal(self, sig, wait=30):
        vm = self.vm()
        if vm:
            try:
                os.kill(vm, sig)
            except OSError:
                pass
        if self.proc:
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                for p in self.pids()[::-1]:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(10)
            self.proc = None

    def log_tail(self, n=30):
        out = []
        for name in ("stdout.log", "logs/ejabberd.log", "logs/error.log"):
            try:
                with open(os.path.join(self.folder, name), errors="replace") as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out[-n:])


class EjabberdCluster:
    def __init__(self, folder, pki, nodes=2, extra=""):
        self.folder = os.path.abspath(folder)
        self.pki = pki
        self.extra = extra
        self.tag = uuid.uuid4().hex[:6]
        os.makedirs(self.folder, exist_ok=True)
        os.chmod(self.folder, 0o755)
        self.epmd_before = epmd_pids()
        self.nodes = [Node(self, i) for i in range(nodes)]
        pw = pwd.getpwnam(USER)
        for dirpath, dirnames, filenames in os.walk(self.folder):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
        # su (as ejabberdctl runs) needs every folder above traversable.
        path = self.folder
        while path != "/":
            path = os.path.dirname(path)
            if os.stat(path).st_mode & 0o001 == 0:
                raise ProsodyError("%s is not traversable by %s: put the cluster under a 0755 folder" % (path, USER))

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    def start(self, timeout=90):
        """Both nodes up, node 2 joined to node 1 (about 10-20 s)."""
        first = self.nodes[0]
        first.start()
        first.wait_up(timeout)
        for node in self.nodes[1:]:
            node.start()
            node.wait_up(timeout)
            r = subprocess.run(node.ctl("join_cluster", first.name), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=node.folder)
            if r.returncode != 0:
                raise ProsodyError("join_cluster %s → %s failed: %s" % (node.name, first.name, r.stdout))
            node.wait_up(timeout)
        members = self.api("list_cluster", {})
        if sorted(members) != sorted(n.name for n in self.nodes):
            raise ProsodyError("list_cluster says %s" % members)
        return self

    def api(self, command, args, timeout=10):
        node = self.nodes[0]
        req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (node.http_port, command),
                                     data=json.dumps(args).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def register(self, user, password):
        self.api("register", {"user": user, "host": DOMAIN, "password": password})
        return "%s@%s" % (user, DOMAIN)

    def kill(self, index):
        """SIGKILL one node's VM, as a crash or a pulled plug would."""
        self.nodes[index].signal(signal.SIGKILL)

    def pids(self):
        return [p for n in self.nodes for p in n.pids()]

    def listeners(self):
        """(address, port) of every socket the nodes and epmd listen on."""
        pids = [p for p in self.pids() if _exe(p).startswith("beam")] + epmd_pids()
        return listening_addresses(pids)

    def close(self):
        for node in self.nodes:
            if node.proc:
                node.signal(signal.SIGTERM, wait=20)
        # epmd outlives the nodes: stop it by pid when this cluster started it
        # and no other node is registered with it.
        for pid in epmd_pids():
            if pid in self.epmd_before:
                continue
            names = subprocess.run(["epmd", "-names"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   env={"PATH": "/usr/bin:/bin", "ERL_EPMD_ADDRESS": "127.0.0.1"}).stdout
            if "name " not in names:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False
