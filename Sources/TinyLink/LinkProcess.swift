import CStrophe
import TinyBase

/// The XMPP link: a helper program (`tinyagent-link xmpp-link`) that the agent
/// starts with a packet channel on descriptor 3. libstrophe blocks — DNS
/// look-ups, TLS handshakes, a stalled server — so it runs here, where
/// blocking costs nothing, and never in the agent's event loop. It logs in,
/// keeps the session up (reconnecting with full-jitter back-off, spread over
/// a window after a lost session: `ReconnectBackoff`), tries the configured
/// servers in turn, says once per cause why it is offline (`FailureLog`),
/// and relays messages both ways.
/// The packets after the first are `LinkRequest`s and `LinkEvent`s.
package final class LinkProcess {
    private let channel = PacketChannel(fd: FileDescriptor(3))
    private var settings: LinkSettings?
    private var ctx: OpaquePointer?
    private var conn: OpaquePointer?
    private var online = false
    private var backoff = ReconnectBackoff()
    private var failures = FailureLog()
    private var nextAttempt = Clock.now()
    private var lastActivity = Clock.now()
    private var presence = ""
    /// Where libstrophe reads the pinned CA.
    private var caPath = ""
    /// The server of the attempt under way, and the next one's index.
    private var endpoint = ""
    private var nextServer = 0
    /// What libstrophe said in passing during the attempt under way.
    private var clues = AttemptClues()
    private let logger: UnsafeMutablePointer<xmpp_log_t>
    /// libstrophe sleeps in select(); polled often only while commands flow.
    static let busyPoll: UInt = 50
    static let idlePoll: UInt = 1000

    package init() {
        logger = UnsafeMutablePointer<xmpp_log_t>.allocate(capacity: 1)
    }

    /// Reached when `run` returns before the session loop (a bad first
    /// packet, another protocol version): the leak checker must see nothing.
    deinit { logger.deallocate() }

    package func run() -> Int32 {
        guard HelperUser.dropPrivileges() else {
            Console.error("cannot drop to the helper user: \(Errno.current)", from: HelperRole.link.program)
            return ExitStatus.systemError
        }
        // The agent hands over the credentials in the packet and the CA
        // file as a descriptor: this process can read nothing of the
        // agent's by path (cfg/ is root's alone).
        let first: (packet: JSONValue, descriptors: [FileDescriptor])
        switch channel.receiveFirst(.link, timeout: .seconds(10)) {
        case .success(let received): first = received
        case .failure(let exit): return exit.status
        }
        let descriptors = first.descriptors
        guard let settings = LinkSettings(packet: first.packet) else { return ExitStatus.dataError }
        self.settings = settings
        backoff = ReconnectBackoff(spread: settings.spread)
        if !settings.servers.isEmpty { nextServer = Int.random(in: 0..<settings.servers.count) }
        LinkProcess.current = self
        // Its own descriptor, through /proc/self/fd: libstrophe and OpenSSL
        // take a path, and a process may always open its own.
        pinCA(descriptors.first.map { "/proc/self/fd/\($0.rawValue)" } ?? settings.caFile)
        xmpp_initialize()
        logger.pointee = xmpp_log_t(handler: { userdata, level, area, message in
            guard let userdata, let area, let message else { return }
            Unmanaged<LinkProcess>.fromOpaque(userdata).takeUnretainedValue().libstropheSaid(level, area, message)
        }, userdata: Unmanaged.passUnretained(self).toOpaque())
        ctx = xmpp_ctx_new(nil, logger)
        // The agent sends the status line right after the settings: read it
        // before logging in, so that the first presence carries it.
        guard drainChannel() else { return ExitStatus.ok }
        while true {
            let now = Clock.now()
            if conn == nil && now >= nextAttempt { connect() }
            if conn != nil {
                xmpp_run_once(ctx, now - lastActivity < .seconds(5) ? LinkProcess.busyPoll : LinkProcess.idlePoll)
            } else {
                _ = channel.fd.waitReadable(min(nextAttempt - Clock.now(), .seconds(1)))
            }
            if !drainChannel() { break }
        }
        if let conn {
            xmpp_disconnect(conn)
            xmpp_run_once(ctx, 100)
            xmpp_conn_release(conn)
        }
        xmpp_ctx_free(ctx)
        xmpp_shutdown()
        return ExitStatus.ok
    }

    // MARK: Connection

    private func connect() {
        guard let settings else { return }
        conn = xmpp_conn_new(ctx)
        xmpp_conn_set_jid(conn, settings.jid)
        xmpp_conn_set_pass(conn, settings.password)
        let flags = settings.tlsRequired ? XMPP_CONN_FLAG_MANDATORY_TLS : XMPP_CONN_FLAG_DISABLE_TLS
        xmpp_conn_set_flags(conn, Int(flags))
        xmpp_conn_set_keepalive(conn, 60, 30)
        setCAFile(caPath)
        xmpp_handler_add(conn, { conn, stanza, userdata in
            Unmanaged<LinkProcess>.fromOpaque(userdata!).takeUnretainedValue().received(stanza)
            return 1
        }, nil, "message", nil, Unmanaged.passUnretained(self).toOpaque())
        xmpp_handler_add(conn, { conn, stanza, userdata in
            Unmanaged<LinkProcess>.fromOpaque(userdata!).takeUnretainedValue().receivedPresence(stanza)
            return 1
        }, nil, "presence", "subscribe", Unmanaged.passUnretained(self).toOpaque())
        var server: ServerEndpoint?
        if !settings.servers.isEmpty {
            server = settings.servers[nextServer % settings.servers.count]
            nextServer += 1
        }
        endpoint = server?.description ?? (JID(settings.jid)?.domain ?? settings.jid)
        clues = AttemptClues()
        // Read where libstrophe reads it (the agent's descriptor), named as the operator knows it.
        clues.missingCAFile = CAFile.problem(caPath, named: settings.caFile)
        let result = withOptionalCString(server?.host) { host in
            xmpp_connect_client(conn, host, server?.port ?? 0, { conn, event, error, streamError, userdata in
                let link = Unmanaged<LinkProcess>.fromOpaque(userdata!).takeUnretainedValue()
                link.connectionEvent(event, error, streamError.map { (Int($0.pointee.type.rawValue), $0.pointee.text) },
                                     secured: xmpp_conn_is_secured(conn) != 0)
            }, Unmanaged.passUnretained(self).toOpaque())
        }
        // libstrophe resolves and starts connecting before it returns: a
        // name that does not resolve, or a refusal on loopback, ends here.
        if result != 0 { lost(LinkProcess.startFailure(errno: Errno.current, host: server?.host ?? endpoint, endpoint: endpoint)) }
    }

    /// Why `xmpp_connect_client` failed at once: the name did not resolve,
    /// or every address refused (errno is still connect's).
    private static func startFailure(errno: Errno, host: String, endpoint: String) -> LinkFailure {
        if let reason = Sockets.resolveProblem(host) { return .dns(host: host, reason: reason) }
        return errno.rawValue != 0 ? .connect(endpoint: endpoint, errno) : .other("cannot start connecting to \(endpoint)")
    }


    /// Only `certs/cacert.pem` is trusted (DESIGN.md §3). libstrophe (every
    /// version, OpenSSL backend) loads OpenSSL's default verify paths, and
    /// `xmpp_conn_set_cafile` (0.11+) only adds to them: pointing the
    /// defaults at the CA file — in this process only — is what pins it,
    /// on Buster's 0.9.2 too.
    private func pinCA(_ path: String) {
        caPath = path
        setEnvironment("SSL_CERT_FILE", path)
        setEnvironment("SSL_CERT_DIR", Files.parent(of: path))
    }

    /// `xmpp_conn_set_cafile` and the certificate-failure handler exist from
    /// libstrophe 0.11; Raspbian Buster has 0.9.2, so both are looked up at
    /// run time.
    private func setCAFile(_ path: String) {
        typealias SetCAFile = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void
        guard let symbol = Processes.symbol("xmpp_conn_set_cafile") else { return }
        let setCAFile = unsafeBitCast(symbol, to: SetCAFile.self)
        withCString(path) { setCAFile(conn, $0) }
        // With a handler that refuses, the log says why.
        typealias CertFailHandler = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32
        typealias SetCertFailHandler = @convention(c) (OpaquePointer?, CertFailHandler?) -> Void
        guard let setHandler = Processes.symbol("xmpp_conn_set_certfail_handler") else { return }
        unsafeBitCast(setHandler, to: SetCertFailHandler.self)(conn) { _, message in
            guard let link = LinkProcess.current else { return 0 }
            let why = message.map { String(cString: $0) } ?? "unknown reason"
            link.clues.certificate = "server certificate not trusted (CA file \(link.settings?.caFile ?? "")): \(why)"
            return 0
        }
    }

    /// The running link, for libstrophe callbacks that carry no user data.
    nonisolated(unsafe) static var current: LinkProcess?

    private func connectionEvent(_ event: xmpp_conn_event_t, _ error: Int32, _ streamError: (Int, UnsafeMutablePointer<CChar>?)?,
                                 secured: Bool) {
        if event == XMPP_CONN_CONNECT {
            online = true
            backoff.reset()
            if let line = failures.succeeded(now: Clock.now()) { report(.notice, line) }
            sendPresence()
            emit(.online)
            return
        }
        let wasOnline = online
        online = false
        let failure = clues.failure(error: error, streamError: streamError.map { (LinkFailure.condition($0.0), $0.1.map { String(cString: $0) } ?? "") },
                                    secured: secured, wasOnline: wasOnline, jid: settings?.jid ?? "", endpoint: endpoint)
        // The whole fleet lost the server in the same instant: spread the
        // retries (ReconnectBackoff).
        if wasOnline || failure.serverClosedOnPurpose { backoff.sessionLost(now: Clock.now()) }
        lost(failure)
    }

    /// Gives the connection up and schedules the next attempt.
    private func lost(_ failure: LinkFailure) {
        online = false
        let now = Clock.now()
        let delay = backoff.next(random: Double.random(in: 0..<1), now: now)
        nextAttempt = now + delay
        for line in failures.failed(failure.description, retryIn: delay, now: now) { report(.warning, line) }
        emit(.offline(reason: failure.description))
        // Released from the loop, not from inside libstrophe's callback.
        if let conn {
            self.conn = nil
            pendingRelease = conn
        }
    }

    /// libstrophe's log: debug lines are read for the clues to a failure,
    /// warnings and errors are clues while connecting and logged once online.
    private func libstropheSaid(_ level: xmpp_log_level_t, _ area: UnsafePointer<CChar>, _ message: UnsafePointer<CChar>) {
        if level.rawValue < XMPP_LEVEL_WARN.rawValue {
            // Only lines from area "xmpp" carry clues; skip the rest (every
            // stanza sent and received is logged at debug) without copying.
            guard area[0] == 0x78, area[1] == 0x6D, area[2] == 0x70, area[3] == 0x70, area[4] == 0 else { return }
            if message[0] == 0x52 {  // "RECV: …": every stanza; copied only for the stream header
                if AttemptClues.isStreamHeader(message) { clues.streamStarted = true }
                return
            }
            guard message[0] == 0x63 || message[0] == 0x53 else { return }  // "connection failed…", "SASL … auth failed"
            clues.debug(String(cString: message))
            return
        }
        let text = "\(String(cString: area)): \(String(cString: message))"
        if online {
            report(level.rawValue >= XMPP_LEVEL_ERROR.rawValue ? .error : .warning, text)
        } else {
            clues.problem(area: String(cString: area), text: text)
        }
    }

    private var pendingRelease: OpaquePointer?

    // MARK: Messages

    private func received(_ stanza: OpaquePointer?) {
        guard let stanza else { return }
        if let type = xmpp_stanza_get_type(stanza), String(cString: type) == "error" { return }
        guard let from = xmpp_stanza_get_from(stanza), let body = xmpp_stanza_get_child_by_name(stanza, "body"),
              let text = xmpp_stanza_get_text(body) else { return }
        lastActivity = Clock.now()
        let bodyText = String(cString: text)
        xmpp_free(ctx, text)
        emit(.message(from: String(cString: from), body: bodyText))
    }

    /// The panel may subscribe to the device's presence, to read its status
    /// line; anyone else's request is left unanswered.
    private func receivedPresence(_ stanza: OpaquePointer?) {
        guard let stanza, let conn, let from = xmpp_stanza_get_from(stanza), let settings else { return }
        let sender = String(cString: from)
        guard JID.comparable(sender) == JID.comparable(settings.panel) else {
            report(.warning, "presence subscription from \(sender) ignored")
            return
        }
        let answer = xmpp_presence_new(ctx)
        xmpp_stanza_set_type(answer, "subscribed")
        xmpp_stanza_set_to(answer, from)
        xmpp_send(conn, answer)
        xmpp_stanza_release(answer)
        sendPresence()
    }

    private func send(to: String, body: String, id: String) {
        guard online, let conn else { return }
        let message = withCString(to) { to in withCString(id) { id in xmpp_message_new(ctx, "chat", to, id) } }
        xmpp_message_set_body(message, body)
        xmpp_send(conn, message)
        xmpp_stanza_release(message)
        lastActivity = Clock.now()
        emit(.sent(id: id))
    }

    private func sendPresence() {
        guard online, let conn else { return }
        let stanza = xmpp_presence_new(ctx)
        let status = xmpp_stanza_new(ctx)
        xmpp_stanza_set_name(status, "status")
        let text = xmpp_stanza_new(ctx)
        xmpp_stanza_set_text(text, presence)
        xmpp_stanza_add_child(status, text)
        xmpp_stanza_add_child(stanza, status)
        xmpp_send(conn, stanza)
        xmpp_stanza_release(text)
        xmpp_stanza_release(status)
        xmpp_stanza_release(stanza)
    }

    // MARK: The channel to the agent

    /// Handles the agent's packets; false when the agent has gone.
    private func drainChannel() -> Bool {
        if let release = pendingRelease {
            xmpp_conn_release(release)
            pendingRelease = nil
        }
        while true {
            guard channel.fd.waitReadable(.milliseconds(0)) else { return true }
            switch channel.receive() {
            case .closed: return false
            case .empty, .malformed: return true
            case .packet(let packet):
                do {
                    switch try LinkRequest(packet: packet) {
                    case .send(let to, let body, let id): send(to: to, body: body, id: id)
                    case .presence(let text):
                        presence = text
                        sendPresence()
                    }
                } catch {
                    report(.warning, "packet from the agent ignored: \(error.reason)")
                }
            }
        }
    }

    private func emit(_ event: LinkEvent) {
        channel.send(event.packet())
    }

    private func report(_ level: LogLevel, _ text: String) {
        emit(.log(level, text))
    }
}

/// `tinyagent-link xmpp-link`: the link process's entry point (the agent starts it).
public func runLinkProcess() -> Int32 { LinkProcess().run() }
