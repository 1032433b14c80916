"""An HTTPS (or plain HTTP) server on loopback that misbehaves on purpose, for testing the
agent's HTTP client and downloader. Standard library only.

In a test (a thread in this process):

    from https_faults import FaultServer   # or: from tests.https.faultserver import FaultServer
    with FaultServer(root=folder_with_files, pki=make_pki(tmp)) as server:
        server.url("/file/archive.zip")     # https://localhost:PORT/file/archive.zip
        server.requests                     # [{"method", "path", "range", "if_range", "body"}]

From another language (Swift tests start it as a process; it stops when stdin closes):

    python3 -m tests.https.faultserver --port 0 --root DIR --pki DIR [--plain] [--log FILE]
                                       [--stall S] [--remove-on-exit DIR]
    -> prints one JSON line {"port": N, "ca": ".../ca.pem", "rogue_ca": ".../rogue-ca.pem"}

Routes (NAME is a file in ROOT):
    /file/NAME            the file, with ETag, Last-Modified and Range/If-Range support
    /chunked/NAME         the file with Transfer-Encoding: chunked (odd chunk sizes, a chunk
                          extension and a trailer)
    /chunked-cut/NAME     chunked, the connection closed in the middle of a chunk
    /truncated/NAME       Content-Length of the file, half the body, then close
    /short/NAME           Content-Length 1000 bytes larger than the body, whole body, close
    /stall/NAME           half the body, then nothing for --stall seconds (default 30)
    /slow/NAME            like /file/NAME, sent at `slow_rate` bytes a second (default 256 KiB)
    /cut-once/NAME        the first request gets half the body and a close; later ones are
                          served like /file/NAME (with Range)
    /redirect/NAME        302 to /file/NAME
    /redirect-chain/K/NAME   K redirects, then /file/NAME
    /redirect-loop        302 to itself
    /redirect-http/NAME   302 to http://localhost:PORT/file/NAME
    /status/CODE          that status with a short text body (404, 503, ...)
    /no-length/NAME       the file without Content-Length, ended by closing the connection
    POST /api/panelmap    {"panel_id": ID} -> 200 {"panel_id": ID, "panel": "panel-ID"};
                          ID "unknown" -> 404 {"error": "no such panel"}
    GET /api/panelmap     405
Every request is logged (method, path, Range, If-Range, body) in `requests` and, with
--log, as one JSON line in that file.
"""

import argparse
import email.utils
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FaultServer", "load_pki_module"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_pki_module():
    """tests/xmpp/pki.py by path (the xmpp package's __init__ needs slixmpp)."""
    path = os.path.join(os.path.dirname(_HERE), "xmpp", "pki.py")
    spec = importlib.util.spec_from_file_location("tinyagent_test_pki", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, owner):
        self.owner = owner
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's thread, so a stalled or failing client
        # never holds up the others.
        if self.owner.ssl_context is not None:
            try:
                request.settimeout(10)
                request = self.owner.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. the client refused our certificate
        try:
            super().finish_request(request, client_address)
        except (ssl.SSLError, OSError):
            pass
        finally:
            if request is not None and self.owner.ssl_context is not None:
                try:
                    request.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                request.close()

    def handle_error(self, request, client_address):
        pass  # clients hang up on purpose in these tests


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultserver"

    def log_message(self, *args):
        pass

    # ---- plumbing ---------------------------------------------------------------------
    @property
    def owner(self):
        return self.server.owner

    def _record(self, body=b""):
        entry = {"method": self.command, "path": self.path,
                 "range": self.headers.get("Range"), "if_range": self.headers.get("If-Range"),
                 "user_agent": self.headers.get("User-Agent"), "host": self.headers.get("Host"),
                 "body": body.decode("utf-8", "replace")}
        self.owner._log(entry)

    def _file(self, name):
        path = os.path.join(self.owner.root, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None, None, None
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        modified = email.utils.formatdate(os.stat(path).st_mtime, usegmt=True)
        return data, etag, modified

    def _head(self, status, headers, reason=None):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _simple(self, status, body=b"", content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self._head(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        self.wfile.write(body)

    def _cut(self):
        """Ends the connection now, without a TLS close_notify."""
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- GET ----------------------------------------------------------------------------
    def do_GET(self):
        self._record()
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        route, rest = parts[0], "/".join(parts[1:])
        if route == "status" and rest.isdigit():
            return self._simple(int(rest), "status %s\n" % rest)
        if route == "redirect-loop":
            return self._head(302, [("Location", "/redirect-loop"), ("Content-Length", "0")])
        if route == "redirect":
            return self._head(302, [("Location", "/file/" + rest), ("Content-Length", "0")])
        if route == "redirect-chain":
            k, _, name = rest.partition("/")
            n = int(k)
            target = "/file/%s" % name if n <= 1 else "/redirect-chain/%d/%s" % (n - 1, name)
            return self._head(302, [("Location", target), ("Content-Length", "0")])
        if route == "redirect-http":
            return self._head(302, [("Location", "http://localhost:%d/file/%s" % (self.owner.port, rest)),
                                    ("Content-Length", "0")])
        if route == "api":
            return self._simple(405, "use POST\n")
        data, etag, modified = self._file(rest)
        if data is None:
            return self._simple(404, "no such file\n")
        if route == "file":
            return self._serve_file(data, etag, modified)
        if route == "slow":
            return self._serve_file(data, etag, modified, rate=self.owner.slow_rate)
        if route == "cut-once":
            with self.owner.lock:
                first = self.owner.cut_once_seen.get(rest) is None
                self.owner.cut_once_seen[rest] = True
            if not first:
                return self._serve_file(data, etag, modified)
            self._head(200, [("Content-Length", str(len(data))), ("ETag", etag), ("Last-Modified", modified),
                             ("Accept-Ranges", "bytes")])
            self.wfile.write(data[:len(data) // 2])
            return self._cut()
        if route == "truncated":
            self._head(200, [("Content-Length", str(len(data)))])
            self.wfile.write(data[:len(data) // 2])
            return self._cut()
        if route == "short":
            self._head(200, [("Content-Length", str(len(data) + 1000))])
            self.wfile.write(data)
            return self._cut()
        if route == "stall":
            self._head(200, [("Content-Length", str(len(data)))])
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.owner.stopping.wait(self.owner.stall_seconds)
            return self._cut()
        if route == "no-length":
            self._head(200, [("Content-Type", "application/octet-stream")])
            self.wfile.write(data)
            return self._cut()
        if route in ("chunked", "chunked-cut"):
            self._head(200, [("Transfer-Encoding", "chunked")])
            sizes = [1, 7, 4096, 65536, 100000, 3]
            offset, i = 0, 0
            while offset < len(data):
                n = sizes[i % len(sizes)]
                chunk = data[offset:offset + n]
                if route == "chunked-cut" and offset + n >= len(data) // 2:
                    self.wfile.write(b"%x\r\n" % len(chunk) + chunk[:len(chunk) // 2])
                    return self._cut()
                ext = b";name=value" if i == 1 else b""
                self.wfile.write(b"%x%s\r\n" % (len(chunk), ext) + chunk + b"\r\n")
                offset += n
                i += 1
            self.wfile.write(b"0\r\nX-Checksum: none\r\n\r\n")
            return
        return self._simple(404, "no such route\n")

    def _serve_file(self, data, etag, modified, rate=None):
        size = len(data)
        common = [("ETag", etag), ("Last-Modified", modified), ("Accept-Ranges", "bytes"),
                  ("Content-Type", "application/octet-stream")]
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and if_range and if_range not in (etag, modified):
            wanted = None  # the file changed: all of it
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted or "")
        if m:
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) else size - 1
            if first >= size:
                return self._head(416, common + [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
            last = min(last, size - 1)
            body = data[first:last + 1]
            self._head(206, common + [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                                      ("Content-Length", str(len(body)))])
            return self._write(body, rate)
        self._head(200, common + [("Content-Length", str(size))])
        self._write(data, rate)

    def _write(self, body, rate):
        """All of `body`, or at `rate` bytes a second in 16 KiB pieces."""
        if rate is None:
            self.wfile.write(body)
            return
        piece = 16384
        for offset in range(0, len(body), piece):
            if self.owner.stopping.is_set():
                return self._cut()
            self.wfile.write(body[offset:offset + piece])
            self.wfile.flush()
            time.sleep(piece / rate)

    # ---- POST ---------------------------------------------------------------------------
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        if self.path.split("?", 1)[0] != "/api/panelmap":
            return self._simple(404, "no such route\n")
        if self.headers.get("Content-Type") != "application/json":
            return self._simple(415, '{"error": "expected application/json"}', "application/json")
        try:
            panel_id = json.loads(body)["panel_id"]
        except (ValueError, KeyError, TypeError):
            return self._simple(400, '{"error": "bad request"}', "application/json")
        if panel_id == "unknown":
            return self._simple(404, '{"error": "no such panel"}', "application/json")
        return self._simple(200, json.dumps({"panel_id": panel_id, "panel": "panel-%s" % panel_id}),
                            "application/json")


class FaultServer:
    """The server in a background thread. `pki` (tests/xmpp/pki.py's Pki) makes it HTTPS
    with the `localhost` certificate; without it, it speaks plain HTTP."""

    def __init__(self, root, pki=None, host="localhost", port=0, stall_seconds=30.0, log_file=None):
        """`host` "localhost" listens on 127.0.0.1; an IPv6 address such as "::1" works too.
        `pki` needs only `server_cert` and `server_key`."""
        self.root = root
        self.pki = pki
        self.stall_seconds = stall_seconds
        self.slow_rate = 256 * 1024
        self.log_file = log_file
        self.requests = []
        self.cut_once_seen = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ssl_context = None
        if pki is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(pki.server_cert, pki.server_key)
            self.ssl_context = ctx
        bind = "127.0.0.1" if host == "localhost" else host
        server_class = _Server6 if ":" in bind else _Server
        self.httpd = server_class((bind, port), _Handler, self)
        self.host = "[%s]" % host if ":" in host else host
        self.port = self.httpd.server_address[1]
        self.thread = None

    @property
    def scheme(self):
        return "https" if self.ssl_context else "http"

    def url(self, path="/"):
        return "%s://%s:%d%s" % (self.scheme, self.host, self.port, path)

    def _log(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.log_file:
                with open(self.log_file, "a") as f:
                    f.write(json.dumps(entry) + "\n")

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread:
            self.thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description="HTTPS fault server for tinyagent tests (stops when stdin closes)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--root", required=True, help="folder whose files are served")
    p.add_argument("--pki", help="folder for test certificates (made with tests/xmpp/pki.py)")
    p.add_argument("--plain", action="store_true", help="plain HTTP instead of HTTPS")
    p.add_argument("--log", help="append each request as a JSON line to this file")
    p.add_argument("--stall", type=float, default=30.0, help="seconds /stall/ stays silent")
    p.add_argument("--remove-on-exit", metavar="DIR", help="a scratch folder to delete when stopping")
    args = p.parse_args(argv)
    pki = None
    info = {}
    if not args.plain:
        if not args.pki:
            p.error("--pki DIR is needed for HTTPS (or give --plain)")
        pki = load_pki_module().make_pki(args.pki)
        info = {"ca": pki.ca_cert, "rogue_ca": pki.rogue_ca_cert}
    server = FaultServer(args.root, pki=pki, port=args.port, stall_seconds=args.stall, log_file=args.log).start()
    info["port"] = server.port
    print(json.dumps(info), flush=True)
    try:
        while sys.stdin.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    server.stop()
    if args.remove_on_exit:
        shutil.rmtree(args.remove_on_exit, ignore_errors=True)


if __name__ == "__main__":
    main()
