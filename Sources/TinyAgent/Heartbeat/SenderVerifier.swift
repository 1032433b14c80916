/// What the agent could tell about a heartbeat's sender.
struct SenderVerdict: Equatable {
    /// The claimed pid (or its direct child, for `tinyagent heartbeat` run
    /// from a shell script) holds the socket the datagram came from.
    var verified: Bool
    /// The uid that owns that socket; meaningful only when verified.
    var uid: UInt32
}

/// Matches a datagram's source port to a socket in /proc/net/udp[6] and that
/// socket to the claimed pid's descriptors (SPEC §4). Verdicts are cached
/// per (port, pid) and re-checked after `revalidateAfter`, and the /proc work
/// is bounded per second so a flood of spoofed heartbeats cannot make the
/// agent spend its time scanning /proc.
final class SenderVerifier {
    private struct Cached {
        var verdict: SenderVerdict
        var checkedAt: Instant
    }

    private var cache: [UInt64: Cached] = [:]
    private let revalidateAfter: Duration
    private let maximumLookupsPerSecond: Int
    private var lookupsThisSecond = 0
    private var secondStart = Instant(nanoseconds: 0)
    private let tables: [String]
    static let cacheLimit = 512

    init(revalidateAfter: Duration = .seconds(60), maximumLookupsPerSecond: Int = 200,
         tables: [String] = ["/proc/net/udp", "/proc/net/udp6"]) {
        self.revalidateAfter = revalidateAfter
        self.maximumLookupsPerSecond = maximumLookupsPerSecond
        self.tables = tables
        cache.reserveCapacity(SenderVerifier.cacheLimit)
    }

    func verify(port: UInt16, pid: Int32, now: Instant) -> SenderVerdict {
        let key = UInt64(port) << 32 | UInt64(UInt32(bitPattern: pid))
        if let cached = cache[key], now - cached.checkedAt < revalidateAfter { return cached.verdict }
        if now - secondStart >= .seconds(1) {
            secondStart = now
            lookupsThisSecond = 0
        }
        guard lookupsThisSecond < maximumLookupsPerSecond else {
            return SenderVerdict(verified: false, uid: 0)  // not cached: checked again later
        }
        lookupsThisSecond += 1
        let verdict = lookUp(port: port, pid: pid)
        if cache.count >= SenderVerifier.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = Cached(verdict: verdict, checkedAt: now)
        return verdict
    }

    private func lookUp(port: UInt16, pid: Int32) -> SenderVerdict {
        for table in tables {
            guard let text = try? Files.read(table, limit: 8 << 20) else { continue }
            for socket in ProcNetUDP.sockets(boundTo: port, in: text) {
                if Processes.holdsSocket(pid: pid, inode: socket.inode) ||
                    Processes.childHoldingSocket(parent: pid, inode: socket.inode) != nil {
                    return SenderVerdict(verified: true, uid: socket.uid)
                }
            }
        }
        return SenderVerdict(verified: false, uid: 0)
    }

    /// The uid owning the socket bound to `port`, from the same tables;
    /// for naming the sender of a datagram too broken to claim a pid.
    func socketOwner(port: UInt16) -> UInt32? {
        for table in tables {
            guard let text = try? Files.read(table, limit: 8 << 20) else { continue }
            if let socket = ProcNetUDP.sockets(boundTo: port, in: text).first { return socket.uid }
        }
        return nil
    }
}
