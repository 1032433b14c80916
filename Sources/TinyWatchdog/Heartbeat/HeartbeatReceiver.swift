import TinyBase

/// Where heartbeats arrive: the seed's UDP port, or the Unix datagram
/// socket whose senders the kernel names (`wdog/heartbeat.sock`).
package enum HeartbeatEndpoint {
    case udp(UDPSocket)
    case unix(UnixDatagramSocket)

    package var fd: FileDescriptor {
        switch self {
        case .udp(let socket): return socket.fd
        case .unix(let socket): return socket.fd
        }
    }

    /// One datagram: its full length and who sent it; nil when none is queued.
    package func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, sender: HeartbeatSender)? {
        switch self {
        case .udp(let socket):
            guard let (length, source) = try socket.receive(into: buffer) else { return nil }
            return (length, .udp(source))
        case .unix(let socket):
            guard let (length, credentials) = try socket.receive(into: buffer) else { return nil }
            return (length, .kernel(credentials))
        }
    }

    package func close() {
        switch self {
        case .udp(let socket): socket.close()
        case .unix(let socket): socket.close()
        }
    }
}

/// Reads heartbeat datagrams from one endpoint (DESIGN.md §4): parses each in
/// place, asks who sent it, and hands it to the supervisor. Bad datagrams
/// are dropped, counted and logged at a limited rate.
package final class HeartbeatReceiver: EventParticipant {
    package let endpoint: HeartbeatEndpoint
    package let verifier: SenderVerifier
    /// Who the heartbeats are for.
    private let supervisor: Supervisor
    private let buffer: UnsafeMutableRawBufferPointer
    private let logger: Logger
    private var refusals = RefusalLog()
    public private(set) var accepted = 0
    public private(set) var dropped = 0
    /// Accepted heartbeats that carried fields this agent does not know.
    public private(set) var withUnknownFields = 0
    /// At most this many datagrams per wake-up, so timers, signals and the
    /// watchdog ping get their turn during a flood.
    static let batch = 256

    package init(endpoint: HeartbeatEndpoint, verifier: SenderVerifier, supervisor: Supervisor, logger: Logger) {
        self.endpoint = endpoint
        self.supervisor = supervisor
        self.verifier = verifier
        self.logger = logger
        // One byte more than the largest accepted datagram: MSG_TRUNC
        // reports the real length of anything larger.
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: HeartbeatParser.maximumDatagram + 1, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// The endpoint (registered with it) has datagrams.
    package func readable(_ token: EventLoop.Token, now: Instant) {
        drain(now: now, wallClock: Clock.wallSeconds())
    }

    /// Handles the datagrams queued now.
    private func drain(now: Instant, wallClock: Int64) {
        for _ in 0..<HeartbeatReceiver.batch {
            let received: (length: Int, sender: HeartbeatSender)?
            do { received = try endpoint.receive(into: buffer) } catch {
                logger.error("heartbeat socket: \(error)")
                return
            }
            guard let (length, sender) = received else { return }
            guard length <= HeartbeatParser.maximumDatagram else {
                drop(HeartbeatRejection(.tooLarge), in: nil, from: sender, now: now)
                continue
            }
            let datagram = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
            do {
                let beat = try HeartbeatParser.parse(datagram)
                let verdict = verifier.verify(sender, pid: beat.pid, now: now)
                supervisor.heartbeat(beat, in: datagram, verdict: verdict, now: now, wallClock: wallClock)
                accepted &+= 1
                if beat.unknownFields > 0 { withUnknownFields &+= 1 }
            } catch {
                drop(error, in: datagram, from: sender, now: now)
            }
        }
    }

    /// Counts a refused datagram and, within `RefusalLog`'s limits, logs
    /// who sent it (the kernel's word, or the verifier's /proc look-up) and
    /// where it broke.
    private func drop(_ rejection: HeartbeatRejection, in datagram: UnsafeRawBufferPointer?, from sender: HeartbeatSender,
                      now: Instant) {
        dropped &+= 1
        let key: UInt64
        switch sender {
        case .udp(let source): key = UInt64(source.address) << 16 | UInt64(source.port)
        case .kernel(let credentials): key = 1 << 63 | UInt64(UInt32(bitPattern: credentials?.pid ?? 0))
        }
        guard let suppressed = refusals.admit(sender: key, problem: rejection.error.code, now: now) else { return }
        let more = suppressed > 0 ? " (\(suppressed) more like it from this sender before this)" : ""
        let what = datagram.map { rejection.describe($0) } ?? "\(rejection.error.reason)"
        logger.warning("dropped heartbeat from \(describe(sender, claimedPID: rejection.claimedPID, now: now)): \(what)\(more)")
    }

    /// "pid P (uid U)" when the kernel named the sender or the pid the
    /// datagram claimed holds its socket, else "port N (uid U)" from the
    /// socket tables.
    private func describe(_ sender: HeartbeatSender, claimedPID: Int32?, now: Instant) -> String {
        switch sender {
        case .kernel(let credentials):
            return credentials.map { "pid \($0.pid) (uid \($0.uid))" } ?? "an unnamed sender on the Unix socket"
        case .udp(let source):
            if let claimedPID {
                let verdict = verifier.verify(sender, pid: claimedPID, now: now)
                if verdict.verified { return "pid \(claimedPID) (uid \(verdict.uid))" }
            }
            return "port \(source.port)" + (verifier.socketOwner(source).map { " (uid \($0))" } ?? "")
        }
    }
}
