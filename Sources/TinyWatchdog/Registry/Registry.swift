import TinyBase

/// The known processes on disk (`wdog/registry.json`), so an agent restart
/// re-adopts them (DESIGN.md §4). Small, versioned, written atomically.
public enum Registry {
    package static let format = StateFormat(1)

    /// `registry.json` in `wdog`.
    public static func file(in wdog: Folder) -> StateFile { StateFile("registry.json", in: wdog, format: format) }

    public static func encode(_ processes: [SupervisedProcess], bootID: String) -> String {
        format.encode { w in
            w.key("boot_id"); w.string(bootID)
            w.key("processes"); w.beginArray()
            for p in processes {
                w.beginObject()
                w.key("name"); w.string(p.name)
                w.key("pid"); w.integer(p.pid)
                w.key("start_time"); if let t = p.startTime { w.integer(t) } else { w.null() }
                w.key("uid"); w.integer(p.uid)
                w.key("gid"); w.integer(p.gid)
                w.key("run_command"); if let c = p.runCommand { w.string(c) } else { w.null() }
                w.key("verified"); w.bool(p.verified)
                w.key("version"); w.string(p.version.description)
                w.key("state"); w.string(p.state.name)
                w.key("restarts"); w.integer(p.restarts)
                w.key("failure"); if let f = p.failure { w.string(f) } else { w.null() }
                w.key("last_heartbeat"); w.integer(p.lastHeartbeatWall)
                w.key("known_since"); w.integer(p.knownSince)
                w.key("last_start"); w.integer(p.lastStartWall)
                w.key("last_start_reason"); if let r = p.lastStartReason { w.string(r) } else { w.null() }
                w.key("operator_stopped"); w.bool(p.operatorStopped)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// A document `format` checked (`StateFormat.decode`).
    public static func decode(_ document: JSONValue, format: Int64) throws(StateFileError)
        -> (processes: [SupervisedProcess], bootID: String) {
        guard let bootID = document["boot_id"]?.stringValue, let items = document["processes"]?.arrayValue else {
            throw .malformed("boot_id or processes missing")
        }
        var processes: [SupervisedProcess] = []
        for item in items {
            guard let name = item["name"]?.stringValue,
                  // 0: listed, but its start failed (no pid to watch).
                  let pid = item["pid"]?.integerValue, pid == 0 || pid > 1, pid <= HeartbeatParser.maximumPID,
                  let uid = item["uid"]?.integerValue, uid >= 0, uid <= Int64(UInt32.max),
                  let gid = item["gid"]?.integerValue, gid >= 0, gid <= Int64(UInt32.max),
                  let verified = item["verified"]?.boolValue,
                  let version = item["version"]?.stringValue.flatMap({ Version($0) }),
                  let state = item["state"]?.stringValue.flatMap({ ProcessState(name: $0) }) else {
                throw .malformed("a process entry is incomplete")
            }
            var p = SupervisedProcess(name: name, pid: Int32(pid), uid: UInt32(uid), gid: UInt32(gid),
                                      runCommand: item["run_command"]?.stringValue, verified: verified,
                                      version: version, state: state)
            p.startTime = item["start_time"]?.integerValue
            p.restarts = Int(item["restarts"]?.integerValue ?? 0)
            p.failure = item["failure"]?.stringValue
            // Absent in registries written before names expired: 0 is
            // stamped with the time of the next check.
            p.lastHeartbeatWall = item["last_heartbeat"]?.integerValue ?? 0
            p.knownSince = item["known_since"]?.integerValue ?? 0
            p.lastStartWall = item["last_start"]?.integerValue ?? 0
            p.lastStartReason = item["last_start_reason"]?.stringValue
            p.ended = pid == 0
            p.operatorStopped = item["operator_stopped"]?.boolValue ?? false
            p.lastCommandBytes = []
            processes.append(p)
        }
        return (processes, bootID)
    }

    /// The kernel's id of this boot: a pid from another boot names nothing.
    public static func currentBootID() -> String {
        guard let bytes = try? Files.read("/proc/sys/kernel/random/boot_id", limit: 128) else { return "" }
        return String(decoding: bytes.filter { $0 != 0x0A }, as: UTF8.self)
    }
}
