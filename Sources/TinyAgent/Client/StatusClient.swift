/// `tinyagent status`: reads the running agent's report from its control
/// socket and prints it as JSON or as a table.
public enum StatusClient {
    public enum Failure: Error {
        case notRunning(String, Errno)
        /// The socket's mode or the agent's `ControlGate` said no.
        case refused(String)
        case badReply(String)
    }

    public static func fetch(root: String) throws(Failure) -> (text: String, report: JSONValue) {
        let path = AgentPaths(root: root).controlSocket
        let bytes: [UInt8]
        do { bytes = try ControlSocket.fetch(path: path) } catch {
            if error == .permissionDenied { throw .refused("\(path): \(error): the status is for root and the app user's group") }
            throw .notRunning(path, error)
        }
        let report: JSONValue
        do { report = try JSONValue.parse(bytes) } catch { throw .badReply(error.reason) }
        if let refusal = report["error"]?.stringValue { throw .refused(refusal) }
        guard report["processes"]?.arrayValue != nil else { throw .badReply("no processes array") }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return (text, report)
    }

    /// A table a person reads: one line per process.
    public static func table(_ report: JSONValue) -> String {
        var rows: [[String]] = [["NAME", "PID", "VERSION", "STATE", "LAST HEARTBEAT", "RESTARTS"]]
        for p in report["processes"]?.arrayValue ?? [] {
            let since = p["since_heartbeat_s"]?.integerValue.map { "\($0) s ago" } ?? "never"
            var state = p["state"]?.stringValue ?? "?"
            if let failure = p["failure"]?.stringValue { state += " (\(failure))" }
            rows.append([
                p["name"]?.stringValue ?? "?", "\(p["pid"]?.integerValue ?? 0)", p["version"]?.stringValue ?? "?",
                state, since, "\(p["restarts"]?.integerValue ?? 0)",
            ])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.utf8.count) } }
        var out = "tinyagent \(report["agent_version"]?.stringValue ?? "?"), pid \(report["pid"]?.integerValue ?? 0), "
        out += "up \(report["uptime_s"]?.integerValue ?? 0) s, heartbeats on 127.0.0.1:\(report["heartbeat_port"]?.integerValue ?? 0)\n"
        if let beats = report["heartbeats"] {
            out += "heartbeats: \(beats["accepted"]?.integerValue ?? 0) accepted, \(beats["dropped"]?.integerValue ?? 0) dropped, "
            out += "\(beats["with_unknown_fields"]?.integerValue ?? 0) with unknown fields (ignored)\n"
        }
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.utf8.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }
}
