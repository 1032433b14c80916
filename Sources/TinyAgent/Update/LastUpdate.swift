import TinyBase
import TinyWatchdog

/// How the last update ended, kept in `wdog/last-update.json` and shown by
/// `status` (and so to the panel): a local update is otherwise invisible to it.
package struct LastUpdate: Equatable {
    /// "panel command 10" or "local".
    package var origin: String
    /// The URL or the local file's name.
    package var source: String
    /// "p1 1.0.0, p2 1.0.0" before; the versions asked for after (and
    /// "tinyagent 1.2.0" for new programs, "certs/cacert.pem" for a new CA).
    package var before: String
    package var after: String
    package var success: Bool
    package var remark: String
    /// `SignatureVerdict.summary` ("signed by fleet.pem"), empty when it never got that far.
    package var signature: String
    /// Wall-clock second it ended.
    package var endedAt: Int64
}

extension LastUpdate {
    package init(record: UpdateRecord, success: Bool, remark: String, endedAt: Int64) {
        let origin: String
        switch record.origin {
        case .panel(let no): origin = "panel command \(no)"
        case .local: origin = "local"
        }
        // The agent and a new CA are named too: an archive may carry nothing else.
        let agent = record.newPrograms ? record.agentVersion.map { ["\(AgentPrograms.agent) \($0)"] } ?? [] : []
        let after = record.expected.map { "\($0.name) \($0.version)" } + agent + (record.newCA ? [CARotation.archivePath] : [])
        self.init(origin: origin, source: record.source.description, before: record.before, after: after.joined(separator: ", "),
                  success: success, remark: remark, signature: record.signature, endedAt: endedAt)
    }

    /// The record has no format of its own in `status`; in its file, format
    /// 1, and a file without the member (agents before it had one) is read
    /// as 1: the fields have not changed since.
    package static let format = StateFormat(1, unversioned: 1)

    package func write(_ w: inout JSONWriter) {
        w.beginObject()
        fields(&w)
        w.endObject()
    }

    private func fields(_ w: inout JSONWriter) {
        w.key("origin"); w.string(origin)
        w.key("source"); w.string(source)
        w.key("before"); w.string(before)
        w.key("after"); w.string(after)
        w.key("result"); w.string(success ? "installed" : "failed")
        w.key("remark"); w.string(remark)
        w.key("signature"); w.string(signature)
        w.key("ended_at"); w.integer(endedAt)
    }

    package func encode() -> String { LastUpdate.format.encode(fields) }

    /// The file's document, `format` checked (`StateFormat.decode`).
    package static func decode(_ d: JSONValue, format: Int64) throws(StateFileError) -> LastUpdate {
        guard let last = decode(d) else { throw .malformed("a field is missing") }
        return last
    }

    /// From the object `write` made (the file, or `status`'s `last_update`).
    package static func decode(_ d: JSONValue) -> LastUpdate? {
        guard let origin = d["origin"]?.stringValue, let source = d["source"]?.stringValue,
              let before = d["before"]?.stringValue, let after = d["after"]?.stringValue,
              let result = d["result"]?.stringValue, let remark = d["remark"]?.stringValue,
              let signature = d["signature"]?.stringValue, let endedAt = d["ended_at"]?.integerValue
        else { return nil }
        return LastUpdate(origin: origin, source: source, before: before, after: after, success: result == "installed",
                          remark: remark, signature: signature, endedAt: endedAt)
    }

    /// The line `tinyagent status` prints.
    package var line: String {
        var text = "last update: \(origin) \(source), \(before.isEmpty ? "-" : before) → \(after.isEmpty ? "-" : after), "
        text += success ? "installed" : "failed: \(remark)"
        if !signature.isEmpty { text += " (\(signature))" }
        return text + " at \(Logger.timestamp(endedAt))"
    }
}
