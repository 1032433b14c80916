/// Reads heartbeat datagrams from the loopback socket (SPEC §4): parses each
/// in place, asks who sent it, and hands it to the supervisor. Bad
/// datagrams are dropped, counted and logged at a limited rate.
final class HeartbeatReceiver {
    let socket: UDPSocket
    let verifier: SenderVerifier
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

    init(socket: UDPSocket, verifier: SenderVerifier, logger: Logger) {
        self.socket = socket
        self.verifier = verifier
        self.logger = logger
        // One byte more than the largest accepted datagram: MSG_TRUNC
        // reports the real length of anything larger.
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: HeartbeatParser.maximumDatagram + 1, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// Handles the datagrams queued now.
    func drain(into supervisor: Supervisor, now: Instant, wallClock: Int64) {
        for _ in 0..<HeartbeatReceiver.batch {
            let received: (length: Int, sourcePort: UInt16)?
            do { received = try socket.receive(into: buffer) } catch {
                logger.error("heartbeat socket: \(error)")
                return
            }
            guard let (length, port) = received else { return }
            guard length <= HeartbeatParser.maximumDatagram else {
                drop(HeartbeatRejection(.tooLarge), in: nil, port: port, now: now)
                continue
            }
            let datagram = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
            do {
                let beat = try HeartbeatParser.parse(datagram)
                let verdict = verifier.verify(port: port, pid: beat.pid, now: now)
                supervisor.heartbeat(beat, in: datagram, verdict: verdict, now: now, wallClock: wallClock)
                accepted &+= 1
                if beat.unknownFields > 0 { withUnknownFields &+= 1 }
            } catch {
                drop(error, in: datagram, port: port, now: now)
            }
        }
    }

    /// Counts a refused datagram and, within `RefusalLog`'s limits, logs
    /// who sent it (the verifier's /proc look-up) and where it broke.
    private func drop(_ rejection: HeartbeatRejection, in datagram: UnsafeRawBufferPointer?, port: UInt16, now: Instant) {
        dropped &+= 1
        guard let suppressed = refusals.admit(sender: UInt64(port), problem: rejection.error.code, now: now) else { return }
        let more = suppressed > 0 ? " (\(suppressed) more like it from this sender before this)" : ""
        let what = datagram.map { rejection.describe($0) } ?? "\(rejection.error.reason)"
        logger.warning("dropped heartbeat from \(sender(port: port, claimedPID: rejection.claimedPID, now: now)): \(what)\(more)")
    }

    /// "pid P (uid U)" when the pid the datagram claimed holds its socket,
    /// else "port N (uid U)" from the socket tables.
    private func sender(port: UInt16, claimedPID: Int32?, now: Instant) -> String {
        if let claimedPID {
            let verdict = verifier.verify(port: port, pid: claimedPID, now: now)
            if verdict.verified { return "pid \(claimedPID) (uid \(verdict.uid))" }
        }
        return "port \(port)" + (verifier.socketOwner(port: port).map { " (uid \($0))" } ?? "")
    }
}
