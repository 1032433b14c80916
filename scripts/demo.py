#!/usr/bin/env python3
"""The agent's job, on loopback.

tinyagent runs on a temporary root and starts the two sample SmartMeter
processes its manifest (SmartMeter/tinyagent.json) lists: one hangs (alive but silent), one crashes; both are restarted, and
`tinyagent status` shows it happen. Meanwhile the agent is logged in to a
local prosody (STARTTLS, certificate from a test CA pinned in
certs/cacert.pem), and a control-panel stand-in asks it for its status over
XMPP and prints the answer. Then the panel updates the SmartMeter folder:
a local HTTPS server (same test CA) serves an update archive, the panel
sends `smart_meter_update`, the agent downloads, checks and unpacks it,
swaps the folder (keeping the previous one), starts the new processes and
answers once every listed process heartbeats its new version. Last, root stops
ocr locally (`tinyagent stop`): it stays stopped past its heartbeat deadline
until `tinyagent start`.
"""

import hashlib

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "xmpp"))
from panel import Panel  # noqa: E402
from pki import make_pki  # noqa: E402
from prosody import Prosody  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests"))
import runguard  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "https"))
from faultserver import FaultServer  # noqa: E402

BIN = os.path.join(REPO, ".build-embedded", "release", "tinyagent")
PY = "/usr/bin/python3"
PORT = int(os.environ.get("DEMO_PORT", "4951"))


def say(text):
    print("\n== " + text, flush=True)


def main(scope):
    root = tempfile.mkdtemp(prefix="tinyagent-demo.")
    os.chmod(root, 0o755)
    agent = server = None
    try:
        # The device's layout (DESIGN.md §3): the helper in bin/, the code in SmartMeter/.
        for folder in ("bin", "cfg", "certs", "logs", "wdog", "SmartMeter"):
            os.makedirs(os.path.join(root, folder))
        shutil.copy(os.path.join(REPO, "helpers", "python", "tinyagent_heartbeat.py"), os.path.join(root, "bin"))
        shutil.copy(os.path.join(REPO, "samples", "SmartMeter", "meter_reader.py"), os.path.join(root, "SmartMeter"))
        # Short deadlines so the demo takes seconds, not minutes. The SmartMeter code
        # runs as the app user, never root (DESIGN.md §3): `pi` on a card, `nobody` here.
        with open(os.path.join(root, "cfg", "agent.json"), "w") as f:
            json.dump({"heartbeat_timeout_ms": 3000, "kill_grace_ms": 1000, "run_as": "nobody"}, f)

        say("a local XMPP server (prosody) with a test CA, accounts device@localhost and panel@localhost")
        pki = make_pki(os.path.join(root, "pki"))
        server = Prosody(os.path.join(root, "xmpp"), tls="starttls", cert=pki.server_cert, key=pki.server_key)
        server.register("device", "device-secret")
        server.register("panel", "panel-secret")
        server.start()
        shutil.copy(pki.ca_cert, os.path.join(root, "certs", "cacert.pem"))
        plain = os.path.join(root, "plain.json")
        with open(plain, "w") as f:
            json.dump({"xmpp_client": {"client_jid": "device@localhost", "client_password": "device-secret",
                                       "cpanel_jid": "panel@localhost", "rpi_unique_id": "demo-meter-01",
                                       "host": "127.0.0.1", "port": server.port}}, f)
        subprocess.run([BIN, "config", "encrypt", "--in", plain, "--out", os.path.join(root, "cfg", "config_file.bin")],
                       check=True)
        os.unlink(plain)
        subprocess.run([BIN, "config", "check", "--root", root], check=True)

        say("SmartMeter/tinyagent.json, the manifest: two meter readers, 'ocr' hangs after 4 s, "
            "'uploader' crashes after 6 s; the agent starts what it lists")
        processes = []
        for name, version, fault in (("ocr", "1.4.0", "--hang-after 4"), ("uploader", "2.0.1", "--crash-after 6")):
            processes.append({"name": name, "version": version,
                              "run_command": "exec %s meter_reader.py --name %s --version %s --interval 0.5 %s --port %d"
                              % (PY, name, version, fault, PORT)})
        with open(os.path.join(root, "SmartMeter", "tinyagent.json"), "w") as f:
            json.dump({"processes": processes}, f, indent=2)
        with open(os.path.join(root, "SmartMeter", "tinyagent.json")) as f:
            print(f.read())

        say("tinyagent on %s, heartbeats on 127.0.0.1:%d (its log lines carry timestamps)" % (root, PORT))
        agent = subprocess.Popen([BIN, "run", "--root", root, "--heartbeat-port", str(PORT)])
        time.sleep(0.5)

        with Panel("panel@localhost", "panel-secret", "127.0.0.1", server.port, pki.ca_cert) as panel:
            for t, wait in ((2, 2), (6, 4), (10, 4), (16, 6)):
                time.sleep(wait)
                say("status at %d s" % t)
                subprocess.run([BIN, "status", "--root", root])
            say("the panel asks over XMPP: {\"command\": \"status\", \"command_no\": 1}")
            panel.send("device@localhost", {"command": "status", "command_no": 1})
            print(json.dumps(panel.wait_reply(timeout=10), indent=2))
            say("the panel restarts uploader (command_no 2), then sends command_no 2 again: answered from the journal, not run twice")
            panel.send("device@localhost", {"command": "restart_process", "command_no": 2, "name": "uploader"})
            print(json.dumps(panel.wait_reply(timeout=10)))
            panel.send("device@localhost", {"command": "restart_process", "command_no": 2, "name": "uploader"})
            print(json.dumps(panel.wait_reply(timeout=10)))

            say("an update archive: SmartMeter/ with ocr 1.5.0 and uploader 2.1.0 and a tinyagent.json manifest,"
                " served over HTTPS by a local server with a certificate from the same test CA")
            files = os.path.join(root, "www")
            os.makedirs(files)
            archive = os.path.join(files, "imageSets.zip")
            subprocess.run([PY, os.path.join(REPO, "tests", "update", "zips.py"), "good", archive,
                            "--process", "ocr:1.5.0", "--process", "uploader:2.1.0", "--interval", "0.5"], check=True)
            with open(archive, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            with FaultServer(root=files, pki=pki) as https:
                update = {"command": "smart_meter_update", "command_no": 3, "url": https.url("/file/imageSets.zip"),
                          "sha256": digest, "timeout_s": 30,
                          "processes": [{"name": "ocr", "version": {"major": 1, "minor": 5, "patch": 0}},
                                        {"name": "uploader", "version": {"major": 2, "minor": 1, "patch": 0}}]}
                say("the panel sends:\n" + json.dumps(update, indent=2))
                started = time.monotonic()
                panel.send("device@localhost", update)
                answer = panel.wait_reply(timeout=60)
                say("the answer, %.1f s later:" % (time.monotonic() - started))
                print(json.dumps(answer))
            subprocess.run([BIN, "status", "--root", root])
            say("the folders: SmartMeter is the new version, SmartMeter.prev the one before")
            for folder in ("SmartMeter", "SmartMeter.prev"):
                print("%-16s %s" % (folder, " ".join(sorted(os.listdir(os.path.join(root, folder))))))
            say("the agent's log of the update")
            with open(os.path.join(root, "logs", "tinyagent.log")) as f:
                print("".join(line for line in f if "update" in line or "SmartMeter" in line), end="")

        say("locally, as root: tinyagent stop ocr — it stays stopped, silence or not, until tinyagent start ocr")
        subprocess.run([BIN, "stop", "ocr", "--root", root], check=True)
        time.sleep(3.5)  # past the 3 s heartbeat deadline: a crashed or hung ocr would be restarted by now
        subprocess.run([BIN, "status", "--root", root])
        say("tinyagent start ocr")
        subprocess.run([BIN, "start", "ocr", "--root", root], check=True)
        time.sleep(1)
        subprocess.run([BIN, "status", "--root", root])
        say("tinyagent logs ocr -n 3 (its output log, logs/ocr.log)")
        subprocess.run([BIN, "logs", "ocr", "-n", "3", "--root", root])
    finally:
        if agent:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=10)
        scope.end()  # what the demo started, the agent's processes and the server included
        if server:
            server.close()
        shutil.rmtree(root, ignore_errors=True)


def interrupted(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    # Ctrl-C or SIGTERM: main's clean-up runs, then whatever the demo started
    # (the agent's processes outlive it by design) is killed.
    signal.signal(signal.SIGTERM, interrupted)
    with runguard.Scope() as scope:
        main(scope)
