"""Shared fixtures for the trust-line tests (SPEC §3, RELIABILITY.md "Threat
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

# Every fixture of the harness (agents, root, the helper user, …), whatever
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


def run_as(user, code, *args, timeout=10, **kwargs):
    """Runs Python `code` as `user` (a pwd entry) with Debian's interpreter."""
    return subprocess.run([PYTHON, "-c", code] + [str(a) for a in args], user=user.pw_uid, group=user.pw_gid,
                          extra_groups=os.getgrouplist(user.pw_name, user.pw_gid), capture_output=True, text=True,
                          timeout=timeout, **kwargs)
