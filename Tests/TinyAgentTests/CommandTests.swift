import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

@Suite final class CommandTests {
    let folder = NSTemporaryDirectory() + "tinyagent-commands-\(UUID().uuidString)"
    var restarted: [String] = []
    var updates: [UpdateCommand] = []
    var updateDecision = UpdateManager.Decision.accepted
    let logger = Logger(file: nil, journal: false)

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        logger.minimumLevel = .error
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func processor() -> CommandProcessor {
        let journal = CommandJournal(path: "\(folder)/commands.json")
        journal.load(logger: logger)
        let p = SupervisedProcess(name: "ocr", pid: 4321, uid: 0, gid: 0, runCommand: "x", verified: true,
                                  version: Version(major: 1, minor: 2, patch: 3), state: .running)
        return CommandProcessor(
            panelJID: "Panel@Example.org", deviceID: "b8:27:eb:00:00:01", journal: journal, logger: logger,
            status: {
                StatusReport(pid: 99, uptimeSeconds: 5, heartbeatPort: 4951, heartbeatsAccepted: 1, heartbeatsDropped: 0,
                             processes: [p], wallClock: 0, xmpp: "online", freeBytes: 1000, update: "no update in progress")
            },
            restart: { name in
                self.restarted.append(name)
                return name == "ocr" ? nil : "no process named \"\(name)\""
            },
            update: { command in
                self.updates.append(command)
                return self.updateDecision
            })
    }

    func answer(_ p: CommandProcessor, _ body: String, from: String = "panel@example.org/web") -> JSONValue? {
        guard let (_, text) = p.handle(from: from, body: body, now: Clock.now()) else { return nil }
        return try? JSONValue.parse(text)
    }

    @Test func statusAnswersWithTheProcessesAndTheAgent() throws {
        let a = try #require(answer(processor(), #"{"command": "status", "command_no": 7}"#))
        #expect(a["command_no"] == .integer(7) && a["from"]?.stringValue == "b8:27:eb:00:00:01")
        #expect(a["success"] == .bool(true) && a["remarks"] == .string(""))
        let status = try #require(a["status"])
        #expect(status["xmpp"]?.stringValue == "online" && status["free_bytes"] == .integer(1000))
        let process = try #require(status["processes"]?.arrayValue?.first)
        #expect(process["name"] == .string("ocr") && process["version"] == .string("1.2.3") && process["state"] == .string("running"))
    }

    @Test func restartProcessRestartsByName() throws {
        let p = processor()
        #expect(answer(p, #"{"command": "restart_process", "command_no": 1, "name": "ocr"}"#)?["success"] == .bool(true))
        let unknown = answer(p, #"{"command": "restart_process", "command_no": 2, "name": "nope"}"#)
        #expect(unknown?["success"] == .bool(false) && unknown?["remarks"] == .string("no process named \"nope\""))
        #expect(restarted == ["ocr", "nope"])
    }

    @Test func unknownCommandsFailWithARemark() {
        let p = processor()
        #expect(answer(p, #"{"command": "reboot", "command_no": 4}"#)?["remarks"] == .string("unknown command \"reboot\""))
        #expect(answer(p, #"{"command_no": 5}"#)?["remarks"] == .string("no \"command\" given"))
    }

    @Test func anUpdateIsAnsweredWhenItEndsAndOnlyOnce() throws {
        let p = processor()
        let body = #"{"command": "smart_meter_update", "command_no": 20, "url": "https://h/u.zip", "sha256": "\#(String(repeating: "ab", count: 32))", "timeout_s": 30, "processes": [{"name": "ocr", "version": {"major": 1, "minor": 0, "patch": 2}}]}"#
        #expect(p.handle(from: "panel@example.org", body: body, now: Clock.now()) == nil, "no answer yet")
        let update = try #require(updates.first)
        #expect(update.commandNo == 20 && update.url == "https://h/u.zip" && update.timeout == .seconds(30))
        #expect(update.sha256 == [UInt8](repeating: 0xab, count: 32))
        #expect(update.processes == [UpdateCommand.Expected(name: "ocr", version: Version(major: 1, minor: 0, patch: 2))])
        // The same command again while it runs: still no answer, not started twice (the manager says so).
        updateDecision = .alreadyRunning
        #expect(p.handle(from: "panel@example.org", body: body, now: Clock.now()) == nil)
        let answer = p.finish(20, success: true, remarks: "")
        #expect(try JSONValue.parse(answer)["success"] == .bool(true))
        // Once answered, a repeat gets the journal's answer and starts nothing.
        #expect(p.handle(from: "panel@example.org", body: body, now: Clock.now())?.answer == answer)
        #expect(updates.count == 2)
    }

    @Test func badUpdateCommandsAndABusyAgentAreRefusedAtOnce() {
        let p = processor()
        func remark(_ no: Int, _ fields: String) -> String? {
            answer(p, #"{"command": "smart_meter_update", "command_no": \#(no), \#(fields)}"#)?["remarks"]?.stringValue
        }
        let one = #""processes": [{"name": "a", "version": {"major": 1, "minor": 0, "patch": 0}}]"#
        #expect(remark(1, #""processes": []"#) == "smart_meter_update needs a \"url\"")
        #expect(remark(2, #""url": "https://h/x.zip", "processes": []"#) == "smart_meter_update needs a non-empty \"processes\" list")
        #expect(remark(3, #""url": "https://h/x.zip", "sha256": "abc", "# + one) == "\"sha256\" must be 64 hex digits")
        #expect(remark(4, #""url": "https://h/x.zip", "timeout_s": 0, "# + one) == "\"timeout_s\" must be an integer in range 1...86400")
        #expect(remark(5, #""url": "https://h/x.zip", "processes": [{"name": "a", "version": {"major": 1}}]"#)?.contains("\"version\" must be") == true)
        #expect(remark(6, #""url": "https://h/x.zip", "processes": [{"name": "a", "version": "1.0.0"}, {"name": "a", "version": "1.0.0"}]"#) == "a is listed twice in \"processes\"")
        #expect(updates.isEmpty)
        updateDecision = .refused("an update (command 9) is in progress")
        #expect(remark(7, #""url": "https://h/x.zip", "# + one) == "an update (command 9) is in progress")
    }

    @Test func onlyThePanelsBareJIDIsObeyed() {
        let p = processor()
        #expect(answer(p, #"{"command": "restart_process", "command_no": 1, "name": "ocr"}"#, from: "intruder@example.org/x") == nil)
        #expect(answer(p, #"{"command": "restart_process", "command_no": 1, "name": "ocr"}"#, from: "panel@example.org.evil/x") == nil)
        #expect(restarted.isEmpty)
        #expect(answer(p, #"{"command": "status", "command_no": 1}"#, from: "PANEL@example.ORG") != nil)
    }

    @Test func malformedJSONIsAnsweredWhenItsCommandNumberCanBeRead() {
        let p = processor()
        let a = answer(p, #"{"command": "status", "command_no": 42, oops"#)
        #expect(a?["command_no"] == .integer(42) && a?["success"] == .bool(false))
        #expect(a?["remarks"]?.stringValue?.hasPrefix("malformed JSON") == true)
        #expect(answer(p, "not json at all") == nil)
        #expect(answer(p, #"{"command": "status"}"#) == nil)
        #expect(answer(p, #"{"command": "status", "command_no": -1}"#) == nil)
    }

    @Test func aRepeatedCommandNumberIsAnsweredFromTheJournalNotExecutedAgain() throws {
        let p = processor()
        let body = #"{"command": "restart_process", "command_no": 10, "name": "ocr"}"#
        let first = try #require(p.handle(from: "panel@example.org", body: body, now: Clock.now()))
        let second = try #require(p.handle(from: "panel@example.org", body: body, now: Clock.now()))
        #expect(first.answer == second.answer)
        #expect(restarted == ["ocr"])
        // Across a restart of the agent too: the journal is on disk.
        let again = try #require(processor().handle(from: "panel@example.org", body: body, now: Clock.now()))
        #expect(again.answer == first.answer && restarted == ["ocr"])
    }

    @Test func theJournalKeepsUndeliveredAnswersAndIsBounded() throws {
        let journal = CommandJournal(path: "\(folder)/bounded.json")
        for no in 0..<Int64(CommandJournal.capacity + 20) {
            try journal.record(no, answer: "a\(no)")
            if no != 3 { try journal.markDelivered(no) }
        }
        #expect(journal.entries.count == CommandJournal.capacity)
        #expect(journal.undelivered.map(\.commandNo) == [3], "the undelivered answer outlives delivered ones")
        let reloaded = CommandJournal(path: "\(folder)/bounded.json")
        reloaded.load(logger: logger)
        #expect(reloaded.entries == journal.entries)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(folder)/bounded.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aCommandOlderThanTheJournalsWindowIsRefusedNotRunAgain() throws {
        let p = processor()
        for no in Int64(1)...Int64(CommandJournal.capacity + 5) {
            try p.journal.record(no, answer: "a\(no)")
            try p.journal.markDelivered(no)
        }
        #expect(p.journal.forgottenUpTo == 5)
        let old = answer(p, #"{"command": "restart_process", "command_no": 3, "name": "ocr"}"#)
        #expect(old?["success"] == .bool(false))
        #expect(old?["remarks"]?.stringValue?.contains("older than the journal's window") == true)
        #expect(restarted.isEmpty, "re-delivered after the journal forgot it: not run again")
        // Kept ones are still answered from the journal, newer ones run; and
        // the window survives an agent restart.
        #expect(p.handle(from: "panel@example.org", body: #"{"command": "status", "command_no": 6}"#, now: Clock.now())?.answer == "a6")
        #expect(answer(processor(), #"{"command": "restart_process", "command_no": 4, "name": "ocr"}"#)?["success"] == .bool(false))
        #expect(answer(processor(), #"{"command": "restart_process", "command_no": 900, "name": "ocr"}"#)?["success"] == .bool(true))
        #expect(restarted == ["ocr"])
    }

    @Test func aFullJournalFromBeforeTheWindowRefusesNumbersBelowItsOldest() throws {
        let entries = (Int64(300)..<Int64(300 + CommandJournal.capacity)).map {
            #"{"command_no": \#($0), "answer": "a", "delivered": true}"#
        }
        let text = #"{"format": 1, "answers": [\#(entries.joined(separator: ", "))]}"#
        try text.write(toFile: "\(folder)/commands.json", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(folder)/commands.json")
        let p = processor()
        #expect(p.journal.isForgotten(299) && !p.journal.isForgotten(300) && !p.journal.isForgotten(600))
    }

    @Test func largeAnswersShareABoundedPartOfTheJournal() throws {
        let journal = CommandJournal(path: "\(folder)/large.json")
        let status = String(repeating: "s", count: 8000)
        try journal.record(1, answer: "update 1 done")
        try journal.markDelivered(1)
        for no in Int64(2)..<60 {
            try journal.record(no, answer: status)
            if no != 2 { try journal.markDelivered(no) }
        }
        let large = journal.entries.filter { $0.answer.utf8.count > CommandJournal.largeAnswer }
        #expect(large.reduce(0) { $0 + $1.answer.utf8.count } <= CommandJournal.largeBudget)
        #expect(journal.answer(for: 1) == "update 1 done", "small answers are not pushed out by large ones")
        #expect(journal.answer(for: 2) == status, "nor undelivered ones")
        #expect(journal.answer(for: 59) == status && journal.answer(for: 3) == nil)
        let size = try FileManager.default.attributesOfItem(atPath: "\(folder)/large.json")[.size] as? Int
        #expect((size ?? .max) < 80_000)
    }

    @Test func bareJIDsDropTheResourceAndCase() {
        #expect(JID.comparable("Panel@Example.ORG/Web-1") == "panel@example.org")
        #expect(JID.comparable("no-at-sign") == nil)
        #expect(CommandProcessor.commandNumber(in: #"{"command_no" : 12,"#) == 12)
        #expect(CommandProcessor.commandNumber(in: #"{"command_no":"12"}"#) == nil)
    }
}
