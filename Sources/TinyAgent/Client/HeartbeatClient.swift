import TinyBase

/// `tinyagent heartbeat`: sends one heartbeat, for shell-script processes.
public enum HeartbeatClient {
    /// How long the sender stays alive after sending, so the agent can
    /// still find it in /proc: its UDP socket, or (a shell script naming
    /// itself as the sender's parent) its parent (DESIGN.md §4).
    static let linger = Duration.milliseconds(100)

    /// The Unix socket of an agent on the default root.
    public static let defaultSocket = "\(AgentPaths.defaultRoot)/wdog/heartbeat.sock"

    /// Where a heartbeat goes: the kernel-attested Unix socket when one is
    /// named (argument, `$TINYAGENT_HEARTBEAT_SOCKET`) or, with no port named
    /// either, the default root's if it exists; UDP to `port` otherwise and
    /// whenever the socket cannot be reached.
    public static func socketPath(named: String?, environment socket: String?, portNamed: Bool) -> String? {
        if let named { return named }
        if let socket, !socket.isEmpty { return socket }
        return portNamed || Files.size(defaultSocket) == nil ? nil : defaultSocket
    }

    /// Whether the agent would take `name` as a process name (the parser's
    /// own rule): a script finds out from the CLI, not from the agent's log.
    public static func acceptsName(_ name: String) -> Bool {
        UpdateManifest.isProcessName(name)
    }

    /// Sends `datagram` (claiming `pid`) to the Unix socket if given and
    /// reachable, else over UDP; returns how it went ("unix" or "udp").
    @discardableResult
    public static func send(_ datagram: String, claiming pid: Int32, socket path: String?, port: UInt16) throws(Errno) -> String {
        let bytes = Array(datagram.utf8)
        if let path, (try? sendAttested(bytes, to: path)) != nil {
            // The kernel named this process; a claim on its parent is
            // checked in /proc while it still runs.
            if pid != Processes.currentPID { Clock.sleep(linger) }
            return "unix"
        }
        let socket = try UDPSocket.sender()
        defer { socket.close() }
        try withBytes(of: bytes) { (raw) throws(Errno) in
            try socket.send(raw, toLoopbackPort: port)
        }
        Clock.sleep(linger)
        return "udp"
    }

    private static func sendAttested(_ bytes: [UInt8], to path: String) throws(Errno) {
        let socket = try UnixDatagramSocket.sender()
        defer { socket.close() }
        try withBytes(of: bytes) { (raw) throws(Errno) in try socket.send(raw, to: path) }
    }
}
