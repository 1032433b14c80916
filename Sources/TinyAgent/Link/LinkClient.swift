import TinyBase

/// The agent's side of the XMPP link: starts the link process
/// (`tinyagent-link`), restarts it when it dies, and turns its packets into
/// events for the agent. Nothing here blocks: the channel is non-blocking
/// and watched by the event loop.
package final class LinkClient {
    /// `tinyagent-link` and the helper user it runs as; or why the link
    /// cannot run (logged once at the agent's start): it then stays
    /// offline, and the answers owed stay in the journal.
    private let launch: Result<HelperLaunch, HelperUnavailable>
    private let settings: LinkSettings
    package private(set) var channel: PacketChannel?
    package private(set) var pid: Int32?
    package private(set) var online = false
    /// When a dead link process is started again.
    private(set) var restartAt: Instant?
    private var restartDelay = Duration.seconds(1)
    private var presence = ""

    package init(launch: Result<HelperLaunch, HelperUnavailable>, settings: LinkSettings) {
        self.launch = launch
        self.settings = settings
    }

    /// "connecting", "online" or "offline".
    var stateName: String { online ? "online" : (pid == nil ? "offline" : "connecting") }

    /// Starts the link process as the helper user and hands it the
    /// credentials (decrypted here: it cannot read cfg/) and the CA file (an
    /// open descriptor; it need not reach certs/).
    package func start() throws(Errno) {
        restartAt = nil
        guard case .success(let launch) = launch else { return }
        let (channel, pid) = try launch.start()
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
    package func close() {
        channel?.close()
        channel = nil
        pid = nil
        online = false
    }

    /// The packets queued now, as events; the link's log lines prefixed
    /// `xmpp: `, a packet that is not an event logged with its reason.
    package func drain(_ handle: (LinkEvent) -> Void) {
        while let channel {
            switch channel.receive() {
            case .empty: return
            case .closed:
                online = false
                return  // the process's exit (SIGCHLD) restarts it
            case .malformed:
                handle(.log(.warning, "xmpp link: packet ignored: not JSON"))
            case .packet(let packet):
                let event: LinkEvent
                do { event = try LinkEvent(packet: packet) } catch {
                    handle(.log(.warning, "xmpp link: packet ignored: \(error.reason)"))
                    continue
                }
                switch event {
                case .online:
                    online = true
                    restartDelay = .seconds(1)
                case .offline:
                    online = false
                case .log(let level, let text):
                    handle(.log(level, "xmpp: " + text))
                    continue
                default: break
                }
                handle(event)
            }
        }
    }

    /// Hands a message to the link; false when the link is not online (the
    /// caller keeps it and sends it again once the link is back).
    @discardableResult
    package func send(to: String, body: String, id: String) -> Bool {
        guard online, let channel else { return false }
        return channel.send(LinkRequest.send(to: to, body: body, id: id).packet())
    }

    /// The presence status text, sent now and after every reconnection.
    func setPresence(_ text: String) {
        guard text != presence else { return }
        presence = text
        sendPresence()
    }

    private func sendPresence() {
        channel?.send(LinkRequest.presence(presence).packet())
    }
}
