import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// The update manager (Update/UpdateManager.swift) on its own, over a real
/// supervisor, event loop and journal in a temporary root, when its workers
/// cannot be started (no `tinyagent-fetch` beside the agent, or no helper
/// user): every update is refused, and one journaled before a restart ends
/// with one answer.
@Suite final class UpdateManagerTests {
    let root = NSTemporaryDirectory() + "tinyagent-update-\(UUID().uuidString)"
    var paths: AgentPaths { AgentPaths(root: root) }
    let logger = Logger(file: nil, journal: false)
    let unavailable = HelperUnavailable(reason: "/usr/lib/tinyagent/tinyagent-fetch: No such file or directory")
    var answers: [(origin: UpdateOrigin, success: Bool, remarks: String)] = []

    init() throws {
        for folder in [paths.wdog, paths.downloads, paths.smartMeter] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func manager() throws -> UpdateManager {
        let supervisor = Supervisor(settings: AgentSettings(), logger: logger, workingFolder: root, logs: nil)
        return UpdateManager(paths: paths, settings: UpdateSettings(), supervisor: supervisor, loop: try EventLoop(logger: logger),
                             logger: logger, workers: .failure(unavailable),
                             link: UpdateLink(xmppTargets: { nil }, restart: {}, isOnline: { false })) { origin, success, remarks in
            self.answers.append((origin, success, remarks))
        }
    }

    @Test func withoutItsWorkersALocalUpdateIsRefusedWithTheReasonAndNothingIsJournaled() throws {
        let archive = "\(root)/a.zip"
        try Data("PK".utf8).write(to: URL(fileURLWithPath: archive))
        let updates = try manager()
        let decision = updates.beginLocal(name: archive, archive: try Folder.openRegularFile(archive), signature: nil, now: Clock.now())
        #expect(decision == .refused(unavailable.reason))
        #expect(updates.record == nil)
        #expect(!FileManager.default.fileExists(atPath: paths.updateJournal))
        #expect(answers.isEmpty, "a refused request is answered by its decision, not later")
    }

    /// An agent restarted without its workers (a helper program removed or
    /// made writable by others) cannot carry on at a step that needs one.
    @Test(arguments: [UpdateRecord.Step.acquire, .check, .unpack, .probe])
    func aJournaledUpdateResumedWithoutItsWorkersEndsWithOneFailedAnswerNamingWhy(step: UpdateRecord.Step) throws {
        let record = UpdateRecord(origin: .panel(commandNo: 7), source: .file(name: "a.zip"), expected: [], step: step, timeoutSeconds: 60)
        try StateFile(path: paths.updateJournal, format: UpdateRecord.format).write(record.encode())
        let updates = try manager()
        updates.resume(answered: { _ in false }, now: Clock.now())
        #expect(answers.count == 1)
        #expect(answers.first?.origin == .panel(commandNo: 7))
        #expect(answers.first?.success == false)
        #expect(answers.first?.remarks.contains(unavailable.reason) == true)
        #expect(updates.record == nil, "the update is over")
        #expect(updates.last?.success == false)
    }
}
