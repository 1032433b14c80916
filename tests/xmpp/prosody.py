"""A private prosody (Debian `prosody` 0.12) on 127.0.0.1 for tests.

    with Prosody(folder, tls="starttls", cert=pki.server_cert, key=pki.server_key) as p:
        p.register("device", "secret")    # prosodyctl, ~40 ms, server need not run
        ...                               # p.port, p.host ("127.0.0.1"), p.domain ("localhost")
        p.kill(); p.start()               # SIGKILL, then up again on the same port

Needs the Debian packages `prosody` (it pulls lua5.4, lua-sec, lua-socket,
lua-expat, lua-filesystem, lua-bitop) and `openssl` for the certificates;
`ensure_installed()` apt-gets prosody when it is missing (fresh machines).

Prosody refuses to run as root, and prosodyctl as root cannot write the
accounts. When the tests run as root, both run as the unprivileged system user
`prosody` (made by the package; `ensure_user()` creates it otherwise) through
subprocess's user=/group= (a plain setuid in the child, so the pid we hold is
prosody's own and signals reach it directly - unlike `runuser`, which stays as
a parent). Everything the server touches (config, a copy of the certificate
and key, data, pidfile, log) lives in one folder owned by that user. pytest's
tmp_path sits below /tmp/pytest-of-root (mode 0700), which that user cannot
enter: then the server's folder is a fresh /tmp/tinyagent-prosody-* instead,
linked from FOLDER/prosody, and its log is copied to FOLDER/prosody.log on
close().
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import aptget  # noqa: E402
import runguard  # noqa: E402

__all__ = ["Prosody", "ProsodyError", "ensure_installed", "ensure_user", "free_port"]

RUN_USER = "prosody"
DOMAIN = "localhost"
HOST = "127.0.0.1"


class ProsodyError(RuntimeError):
    pass


def free_port(host=HOST):
    """A TCP port free on HOST right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_installed():
    """apt-get install prosody when `prosody` or `prosodyctl` is missing.
    Services are kept from starting during the install (a policy-rc.d that
    says no), so no system-wide prosody comes up on *:5222."""
    if shutil.which("prosody") and shutil.which("prosodyctl"):
        return False
    if os.geteuid() != 0:
        raise ProsodyError("prosody is not installed and we are not root: apt-get install prosody")
    aptget.install("prosody")
    if not (shutil.which("prosody") and shutil.which("prosodyctl")):
        raise ProsodyError("apt-get install prosody did not provide prosody and prosodyctl")
    return True


def ensure_user(name=RUN_USER):
    """The unprivileged account prosody runs as (when we are root)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       check=True)
        return pwd.getpwnam(name)


def _reachable(path, uid, gids):
    """Can UID (with groups GIDS) enter every directory down to PATH?"""
    path = os.path.abspath(path)
    parts = []
    while True:
        parts.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for d in parts:
        st = os.stat(d)
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in gids:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def _listening(port):
    """Is some socket listening on TCP PORT? Read from /proc/net/tcp{,6}, so
    that waiting for the server does not open (and drop) a client connection."""
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                found_table = True
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    if found_table:
        return False
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _lua_str(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


class Prosody:
    def __init__(self, folder, port=None, tls="starttls", cert=None, key=None,
                 domain=DOMAIN, host=HOST, extra_config=""):
        if tls not in ("starttls", "direct", "none"):
            raise ValueError("tls must be 'starttls', 'direct' or 'none'")
        if tls != "none" and not (cert and key):
            raise ValueError("tls=%r needs cert= and key=" % tls)
        self.tls = tls
        self.domain = domain
        self.host = host
        self.port = port or free_port(host)
        self.requested_folder = os.path.abspath(folder)
        os.makedirs(self.requested_folder, exist_ok=True)
        self.proc = None
        # The server belongs to whoever made it: restarted later (by a test,
        # in a scope of its own), it keeps the maker's marks.
        self._marks = runguard.marked({})

        self._as_root = os.geteuid() == 0
        if self._as_root:
            pw = ensure_user()
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
        else:
            self._uid, self._gid = os.geteuid(), os.getegid()

        if _reachable(self.requested_folder, self._uid, {self._gid}):
            self.folder = os.path.join(self.requested_folder, "prosody")
            os.makedirs(self.folder, exist_ok=True)
            self._private = False
        else:
            self.folder = tempfile.mkdtemp(prefix="tinyagent-prosody-")
            os.chmod(self.folder, 0o755)
            link = os.path.join(self.requested_folder, "prosody")
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(self.folder, link)
            self._private = True

        self.data_path = os.path.join(self.folder, "data")
        self.log_path = os.path.join(self.folder, "prosody.log")
        self.pidfile = os.path.join(self.folder, "prosody.pid")
        self.config_path = os.path.join(self.folder, "prosody.cfg.lua")
        os.makedirs(self.data_path, exist_ok=True)

        self.certs_dir = os.path.join(self.folder, "certs")
        os.makedirs(self.certs_dir, exist_ok=True)
        self.cert = self.key = None
        if tls != "none":
            self.cert = os.path.join(self.certs_dir, domain + ".crt")
            self.key = os.path.join(self.certs_dir, domain + ".key")
            shutil.copyfile(cert, self.cert)
            shutil.copyfile(key, self.key)
            os.chmod(self.key, 0o600)
        self._write_config(extra_config)
        self._chown_all()

    # -- configuration ------------------------------------------------------

    def _write_config(self, extra):
        q = _lua_str
        starttls_ports = "{ %d }" % self.port if self.tls != "direct" else "{}"
        direct_ports = "{ %d }" % self.port if self.tls == "direct" else "{}"
        lines = [
            "-- written by tests/xmpp/prosody.py",
            "pidfile = %s" % q(self.pidfile),
            "data_path = %s" % q(self.data_path),
            "log = { { levels = { min = \"debug\" }, to = \"file\", filename = %s } }" % q(self.log_path),
            "daemonize = false",
            "certificates = %s" % q(self.certs_dir),
            "interfaces = { %s }" % q(self.host),
            "local_interfaces = { %s }" % q(self.host),
            "c2s_interfaces = { %s }" % q(self.host),
            "c2s_direct_tls_interfaces = { %s }" % q(self.host),
            "c2s_ports = %s" % starttls_ports,
            "c2s_direct_tls_ports = %s" % direct_ports,
            "legacy_ssl_ports = {}",
            "s2s_ports = {}",
            "s2s_direct_tls_ports = {}",
            "component_ports = {}",
            "http_ports = {}",
            "https_ports = {}",
            "admin_interfaces = {}",
            'modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix" }',
            'modules_disabled = { "s2s"; "offline"; "http"; "pep"; "carbons"; "mam"; '
            '"c2s_csi"; "admin_shell"; "bosh"; "websocket"; "register"; "vcard4"; "vcard_legacy"%s }'
            % ('; "tls"' if self.tls == "none" else ""),
            'authentication = "internal_plain"',
            'storage = "internal"',
            "c2s_require_encryption = %s" % ("false" if self.tls == "none" else "true"),
            "s2s_require_encryption = false",
            "allow_unencrypted_plain_auth = %s" % ("true" if self.tls == "none" else "false"),
            "allow_registration = false",
        ]
        if self.tls != "none":
            lines.append("ssl = { certificate = %s; key = %s }" % (q(self.cert), q(self.key)))
            lines.append("c2s_direct_tls_ssl = { certificate = %s; key = %s }" % (q(self.cert), q(self.key)))
        if extra:
            lines.append(extra)
        lines.append("VirtualHost %s" % q(self.domain))
        if self.tls != "none":
            lines.append("    ssl = { certificate = %s; key = %s }" % (q(self.cert), q(self.key)))
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _chown_all(self):
        if not self._as_root:
            return
        for root, dirs, files in os.walk(self.folder):
            os.chown(root, self._uid, self._gid)
            for n in files:
                os.chown(os.path.join(root, n), self._uid, self._gid)

    def _as_user(self):
        if not self._as_root:
            return {}
        return dict(user=self._uid, group=self._gid, extra_groups=[])

    def _env(self):
        env = dict(self._marks, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   LANG="C.UTF-8")
        if self._as_root:
            env["HOME"] = self.folder
        return env

    # -- accounts -----------------------------------------------------------

    def register(self, user, password):
        """Create (or reset) USER@domain with PASSWORD; the server need not run."""
        proc = subprocess.run(
            ["prosodyctl", "--config", self.config_path, "register", user, self.domain, password],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
            env=self._env(), cwd=self.folder, **self._as_user())
        if proc.returncode != 0:
            raise ProsodyError("prosodyctl register %s failed (%d): %s"
                               % (user, proc.returncode, proc.stdout.strip()))
        return "%s@%s" % (user, self.domain)

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    # -- process ------------------------------------------------------------

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.running else None

    def start(self, timeout=10.0):
        """Start the server and wait until its port accepts connections."""
        if self.running:
            return self
        self._stdout = open(os.path.join(self.folder, "stdout.log"), "ab")
        cmd = ["prosody", "--config", self.config_path, "-F"]
        # Should the test process die hard (CI timeout, SIGKILL), take the
        # server with it. The death signal is tied to the thread that forks,
        # so only when started from the main thread.
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=subprocess.STDOUT,
            env=self._env(), cwd=self.folder, start_new_session=True, **self._as_user())
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise ProsodyError("prosody exited (%s) during start:\n%s" % (rc, self.log_tail()))
            if _listening(self.port) and self._catches_sigterm():
                # mod_posix installs its signal handlers from a timer, i.e.
                # once the main loop runs: from here on, the server answers
                # and a SIGTERM is a clean shutdown.
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise ProsodyError("prosody did not open %s:%d within %.1f s:\n%s"
                                   % (self.host, self.port, timeout, self.log_tail()))
            time.sleep(0.01)

    def _catches_sigterm(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        except (OSError, ValueError):
            return False
        return False

    def _signal_and_wait(self, sig, timeout):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        if getattr(self, "_stdout", None):
            self._stdout.close()
            self._stdout = None
        return rc

    def stop(self, timeout=5.0):
        """SIGTERM and wait (SIGKILL after TIMEOUT). Returns the exit status."""
        return self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self):
        """SIGKILL, as a crash or power loss would."""
        return self._signal_and_wait(signal.SIGKILL, 5.0)

    def restart(self, timeout=10.0):
        self.stop()
        return self.start(timeout)

    def close(self):
        """Stop the server; a private folder outside FOLDER is removed (its log
        copied to FOLDER/prosody.log first)."""
        self.stop()
        if self._private and os.path.isdir(self.folder):
            try:
                if os.path.exists(self.log_path):
                    shutil.copyfile(self.log_path, os.path.join(self.requested_folder, "prosody.log"))
            finally:
                shutil.rmtree(self.folder, ignore_errors=True)
                link = os.path.join(self.requested_folder, "prosody")
                if os.path.islink(link):
                    os.unlink(link)

    def log_tail(self, n=40):
        out = []
        for p in (os.path.join(self.folder, "stdout.log"), self.log_path):
            try:
                with open(p, errors="replace") as f:
                    out.extend(f.read().splitlines()[-n:])
            except OSError:
                pass
        return "\n".join(out[-n:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "Prosody(%s:%d tls=%s pid=%s)" % (self.host, self.port, self.tls, self.pid)
