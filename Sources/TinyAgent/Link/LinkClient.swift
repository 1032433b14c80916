/// The agent's side of the XMPP link: starts the link process
/// (`LinkProcess`), restarts it when it dies, and turns its packets into
/// events for the agent. Nothing here blocks: the channel is non-blocking
/// and watched by the event loop.
final class LinkClient {
    enum Event {
        case online
        case offline(String)
        case message(from: String, body: String)
        case sent(id: String)
        case log(LogLevel, String)
    }

    private let settings: LinkSettings
    /// The helper user the link runs as (nil: as the agent, which is not root).
    private let user: Identity?
    private(set) var channel: PacketChannel?
    private(set) var pid: Int32?
    private(set) var online = false
    /// When a dead link process is started again.
    private(set) var restartAt: Instant?
    private var restartDelay = Duration.seconds(1)
    private var presence = ""

    init(settings: LinkSettings, user: Identity?) {
        self.settings = settings
        self.user = user
    }

    /// "connecting", "online" or "offline".
    var stateName: String { online ? "online" : (pid == nil ? "offline" : "connecting") }

    /// Starts the link process as the helper user and hands it the
    /// credentials (decrypted here: it cannot read cfg/) and the CA file (an
    /// open descriptor; it need not reach certs/).
    func start() throws(Errno) {
        restartAt = nil
        let (channel, pid) = try PacketChannel.startHelper("xmpp-link", as: user)
        self.pid = pid
        self.channel = channel
        let ca = try? Folder.openRegularFile(settings.caFile)
        channel.send(settings.packet(), descriptors: ca.map { [$0] } ?? [])
        ca?.close()
        if !presence.isEmpty { sendPresence() }
    }

    /// The link process exited: start it again after a back-off. True when
    /// `pid` was the link process.
    func processExited(_ exited: Int32, now: Instant) -> Bool {
        guard exited == pid else { return false }
        close()
        restartAt = now + restartDelay
        restartDelay = min(restartDelay * 2, .seconds(300))
        return true
    }

    /// Stops the link: it sees the channel close and logs out.
    func close() {
        channel?.fd.close()
        channel = nil
        pid = nil
        online = false
    }

    /// The packets queued now, as events.
    func drain(_ handle: (Event) -> Void) {
        while let channel {
            switch channel.receive() {
            case .empty: return
            case .closed:
                online = false
                return  // the process's exit (SIGCHLD) restarts it
            case .malformed:
                handle(.log(.warning, "xmpp link: malformed packet ignored"))
            case .packet(let packet):
                if let event = LinkClient.event(packet) {
                    switch event {
                    case .online:
                        online = true
                        restartDelay = .seconds(1)
                    case .offline:
                        online = false
                    default: break
                    }
                    handle(event)
                }
            }
        }
    }

    private static func event(_ p: JSONValue) -> Event? {
        switch p["event"]?.stringValue {
        case "online": return .online
        case "offline": return .offline(p["reason"]?.stringValue ?? "")
        case "message":
            guard let from = p["from"]?.stringValue, let body = p["body"]?.stringValue else { return nil }
            return .message(from: from, body: body)
        case "sent":
            guard let id = p["id"]?.stringValue else { return nil }
            return .sent(id: id)
        case "log":
            let level = LogLevel(rawValue: Int32(p["level"]?.integerValue ?? 4)) ?? .warning
            return .log(level, "xmpp: \(p["text"]?.stringValue ?? "")")
        default: return nil
        }
    }

    /// Hands a message to the link; false when the link is not online (the
    /// caller keeps it and sends it again once the link is back).
    @discardableResult
    func send(to: String, body: String, id: String) -> Bool {
        guard online, let channel else { return false }
        var w = JSONWriter()
        w.beginObject()
        w.key("send"); w.beginObject()
        w.key("to"); w.string(to)
        w.key("body"); w.string(body)
        w.key("id"); w.string(id)
        w.endObject()
        w.endObject()
        return channel.send(w)
    }

    /// The presence status text, sent now and after every reconnection.
    func setPresence(_ text: String) {
        guard text != presence else { return }
        presence = text
        sendPresence()
    }

    private func sendPresence() {
        var w = JSONWriter()
        w.beginObject()
        w.key("presence"); w.string(presence)
        w.endObject()
        channel?.send(w)
    }
}
