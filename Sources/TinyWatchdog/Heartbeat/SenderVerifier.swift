import TinyBase

/// What the agent could tell about a heartbeat's sender.
package struct SenderVerdict: Equatable {
    /// The sender speaks for the claimed pid (see `SenderVerifier`).
    package var verified: Bool
    /// The sender's uid; meaningful only when verified.
    package var uid: UInt32

    static let unverified = SenderVerdict(verified: false, uid: 0)
}

/// How a datagram reached the agent, as the kernel tells it.
package enum HeartbeatSender {
    /// UDP: the source address and port, matched to a socket in /proc.
    case udp(UDPSource)
    /// The Unix socket: the sender's pid, uid and gid from `SCM_CREDENTIALS`
    /// (nil when the kernel attached none).
    case kernel(PeerCredentials?)
}

/// Decides whether a heartbeat's sender speaks for the pid it claims
/// (DESIGN.md §4, RELIABILITY.md "Threat model"):
///
/// - UDP: the datagram's source address *and* port must match exactly one
///   socket in /proc/net/udp[6] (bound to that address or the wildcard);
///   two or more candidates (another user bound 127.0.0.2 on the same port,
///   say) is unverified. The socket's owner is the sender's uid.
/// - Unix socket: the kernel states the sender's pid and uid.
/// - The claimed pid must be the sender itself (UDP: it holds the socket),
///   or the sender's direct parent — how `tinyagent heartbeat` in a shell
///   script names the script — and then only if that parent runs wholly
///   (real, effective and saved uid) as the sender's uid: the agent will
///   only ever signal a process the sender could signal itself, never a
///   `su` or `cron` above it.
/// - The agent's own pid is never verified.
///
/// Verdicts are cached per (sender, pid) and re-checked after
/// `revalidateAfter`, and the /proc work is bounded per second, in look-ups
/// and in the time they take (measured as they go: a sender can make one
/// look-up slow, a pid with many descriptors or children), so a flood of
/// spoofed heartbeats cannot make the agent spend its time scanning /proc.
package final class SenderVerifier {
    private struct Key: Hashable {
        var sender: UInt64
        var pid: Int32
    }

    private struct Cached {
        var verdict: SenderVerdict
        var checkedAt: Instant
    }

    private var cache: [Key: Cached] = [:]
    private let revalidateAfter: Duration
    private let maximumLookupsPerSecond: Int
    private let lookupTimePerSecond: Duration
    private let clock: () -> Instant
    private var lookupsThisSecond = 0
    private var lookupTimeThisSecond = Duration(nanoseconds: 0)
    private var secondStart = Instant(nanoseconds: 0)
    private let tables: [String]
    private let agentPID: Int32
    static let cacheLimit = 512

    package init(revalidateAfter: Duration = .seconds(60), maximumLookupsPerSecond: Int = 200,
                 lookupTimePerSecond: Duration = .milliseconds(100), clock: @escaping () -> Instant = Clock.now,
                 tables: [String] = ["/proc/net/udp", "/proc/net/udp6"], agentPID: Int32 = Processes.currentPID) {
        self.revalidateAfter = revalidateAfter
        self.maximumLookupsPerSecond = maximumLookupsPerSecond
        self.lookupTimePerSecond = lookupTimePerSecond
        self.clock = clock
        self.tables = tables
        self.agentPID = agentPID
        cache.reserveCapacity(SenderVerifier.cacheLimit)
    }

    package func verify(_ sender: HeartbeatSender, pid: Int32, now: Instant) -> SenderVerdict {
        guard pid != agentPID else { return .unverified }
        let key: Key
        switch sender {
        case .udp(let source):
            key = Key(sender: UInt64(source.address) << 16 | UInt64(source.port), pid: pid)
        case .kernel(let credentials):
            guard let credentials else { return .unverified }
            // The kernel's word needs no /proc look-up and no cache.
            if credentials.pid == pid { return SenderVerdict(verified: true, uid: credentials.uid) }
            key = Key(sender: 1 << 63 | UInt64(credentials.uid) << 32 | UInt64(UInt32(bitPattern: credentials.pid)), pid: pid)
        }
        if let cached = cache[key], now - cached.checkedAt < revalidateAfter { return cached.verdict }
        // The clock, not the wake-up's `now`: one wake-up handles a whole batch.
        let began = clock()
        if began - secondStart >= .seconds(1) {
            secondStart = began
            lookupsThisSecond = 0
            lookupTimeThisSecond = Duration(nanoseconds: 0)
        }
        guard lookupsThisSecond < maximumLookupsPerSecond, lookupTimeThisSecond < lookupTimePerSecond else {
            return .unverified  // not cached: checked again later
        }
        lookupsThisSecond += 1
        let verdict: SenderVerdict
        switch sender {
        case .udp(let source): verdict = lookUp(source, pid: pid)
        case .kernel(let credentials):
            verdict = credentials.map { parentRule(claimed: pid, sender: $0.pid, uid: $0.uid) } ?? .unverified
        }
        lookupTimeThisSecond = lookupTimeThisSecond + (clock() - began)
        if cache.count >= SenderVerifier.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = Cached(verdict: verdict, checkedAt: now)
        return verdict
    }

    private func lookUp(_ source: UDPSource, pid: Int32) -> SenderVerdict {
        let found = candidates(for: source)
        guard found.count == 1, let socket = found.first else { return .unverified }
        guard Processes.soleUID(of: pid) == socket.uid else { return .unverified }
        if Processes.holdsSocket(pid: pid, inode: socket.inode) || Processes.childHoldingSocket(parent: pid, inode: socket.inode) != nil {
            return SenderVerdict(verified: true, uid: socket.uid)
        }
        return .unverified
    }

    /// A kernel-attested sender naming another pid: only its parent, running wholly as `uid`.
    private func parentRule(claimed: Int32, sender: Int32, uid: UInt32) -> SenderVerdict {
        guard Processes.parent(of: sender) == claimed, Processes.soleUID(of: claimed) == uid else { return .unverified }
        return SenderVerdict(verified: true, uid: uid)
    }

    /// The uid owning the one socket a datagram from `source` may have left
    /// by, from the same tables; for naming the sender of a datagram too
    /// broken to claim a pid.
    func socketOwner(_ source: UDPSource) -> UInt32? {
        let found = candidates(for: source)
        return found.count == 1 ? found[0].uid : nil
    }

    private func candidates(for source: UDPSource) -> [UDPSocketEntry] {
        var found: [UDPSocketEntry] = []
        for table in tables {
            guard let text = try? Files.read(table, limit: 8 << 20) else { continue }
            ProcNetUDP.candidates(for: source, in: text, into: &found)
        }
        return found
    }
}
