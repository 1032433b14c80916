#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: Fuzz/corpus/<target>/<name>.

    python3 Fuzz/seeds.py        # rewrites Fuzz/corpus/ (output is reproducible)

Valid and near-valid inputs, small. The generated files are committed; rerun
after changing a parser's format. The encrypted config seeds need openssl.
"""

import base64
import io
import json
import os
import shutil
import struct
import subprocess
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SEED_KEY = b"01234567890123456789012345678901"
SEED_IV = b"0123456789012345"


def heartbeat():
    def hb(**fields):
        base = {"process_name": "meter_reader", "pid": 4321, "run_command": "python3 meter_reader.py",
                "version": {"major": 1, "minor": 0, "patch": 2}}
        base.update(fields)
        return json.dumps({k: v for k, v in base.items() if v is not None})
    return {
        "valid": hb(),
        "valid-compact": hb().replace(" ", ""),
        "no-command": hb(run_command=None),
        "empty-command": hb(run_command=""),
        "escaped-command": r'{"process_name":"ocr","pid":77,"run_command":"sh -c \"echo \\u00e9\\t\\ud83d\\ude00\"","version":{"major":0,"minor":65535,"patch":9}}',
        "utf8-command": hb(run_command="python3 z\u00e4hler.py").replace("\\u00e4", "\u00e4"),
        "name-dots": hb(process_name=".."),
        "name-slash": hb(process_name="a/b"),
        "name-long": hb(process_name="n" * 65),
        "pid-one": hb(pid=1),
        "pid-huge": hb(pid=4194305),
        "pid-float": hb(pid=12.5),
        "pid-string": hb(pid="12"),
        "version-big": hb(version={"major": 65536, "minor": 0, "patch": 0}),
        "version-missing": hb(version={"major": 1, "minor": 0}),
        "unknown-field": hb(extra=1),
        "unknown-nested": hb(extra={"a": [1, {"b": None}], "c": True}, version={"major": 1, "minor": 0, "patch": 2, "build": "x"}),
        "unknown-duplicate": hb(extra=1)[:-1] + ', "extra": 2}',
        "escaped-key": r'{"process_name":"a","pi\u0064":5,"version":{"major":1,"minor":0,"patch":0}}',
        # The seed's own sample, verbatim: no comma after run_command.
        "seed-sample": '{\n\t"process_name": "name_of_the_process",\n\t"pid":444,\n\t"run_command": "python3.5 /home/pi/technospurs/bin/SmartMeter/ocr...py"\n\t"version": {\n\t\t"major":1,\n\t\t"minor":0,\n\t\t"patch":0\n\t}\n}',
        "duplicate": '{"process_name":"a","process_name":"b","pid":5,"version":{"major":1,"minor":0,"patch":0}}',
        "array": "[1,2,3]",
        "truncated": hb()[:40],
        "whitespace": ' \n{ "pid" : 99 , "version" : { "patch" : 3 , "minor" : 2 , "major" : 1 } , "process_name" : "x-1.y_2" } \t',
    }


def command():
    sha = "ab" * 32
    update = {"command": "smart_meter_update", "command_no": 21, "url": "https://updates.example.com/sm-1.0.2.zip",
              "sha256": sha, "timeout_s": 120,
              "processes": [{"name": "meter_reader", "version": {"major": 1, "minor": 0, "patch": 2}},
                            {"name": "ocr", "version": "2.1.0"}]}
    return {
        "status": '{"command": "status", "command_no": 7}',
        "restart": '{"command": "restart_process", "command_no": 8, "name": "ocr"}',
        "restart-unknown": '{"command": "restart_process", "command_no": 9, "name": "nope\\n"}',
        "update": json.dumps(update),
        "update-running": json.dumps(dict(update, command_no=22)),
        "update-refused": json.dumps(dict(update, command_no=23)),
        "update-bad-sha": json.dumps(dict(update, sha256="xyz")),
        "update-bad-timeout": json.dumps(dict(update, timeout_s=0)),
        "update-twice": json.dumps(dict(update, processes=[update["processes"][0]] * 2)),
        "update-no-url": json.dumps({k: v for k, v in update.items() if k != "url"}),
        "unknown": '{"command": "reboot", "command_no": 4}',
        "no-command": '{"command_no": 5}',
        "negative-no": '{"command": "status", "command_no": -1}',
        "big-no": '{"command": "status", "command_no": 9223372036854775807}',
        "malformed-with-no": '{"command": "status", "command_no": 12, ',
        "malformed": '{"command": status}',
        "numbers": '{"command_no": 3, "command": "status", "x": [1.5e3, -0, 0.25, -9223372036854775808, 18446744073709551616, true, false, null]}',
        "escapes": '{"command_no": 2, "command": "st\\u0061tus", "k\\"": "\\ud834\\udd1e\\/\\b\\f\\r"}',
        "deep": '{"command_no": 1, "command": "status", "x": ' + "[" * 31 + "]" * 31 + "}",
        "too-deep": '{"command_no": 1, "x": ' + "[" * 40 + "]" * 40 + "}",
    }


def config_json():
    client = {"client_jid": "rpi-17@xmpp.example.com", "client_password": "s3cret",
              "cpanel_jid": "panel@xmpp.example.com", "rpi_unique_id": "mac-address"}
    def cfg(**fields):
        c = dict(client)
        c.update(fields)
        return json.dumps({"xmpp_client": {k: v for k, v in c.items() if v is not None}})
    return {
        "minimal": cfg(),
        "full": cfg(host="xmpp.example.com", port=5222, tls="required", rpi_unique_id="meter-17"),
        "tls-disabled": cfg(host="127.0.0.1", port=15222, tls="disabled"),
        "ipv6-host": cfg(host="::1", client_jid="rpi@[2001:db8::1]/agent"),
        "empty-id": cfg(rpi_unique_id=""),
        "resource": cfg(client_jid="rpi-17@xmpp.example.com/device", cpanel_jid="Panel@XMPP.example.com"),
        "unknown-key": cfg(prot=5222),
        "bad-port": cfg(port=70000),
        "bad-jid": cfg(client_jid="no-at-sign"),
        "nul-password": cfg(client_password="a\u0000b"),
        "not-object": '["xmpp_client"]',
        "extra-top": json.dumps({"xmpp_client": client, "comment": "ignored"}),
    }


def config():
    seeds = dict(config_json())
    seeds["keyfile"] = "key=" + SEED_KEY.hex() + "\niv=" + SEED_IV.hex() + "\n"
    seeds["keyfile-openssl"] = "salt=0011223344556677\nkey=" + SEED_KEY.hex().upper() + "\n # comment\niv =" + SEED_IV.hex() + "\r\n"
    if shutil.which("openssl"):
        for name in ("minimal", "full"):
            seeds["encrypted-" + name] = subprocess.run(
                ["openssl", "enc", "-aes-256-cbc", "-K", SEED_KEY.hex(), "-iv", SEED_IV.hex()],
                input=seeds[name].encode(), stdout=subprocess.PIPE, check=True).stdout
    return seeds


def http_head():
    def head(status, *headers, body=b""):
        text = status + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
        return text.encode() + body
    return {
        "ok": head("HTTP/1.1 200 OK", "Content-Length: 5", "ETag: \"abc\"", "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT", body=b"hello"),
        "chunked": head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 10", body=b"5\r\nhello\r\n0\r\n\r\n"),
        "partial": head("HTTP/1.1 206 Partial Content", "Content-Range: bytes 100-199/1000", "Content-Length: 100"),
        "range-unknown-total": head("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-0/*"),
        "unsatisfiable": head("HTTP/1.1 416 Range Not Satisfiable", "Content-Range: bytes */1000"),
        "redirect": head("HTTP/1.0 301 Moved Permanently", "Location: https://other.example/x?y=1", "content-length: 0"),
        "no-reason": head("HTTP/1.1 204", "Server:\tnginx\t"),
        "listed-length": head("HTTP/1.1 200 OK", "Content-Length: 5, 5", "Content-Length: 5"),
        "conflicting-length": head("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6"),
        "gzip": head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"),
        "folded": head("HTTP/1.1 200 OK", "X-A: 1", " folded"),
        "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "http2": head("HTTP/2 200"),
        "no-empty-line": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",
        "status-999": head("HTTP/1.1 999 Odd"),
    }


def http_chunked():
    def split(n, stream):
        return bytes([n]) + stream
    return {
        "simple": split(0, b"5\r\nhello\r\n0\r\n\r\n"),
        "two-chunks": split(3, b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n"),
        "extension": split(1, b"5;name=value\r\nhello\r\n0 ; last\r\n\r\n"),
        "trailer": split(7, b"1\r\nx\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n"),
        "upper-hex": split(2, b"fF\r\n" + b"z" * 255 + b"\r\n0\r\n\r\n"),
        "leading-zeros": split(0, b"0005\r\nhello\r\n00\r\n\r\n"),
        "too-big": split(0, b"1000000000000000\r\n"),
        "no-crlf": split(0, b"5\r\nhelloX\r\n"),
        "bare-lf": split(0, b"5\nhello\n0\n\n"),
        "after-end": split(5, b"0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "truncated": split(4, b"10\r\nshort"),
    }


def http_url():
    return {
        "https": "https://updates.example.com/sm/1.0.2.zip?token=abc#frag",
        "port": "http://127.0.0.1:8080/a/b",
        "ipv6": "https://[2001:db8::1]:8443/x",
        "relative": "https://h.example/a/b/c?q=1\n../d/./e",
        "absolute-path": "https://h.example/a/b\n/x/../y?z",
        "query-only": "https://h.example/a/b?old\n?new",
        "network-path": "https://h.example/a\n//cdn.example:444/file.zip",
        "absolute": "http://h.example/a\nHTTPS://G.EXAMPLE/Z#f",
        "dots": "https://h.example/\n../../../..",
        "userinfo": "https://user:pw@h.example/",
        "bad-port": "https://h.example:99999/",
        "ftp": "ftp://h.example/x",
        "no-host": "https:///x",
        "default-port": "HTTPS://H.Example:443",
    }


def zip_entry():
    def entry(name, system=3, mode=0o100644, extra_low=0):
        return bytes([system]) + struct.pack("<I", mode << 16 | extra_low) + name
    return {
        "file": entry(b"SmartMeter/run.sh", mode=0o100755),
        "folder": entry(b"SmartMeter/", mode=0o040755),
        "folder-no-slash": entry(b"SmartMeter/data", mode=0o040700),
        "dos-file": entry(b"README.txt", system=0, mode=0, extra_low=0x20),
        "dos-folder": entry(b"__MACOSX/", system=0, mode=0, extra_low=0x10),
        "setuid": entry(b"SmartMeter/bin/x", mode=0o104755),
        "symlink": entry(b"SmartMeter/link", mode=0o120777),
        "device": entry(b"SmartMeter/dev", mode=0o020644),
        "fifo": entry(b"SmartMeter/fifo", mode=0o010644),
        "zip-slip": entry(b"SmartMeter/../../evil"),
        "absolute": entry(b"/tmp/evil"),
        "backslash": entry(b"SmartMeter\\evil"),
        "empty-component": entry(b"SmartMeter//x"),
        "dot": entry(b"SmartMeter/./x"),
        "utf8": entry("SmartMeter/z\u00e4hler/\U0001f600.py".encode()),
        "cp437": entry(b"SmartMeter/z\x84hler.py"),
        "overlong": entry(b"SmartMeter/\xc0\xaf"),
        "control": entry(b"SmartMeter/a\nb"),
        "long-component": entry(b"SmartMeter/" + b"a" * 256),
    }


def zip_archive():
    def archive(entries, system=3):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name, data, mode, compress in entries:
                info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
                info.create_system = system
                info.external_attr = mode << 16 | (0x10 if name.endswith("/") else 0)
                info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
                z.writestr(info, data)
        return out.getvalue()
    manifest = json.dumps({"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py"}]})
    good = [("SmartMeter/", b"", 0o040755, False),
            ("SmartMeter/tinyagent.json", manifest.encode(), 0o100644, False),
            ("SmartMeter/meter_reader.py", b"print('hi')\n" * 8, 0o100755, True),
            ("SmartMeter/data/", b"", 0o040700, False)]
    return {
        "good": archive(good),
        "good-dos": archive(good, system=0),
        "implicit-folders": archive([("SmartMeter/a/b/c.txt", b"c", 0o100600, False), ("README.txt", b"r", 0o100644, False)]),
        "symlink": archive(good + [("SmartMeter/link", b"../../etc/passwd", 0o120777, False)]),
        "zip-slip": archive(good + [("SmartMeter/../../evil", b"x", 0o100644, False)]),
        "conflict": archive(good + [("SmartMeter/data", b"x", 0o100644, False)]),
        "with-ca": archive(good + [("certs/", b"", 0o040755, False), ("certs/cacert.pem", b"-----BEGIN CERTIFICATE-----\n", 0o100644, False),
                                   ("certs/other.pem", b"x", 0o100644, False)]),
        "no-smartmeter": archive([("App/", b"", 0o040755, False), ("App/x", b"x", 0o100644, False)]),
        "bin-only": archive([("bin/", b"", 0o040755, False)]
                            + [("bin/" + name, b"\x7fELF", 0o100755, False) for name in ("tinyagent", "tinyagent-link", "tinyagent-fetch")]
                            + [("bin/notes.txt", b"x", 0o100644, False)]),
        "bad-manifest": archive([("SmartMeter/tinyagent.json", b'{"processes": [{"name": "../x", "run_command": "x"}]}', 0o100644, False)]),
        "not-a-zip": b"PK\x03\x04 not really",
    }


def settings_manifest():
    settings = {"heartbeat_port": 4951, "heartbeat_timeout_ms": 30000, "kill_grace_ms": 5000,
                "restart_backoff_initial_ms": 1000, "restart_backoff_max_ms": 60000, "restart_limit": 5,
                "restart_window_ms": 600000, "stable_after_ms": 60000, "process_timeouts_ms": {"ocr": 60000},
                "allowlist": ["python3 meter_reader.py"], "run_as": "pi", "log_max_bytes": 1048576, "log_keep": 3,
                "process_log_max_bytes": 1048576, "max_processes": 64, "update_timeout_s": 120,
                "download_max_bytes": 1 << 30, "download_allow_http": False, "download_connect_timeout_ms": 10000,
                "download_idle_timeout_ms": 30000, "reserve_free_bytes": 16 << 20, "unpack_max_bytes": 512 << 20,
                "unpack_max_entries": 10000, "unpack_max_ratio": 100}
    return {
        "settings": json.dumps(settings),
        "settings-bad-values": json.dumps({"heartbeat_port": 0, "log_keep": "3", "allowlist": [""],
                                           "process_timeouts_ms": {"ocr": 5}, "heartbeat_prot": 1}),
        "settings-escaped-key": '{"unknown\\nkey": 1, "process_timeouts_ms": {"a\\u0007": 1}}',
        "settings-not-object": "[]",
        "manifest": json.dumps({"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py"},
                                              {"name": "ocr", "run_command": "./ocr --fast"}]}),
        "manifest-bad-name": json.dumps({"processes": [{"name": "..", "run_command": "x"}]}),
        "manifest-twice": json.dumps({"processes": [{"name": "a", "run_command": "x"}] * 2}),
        "manifest-unknown": json.dumps({"processes": [], "version": 2}),
        "manifest-nul": '{"processes": [{"name": "a", "run_command": "x\\u0000y"}]}',
    }


# A test-only P-256 key and its signature over SHA-256("tinyagent fuzz") (`openssl pkeyutl
# -sign`), made once: signatures are randomised, and the seeds must be reproducible.
SEED_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJJZLnIgikZT4bwBJDhgQ6ui/bJhq
Gz1etOg7gQEA9HiqCPCULfc7mSBpgxkAr7aQD51VwfuDEIWm7a0a5Fewhg==
-----END PUBLIC KEY-----
"""
SEED_SIGNATURE = bytes.fromhex(
    "304402205e982f2e4512789320d5eec785ddd8d41dc0a2de639a7d26fc3b4c500478878b"
    "0220176120d46bd4d3a1d12c5df43ce060fbcee05287c40d9ae4661a007ac4d2e7a3")


def signature():
    def seed(key, sig):
        return bytes([len(key)]) + key + sig
    der_key = base64.b64decode(b"".join(SEED_PUBLIC_KEY.splitlines()[1:-1]))
    return {
        "pem-valid": seed(SEED_PUBLIC_KEY, SEED_SIGNATURE),
        "der-valid": seed(der_key, SEED_SIGNATURE),
        "pem-mismatch": seed(SEED_PUBLIC_KEY, SEED_SIGNATURE[:-1] + b"\x00"),
        "der-trailing-byte": seed(der_key, SEED_SIGNATURE + b"\x00"),
        "der-off-curve": seed(der_key[:-1] + bytes([der_key[-1] ^ 1]), SEED_SIGNATURE),
        "pem-no-end": seed(SEED_PUBLIC_KEY[:-25], SEED_SIGNATURE),
    }


TARGETS = {
    "heartbeat": heartbeat, "command": command, "config": config, "http-head": http_head,
    "http-chunked": http_chunked, "http-url": http_url, "zip-entry": zip_entry, "zip-archive": zip_archive,
    "settings-manifest": settings_manifest, "signature": signature,
}


def main():
    for target, make in TARGETS.items():
        folder = os.path.join(CORPUS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in make().items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
    print("seed corpora written to", CORPUS)


if __name__ == "__main__":
    main()
