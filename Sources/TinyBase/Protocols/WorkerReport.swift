/// Update worker → agent (`tinyagent-fetch`), after the job (`UpdateJob`):
/// progress and log lines, then `done` or `failed`, one JSON object per
/// packet. Both ends encode and decode with this type; a packet that is not
/// one of these is refused with the reason.
package enum WorkerReport: Equatable, Sendable {
    package enum Phase: String, Sendable {
        case download, copy, unpack
    }

    case progress(Phase, done: Int64, total: Int64?)
    /// A line for the agent's log (the worker cannot write it).
    case log(String)
    case done
    case failed(remark: String)

    package func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case .progress(let phase, let done, let total):
            w.key("event"); w.string("progress")
            w.key("phase"); w.string(phase.rawValue)
            w.key("done"); w.integer(done)
            w.key("total"); if let total { w.integer(total) } else { w.null() }
        case .log(let text):
            w.key("event"); w.string("log")
            w.key("text"); w.string(text)
        case .done:
            w.key("event"); w.string("done")
        case .failed(let remark):
            w.key("event"); w.string("failed")
            w.key("remark"); w.string(remark)
        }
        w.endObject()
        return w
    }

    package init(packet p: JSONValue) throws(PacketError) {
        switch try p.string("event") {
        case "progress":
            try p.onlyKeys(["event", "phase", "done", "total"])
            guard let phase = Phase(rawValue: try p.string("phase")) else { throw PacketError("unknown phase") }
            let total: Int64?
            if case .null? = p["total"] { total = nil } else { total = try p.integer("total") }
            self = .progress(phase, done: try p.integer("done"), total: total)
        case "log":
            try p.onlyKeys(["event", "text"])
            self = .log(try p.string("text"))
        case "done":
            try p.onlyKeys(["event"])
            self = .done
        case "failed":
            try p.onlyKeys(["event", "remark"])
            self = .failed(remark: try p.string("remark"))
        case let other:
            throw PacketError("unknown event \"\(EntryName.printable(Array(other.utf8)))\"")
        }
    }
}
