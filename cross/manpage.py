#!/usr/bin/env python3
"""Writes tinyagent(1) (roff) from the binary's own help: `tinyagent --help` names the
commands, and each command's `--help` is its section, so the page cannot drift from the
binary it ships with. Commands come and go with the code; nothing here lists them.

  cross/manpage.py --date YYYY-MM-DD -- COMMAND...   (COMMAND runs tinyagent, e.g.
                                                      qemu-arm -L SYSROOT build/armhf/tinyagent)
The page goes to stdout; exit 1 with one line on stderr when the help cannot be read.
"""

import re
import subprocess
import sys

DESCRIPTION = """\
tinyagent keeps the SmartMeter processes of a Raspberry Pi alive: they send heartbeats,
and a silent or crashed one is restarted as the user it ran as. It is kept alive by
systemd itself (Type=notify, WatchdogSec=), starts the processes the manifest
SmartMeter/tinyagent.json lists, holds an XMPP link to the control panel and executes its
commands (status, restart_process, smart_meter_update), keeps its credentials in an
AES-256 encrypted file, and installs software updates with a rollback. The same binary is
the command-line client of a running agent."""

FILES = [
    ("/home/pi/technospurs/", "the agent's root (run --root DIR changes it); root's, 0755"),
    ("cfg/config_file.bin", "the encrypted XMPP credentials, root 0600"),
    ("cfg/key", "the fleet's key for it (key= and iv= lines), root 0600; without it, the seed's key. "
                "A key on the card is obfuscation, not secrecy"),
    ("cfg/agent.json", "optional settings, root 0600"),
    ("certs/cacert.pem", "the only CA trusted for XMPP TLS and HTTPS"),
    ("SmartMeter/", "the supervised application, the app user's; SmartMeter/tinyagent.json lists its processes"),
    ("wdog/", "the agent's state (registry, journals) and sockets: agent.sock (control), heartbeat.sock"),
    ("logs/", "tinyagent.log and each process's output, NAME.log, rotated"),
    ("/lib/systemd/system/tinyagent.service", "the unit; change it with systemctl edit tinyagent (a drop-in "
                                              "in /etc/systemd/system/tinyagent.service.d/ survives upgrades)"),
]


def helptext(command, *args):
    result = subprocess.run(command + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if result.returncode != 0:
        sys.exit("manpage: %s %s exited %d: %s" % (" ".join(command), " ".join(args), result.returncode,
                                                   result.stderr.decode(errors="replace").strip()))
    return result.stdout.decode()


def verbs(usage):
    """The commands the usage lists, in its order: lines indented by exactly two spaces
    under "commands:" (`config encrypt` and `config check` are one command, config)."""
    found, inside = [], False
    for line in usage.splitlines():
        if line.strip() == "commands:":
            inside = True
        elif inside and line and not line.startswith(" "):
            break
        elif inside and re.match(r"  [a-z]", line):
            verb = line.split()[0]
            if verb not in found:
                found.append(verb)
    if not found:
        sys.exit("manpage: no commands under \"commands:\" in the usage")
    return found


def split_exit_status(text):
    """(the text before "exit status:", that paragraph)."""
    head, _, tail = text.partition("exit status:")
    return head.rstrip(), ("exit status:" + tail).strip() if tail else ""


def roff(text):
    """Text as roff: backslashes escaped, every - a minus (options stay copyable), no line
    read as a request."""
    out = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def page(command, date):
    usage = helptext(command, "--help")
    version = helptext(command, "version").strip().split()[-1]
    _, status = split_exit_status(usage)
    out = ['.TH TINYAGENT 1 "%s" "tinyagent %s" "User Commands"' % (date, version),
           ".SH NAME", "tinyagent \\- always-on agent for Raspberry Pi SmartMeter fleets",
           ".SH SYNOPSIS", ".nf"]
    names = verbs(usage)
    for line in usage.splitlines():
        if re.match(r"  [a-z]", line) and line.split()[0] in names:
            out.append(roff("tinyagent " + line.strip()))
    out += [".fi", ".SH DESCRIPTION", roff(DESCRIPTION), ".PP",
            "Every command takes \\fB\\-\\-help\\fR; what follows is that help, command by command.",
            ".SH COMMANDS"]
    for verb in names:
        body, _ = split_exit_status(helptext(command, verb, "--help"))
        lines = [line for line in body.splitlines() if line.strip() != "usage:"]
        out += [".SS %s" % verb, ".nf", roff("\n".join(line[2:] if line.startswith("  ") else line
                                                       for line in lines)), ".fi"]
    out += [".SH EXIT STATUS", roff(status.partition(":")[2].strip().replace("\n", " ")),
            ".SH FILES", "Under the root unless the path is absolute:"]
    for path, what in FILES:
        out += [".TP", "\\fI%s\\fR" % roff(path), roff(what)]
    out += [".SH SEE ALSO", "systemctl(1), systemd.service(5), journalctl(1), openssl-enc(1);",
            "/usr/share/doc/tinyagent/ (changelog, copyright)."]
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) < 4 or argv[0] != "--date" or argv[2] != "--":
        sys.exit("usage: cross/manpage.py --date YYYY-MM-DD -- COMMAND...")
    sys.stdout.write(page(argv[3:], argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
