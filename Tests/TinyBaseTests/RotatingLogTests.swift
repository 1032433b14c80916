import Foundation
import Testing
@testable import TinyBase

@Suite struct RotatingLogTests {
    let path = NSTemporaryDirectory() + "tinyagent-logs-\(UUID().uuidString)"
    let folder: Folder

    init() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        folder = try Folder.open(path)
    }

    func contents(_ name: String) -> String? { try? String(contentsOfFile: "\(path)/\(name)", encoding: .utf8) }

    @Test func aFullLogIsRotatedAndTheOldestDropped() {
        let log = RotatingLog(folder: folder, name: "agent.log", maximumBytes: 100, keep: 2, group: 0)
        for i in 0..<10 { log.append("line \(i) " + String(repeating: "x", count: 40) + "\n") }
        // 48-byte lines, two per file: 8,9 current; 6,7 in .1; 4,5 in .2; older gone.
        #expect(contents("agent.log")?.hasPrefix("line 8") == true)
        #expect(contents("agent.log.1")?.hasPrefix("line 6") == true)
        #expect(contents("agent.log.2")?.hasPrefix("line 4") == true)
        #expect(contents("agent.log.3") == nil)
        for name in ["agent.log", "agent.log.1", "agent.log.2"] { #expect((contents(name)?.utf8.count ?? 0) <= 100) }
    }

    @Test func logFilesAreMode0640() throws {
        _ = RotatingLog(folder: folder, name: "agent.log", maximumBytes: 100, keep: 2, group: 0)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(path)/agent.log")[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func aLinkAtTheLogsNameIsNeitherFollowedNorWritten() throws {
        let victim = path + "/victim"
        try "keep".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/agent.log", withDestinationPath: victim)
        let log = RotatingLog(folder: folder, name: "agent.log", maximumBytes: 100, keep: 2, group: 0)
        log.append("through the link?\n")
        #expect(contents("victim") == "keep")
        #expect(throws: FileError.symbolicLink) { _ = try RotatingLog.openProcessLog("agent.log", in: folder, maximumBytes: 10, group: 0) }
    }

    @Test func aProcessLogOverTheCapIsRotatedByRenameBeforeItIsHandedOut() throws {
        try String(repeating: "a", count: 300).write(toFile: "\(path)/ocr.log", atomically: true, encoding: .utf8)
        let fd = try RotatingLog.openProcessLog("ocr.log", in: folder, maximumBytes: 200, group: 0)
        defer { fd.close() }
        try fd.writeAll("b")
        #expect(contents("ocr.log.1") == String(repeating: "a", count: 300))
        #expect(contents("ocr.log") == "b")
    }

    @Test func aRunningProcessLogIsCopiedAsideAndTruncatedInPlaceSoItsWriterGoesOn() throws {
        let writer = try RotatingLog.openProcessLog("ocr.log", in: folder, maximumBytes: 1000, group: 0)
        defer { writer.close() }
        try writer.writeAll(String(repeating: "a", count: 300))
        RotatingLog.capRunning("ocr.log", in: folder, maximumBytes: 1000, group: 0)
        #expect(contents("ocr.log.1") == nil, "under the cap nothing happens")
        try writer.writeAll(String(repeating: "z", count: 150))
        RotatingLog.capRunning("ocr.log", in: folder, maximumBytes: 200, group: 0)
        // Only the newest 200 bytes: the copy never grows with what the process wrote.
        #expect(contents("ocr.log.1") == String(repeating: "a", count: 50) + String(repeating: "z", count: 150))
        try writer.writeAll("b")
        #expect(contents("ocr.log") == "b", "the writer's O_APPEND descriptor writes at the new end")
    }

    @Test func cappingNeverTruncatesThroughALinkNorCreatesAMissingLog() throws {
        let victim = path + "/victim"
        try String(repeating: "v", count: 300).write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/ocr.log", withDestinationPath: victim)
        RotatingLog.capRunning("ocr.log", in: folder, maximumBytes: 10, group: 0)
        #expect(contents("victim") == String(repeating: "v", count: 300))
        RotatingLog.capRunning("absent.log", in: folder, maximumBytes: 10, group: 0)
        #expect(!FileManager.default.fileExists(atPath: "\(path)/absent.log"))
    }
}
