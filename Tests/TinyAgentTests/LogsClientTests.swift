import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// Where `tinyagent logs -n N` starts printing.
@Suite struct LogsClientTests {
    func start(of text: String, lines: Int) throws -> String {
        let path = NSTemporaryDirectory() + "tinyagent-logs-\(UUID().uuidString)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let folder = try Folder.open(NSTemporaryDirectory())
        defer { folder.close() }
        let fd = try folder.openForReading((path as NSString).lastPathComponent)
        defer { fd.close() }
        return String(text.utf8.dropFirst(Int(LogsClient.tailStart(fd, lines: lines))))!
    }

    @Test func theLastNLinesAreTheOnesAfterTheNthNewlineFromTheEnd() throws {
        #expect(try start(of: "a\nb\nc\n", lines: 2) == "b\nc\n")
        #expect(try start(of: "a\nb\nc", lines: 1) == "c", "a last line without its newline counts")
        #expect(try start(of: "a\nb\nc\n", lines: 10) == "a\nb\nc\n")
        #expect(try start(of: "a\nb\nc\n", lines: 0) == "")
        #expect(try start(of: "", lines: 3) == "")
    }

    @Test func aLogLongerThanOneReadIsWalkedBackAcrossReads() throws {
        let long = String(repeating: "x", count: 70_000)
        #expect(try start(of: "first\n\(long)\nlast\n", lines: 2) == "\(long)\nlast\n")
    }
}
