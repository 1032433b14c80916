import TinyBase

/// `tinyagent status`: reads the running agent's report from its control
/// socket and prints it as JSON or as a table.
public enum StatusClient {
    /// The report as JSON text and parsed.
    public static func fetch(root: String) throws(ControlClient.Failure) -> (text: String, report: JSONValue) {
        let reply = try ControlClient.ask(.status, root: root)
        guard let text = reply.data else { throw .badReply("no status report") }
        let report: JSONValue
        do { report = try JSONValue.parse(text) } catch { throw .badReply(error.reason) }
        guard report["processes"]?.arrayValue != nil else { throw .badReply("no processes array") }
        return (text, report)
    }

    /// A table a person reads: one line per process.
    public static func table(_ report: JSONValue) -> String {
        let now = report["wall_clock"]?.integerValue ?? 0
        var rows: [[String]] = [["NAME", "PID", "VERSION", "STATE", "LAST HEARTBEAT", "RESTARTS", "LAST START"]]
        for p in report["processes"]?.arrayValue ?? [] {
            let since = p["since_heartbeat_s"]?.integerValue.map { "\($0) s ago" } ?? "never"
            var state = p["state"]?.stringValue ?? "?"
            if let failure = p["failure"]?.stringValue { state += " (\(failure))" }
            if p["operator_stopped"]?.boolValue == true { state += " (by operator)" }
            if let duplicate = p["duplicate"]?.integerValue { state += ", duplicate pid \(duplicate)" }
            var started = "-"
            if let at = p["last_start"]?.integerValue {
                started = "\(max(0, now - at)) s ago" + (p["last_start_reason"]?.stringValue.map { ": \($0)" } ?? "")
            }
            rows.append([
                p["name"]?.stringValue ?? "?", p["pid"]?.integerValue.map { "\($0)" } ?? "-", p["version"]?.stringValue ?? "?",
                state, since, "\(p["restarts"]?.integerValue ?? 0)", started,
            ])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.utf8.count) } }
        var out = "tinyagent \(report["agent_version"]?.stringValue ?? "?"), pid \(report["pid"]?.integerValue ?? 0), "
        out += "up \(report["uptime_s"]?.integerValue ?? 0) s, heartbeats on 127.0.0.1:\(report["heartbeat_port"]?.integerValue ?? 0)\n"
        if let xmpp = report["xmpp"]?.stringValue {
            out += "xmpp \(xmpp)"
            if let since = report["xmpp_since"]?.integerValue, since > 0 {
                out += " since \(Logger.timestamp(since)) (\(max(0, now - since)) s)"
            }
            out += "\n"
        }
        if let beats = report["heartbeats"] {
            out += "heartbeats: \(beats["accepted"]?.integerValue ?? 0) accepted, \(beats["dropped"]?.integerValue ?? 0) dropped, "
            out += "\(beats["with_unknown_fields"]?.integerValue ?? 0) with unknown fields (ignored)\n"
        }
        if let last = report["last_update"].flatMap({ LastUpdate.decode($0) }) { out += last.line + "\n" }
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
