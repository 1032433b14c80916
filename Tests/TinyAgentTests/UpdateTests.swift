import Foundation
import Testing
@testable import TinyAgent

/// The update's state on disk: the journal record and the folder renames,
/// replayed from every point a crash can leave them at.
@Suite final class UpdateTests {
    let root = NSTemporaryDirectory() + "tinyagent-update-\(UUID().uuidString)"
    var paths: AgentPaths { AgentPaths(root: root) }
    var staged: String { "\(root)/downloads/update-1/SmartMeter" }

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(root)/downloads/update-1", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A folder holding one file whose text names its version.
    func folder(_ path: String, _ version: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try version.write(toFile: "\(path)/VERSION", atomically: false, encoding: .utf8)
    }

    func version(_ path: String) -> String? { try? String(contentsOfFile: "\(path)/VERSION", encoding: .utf8) }

    var state: [String?] {
        [version(paths.smartMeter), version(paths.previousSmartMeter), version(paths.failedSmartMeter), version(staged)]
    }

    @Test func installKeepsThePreviousFolderAndIsSafeToRepeatAfterACrashAtAnyPoint() throws {
        let swap = FolderSwap(paths: paths)
        // Before anything moved (an older SmartMeter.prev is replaced).
        try folder(paths.smartMeter, "old")
        try folder(paths.previousSmartMeter, "older")
        try folder(staged, "new")
        try swap.install(staged)
        #expect(state == ["new", "old", nil, nil])
        // Repeated once done: nothing changes.
        try swap.install(staged)
        #expect(state == ["new", "old", nil, nil])
        // A crash between the two renames: no SmartMeter at all for a moment.
        try FileManager.default.moveItem(atPath: paths.smartMeter, toPath: staged)
        #expect(state == [nil, "old", nil, "new"])
        try swap.install(staged)
        #expect(state == ["new", "old", nil, nil])
    }

    @Test func restorePutsThePreviousFolderBackAndKeepsTheFailedOne() throws {
        let swap = FolderSwap(paths: paths)
        try folder(paths.smartMeter, "new")
        try folder(paths.previousSmartMeter, "old")
        try folder(paths.failedSmartMeter, "failed-before")
        try swap.restore(hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
        try swap.restore(hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
        // A crash between the two renames.
        try FileManager.default.moveItem(atPath: paths.smartMeter, toPath: paths.previousSmartMeter)
        #expect(state == [nil, "old", "new", nil])
        try swap.restore(hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
    }

    @Test func aDeviceWithoutAFolderBeforeTheUpdateIsLeftWithoutTheFailedOne() throws {
        let swap = FolderSwap(paths: paths)
        try folder(staged, "new")
        try swap.install(staged)
        #expect(state == ["new", nil, nil, nil])
        try swap.restore(hadPrevious: false)
        #expect(state == [nil, nil, "new", nil])
    }

    @Test func theJournalRecordSurvivesARoundTrip() throws {
        let command = UpdateCommand(
            commandNo: 12, url: "https://h:8443/a.zip", sha256: [UInt8](repeating: 7, count: 32),
            processes: [.init(name: "p1", version: Version(major: 1, minor: 2, patch: 3))], timeout: .seconds(30))
        let record = UpdateRecord(command: command, step: .rollback, timeoutSeconds: 30, hadPrevious: true,
                                  previous: [ProcessSpec(name: "p1", runCommand: "python3 p1.py", uid: 1000, gid: 1000)],
                                  verifySince: 1_700_000_000, cause: "p1 reported 1.0.0, expected 1.2.3")
        let decoded = try UpdateRecord.decode(Array(record.encode().utf8))
        #expect(decoded == record)
        #expect(throws: RegistryError.self) { try UpdateRecord.decode(Array(#"{"format": 1, "step": "fetch"}"#.utf8)) }
        #expect(throws: RegistryError.self) { try UpdateRecord.decode(Array(record.encode().replacingOccurrences(of: "rollback", with: "dance").utf8)) }
    }

    @Test func theJobReachesTheWorkerWhole() throws {
        var settings = UpdateSettings()
        settings.allowPlainHTTP = true
        settings.idleTimeout = .milliseconds(1500)
        let job = UpdateJob(url: "https://h/a.zip", sha256: [UInt8](repeating: 0xfe, count: 32), settings: settings)
        #expect(UpdateJob(packet: try JSONValue.parse(job.packet().text)) == job)
    }

    @Test func progressReadsInMegabytes() {
        #expect(UpdateManager.progressText(phase: "download", done: 12_345_678, total: 50_000_000) == "downloading 12.3 of 50.0 MB (24 %)")
        #expect(UpdateManager.progressText(phase: "unpack", done: 999_999, total: nil) == "unpacking 0.9 MB")
    }
}
