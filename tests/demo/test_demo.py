"""The README's first command, as a new user runs it: `make demo` with a stock PATH and
nothing else from this machine's environment (issue 16: a private Python on root's PATH
once hid that Debian 12 refuses `pip install` into its own Python)."""

import json
import os
import re
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import runguard  # noqa: E402
STOCK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_under(root):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(root) or root in cmdline:
            found.append("%s %s" % (pid, cmdline))
    return found


def test_make_demo_runs_with_a_stock_path_and_leaves_no_process_behind():
    # Only the run's marks besides (tests/runguard.py): what the demo starts stays in this run's books.
    env = runguard.marked({"PATH": STOCK_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"})
    run = subprocess.run(["make", "--no-print-directory", "demo", "DEMO_PORT=%d" % free_udp_port()],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=600)
    out = run.stdout
    assert run.returncode == 0, out[-4000:]
    root = re.search(r"tinyagent on (/\S+), heartbeats", out).group(1)
    answers = [json.loads(line) for line in out.splitlines() if line.startswith('{"command_no"')]
    assert {"command_no": 3, "from": "demo-meter-01", "success": True, "remarks": ""} in answers, out[-4000:]
    # The manifest started both readers (no process is started by hand).
    for name in ("ocr", "uploader"):
        assert re.search(r"%s: started \(listed in the manifest\)" % name, out), out[-4000:]
    assert "ocr: stopped" in out and re.search(r"^ocr .*stopped \(by operator\)", out, re.M), out[-4000:]
    assert re.search(r"^ocr: started \(pid \d+\)$", out, re.M), out[-4000:]
    assert not os.path.exists(root)
    assert processes_under(root) == []
