"""Fixtures for the HTTPS tests: test certificates, the fault server, the agent binary."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from faultserver import FaultServer, load_pki_module  # noqa: E402

BINARY = os.environ.get("TINYAGENT_BIN", os.path.join(REPO, ".build-embedded", "release", "tinyagent"))
pki_module = load_pki_module()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return pki_module.make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def server(pki, files):
    with FaultServer(str(files), pki=pki) as s:
        yield s


@pytest.fixture
def plain_server(files):
    with FaultServer(str(files)) as s:
        yield s


def run_agent(*args, timeout=30):
    if not os.path.exists(BINARY):
        pytest.fail("no agent binary at %s (build it, or set TINYAGENT_BIN)" % BINARY)
    return subprocess.run([BINARY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
