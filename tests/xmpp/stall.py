"""TCP listeners on 127.0.0.1 that accept and then stall ("server stalls
mid-handshake").

    with StallListener() as s:                # accepts, never sends a byte
        ... point the client at s.port ...
        s.wait_accepted(1, timeout=5)
        s.accepted                            # connections accepted so far
        s.received                            # bytes the clients sent, per connection
    with HeaderStallListener() as s:          # sends the start of an XMPP stream
        ...                                   # header once the client speaks, then stalls

Connections are kept open (and their input read and recorded, so the client's
writes never block) until the listener is closed; `drop_all()` closes them
early, as a server that gives up would.
"""

import selectors
import socket
import threading
import time

__all__ = ["StallListener", "HeaderStallListener", "STREAM_HEADER_PREFIX"]

# The first bytes of what a server sends back to a client's stream header:
# the XML declaration and part of <stream:stream ...>, cut mid-attribute.
STREAM_HEADER_PREFIX = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                        b"xmlns:stream='http://etherx.jabber.org/streams' id='stall")


class StallListener:
    """Accepts on HOST:PORT (PORT 0: any free one) and never answers.

    prefix: bytes sent to each client, then silence (b"": none).
    send_after_client_bytes: send PREFIX once the client has sent something
        (as a server answers a stream header); False: right after accept.
    """

    def __init__(self, host="127.0.0.1", port=0, prefix=b"", send_after_client_bytes=True):
        self.host = host
        self.prefix = prefix
        self.send_after_client_bytes = send_after_client_bytes
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.address = (host, self.port)
        self.accepted = 0
        self.received = []        # bytearray per connection, in accept order
        self.closed_by_peer = 0   # connections the client closed
        self._conns = {}          # socket -> index
        self._sent = set()
        self._lock = threading.Condition()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        self._drop = False
        self._thread = threading.Thread(target=self._serve, name="stall-%d" % self.port,
                                        daemon=True)
        self._thread.start()

    def _serve(self):
        try:
            while not self._stopping:
                for key, _ in self._sel.select(timeout=1.0):
                    s = key.fileobj
                    if s is self._wake_r:
                        try:
                            s.recv(64)
                        except BlockingIOError:
                            pass
                        if self._drop:
                            self._drop = False
                            self._close_conns()
                    elif s is self._sock:
                        self._accept()
                    else:
                        self._read(s)
        finally:
            self._close_conns()
            self._sel.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            with self._lock:
                self._conns[conn] = len(self.received)
                self.received.append(bytearray())
                self.accepted += 1
                self._lock.notify_all()
            self._sel.register(conn, selectors.EVENT_READ)
            if self.prefix and not self.send_after_client_bytes:
                self._send_prefix(conn)

    def _send_prefix(self, conn):
        if conn in self._sent:
            return
        self._sent.add(conn)
        try:
            conn.send(self.prefix)
        except OSError:
            pass

    def _read(self, conn):
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            with self._lock:
                self.closed_by_peer += 1
                self._lock.notify_all()
            self._forget(conn)
            return
        with self._lock:
            self.received[self._conns[conn]].extend(data)
            self._lock.notify_all()
        if self.prefix and self.send_after_client_bytes:
            self._send_prefix(conn)

    def _forget(self, conn):
        try:
            self._sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        self._conns.pop(conn, None)
        self._sent.discard(conn)
        conn.close()

    def _close_conns(self):
        for conn in list(self._conns):
            self._forget(conn)

    @property
    def open_connections(self):
        with self._lock:
            return len(self._conns)

    def wait_accepted(self, n=1, timeout=5.0):
        """Wait until N connections were accepted in all; returns the count."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.accepted < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%d connection(s) accepted on port %d, wanted %d"
                                       % (self.accepted, self.port, n))
                self._lock.wait(left)
            return self.accepted

    def wait_received(self, predicate=lambda data: len(data) > 0, index=0, timeout=5.0):
        """Wait until PREDICATE(bytes received on connection INDEX)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (index < len(self.received) and predicate(bytes(self.received[index]))):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("connection %d on port %d: condition not met, got %r"
                                       % (index, self.port, self.received[index:index + 1]))
                self._lock.wait(left)
            return bytes(self.received[index])

    def drop_all(self):
        """Close the accepted connections (the listener stays)."""
        self._drop = True
        self._wake_w.send(b"x")

    def close(self):
        if self._thread is None:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5)
        self._thread = None
        self._sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class HeaderStallListener(StallListener):
    """Sends the first bytes of an XMPP stream header (by default once the
    client has sent its own), then stalls."""

    def __init__(self, host="127.0.0.1", port=0, prefix=STREAM_HEADER_PREFIX,
                 send_after_client_bytes=True):
        super().__init__(host, port, prefix, send_after_client_bytes)
