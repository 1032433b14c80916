#!/usr/bin/env python3
"""Builds update archives, good and hostile, for tinyagent's tests.

    python3 tests/update/zips.py KIND OUT.zip [options]

Kinds:
  good            SmartMeter/ with one executable Python process per --process (default
                  meter_reader:1.0.0), the heartbeat helper in SmartMeter/lib/, an empty
                  SmartMeter/data/ folder, SmartMeter/tinyagent.json, and two top-level
                  entries the agent ignores: __MACOSX/ and README.txt (--no-extras: none)
  dos             good, but every entry made on MS-DOS (no Unix modes)
  no-smartmeter   an App/ folder and __MACOSX/, no SmartMeter/
  smartmeter-file a top-level file named SmartMeter
  zip-slip        good plus SmartMeter/../../evil
  absolute        good plus /tmp/evil
  backslash       good plus SmartMeter\\evil
  symlink         good plus SmartMeter/link, a symbolic link to ../../etc/passwd
  device          good plus SmartMeter/dev, a character device
  fifo            good plus SmartMeter/fifo, a named pipe
  duplicate       good plus a second SmartMeter/tinyagent.json
  conflict        good plus a file SmartMeter/data where the folder SmartMeter/data/ is
  bomb-ratio      good plus SmartMeter/zeros.bin: 50 MiB of zeros, deflated (about 1000:1)
  over-cap        --entries N small files (default 10001), or with --declared BYTES one
                  stored entry whose headers claim BYTES (default 600 MiB)
  crc-corrupt     good plus SmartMeter/stored.bin (stored), one data byte flipped
  lying-size      good plus SmartMeter/big.txt (deflated, 200000 bytes) whose headers
                  claim 1000 bytes
  encrypted       good with SmartMeter/tinyagent.json flagged as encrypted
  bad-manifest    good with tinyagent.json replaced by --manifest TEXT (default: a process
                  named "../x")
  not-a-zip       text, not a zip
  world-writable  good, but every file mode 6777 (setuid, setgid, rwx for all) and every
                  folder 1777 (sticky, rwx for all)
  macos           good, shaped as macOS's Archive Utility writes it: general purpose flag 8
                  with a data descriptor after the data, the sizes also in the local header
                  but its CRC zero, made by Unix 3.21, and an old Info-ZIP Unix extra field
                  (0x5855) that carries uid and gid in the local header only

Options for good (and the kinds built on it):
  --process NAME:VERSION[:RUN_COMMAND]   a process SmartMeter/NAME.py heartbeating as NAME
        with VERSION (X.Y.Z) every --interval seconds, listed in tinyagent.json with
        RUN_COMMAND (default "python3 NAME.py": the agent starts processes in SmartMeter/).
        Repeatable. The script sends RUN_COMMAND as its heartbeat's run_command.
  --silent NAME       that process runs but never heartbeats
  --stubborn NAME     that process ignores SIGTERM (the agent must SIGKILL it)
  --interval SECONDS  heartbeat interval of the processes (default 1)
  --size BYTES        add SmartMeter/data/filler.bin, BYTES of incompressible filler
  --no-manifest       no SmartMeter/tinyagent.json
  --manifest-version NAME:VERSION   tinyagent.json names VERSION for process NAME (what a
        local update confirms against); repeatable
  --no-extras         no __MACOSX/ or README.txt

Output is reproducible: fixed timestamps, seeded filler. Python 3.6+ (the process scripts
inside the archive run on the Pis' Python 3.5).
"""

import argparse
import io
import json
import os
import random
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, os.pardir, os.pardir, "helpers", "python", "tinyagent_heartbeat.py")
STAMP = (2024, 1, 1, 0, 0, 0)
STAMP_SECONDS = 1704067200  # STAMP as a Unix time
UNIX = 3
DOS = 0

PROCESS_SCRIPT = '''#!/usr/bin/env python3
"""{name} {version}: made by tests/update/zips.py; heartbeats to tinyagent."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tinyagent_heartbeat import Heartbeat  # noqa: E402

NAME = {name!r}
VERSION = {version!r}
RUN_COMMAND = {run_command!r}
INTERVAL = {interval!r}
SILENT = {silent!r}
if {stubborn!r}:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

print("started pid=%d name=%s version=%s" % (os.getpid(), NAME, VERSION), flush=True)
hb = Heartbeat(NAME, VERSION, run_command=RUN_COMMAND)
while True:
    if not SILENT:
        hb.beat()
    time.sleep(INTERVAL)
'''


class Unseekable(io.RawIOBase):
    """A file zipfile cannot seek in, so it writes data descriptors."""

    def __init__(self, path):
        self.file = open(path, "wb")

    def writable(self):
        return True

    def write(self, data):
        return self.file.write(data)

    def close(self):
        self.file.close()
        super().close()


class Archive:
    """A zip being written, entries with explicit modes and a fixed timestamp."""

    def __init__(self, path, system=UNIX, streamed=False, file_mode=None, folder_mode=None):
        self.stream = Unseekable(path) if streamed else None
        self.zip = zipfile.ZipFile(self.stream or path, "w")
        self.system = system
        self.extra = b""
        # Modes every entry gets instead of its own (None: its own).
        self.file_mode = file_mode
        self.folder_mode = folder_mode

    def file(self, name, data, mode=0o644, compress=zipfile.ZIP_DEFLATED, kind=0o100000):
        if self.file_mode is not None and kind == 0o100000:
            mode = self.file_mode
        info = zipfile.ZipInfo(name, STAMP)
        info.create_system = self.system
        info.external_attr = ((kind | mode) << 16) if self.system == UNIX else 0
        info.compress_type = compress
        info.extra = self.extra
        self.zip.writestr(info, data)
        return info

    def filler(self, name, size, mode=0o644):
        """`size` bytes of seeded random data, deflated (so about `size` in the zip too),
        streamed in 1 MiB pieces."""
        mode = mode if self.file_mode is None else self.file_mode
        info = zipfile.ZipInfo(name, STAMP)
        info.create_system = self.system
        info.external_attr = ((0o100000 | mode) << 16) if self.system == UNIX else 0
        info.compress_type = zipfile.ZIP_DEFLATED
        rng = random.Random(5)
        with self.zip.open(info, "w", force_zip64=size >= 1 << 31) as out:
            left = size
            while left:
                n = min(left, 1 << 20)
                out.write(rng.getrandbits(8 * n).to_bytes(n, "little"))
                left -= n

    def folder(self, name, mode=0o755):
        mode = mode if self.folder_mode is None else self.folder_mode
        info = zipfile.ZipInfo(name if name.endswith("/") else name + "/", STAMP)
        info.create_system = self.system
        info.external_attr = (((0o040000 | mode) << 16) if self.system == UNIX else 0) | 0x10
        info.extra = self.extra
        self.zip.writestr(info, b"")
        return info

    def close(self):
        self.zip.close()
        if self.stream:
            self.stream.close()


def parse_process(text):
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("want NAME:VERSION[:RUN_COMMAND], got %r" % text)
    name, version = parts[0], parts[1]
    command = parts[2] if len(parts) == 3 and parts[2] else "python3 %s.py" % name
    return name, version, command


def write_good(archive, args, manifest=True):
    processes = args.process or [parse_process("meter_reader:1.0.0")]
    archive.folder("SmartMeter/")
    for name, version, command in processes:
        script = PROCESS_SCRIPT.format(name=name, version=version, run_command=command,
                                       interval=args.interval, silent=name in args.silent,
                                       stubborn=name in args.stubborn)
        archive.file("SmartMeter/%s.py" % name, script, mode=0o755)
    with open(HELPER, "rb") as f:
        archive.file("SmartMeter/lib/tinyagent_heartbeat.py", f.read())
    archive.folder("SmartMeter/data/")
    if args.size:
        archive.filler("SmartMeter/data/filler.bin", args.size)
    if manifest and not args.no_manifest:
        claimed = dict(v.split(":", 1) for v in args.manifest_version)
        doc = {"processes": [dict({"name": n, "run_command": c}, **({"version": claimed[n]} if n in claimed else {}))
                             for n, _, c in processes]}
        archive.file("SmartMeter/tinyagent.json", json.dumps(doc, indent=2) + "\n")
    if not args.no_extras:
        archive.folder("__MACOSX/")
        archive.file("__MACOSX/SmartMeter/._meter_reader.py", b"\0\5\26\7" + b"\0" * 60)
        archive.file("README.txt", "Update archive for tinyagent.\n")


# ---- header surgery ---------------------------------------------------------------------

def central_entries(data):
    """(offset of the central directory entry, name, local header offset) for each entry."""
    eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise SystemExit("zips.py: no end of central directory")
    count, _, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    out, at = [], cd_offset
    for _ in range(count):
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        (local,) = struct.unpack_from("<I", data, at + 42)
        out.append((at, data[at + 46:at + 46 + n].decode("utf-8", "replace"), local))
        at += 46 + n + m + k
    return out


def patch(path, name, uncompressed=None, flags_or=None, flip_data_byte=False):
    """Changes entry `name` in both its local and its central header."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    for cd, entry, local in central_entries(data):
        if entry != name:
            continue
        if uncompressed is not None:
            struct.pack_into("<I", data, cd + 24, uncompressed)
            struct.pack_into("<I", data, local + 22, uncompressed)
        if flags_or is not None:
            for at in (cd + 8, local + 6):
                (flags,) = struct.unpack_from("<H", data, at)
                struct.pack_into("<H", data, at, flags | flags_or)
        if flip_data_byte:
            n, m = struct.unpack_from("<HH", data, local + 26)
            data[local + 30 + n + m] ^= 0xFF
        break
    else:
        raise SystemExit("zips.py: no entry %r to patch" % name)
    with open(path, "wb") as f:
        f.write(data)


def ux_extra(local):
    """Info-ZIP's old Unix extra field (0x5855): atime, mtime, and in local headers only
    uid and gid."""
    data = struct.pack("<II", STAMP_SECONDS, STAMP_SECONDS) + (struct.pack("<HH", 501, 20) if local else b"")
    return struct.pack("<HH", 0x5855, len(data)) + data


def as_archive_utility(path):
    """Rewrites a streamed zip the way macOS's Archive Utility writes it: the sizes in the
    local headers too (their CRC stays zero; the data descriptors stay); in the central
    directory made by Unix 3.21 (789) and the 0x5855 field without uid and gid (zipfile
    wrote `ux_extra(local=True)` into both)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    for at, _, local in central_entries(data):
        data[local + 18:local + 26] = data[at + 20:at + 28]
    eocd = data.rfind(b"PK\x05\x06")
    count, _, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    central = bytearray()
    for at, _, _ in central_entries(data):
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        header = bytearray(data[at:at + 46])
        struct.pack_into("<H", header, 4, 789)
        extra = ux_extra(local=False)
        struct.pack_into("<H", header, 30, len(extra))
        central += header + data[at + 46:at + 46 + n] + extra + data[at + 46 + n + m:at + 46 + n + m + k]
    end = bytearray(data[eocd:])
    struct.pack_into("<II", end, 12, len(central), cd_offset)
    with open(path, "wb") as f:
        f.write(data[:cd_offset] + central + end)


# ---- kinds --------------------------------------------------------------------------------

def build(kind, out, args):
    if kind == "not-a-zip":
        with open(out, "w") as f:
            f.write("This is not a zip archive.\n" * 10)
        return
    if kind == "world-writable":
        archive = Archive(out, file_mode=0o6777, folder_mode=0o1777)
    else:
        archive = Archive(out, system=DOS if kind == "dos" else UNIX, streamed=kind == "macos")
    after = None
    if kind in ("good", "dos", "world-writable"):
        write_good(archive, args)
    elif kind == "macos":
        archive.extra = ux_extra(local=True)
        write_good(archive, args)
        after = lambda: as_archive_utility(out)
    elif kind == "no-smartmeter":
        archive.folder("App/")
        archive.file("App/run.sh", "#!/bin/sh\necho hello\n", mode=0o755)
        archive.folder("__MACOSX/")
    elif kind == "smartmeter-file":
        archive.file("SmartMeter", "not a folder\n")
    elif kind == "zip-slip":
        write_good(archive, args)
        archive.file("SmartMeter/../../evil", "escaped\n")
    elif kind == "absolute":
        write_good(archive, args)
        archive.file("/tmp/evil", "absolute\n")
    elif kind == "backslash":
        write_good(archive, args)
        archive.file("SmartMeter\\evil", "windows\n")
    elif kind == "symlink":
        write_good(archive, args)
        archive.file("SmartMeter/link", "../../etc/passwd", mode=0o777, kind=0o120000,
                     compress=zipfile.ZIP_STORED)
    elif kind == "device":
        write_good(archive, args)
        archive.file("SmartMeter/dev", "", kind=0o020000)
    elif kind == "fifo":
        write_good(archive, args)
        archive.file("SmartMeter/fifo", "", kind=0o010000)
    elif kind == "duplicate":
        write_good(archive, args)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            archive.file("SmartMeter/tinyagent.json", '{"processes": []}\n')
    elif kind == "conflict":
        write_good(archive, args)
        archive.file("SmartMeter/data", "a file where a folder is\n")
    elif kind == "bomb-ratio":
        write_good(archive, args)
        archive.file("SmartMeter/zeros.bin", bytes(50 << 20))
    elif kind == "over-cap":
        archive.folder("SmartMeter/")
        if args.declared is not None:
            archive.file("SmartMeter/big.bin", b"x" * 1000, compress=zipfile.ZIP_STORED)
            after = lambda: patch(out, "SmartMeter/big.bin", uncompressed=args.declared)
        else:
            for i in range(args.entries - 1):
                archive.file("SmartMeter/f%05d" % i, b"", compress=zipfile.ZIP_STORED)
    elif kind == "crc-corrupt":
        write_good(archive, args)
        archive.file("SmartMeter/stored.bin", b"0123456789" * 100, compress=zipfile.ZIP_STORED)
        after = lambda: patch(out, "SmartMeter/stored.bin", flip_data_byte=True)
    elif kind == "lying-size":
        write_good(archive, args)
        archive.file("SmartMeter/big.txt", b"lying header\n" * 15385)
        after = lambda: patch(out, "SmartMeter/big.txt", uncompressed=1000)
    elif kind == "encrypted":
        write_good(archive, args)
        after = lambda: patch(out, "SmartMeter/tinyagent.json", flags_or=1)
    elif kind == "bad-manifest":
        write_good(archive, args, manifest=False)
        text = args.manifest or '{"processes": [{"name": "../x", "run_command": "python3 x.py"}]}'
        archive.file("SmartMeter/tinyagent.json", text)
    else:
        raise SystemExit("zips.py: unknown kind %r (see --help)" % kind)
    archive.close()
    if after:
        after()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("kind")
    parser.add_argument("out")
    parser.add_argument("--process", action="append", type=parse_process, default=[],
                        metavar="NAME:VERSION[:RUN_COMMAND]")
    parser.add_argument("--silent", action="append", default=[], metavar="NAME")
    parser.add_argument("--stubborn", action="append", default=[], metavar="NAME")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=0, metavar="BYTES")
    parser.add_argument("--no-manifest", action="store_true")
    parser.add_argument("--manifest-version", action="append", default=[], metavar="NAME:VERSION")
    parser.add_argument("--no-extras", action="store_true")
    parser.add_argument("--manifest", metavar="TEXT")
    parser.add_argument("--entries", type=int, default=10001)
    parser.add_argument("--declared", type=int, metavar="BYTES", nargs="?", const=600 << 20)
    args = parser.parse_args(argv)
    build(args.kind, args.out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
