import CShims

/// `tinyagent heartbeat`: sends one heartbeat, for shell-script processes.
public enum HeartbeatClient {
    /// How long the socket stays open after sending, so the agent can see
    /// it in /proc and verify the sender (SPEC §4).
    static let lingerMilliseconds: Int32 = 100

    /// Whether the agent would take `name` as a process name (the parser's
    /// own rule): a script finds out from the CLI, not from the agent's log.
    public static func acceptsName(_ name: String) -> Bool {
        UpdateManifest.isProcessName(name)
    }

    /// The datagram for these fields, in the format the agent parses.
    public static func datagram(name: String, pid: Int32, runCommand: String?, version: Version) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("process_name"); w.string(name)
        w.key("pid"); w.integer(pid)
        w.key("run_command"); w.string(runCommand ?? "")
        w.key("version"); w.beginObject()
        w.key("major"); w.integer(version.major)
        w.key("minor"); w.integer(version.minor)
        w.key("patch"); w.integer(version.patch)
        w.endObject()
        w.endObject()
        return w.text
    }

    public static func send(_ datagram: String, port: UInt16) throws(Errno) {
        let socket = try UDPSocket.sender()
        defer { socket.close() }
        try withBytes(of: Array(datagram.utf8)) { (raw) throws(Errno) in
            try socket.send(raw, toLoopbackPort: port)
        }
        ta_sleep_ms(lingerMilliseconds)
    }
}
