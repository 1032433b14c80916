import Foundation
import Testing
@testable import TinyAgent

@Suite struct RotatingLogTests {
    let folder = NSTemporaryDirectory() + "tinyagent-logs-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

    func contents(_ name: String) -> String? { try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8) }

    @Test func aFullLogIsRotatedAndTheOldestDropped() {
        let log = RotatingLog(path: "\(folder)/agent.log", maximumBytes: 100, keep: 2)
        for i in 0..<10 { log.append("line \(i) " + String(repeating: "x", count: 40) + "\n") }
        // 48-byte lines, two per file: 8,9 current; 6,7 in .1; 4,5 in .2; older gone.
        #expect(contents("agent.log")?.hasPrefix("line 8") == true)
        #expect(contents("agent.log.1")?.hasPrefix("line 6") == true)
        #expect(contents("agent.log.2")?.hasPrefix("line 4") == true)
        #expect(contents("agent.log.3") == nil)
        for name in ["agent.log", "agent.log.1", "agent.log.2"] { #expect((contents(name)?.utf8.count ?? 0) <= 100) }
    }

    @Test func aProcessLogIsCopiedAsideAndTruncatedInPlaceSoItsWriterGoesOn() throws {
        let path = "\(folder)/ocr.log"
        let writer = try Files.openAppend(path)
        defer { writer.close() }
        try writer.writeAll(String(repeating: "a", count: 300))
        RotatingLog.copyTruncate(path, maximumBytes: 1000)
        #expect(contents("ocr.log.1") == nil, "under the cap nothing happens")
        RotatingLog.copyTruncate(path, maximumBytes: 200)
        #expect(contents("ocr.log.1") == String(repeating: "a", count: 300))
        try writer.writeAll("b")
        #expect(contents("ocr.log") == "b", "the writer's O_APPEND descriptor writes at the new end")
    }
}
