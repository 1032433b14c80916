import TinyBase

/// How the last update ended, kept in `wdog/last-update.json` and shown by
/// `status` (and so to the panel): a local update is otherwise invisible to it.
package struct LastUpdate: Equatable {
    /// "panel command 10" or "local".
    package var origin: String
    /// The URL or the local file's name.
    package var source: String
    /// "p1 1.0.0, p2 1.0.0" before; the versions asked for after.
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
        self.init(origin: origin, source: record.source.description, before: record.before,
                  after: record.expected.map { "\($0.name) \($0.version)" }.joined(separator: ", "),
                  success: success, remark: remark, signature: record.signature, endedAt: endedAt)
    }

    package func write(_ w: inout JSONWriter) {
        w.beginObject()
        w.key("origin"); w.string(origin)
        w.key("source"); w.string(source)
        w.key("before"); w.string(before)
        w.key("after"); w.string(after)
        w.key("result"); w.string(success ? "installed" : "failed")
        w.key("remark"); w.string(remark)
        w.key("signature"); w.string(signature)
        w.key("ended_at"); w.integer(endedAt)
        w.endObject()
    }

    package func encode() -> String {
        var w = JSONWriter()
        write(&w)
        return w.text + "\n"
    }

    package static func decode(_ bytes: [UInt8]) -> LastUpdate? {
        guard let d = try? JSONValue.parse(bytes) else { return nil }
        return decode(d)
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

    /// The record at `path` (root's, 0600), nil when there is none or it is unusable.
    package static func load(_ path: String) -> LastUpdate? {
        guard let bytes = try? Files.readTrusted(path) else { return nil }
        return decode(bytes)
    }
}
