"""Shared fixtures for the trust-line tests (DESIGN.md §3, RELIABILITY.md "Threat
model"): the integration harness's agents, throwaway attacker users, and the
device's folder layout. Each test attacks as a non-root user and checks the
legitimate path beside it."""

import importlib.util
import os
import pwd
import subprocess
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# The agent harness lives in tests/integration/conftest.py; load it under its
# own name (two modules called `conftest` would shadow each other).
_spec = importlib.util.spec_from_file_location("integration_harness", os.path.join(HERE, os.pardir, "integration", "conftest.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

# Every fixture of the harness (agents, root, notify, the helper user, …), whatever
# they depend on.
for _name in dir(harness):
    if isinstance(getattr(harness, _name), type(harness.agents)):
        globals()[_name] = getattr(harness, _name)
FAST = harness.FAST
PYTHON = harness.PYTHON


@pytest.fixture
def make_user():
    """make_user() -> pwd entry of a new throwaway system user `ta-…` (no
    home, no shell); its processes are killed and it is removed afterwards."""
    made = []

    def make(groups=()):
        name = "ta-" + uuid.uuid4().hex[:8]
        args = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        if groups:
            args += ["-G", ",".join(groups)]
        subprocess.run(args + [name], check=True)
        made.append(name)
        return pwd.getpwnam(name)

    yield make
    for name in made:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        subprocess.run(["userdel", name], check=False)


def make_tree(root, app):
    """Lays `root` out as DESIGN.md §3 says, for app user `app` (a pwd entry):
    root-owned 0755 base and bin/, cfg/ 0700, wdog/ root:app-group 0710,
    logs/ root:app-group 0750, SmartMeter/ the app user's."""
    modes = {"bin": (0, 0, 0o755), "cfg": (0, 0, 0o700), "wdog": (0, app.pw_gid, 0o710),
             "logs": (0, app.pw_gid, 0o750), "SmartMeter": (app.pw_uid, app.pw_gid, 0o755)}
    os.chown(root, 0, 0)
    os.chmod(root, 0o755)
    for folder, (uid, gid, mode) in modes.items():
        path = os.path.join(root, folder)
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)


def make_old_tree(root, app):
    """The tree as versions before DESIGN.md §3's owners left it: every folder the app
    user's (cfg/ 0700), as `make_tree` then an upgrade has to fix."""
    make_tree(root, app)
    for folder in ("", "bin", "cfg", "wdog", "logs", "SmartMeter"):
        os.chown(os.path.join(root, folder), app.pw_uid, app.pw_gid)
        os.chmod(os.path.join(root, folder), 0o700 if folder == "cfg" else 0o755)


def run_as(user, code, *args, timeout=10, **kwargs):
    """Runs Python `code` as `user` (a pwd entry) with Debian's interpreter."""
    return subprocess.run([PYTHON, "-c", code] + [str(a) for a in args], user=user.pw_uid, group=user.pw_gid,
                          extra_groups=os.getgrouplist(user.pw_name, user.pw_gid), capture_output=True, text=True,
                          timeout=timeout, **kwargs)
