"""apt-get install for the test harness and the benches, as root.

The servers they install (prosody, ejabberd, monit, supervisor) come with a
system service that would start at once and listen on every interface; a
policy-rc.d that says no keeps them from starting (as scripts/install-deps.sh
does). The package lists are refreshed only when an install fails."""

import os
import subprocess

POLICY = "/usr/sbin/policy-rc.d"


def install(*packages):
    """Installs PACKAGES (apt's NAME or NAME=VERSION); raises CalledProcessError."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    made_policy = not os.path.exists(POLICY)
    if made_policy:
        with open(POLICY, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(POLICY, 0o755)
    try:
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + list(packages)
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    finally:
        if made_policy:
            os.unlink(POLICY)
