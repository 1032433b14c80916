import TinyBase
import TinyWatchdog

/// The running agent's state as one JSON object: what `tinyagent status`
/// prints, and (later) the panel's `status` command.
public struct StatusReport {
    public var pid: Int32
    public var uptimeSeconds: Int64
    public var heartbeatPort: UInt16
    public var heartbeatsAccepted: Int
    public var heartbeatsDropped: Int
    /// Accepted heartbeats that carried fields this agent ignored (newer senders).
    public var heartbeatsWithUnknownFields: Int = 0
    public var processes: [SupervisedProcess]
    public var wallClock: Int64
    /// The control channel: "off" (no config), "connecting", "online", "offline".
    public var xmpp: String
    /// Since when (wall clock) the control channel is in that state.
    public var xmppSince: Int64 = 0
    /// Free bytes under the agent's root, nil when unknown.
    public var freeBytes: Int64?
    /// The software update's state in one line ("no update in progress").
    public var update: String
    /// How the last update ended (origin, versions, result, time), when there was one.
    package var lastUpdate: LastUpdate?

    public func json() -> String {
        var w = JSONWriter()
        write(&w)
        return w.text
    }

    /// The report as one JSON object, into a larger document.
    public func write(_ w: inout JSONWriter) {
        w.beginObject()
        w.key("agent_version"); w.string(TinyBase.agentVersion)
        w.key("pid"); w.integer(pid)
        w.key("uptime_s"); w.integer(uptimeSeconds)
        w.key("heartbeat_port"); w.integer(heartbeatPort)
        w.key("xmpp"); w.string(xmpp)
        w.key("xmpp_since"); w.integer(xmppSince)
        w.key("wall_clock"); w.integer(wallClock)
        w.key("free_bytes"); if let freeBytes { w.integer(freeBytes) } else { w.null() }
        w.key("update"); w.string(update)
        w.key("last_update"); if let lastUpdate { lastUpdate.write(&w) } else { w.null() }
        w.key("heartbeats"); w.beginObject()
        w.key("accepted"); w.integer(heartbeatsAccepted)
        w.key("dropped"); w.integer(heartbeatsDropped)
        w.key("with_unknown_fields"); w.integer(heartbeatsWithUnknownFields)
        w.endObject()
        w.key("processes"); w.beginArray()
        for p in processes {
            w.beginObject()
            w.key("name"); w.string(p.name)
            // A process that ended has no pid: the number may be another's by now.
            w.key("pid"); if p.ended || p.pid == 0 { w.null() } else { w.integer(p.pid) }
            w.key("version"); w.string(p.version.description)
            w.key("state"); w.string(p.state.name)
            w.key("since_heartbeat_s")
            if p.lastHeartbeatWall > 0 { w.integer(max(0, wallClock - p.lastHeartbeatWall)) } else { w.null() }
            w.key("restarts"); w.integer(p.restarts)
            w.key("last_start"); if p.lastStartWall > 0 { w.integer(p.lastStartWall) } else { w.null() }
            w.key("last_start_reason"); if let r = p.lastStartReason { w.string(r) } else { w.null() }
            w.key("restart"); w.string(p.launch.restart.name)
            w.key("uid"); w.integer(p.uid)
            w.key("verified"); w.bool(p.verified)
            w.key("failure"); if let f = p.failure { w.string(f) } else { w.null() }
            w.key("operator_stopped"); w.bool(p.operatorStopped)
            w.key("duplicate")
            if let pid = p.duplicatePid, Processes.isAlive(pid) { w.integer(pid) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The one-line summary for systemd's `STATUS=`.
    public static func summary(_ processes: [SupervisedProcess]) -> String {
        var up = 0, failed = 0, finished = 0, stopped = 0
        for p in processes {
            if p.state == .running { up += 1 }
            if p.state == .failed { failed += 1 }
            if p.state == .finished { finished += 1 }
            if p.state == .stopped { stopped += 1 }  // by an operator, or for an update: not restarting
        }
        let others = processes.count - up - failed - finished - stopped
        var line = "processes \(up)/\(processes.count) up"
        if failed > 0 { line += ", \(failed) failed" }
        if finished > 0 { line += ", \(finished) finished" }
        if stopped > 0 { line += ", \(stopped) stopped" }
        if others > 0 { line += ", \(others) restarting" }
        return line
    }
}
