import Foundation
import Testing
@testable import TinyAgent
@testable import TinyBase

/// The agent's start-up guards (Agent/): the folder check that refuses a
/// root another user could change, and the one-agent-per-root lock. Real
/// folders in a temporary root, owned by the user running the tests.
@Suite final class AgentTests {
    let root = NSTemporaryDirectory() + "tinyagent-agent-\(UUID().uuidString)"
    let fm = FileManager.default

    init() throws {
        for name in FolderCheck.rootOnly + ["logs", "SmartMeter"] {
            try fm.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            chmod("\(root)/\(name)", 0o755)
        }
        chmod(root, 0o755)
        chmod("\(root)/cfg", 0o700)
    }

    deinit { try? fm.removeItem(atPath: root) }

    func problems() throws -> [FolderProblem] {
        let folder = try Folder.open(root)
        defer { folder.close() }
        return FolderCheck.check(folder, agentUID: Processes.effectiveUID)
    }

    @Test func aRootOnlyTheAgentCanChangeHasNoProblem() throws {
        #expect(try problems() == [])
    }

    @Test(arguments: FolderCheck.rootOnly)
    func aRootOnlyFolderOthersCanWriteIsFatalAndNamed(name: String) throws {
        chmod("\(root)/\(name)", 0o777)
        let found = try problems()
        #expect(found.count == 1)
        #expect(found.first?.fatal == true)
        #expect(found.first?.message.hasPrefix("\(root)/\(name): ") == true)
    }

    @Test func aLinkWhereARootOnlyFolderBelongsIsFatalAndNotFollowed() throws {
        try fm.removeItem(atPath: "\(root)/certs")
        try fm.createDirectory(atPath: "\(root)/elsewhere", withIntermediateDirectories: false)
        try fm.createSymbolicLink(atPath: "\(root)/certs", withDestinationPath: "\(root)/elsewhere")
        let found = try problems()
        #expect(found == [FolderProblem(fatal: true, message: "\(root)/certs is a symbolic link: not used")])
    }

    @Test func aSmartMeterFolderOthersCanWriteIsAWarningOnly() throws {
        chmod("\(root)/SmartMeter", 0o777)
        let found = try problems()
        #expect(found.count == 1 && found.first?.fatal == false)
        #expect(found.first?.message.contains("other users can change the app's code") == true)
    }

    @Test func aSecondAgentOnTheSameRootFindsTheLockHeldAndItsHoldersPid() throws {
        let wdog = try Folder.open("\(root)/wdog")
        defer { wdog.close() }
        let first = try AgentLock.take(in: wdog)
        do {
            let second = try AgentLock.take(in: wdog)
            second.file.close()
            Issue.record("a second lock was taken")
        } catch {
            guard case .held(let holder) = error else { Issue.record("\(error)"); return }
            #expect(holder == Processes.currentPID)
        }
        first.file.close()
        // The kernel's lock goes with its descriptor: the next agent takes it.
        let next = try AgentLock.take(in: wdog)
        next.file.close()
    }
}
