/// Reads heartbeat datagrams from the loopback socket (SPEC §4): parses each
/// in place, asks who sent it, and hands it to the supervisor. Bad
/// datagrams are dropped, counted and logged at a limited rate.
final class HeartbeatReceiver {
    let socket: UDPSocket
    let verifier: SenderVerifier
    private let buffer: UnsafeMutableRawBufferPointer
    private let logger: Logger
    private var dropLog = RateLimitedLog(interval: .seconds(10))
    public private(set) var accepted = 0
    public private(set) var dropped = 0
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
                drop(.tooLarge, port: port, now: now)
                continue
            }
            let datagram = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
            do {
                let beat = try HeartbeatParser.parse(datagram)
                let verdict = verifier.verify(port: port, pid: beat.pid, now: now)
                supervisor.heartbeat(beat, in: datagram, verdict: verdict, now: now, wallClock: wallClock)
                accepted &+= 1
            } catch {
                drop(error, port: port, now: now)
            }
        }
    }

    private func drop(_ error: HeartbeatError, port: UInt16, now: Instant) {
        dropped &+= 1
        guard dropLog.shouldLog(now: now) else { return }
        let suppressed = dropLog.takeSuppressed()
        let more = suppressed > 0 ? " (\(suppressed) more dropped before this)" : ""
        logger.warning("dropped heartbeat from port \(port): \(error.reason)\(more)")
    }
}
