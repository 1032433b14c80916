"""Heartbeat helper for SmartMeter processes watched by tinyagent.

One file, standard library only, Python 3.5+ (the Pis run 3.5), so it can be
copied next to any script. Each heartbeat is one datagram to the agent: to its
Unix socket when there is one (``socket_path``, else TINYAGENT_HEARTBEAT_SOCKET,
which the agent gives the processes it starts, else -- when no port is named
either -- /home/pi/technospurs/wdog/heartbeat.sock if it exists), where the
kernel tells the agent who sent it; otherwise, or when that socket cannot be
reached, over UDP to 127.0.0.1:4951 (unless TINYAGENT_HEARTBEAT_PORT or
``port`` says otherwise)::

    {"process_name": "ocr", "pid": 444,
     "run_command": "/usr/bin/python3 /home/pi/technospurs/SmartMeter/ocr.py",
     "version": {"major": 1, "minor": 0, "patch": 0}}

Typical use::

    hb = Heartbeat("ocr", "1.0.0")
    while True:
        do_work()
        hb.beat()          # never raises, even when no agent is listening

or ``Heartbeat("ocr", "1.0.0").start_thread(5.0)`` to beat from a daemon thread
(note: that keeps beating even if the main loop is stuck, so prefer beat()
from the loop that does the real work).
"""

import errno
import json
import os
import re
import shlex
import socket
import sys
import threading

__all__ = ["Heartbeat", "DEFAULT_PORT", "PORT_ENV", "SOCKET_ENV", "DEFAULT_SOCKET"]

DEFAULT_PORT = 4951
PORT_ENV = "TINYAGENT_HEARTBEAT_PORT"
SOCKET_ENV = "TINYAGENT_HEARTBEAT_SOCKET"
DEFAULT_SOCKET = "/home/pi/technospurs/wdog/heartbeat.sock"

# The agent's parser is strict and silently drops anything outside these
# limits, so they are checked here, once, where the caller can see an error.
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
_MAX_VERSION_PART = 65535
_MAX_RUN_COMMAND_BYTES = 1024
_MAX_DATAGRAM_BYTES = 2048


def _parse_version(version):
    """Return (major, minor, patch) from "X.Y.Z" or a 3-tuple/list of ints."""
    if isinstance(version, str):
        m = _VERSION_RE.fullmatch(version)
        if m is None:
            raise ValueError("version must look like X.Y.Z, got %r" % (version,))
        parts = tuple(int(p) for p in m.groups())
    elif isinstance(version, (tuple, list)) and len(version) == 3:
        # bool is an int subclass; True as a version part is surely a mistake.
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in version):
            raise ValueError("version parts must be integers, got %r" % (version,))
        parts = tuple(version)
    else:
        raise ValueError('version must be "X.Y.Z" or a 3-tuple of ints, got %r' % (version,))
    if not all(0 <= p <= _MAX_VERSION_PART for p in parts):
        raise ValueError("version parts must be in 0..%d, got %r" % (_MAX_VERSION_PART, version))
    return parts


def _resolve_port(port):
    if port is None:
        port = os.environ.get(PORT_ENV) or DEFAULT_PORT
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError("port must be an integer (from %s or port=), got %r" % (PORT_ENV, port))
    if not 1 <= port <= 65535:
        raise ValueError("port must be in 1..65535, got %d" % port)
    return port


def _resolve_socket_path(socket_path, port):
    """The agent's Unix socket to try first, or None for UDP only."""
    if socket_path is not None:
        return socket_path or None
    if os.environ.get(SOCKET_ENV):
        return os.environ[SOCKET_ENV]
    # A named port means "this agent", which may not be the default root's.
    if port is None and not os.environ.get(PORT_ENV) and os.path.exists(DEFAULT_SOCKET):
        return DEFAULT_SOCKET
    return None


def default_run_command():
    """The shell command that would start this process again, or "" if unknown.

    Rebuilt from sys.executable and sys.argv, with the script made absolute
    because the agent relaunches from its own working directory. Interpreter
    flags (-u, -O, ...) are not recoverable on 3.5 and are lost. Call this (or
    construct Heartbeat) before any os.chdir(), or the script path is wrong.
    """
    if not sys.executable or not sys.argv or sys.argv[0] in ("", "-c"):
        return ""  # interactive or "python -c": nothing to rerun
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        # "python -m pkg" leaves argv[0] as a file path; rerun it as -m.
        module = spec.name
        if module.endswith(".__main__"):
            module = module[: -len(".__main__")]
        argv = [sys.executable, "-m", module] + sys.argv[1:]
    else:
        argv = [sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:]
    return " ".join(shlex.quote(a) for a in argv)


class Heartbeat(object):
    """Sends tinyagent heartbeats over one long-lived UDP socket.

    name: 1..64 chars of [A-Za-z0-9._-]. version: "X.Y.Z" or (X, Y, Z), each
    0..65535. run_command: the shell command the agent runs to restart this
    process; None means default_run_command(), "" means "do not restart".
    port: None means $TINYAGENT_HEARTBEAT_PORT, else 4951. socket_path: the
    agent's Unix socket (None: $TINYAGENT_HEARTBEAT_SOCKET, else the default
    root's if it exists and no port is named; "": UDP only).
    Bad arguments raise ValueError here rather than being dropped by the agent.

    Attributes ``sent`` and ``errors`` count datagrams sent and send failures;
    ``last_error`` holds the last OSError (e.g. ECONNREFUSED: no agent);
    ``transport`` says how the last heartbeat went ("unix" or "udp").
    """

    def __init__(self, name, version, run_command=None, port=None, host="127.0.0.1", socket_path=None):
        if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
            raise ValueError("name must be 1..64 chars of [A-Za-z0-9._-], got %r" % (name,))
        major, minor, patch = _parse_version(version)
        if run_command is None:
            run_command = default_run_command()
        if not isinstance(run_command, str):
            raise ValueError("run_command must be a string, got %r" % (run_command,))
        try:
            command_bytes = len(run_command.encode("utf-8"))
        except UnicodeEncodeError:  # e.g. undecodable bytes in sys.argv
            raise ValueError("run_command is not valid UTF-8: %r" % (run_command,))
        if command_bytes > _MAX_RUN_COMMAND_BYTES:
            raise ValueError("run_command is %d bytes, the agent accepts at most %d"
                             " (pass run_command= explicitly)"
                             % (command_bytes, _MAX_RUN_COMMAND_BYTES))
        self.name = name
        self.version = (major, minor, patch)
        self.run_command = run_command
        self.address = (host, _resolve_port(port))
        self.socket_path = _resolve_socket_path(socket_path, port)
        self.transport = None
        # JSON escaping can grow run_command, so check the whole datagram,
        # with a pid wider than Linux allows (pid_max <= 2**22).
        size = len(self._datagram(pid=2 ** 31 - 1))
        if size > _MAX_DATAGRAM_BYTES:
            raise ValueError("heartbeat would be %d bytes, the agent accepts at most %d"
                             " (shorten run_command)" % (size, _MAX_DATAGRAM_BYTES))
        self.sent = 0
        self.errors = 0
        self.last_error = None
        # Serialises beat() against close() when start_thread() is used.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        # One socket for the life of the process: the agent ties a heartbeat
        # to its sender through the socket's source port, so it should stay
        # put. SOCK_CLOEXEC keeps it out of programs we exec, which would
        # otherwise hold, and could speak through, our socket. Non-blocking so a
        # full buffer can never stall the caller's loop. connect() makes the
        # kernel report ICMP "port unreachable" as ECONNREFUSED, which we
        # count, so ``errors`` tells whether an agent is listening.
        sock_type = socket.SOCK_DGRAM | getattr(socket, "SOCK_CLOEXEC", 0)
        self._sock = socket.socket(socket.AF_INET, sock_type)
        self._unix = None
        try:
            self._sock.set_inheritable(False)
            self._sock.setblocking(False)
            self._sock.connect(self.address)
            if self.socket_path is not None:
                # Not connected: sendto() by path each time reaches the
                # socket of an agent that restarted since.
                self._unix = socket.socket(socket.AF_UNIX, sock_type)
                self._unix.set_inheritable(False)
                self._unix.setblocking(False)
        except Exception:
            self._close_sockets()
            raise

    def _datagram(self, pid=None):
        message = {
            "process_name": self.name,
            # Read every time, so a forked child reports its own pid.
            "pid": os.getpid() if pid is None else pid,
            "run_command": self.run_command,
            "version": {"major": self.version[0], "minor": self.version[1],
                        "patch": self.version[2]},
        }
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def beat(self):
        """Send one heartbeat. Returns True if sent; never raises OSError.

        A heartbeat helper must not take down the process it reports on, so
        send errors (no agent: ECONNREFUSED; buffer full: EAGAIN; ...) are
        counted in ``errors``/``last_error`` and swallowed. After close() this
        does nothing and returns False.
        """
        data = self._datagram()
        with self._lock:
            if self._sock is None:
                return False
            # No agent at the Unix socket (yet), or not ours to reach: UDP.
            if self._unix is not None and self._send(lambda: self._unix.sendto(data, self.socket_path), "unix") is None:
                return True
            for _ in range(2):
                error = self._send(lambda: self._sock.send(data), "udp")
                if error is None:
                    return True
                # ECONNREFUSED reports the ICMP error left by an earlier
                # datagram and this one was not sent: send it once more,
                # so the first beat after the agent starts is not lost.
                if error.errno != errno.ECONNREFUSED:
                    return False
            return False

    def _send(self, send, transport):
        """Runs send(); counts it; returns the OSError it raised, or None."""
        try:
            send()
        except OSError as e:
            self.errors += 1
            self.last_error = e
            return e
        self.sent += 1
        self.transport = transport
        return None

    def start_thread(self, interval):
        """Beat now and every ``interval`` seconds from a daemon thread.

        Daemon, so it never keeps the process alive on exit. Returns the
        thread; close() stops it. Threads do not survive fork(): a forked
        child that wants one calls start_thread() again.
        """
        interval = float(interval)
        if not interval > 0:
            raise ValueError("interval must be > 0, got %r" % (interval,))
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("heartbeat thread already running")

        def run():
            while True:
                self.beat()
                if self._stop.wait(interval):
                    return

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="tinyagent-heartbeat-" + self.name)
        self._thread.daemon = True
        self._thread.start()
        return self._thread

    def close(self):
        """Stop the thread, if any, and close the socket. Safe to call twice."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            self._close_sockets()

    def _close_sockets(self):
        for sock in (self._sock, self._unix):
            if sock is not None:
                sock.close()
        self._sock = None
        self._unix = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __del__(self):
        # Best effort for callers that forget close(); never raise from here.
        for sock in (getattr(self, "_sock", None), getattr(self, "_unix", None)):
            if sock is not None:
                try:
                    sock.close()
                except Exception:
                    pass
