import TinyBase

/// Reads the panel's commands and makes their answers (DESIGN.md §6):
/// `{"command_no": N, "from": "<device id>", "success": …, "remarks": "…"}`.
/// Only the panel's bare JID is obeyed; every accepted command gets exactly
/// one answer, repeated from the journal when the same `command_no` returns.
package final class CommandProcessor {
    let panelJID: String
    let deviceID: String
    package let journal: CommandJournal
    private let logger: Logger
    private let status: () -> StatusReport
    /// Restarts a process by name; nil, or why not.
    private let restart: (String) -> String?
    private let update: (UpdateCommand) -> UpdateManager.Decision
    private var strangerLog = RateLimitedLog(interval: .seconds(10))

    package init(panelJID: String, deviceID: String, journal: CommandJournal, logger: Logger,
         status: @escaping () -> StatusReport, restart: @escaping (String) -> String?,
         update: @escaping (UpdateCommand) -> UpdateManager.Decision) {
        self.panelJID = JID.comparable(panelJID) ?? panelJID
        self.deviceID = deviceID
        self.journal = journal
        self.logger = logger
        self.status = status
        self.restart = restart
        self.update = update
    }

    /// The answer to send for a message, or nil when none is owed now (an
    /// update answers when it ends, through `finish`).
    package func handle(from sender: String, body: String, now: Instant) -> (commandNo: Int64, answer: String)? {
        guard JID.comparable(sender) == panelJID else {
            if strangerLog.shouldLog(now: now) {
                logger.warning("message from \(sender) ignored: only \(panelJID) gives commands")
            }
            return nil
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            guard let no = CommandProcessor.commandNumber(in: body) else {
                logger.warning("command ignored: not JSON (\(error.reason)) and no command_no to answer")
                return nil
            }
            return answerOnce(no) { answer(no, false, "malformed JSON: \(error.reason)") }.map { (no, $0) }
        }
        guard let no = document["command_no"]?.integerValue, no >= 0 else {
            logger.warning("command ignored: no command_no to answer")
            return nil
        }
        return answerOnce(no) { execute(no, document) }.map { (no, $0) }
    }

    /// Journals and returns the answer to a command that finished later.
    package func finish(_ no: Int64, success: Bool, remarks: String) -> String {
        let text = answer(no, success, remarks)
        record(no, text)
        return text
    }

    /// Executes `make` unless the command was answered before; nil when
    /// its answer comes later.
    private func answerOnce(_ no: Int64, _ make: () -> String?) -> String? {
        if let previous = journal.answer(for: no) {
            logger.notice("command \(no) seen before: answered again from the journal, not executed")
            return previous
        }
        if journal.isForgotten(no) {
            // Not journaled: the refusal is made again for every re-delivery.
            logger.warning("command \(no) refused: older than the journal's window (numbers up to \(journal.forgottenUpTo ?? 0) are forgotten)")
            return answer(no, false, "command_no \(no) is older than the journal's window (answers up to \(journal.forgottenUpTo ?? 0) are forgotten): not run again")
        }
        guard let text = make() else { return nil }
        record(no, text)
        return text
    }

    private func record(_ no: Int64, _ text: String) {
        do { try journal.record(no, answer: text) } catch {
            logger.error("cannot journal the answer to command \(no): \(error)")
        }
    }

    private func execute(_ no: Int64, _ command: JSONValue) -> String? {
        guard let name = command["command"]?.stringValue else { return answer(no, false, "no \"command\" given") }
        logger.notice("command \(no): \(name)")
        switch name {
        case "status":
            return answer(no, true, "") { w in
                w.key("status")
                status().write(&w)
            }
        case "restart_process":
            guard let process = command["name"]?.stringValue else { return answer(no, false, "restart_process needs a \"name\"") }
            if let refusal = restart(process) { return answer(no, false, refusal) }
            return answer(no, true, "")
        case "smart_meter_update":
            switch UpdateCommand.parse(no, command) {
            case .failure(let refusal):
                return answer(no, false, refusal.remark)
            case .success(let request):
                switch update(request) {
                case .accepted: return nil
                case .alreadyRunning:
                    logger.notice("command \(no) is the update already running: answered when it ends")
                    return nil
                case .refused(let remark): return answer(no, false, remark)
                }
            }
        default:
            return answer(no, false, "unknown command \"\(name)\"")
        }
    }

    private func answer(_ no: Int64, _ success: Bool, _ remarks: String, extra: (inout JSONWriter) -> Void = { _ in }) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("command_no"); w.integer(no)
        w.key("from"); w.string(deviceID)
        w.key("success"); w.bool(success)
        w.key("remarks"); w.string(remarks)
        extra(&w)
        w.endObject()
        return w.text
    }

    /// The `command_no` of a body that is not valid JSON, when one can be
    /// read: `"command_no"`, optional spaces, `:`, digits.
    static func commandNumber(in body: String) -> Int64? {
        let bytes = Array(body.utf8)
        let key = Array("\"command_no\"".utf8)
        guard bytes.count >= key.count else { return nil }
        for start in 0...(bytes.count - key.count) where Array(bytes[start..<start + key.count]) == key {
            var i = start + key.count
            while i < bytes.count && bytes[i] == 0x20 { i += 1 }
            guard i < bytes.count && bytes[i] == UInt8(ascii: ":") else { continue }
            i += 1
            while i < bytes.count && bytes[i] == 0x20 { i += 1 }
            var value: Int64 = 0
            var digits = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, digits < 18 {
                value = value * 10 + Int64(bytes[i] - 0x30)
                digits += 1
                i += 1
            }
            if digits > 0 { return value }
        }
        return nil
    }
}
