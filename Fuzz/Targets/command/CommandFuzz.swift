// Command bodies from the panel: JSONValue.parse, CommandProcessor.handle and
// UpdateCommand.parse, with a journal on tmpfs. Invariants: JSON survives
// write → parse unchanged; an answer is JSON naming the command's number and
// the device, journaled, and the journal reads back what was written; an
// update handed on is a checked one.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_command_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

let folder = scratchFolder("command")
let journalPath = folder + "/commands.json"
// libFuzzer calls the target from one thread.
nonisolated(unsafe) let logger: Logger = {
    let logger = Logger(file: nil, journal: false)
    logger.minimumLevel = .error
    return logger
}()
let deviceID = "b8:27:eb:00:00:01"
nonisolated(unsafe) let process = SupervisedProcess(name: "ocr", pid: 4321, uid: 0, gid: 0, runCommand: "python3 ocr.py", verified: true,
                                version: Version(major: 1, minor: 2, patch: 3), state: .running)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    // A message body arrives as a String: invalid UTF-8 is already replaced.
    let body = String(decoding: input, as: UTF8.self)

    let document = try? JSONValue.parse(body)
    if let document {
        var writer = JSONWriter()
        writer.value(document)
        expect((try? JSONValue.parse(writer.text)) == document, "JSON changed by write → parse: \(writer.text)")
    }

    Files.remove(journalPath)
    let journal = CommandJournal(path: journalPath)
    var updates: [UpdateCommand] = []
    let processor = CommandProcessor(
        panelJID: "panel@example.org", deviceID: deviceID, journal: journal, logger: logger,
        status: {
            StatusReport(pid: 99, uptimeSeconds: 5, heartbeatPort: 4951, heartbeatsAccepted: 1, heartbeatsDropped: 0,
                         processes: [process], wallClock: 0, xmpp: "online", freeBytes: 1000, update: "no update in progress")
        },
        restart: { $0 == "ocr" ? nil : "no process named \"\($0)\"" },
        update: { command in
            updates.append(command)
            switch command.commandNo % 3 {
            case 0: return .accepted
            case 1: return .alreadyRunning
            default: return .refused("another update is running")
            }
        })
    let result = processor.handle(from: "panel@example.org/web", body: body, now: Clock.now())

    let number = document?["command_no"]?.integerValue
    if let (no, text) = result {
        let answer: JSONValue
        do { answer = try JSONValue.parse(text) } catch { fatalError("answer is not JSON: \(text)") }
        expect(answer["command_no"] == .integer(no), "answer names another command")
        expect(answer["from"] == .string(deviceID), "answer from someone else")
        expect(answer["success"]?.boolValue != nil && answer["remarks"]?.stringValue != nil, "answer fields")
        if let number { expect(number == no, "answered \(no) for command \(number)") }
        expect(journal.answer(for: no) == text, "answer not journaled")
        let reread = CommandJournal(path: journalPath)
        // An unreadable journal is set aside and reads as empty: this one holds the answer.
        reread.load(logger: logger)
        expect(reread.entries == journal.entries, "journal reads back differently")
    } else if let number, number >= 0, document?["command"] == .string("smart_meter_update") {
        expect(updates.count == 1 && updates[0].commandNo % 3 != 2, "update neither answered nor handed on")
    }
    for update in updates {
        expect(document?["command"] == .string("smart_meter_update"), "update from another command")
        expect(!update.url.isEmpty && update.url.utf8.count <= 2048 && !update.url.utf8.contains(0), "update url")
        expect(update.sha256 == nil || update.sha256?.count == 32, "sha256 length")
        expect(!update.processes.isEmpty && update.processes.count <= UpdateCommand.maximumProcesses, "process count")
        for (i, p) in update.processes.enumerated() {
            expect(!p.name.isEmpty && !update.processes[..<i].contains { $0.name == p.name }, "process names")
        }
        if let timeout = update.timeout { expect(timeout >= .seconds(1) && timeout <= .seconds(86_400), "timeout") }
    }
    return 0
}
