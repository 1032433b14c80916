"""The systemd unit in buildroot/overlay: what the agent needs, accepted by
`systemd-analyze verify`, only options Buster's systemd 241 knows, one copy in the tree,
and a sandbox that still lets the agent verify and restart other users' processes."""

import os
import re
import shutil
import subprocess

import pytest

from provisioning import HOST_AGENT, REPO, UNIT, requires_root

GUARD = os.path.join(REPO, "buildroot", "overlay", "usr", "lib", "tinyagent", "tinyagent-guard")

# Every key the unit may use, with the systemd version that introduced it: a new key
# needs a line here, and nothing newer than Raspbian Buster's systemd 241 is allowed.
KNOWN_KEYS = {
    "Description": 1, "Documentation": 187, "ExecReload": 1, "Wants": 1, "After": 1, "WantedBy": 1, "Type": 1, "NotifyAccess": 1,
    "ExecStart": 1, "ExecStartPre": 1, "WatchdogSec": 1, "Restart": 1, "RestartSec": 1, "KillMode": 1,
    "TimeoutStopSec": 188, "NoNewPrivileges": 187, "CapabilityBoundingSet": 1,
    "ProtectSystem": 214, "ProtectHome": 214, "ReadWritePaths": 231, "ProtectKernelTunables": 232,
    "ProtectKernelModules": 232, "ProtectControlGroups": 232, "RestrictAddressFamilies": 211,
    "RestrictNamespaces": 233, "RestrictRealtime": 231, "LockPersonality": 235,
    "SystemCallArchitectures": 233, "AmbientCapabilities": 229, "PrivateMounts": 239,
}
BUSTER_SYSTEMD = 241


def unit_settings():
    settings = {}
    with open(UNIT) as f:
        for line in f:
            m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
            if m:
                settings[m.group(1)] = m.group(2)
    return settings


def test_the_unit_has_what_the_agent_needs():
    s = unit_settings()
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"
    assert int(s["WatchdogSec"]) > 0 and s["Restart"] == "always"
    assert s["KillMode"] == "process", "the SmartMeter processes outlive an agent restart"
    assert s["ExecStart"] == "/usr/lib/tinyagent/tinyagent run --root /home/pi/technospurs"
    assert not s["ExecStart"].startswith("/home/"), "pi owns /home/pi: it could rename a folder on the path"
    assert s["WantedBy"] == "multi-user.target"
    assert "User" not in s, "runs as root: it restarts processes as their own uids"
    assert "PrivateTmp" not in s, "the processes outliving the agent would lose their /tmp"
    assert s["ReadWritePaths"] == "/home/pi/technospurs /usr/lib/tinyagent", "a self-update replaces the programs"
    assert s["ExecStartPre"] == "/usr/lib/tinyagent/tinyagent-guard /home/pi/technospurs", "rolls back a failed self-update"
    assert s["Documentation"] == "man:tinyagent(1)", "the .deb ships the page"
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID", "systemctl reload: the agent reads settings and manifest again"


def test_the_unit_uses_only_options_that_buster_systemd_241_knows():
    for key in unit_settings():
        assert key in KNOWN_KEYS, "%s: add it to KNOWN_KEYS with the systemd version that has it" % key
        assert KNOWN_KEYS[key] <= BUSTER_SYSTEMD, "%s needs systemd %d" % (key, KNOWN_KEYS[key])


def test_there_is_one_unit_file_and_the_deb_packages_it():
    assert not os.path.exists(os.path.join(REPO, "cross", "deb", "tinyagent.service"))
    with open(os.path.join(REPO, "cross", "build-deb.sh")) as f:
        assert "buildroot/overlay/lib/systemd/system/tinyagent.service" in f.read()


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path):
    # An alternate root with this machine's own units (sysinit.target, …), the unit and
    # an executable where ExecStart points: PID 1 need not be systemd. --man=no: the page
    # Documentation= names comes with the .deb (cross/test-deb.sh checks it there).
    root = tmp_path / "root"
    shutil.copytree("/lib/systemd/system", str(root / "lib" / "systemd" / "system"), symlinks=True)
    shutil.copy(UNIT, str(root / "lib" / "systemd" / "system"))
    (root / "usr" / "lib" / "tinyagent").mkdir(parents=True)
    shutil.copy(HOST_AGENT, str(root / "usr" / "lib" / "tinyagent" / "tinyagent"))
    shutil.copy(GUARD, str(root / "usr" / "lib" / "tinyagent" / "tinyagent-guard"))
    (root / "bin").mkdir()
    shutil.copy("/bin/kill", str(root / "bin" / "kill"))  # ExecReload's
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=%s" % root, "tinyagent.service"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert (result.returncode, result.stdout.decode()) == (0, "")
    # Proof that a bad line would be reported: a misspelt key.
    with open(str(root / "lib" / "systemd" / "system" / "tinyagent.service"), "a") as f:
        f.write("[Service]\nWatchdogSecs=5\n")
    bad = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=%s" % root, "tinyagent.service"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert "Unknown key" in bad.stdout.decode()


def sandboxed_agent(tmp_path, drop=()):
    """The agent behind the unit's CapabilityBoundingSet and NoNewPrivileges=yes (setpriv
    sets both and execs it: the same pid, as under systemd)."""
    s = unit_settings()
    assert s["NoNewPrivileges"] == "yes"
    caps = [c[len("CAP_"):].lower() for c in s["CapabilityBoundingSet"].split() if c not in drop]
    wrapper = tmp_path / "agent"
    wrapper.write_text("#!/bin/sh\nexec setpriv --no-new-privs --bounding-set=-all,%s -- %s \"$@\"\n"
                       % (",".join("+" + c for c in caps), HOST_AGENT))
    wrapper.chmod(0o755)
    return str(wrapper)


def run_integration(agent, selection):
    return subprocess.run(
        ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", selection,
         "tests/integration/test_watchdog.py", "tests/integration/test_trust.py"],
        cwd=REPO, env=dict(os.environ, TINYAGENT_BIN=agent), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=600)


@requires_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
def test_the_sandboxed_agent_still_verifies_and_restarts_other_users_processes(tmp_path):
    other_uid = "same_uid or another_user or allowlisted"
    result = run_integration(sandboxed_agent(tmp_path), other_uid)
    assert result.returncode == 0, result.stdout.decode()[-3000:]
    assert " passed" in result.stdout.decode() and " failed" not in result.stdout.decode()
    # And why CAP_SYS_PTRACE is in the set: without it, /proc/PID/fd of another uid is
    # closed to root, so its heartbeats cannot be verified and it is never restarted.
    (tmp_path / "noptrace").mkdir()
    without = run_integration(sandboxed_agent(tmp_path / "noptrace", drop=("CAP_SYS_PTRACE",)), "same_uid")
    assert without.returncode != 0
