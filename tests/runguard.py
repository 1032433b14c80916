#!/usr/bin/env python3
"""The processes a test run starts, found and ended by the harness.

A mark in the environment, not a process group or session: the agent starts
its processes in sessions of their own, as other users, and they outlive it
by design (they are re-adopted at its next start), so neither the group nor
the parent chain leads back to the test. The environment does: the agent
passes its own on to what it starts (minus systemd's variables and HOME,
USER, LOGNAME), `setsid`, `setuid`, `runuser`, `chroot` and the agent's
helpers keep it, and /proc/PID/environ shows it to root whatever the
process became. What loses it: a process exec'd with a fresh environment
(`env -i`, `sudo`, `su -l`, a harness passing `env={...}`): such harness
code passes `marked(env)` instead.

- TINYAGENT_TEST_RUN=ID: one `make test` (the Makefile sets it); `check`
  at its end fails, listing them, if any process of the run is still alive.
- TINYAGENT_TEST_SCOPE="ID ID …": the scopes a process was started in,
  outermost first. `run -- CMD` runs CMD in a new scope and, however CMD
  ends (failure, Ctrl-C, SIGTERM), kills what is left of the scope; a
  step that succeeded but left processes behind fails. The integration
  harness gives every agent a scope of its own the same way (`scope()`,
  `end_scope()`).

Usage: runguard.py run -- CMD ARGS… | runguard.py check
"""

import os
import secrets
import signal
import subprocess
import sys
import time

RUN = "TINYAGENT_TEST_RUN"
SCOPE = "TINYAGENT_TEST_SCOPE"


def _environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:  # gone, or a kernel thread
        return {}
    env = {}
    for entry in entries:
        name, sep, value = entry.partition(b"=")
        if sep:
            env[name.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _ancestors():
    """This process and its parents: they carry the marks too, and are not leftovers."""
    pids, pid = set(), os.getpid()
    while pid > 0:
        pids.add(pid)
        pid = _parent(pid)
    return pids


def _describe(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open("/proc/%d/status" % pid) as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration):
        return "pid %d (gone)" % pid
    return "pid %d uid %s ppid %d: %s" % (pid, uid, _parent(pid), cmd or "?")


def _marked(matches):
    """Pids of live processes whose environment `matches`, not this process or its parents."""
    mine = _ancestors()
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) not in mine and matches(_environ(int(e)))]


def in_scope(scope):
    """Pids of live processes started in `scope`."""
    return _marked(lambda env: scope in env.get(SCOPE, "").split())


def of_run(run):
    """Pids of live processes started in the run `run`."""
    return _marked(lambda env: env.get(RUN) == run)


def kill_all(find):
    """SIGKILLs what `find()` returns until it returns nothing (a process
    may fork between the look-up and the kill). Returns the descriptions
    of what was found alive."""
    seen = {}
    deadline = time.monotonic() + 10
    while True:
        pids = find()
        if not pids:
            return list(seen.values())
        if time.monotonic() > deadline:
            raise RuntimeError("processes survive SIGKILL: " + "; ".join(_describe(p) for p in pids))
        for pid in pids:
            seen.setdefault(pid, _describe(pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def scope(env=None):
    """A new scope: (its id, a copy of `env` (default os.environ) with it added)."""
    env = dict(os.environ if env is None else env)
    sid = secrets.token_hex(6)
    env[SCOPE] = (env.get(SCOPE, "") + " " + sid).strip()
    return sid, env


def current_scope():
    """The innermost scope this process runs in."""
    return os.environ[SCOPE].split()[-1]


def end_scope(sid):
    """Kills what is left of the scope; returns their descriptions."""
    return kill_all(lambda: in_scope(sid))


class Scope:
    """`with Scope():` everything started inside carries a new scope (it is
    put into os.environ) and is killed on the way out, however that is."""

    def __enter__(self):
        self.outer = os.environ.get(SCOPE)
        self.id, env = scope()
        os.environ[SCOPE] = env[SCOPE]
        return self

    def end(self):
        """Kills what is left of the scope now; returns their descriptions."""
        return end_scope(self.id)

    def __exit__(self, *exc):
        self.end()
        if self.outer is None:
            del os.environ[SCOPE]
        else:
            os.environ[SCOPE] = self.outer


def marked(env):
    """`env` (a fresh environment for a child) with this process's marks added."""
    env = dict(env)
    for name in (RUN, SCOPE):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(cmd):
    sid, env = scope()
    env.setdefault(RUN, "run-" + sid)
    # Ctrl-C reaches the whole foreground group, the child included: wait
    # for it to end, then clean up. SIGTERM (from make or a CI runner) is
    # passed on. Both set before the child starts: it may be interrupted
    # at once.
    child = None
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: child and child.send_signal(signal.SIGTERM))
    child = subprocess.Popen(cmd, env=env)
    status = child.wait()
    if status < 0:  # killed by a signal: the shell's way of saying so
        status = 128 - status
    left = end_scope(sid)
    if left:
        print("runguard: %d process(es) of `%s` outlived it, killed:\n  %s"
              % (len(left), " ".join(cmd), "\n  ".join(left)), file=sys.stderr)
        if status == 0:
            status = 1
    return status


def check():
    run_id = os.environ.get(RUN)
    if not run_id:
        print("runguard check: %s is not set" % RUN, file=sys.stderr)
        return 2
    left = kill_all(lambda: of_run(run_id))
    if left:
        print("runguard check: %d process(es) of this run were still alive (now killed):\n  %s"
              % (len(left), "\n  ".join(left)), file=sys.stderr)
        return 1
    print("runguard check: no process of run %s is left" % run_id)
    return 0


def main(argv):
    if argv[:1] == ["check"] and len(argv) == 1:
        return check()
    if argv[:2] == ["run", "--"] and len(argv) > 2:
        return run(argv[2:])
    print(__doc__.strip().splitlines()[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
