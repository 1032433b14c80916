"""XMPP clients for tests, on slixmpp (PyPI, pinned in tests/python/requirements.txt).

Each client runs its own asyncio loop in its own thread; the methods below are
called from the test's thread.

    with Panel("panel@localhost", "pw", "127.0.0.1", prosody.port, pki.ca_cert) as panel:
        panel.send("device@localhost", {"command": "status", "command_no": 1})
        answer = panel.wait_reply(5, lambda r: r.get("command_no") == 1)
        with panel.stranger("stranger@localhost", "pw2") as s:   # another account
            s.send("device@localhost", {"command": "status", "command_no": 2})
        panel.assert_no_reply(1.0)

* TLS is required: STARTTLS by default (`tls="direct"` for a direct-TLS port,
  `tls="none"` for plain TCP). The server certificate is verified against
  CA_FILE only (not the system store) and must name the JID's domain.
* `start()` (also __enter__) returns once logged in with presence sent, or
  raises XmppError saying why (certificate, authentication, connection,
  timeout); it never retries, so a wrong CA is a prompt failure.
* `stop()` (also __exit__) ends the stream, closes the loop and joins the
  thread; it is safe to call twice, also after a failed start.
"""

import asyncio
import json
import logging
import ssl
import threading
import time

import slixmpp

__all__ = ["XmppClient", "Panel", "EchoDevice", "XmppError", "send_once"]

log = logging.getLogger("tests.xmpp.panel")


class XmppError(RuntimeError):
    """A client could not log in (or lost its stream while starting)."""


def _describe(what, detail):
    """WHAT, with DETAIL (an exception, a stanza, a string or nothing) explained;
    TLS certificate failures always say "server certificate rejected"."""
    if isinstance(detail, ssl.SSLCertVerificationError):
        return "server certificate rejected: %s" % (detail.verify_message or detail)
    if isinstance(detail, ssl.SSLError):
        return "TLS handshake failed: %s" % detail
    if detail is None or (not isinstance(detail, Exception) and not str(detail).strip()
                          ) or detail == {}:
        return what
    return "%s: %s" % (what, detail)


def _bare(jid):
    return str(jid).split("/", 1)[0]


class XmppClient:
    """A slixmpp client in a background thread.

    messages: every chat/normal message received, as dicts
              {"from": bare JID, "resource", "body" (str), "json" (parsed or None), "time"}
    replies:  the parsed JSON bodies among them (non-JSON bodies are only in messages)
    errors:   error stanzas received (e.g. recipient offline), as dicts
    on_message(client, message_dict): optional, called in the client's loop thread.
    """

    def __init__(self, jid, password, host="127.0.0.1", port=5222, ca_file=None,
                 tls="starttls", timeout=8.0, on_message=None, resource="test",
                 presence=True):
        if tls not in ("starttls", "direct", "none"):
            raise ValueError("tls must be 'starttls', 'direct' or 'none'")
        self.jid = _bare(jid)
        self.full_jid = "%s/%s" % (self.jid, resource) if resource else self.jid
        self.password = password
        self.host = host
        self.port = int(port)
        self.ca_file = ca_file
        self.tls = tls
        self.timeout = timeout
        self.on_message = on_message
        self.presence = presence

        self.messages = []
        self.replies = []
        self.errors = []
        self.presences = []  # {"from", "type", "status", "time"} of others' presence
        self.error = None          # XmppError of a failed start
        self.disconnects = 0       # stream losses after login
        self._cond = threading.Condition()
        self._taken = set()        # indices of replies already returned by wait_reply
        self._thread = None
        self._loop = None
        self._xmpp = None
        self._stop_event = None
        self._ready = threading.Event()
        self.online = False        # logged in and the stream not lost since

    # -- life cycle ---------------------------------------------------------

    def start(self, timeout=None):
        """Connect and log in (presence sent); raises XmppError on failure.
        May be called again after stop() (messages and replies are kept)."""
        if self._thread is not None:
            raise RuntimeError("client already started")
        timeout = self.timeout if timeout is None else timeout
        self.error = None
        self._stop_event = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(timeout,),
                                        name="xmpp-%s" % self.jid, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout + 5):
            self.stop()
            raise XmppError("%s: client thread did not report within %.1f s" % (self.jid, timeout + 5))
        if self.error is not None:
            err = self.error
            self.stop()
            raise err
        return self

    def stop(self, timeout=5.0):
        """End the stream and the thread (idempotent)."""
        t = self._thread
        if t is None:
            return
        loop = self._loop
        if loop is not None and self._stop_event is not None and t.is_alive():
            try:
                loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:  # loop already closed
                pass
        t.join(timeout)
        if t.is_alive():
            raise RuntimeError("%s: client thread did not stop within %.1f s" % (self.jid, timeout))
        self._thread = None
        self._loop = None
        self._xmpp = None
        self.online = False

    def reconnect(self, timeout=None):
        """stop() then start(): log in again, e.g. after the server restarted."""
        self.stop()
        return self.start(timeout)

    close = stop

    @property
    def connected(self):
        return self.online and self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- the loop thread ----------------------------------------------------

    def _run(self, timeout):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._main(timeout))
        except BaseException as e:  # noqa: BLE001 - reported to start()
            if self.error is None:
                self.error = XmppError("%s: %r" % (self.jid, e))
        finally:
            self._ready.set()
            try:
                tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in tasks:
                    t.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                with self._cond:
                    self._cond.notify_all()

    def _ssl_context(self):
        if self.ca_file:
            ctx = ssl.create_default_context(cafile=self.ca_file)  # this CA only
        else:
            ctx = ssl.create_default_context()                     # system store
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    async def _main(self, timeout):
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        outcome = loop.create_future()

        def settle(error=None):
            if not outcome.done():
                outcome.set_result(error)

        kwargs = {}
        if self.tls != "none":
            kwargs["ssl_context"] = self._ssl_context()
        xmpp = slixmpp.ClientXMPP(self.full_jid, self.password, loop=loop, **kwargs)
        self._xmpp = xmpp
        xmpp.ca_certs = None
        xmpp.enable_direct_tls = self.tls == "direct"
        xmpp.enable_starttls = self.tls == "starttls"
        xmpp.enable_plaintext = self.tls == "none"
        xmpp.use_aiodns = False
        xmpp.use_ipv6 = False
        xmpp.whitespace_keepalive = False
        xmpp.register_plugin("xep_0199")  # answer pings
        if self.tls == "none":
            mech = xmpp.plugin["feature_mechanisms"]
            mech.unencrypted_plain = True
            mech.unencrypted_scram = True

        async def on_session_start(_):
            if self.presence:
                xmpp.send_presence()
            self.online = True
            settle(None)

        def fail(why):
            def handler(detail=None):
                settle(XmppError("%s: %s" % (self.jid, _describe(why, detail))))
            return handler

        def on_disconnected(reason):
            if self.online:
                self.online = False
                self.disconnects += 1
            settle(XmppError("%s: %s" % (self.jid, _describe("stream closed before login", reason))))

        xmpp.add_event_handler("session_start", on_session_start)
        xmpp.add_event_handler("connection_failed", fail("connection failed"))
        xmpp.add_event_handler("ssl_invalid_chain", fail("server certificate rejected"))
        xmpp.add_event_handler("ssl_invalid_cert", fail("server certificate rejected"))
        def on_auth_failed(_=None):
            if self.tls != "none" and xmpp.transport is not None and \
                    xmpp.transport.get_extra_info("ssl_object") is None:
                settle(XmppError("%s: the server did not offer TLS; no login in the clear"
                                 % self.jid))
            settle(XmppError("%s: authentication failed" % self.jid))

        xmpp.add_event_handler("failed_all_auth", on_auth_failed)
        xmpp.add_event_handler("no_auth", on_auth_failed)
        xmpp.add_event_handler("stream_error", fail("stream error"))
        xmpp.add_event_handler("disconnected", on_disconnected)
        xmpp.add_event_handler("message", self._on_message)
        xmpp.add_event_handler("presence", self._on_presence)
        xmpp.add_event_handler("message_error", self._on_message_error)

        xmpp.connect(self.host, self.port)
        try:
            error = await asyncio.wait_for(asyncio.shield(outcome), timeout)
        except asyncio.TimeoutError:
            error = XmppError("%s: no login within %.1f s (server %s:%d)"
                              % (self.jid, timeout, self.host, self.port))
        if error is not None:
            self.error = error
            xmpp.cancel_connection_attempt()
            xmpp.abort()
            self._ready.set()
            return
        self._ready.set()
        await self._stop_event.wait()
        self.online = False  # our own disconnect is not counted as a loss
        xmpp.cancel_connection_attempt()
        if xmpp.transport is not None:
            try:
                await asyncio.wait_for(xmpp.disconnect(wait=1.0), 2.0)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                xmpp.abort()
        xmpp.abort()

    def _on_message_error(self, msg):
        # slixmpp fires "message_error" for every error message, and also
        # "message" when the bounce carries the original body: errors are
        # recorded from here only.
        sender = msg["from"]
        entry = {"from": _bare(sender), "resource": sender.resource,
                 "condition": msg["error"]["condition"], "text": msg["error"]["text"],
                 "time": time.monotonic()}
        with self._cond:
            self.errors.append(entry)
            self._cond.notify_all()

    def _on_presence(self, presence):
        if presence["from"].bare == self.jid.split("/")[0]:
            return
        entry = {"from": str(presence["from"]), "type": presence["type"], "status": presence["status"],
                 "time": time.monotonic()}
        with self._cond:
            self.presences.append(entry)
            self._cond.notify_all()

    def subscribe(self, jid):
        """Ask for JID's presence (roster subscription)."""
        self._call(lambda: self._xmpp.send_presence(pto=jid, ptype="subscribe"))

    def wait_presence(self, timeout=5.0, predicate=None):
        """The first presence entry matching PREDICATE. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for p in self.presences:
                    if predicate is None or predicate(p):
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s: no matching presence within %.1f s (got %s)"
                                       % (self.jid, timeout, self.presences[-5:]))
                self._cond.wait(left)

    def _on_message(self, msg):
        mtype = msg["type"]
        sender = msg["from"]
        if mtype not in ("chat", "normal"):
            return
        body = msg["body"]
        if not body:
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        entry = {"from": _bare(sender), "resource": sender.resource, "body": body,
                 "json": parsed, "time": time.monotonic()}
        with self._cond:
            self.messages.append(entry)
            if parsed is not None:
                self.replies.append(parsed)
            self._cond.notify_all()
        if self.on_message is not None:
            try:
                self.on_message(self, entry)
            except Exception:  # noqa: BLE001 - a test helper must not kill the loop
                log.exception("on_message handler failed")

    # -- use ----------------------------------------------------------------

    def _call(self, fn, *args, timeout=5.0):
        """Run FN(*args) in the client's loop; wait for it unless we are that loop."""
        if not self.connected:
            raise XmppError("%s: not connected" % self.jid)
        if threading.current_thread() is self._thread:
            return fn(*args)
        done = threading.Event()
        box = {}

        def run():
            try:
                box["value"] = fn(*args)
            except BaseException as e:  # noqa: BLE001
                box["error"] = e
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(timeout):
            raise XmppError("%s: loop did not run the call within %.1f s" % (self.jid, timeout))
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def send(self, to_jid, body, mtype="chat"):
        """Send a message; BODY is a dict/list (sent as JSON) or a str (as is)."""
        if not isinstance(body, str):
            body = json.dumps(body)
        self._call(lambda: self._xmpp.send_message(mto=to_jid, mbody=body, mtype=mtype))

    def send_presence(self, status=None):
        self._call(lambda: self._xmpp.send_presence(pstatus=status))

    def wait_reply(self, timeout=5.0, predicate=None):
        """The first parsed JSON body, in arrival order, not yet returned by
        wait_reply and matching PREDICATE (any, if None). Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, r in enumerate(self.replies):
                    if i not in self._taken and (predicate is None or predicate(r)):
                        self._taken.add(i)
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s: no matching reply within %.1f s (pending: %s)"
                                       % (self.jid, timeout, self._pending()[-5:]))
                self._cond.wait(left)

    def wait_replies(self, count, timeout=5.0, predicate=None):
        deadline = time.monotonic() + timeout
        return [self.wait_reply(max(0.0, deadline - time.monotonic()), predicate)
                for _ in range(count)]

    def wait_message(self, timeout=5.0, predicate=None, start=0):
        """The first entry of `messages` from index START matching PREDICATE
        (over the entry dict). Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages[start:]:
                    if predicate is None or predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s: no matching message within %.1f s" % (self.jid, timeout))
                self._cond.wait(left)

    def _pending(self):
        return [r for i, r in enumerate(self.replies) if i not in self._taken]

    def pending_replies(self):
        """Replies received but not yet returned by wait_reply."""
        with self._cond:
            return self._pending()

    def assert_no_reply(self, within=1.0):
        """Fail if any reply not yet returned by wait_reply is there or arrives
        within WITHIN seconds."""
        deadline = time.monotonic() + within
        with self._cond:
            while True:
                if self._pending():
                    raise AssertionError("%s: unexpected reply: %s" % (self.jid, self._pending()))
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def stranger(self, jid, password, **kw):
        """Another client on the same server, CA and TLS mode (not started)."""
        args = dict(host=self.host, port=self.port, ca_file=self.ca_file, tls=self.tls,
                    timeout=self.timeout)
        args.update(kw)
        return XmppClient(jid, password, **args)

    def __repr__(self):
        return "%s(%s %s:%d %s)" % (type(self).__name__, self.jid, self.host, self.port,
                                    "up" if self.connected else "down")


class Panel(XmppClient):
    """The control panel stand-in: sends commands, collects the JSON answers."""


class EchoDevice(XmppClient):
    """A device stand-in: answers every JSON message with
    {"echo": <body>, "from": <own bare JID>}, or REPLY(client, entry) -> body."""

    def __init__(self, *args, reply=None, **kwargs):
        self._reply = reply
        super().__init__(*args, on_message=self._echo, **kwargs)

    def _echo(self, client, entry):
        if entry["json"] is None:
            return
        if self._reply is not None:
            body = self._reply(client, entry)
        else:
            body = {"echo": entry["json"], "from": self.jid}
        if body is not None:
            self.send(entry["from"], body)


def send_once(jid, password, to_jid, body, host="127.0.0.1", port=5222, ca_file=None,
              tls="starttls", timeout=8.0):
    """Log in as JID, send one message to TO_JID, log out (e.g. a stranger)."""
    with XmppClient(jid, password, host, port, ca_file, tls=tls, timeout=timeout,
                    presence=False) as c:
        c.send(to_jid, body)
