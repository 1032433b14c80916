import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// A new CA from an update archive: what it must verify, how it travels to
/// the probing worker, and its files in certs/ replayed from every point a
/// crash can leave them at.
@Suite final class CARotationTests {
    let root = NSTemporaryDirectory() + "tinyagent-ca-\(UUID().uuidString)"
    var certs: String { "\(root)/certs" }
    var files: CARotation.CAFiles { CARotation.CAFiles(paths: AgentPaths(root: root)) }

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(root)/certs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/staging/certs", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ path: String, _ text: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }
    func text(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
    /// cacert.pem, .next, .prev.
    var state: [String?] { [text(files.current), text(files.staged), text(files.previous)] }

    @Test func theXMPPServersAreTheConfiguredOnesOrTheJIDsDomainOnTheClientPort() {
        let listed = CARotation.xmppTargets(endpoints: [ServerEndpoint(host: "a.example", port: 0), ServerEndpoint(host: "::1", port: 5223)],
                                            domain: "example")
        #expect(listed == [CARotation.Target(host: "a.example", port: 5222, xmppDomain: "example"),
                           CARotation.Target(host: "::1", port: 5223, xmppDomain: "example")])
        #expect(listed[1].description == "the XMPP server [::1]:5223")
        #expect(CARotation.xmppTargets(endpoints: [], domain: "example") == [CARotation.Target(host: "example", port: 5222, xmppDomain: "example")])
    }

    @Test func anHTTPSUpdateProbesItsDownloadHostTooALocalOneOnlyTheXMPPServer() throws {
        let xmpp = [CARotation.Target(host: "127.0.0.1", port: 5222, xmppDomain: "localhost")]
        let https = UpdateSource.https(url: "https://files.example:8443/a.zip", sha256: nil, signatureURL: "")
        #expect(try CARotation.targets(xmpp: xmpp, source: https).get()
                == xmpp + [CARotation.Target(host: "files.example", port: 8443, xmppDomain: nil)])
        #expect(try CARotation.targets(xmpp: xmpp, source: .file(name: "/media/usb/a.zip")).get() == xmpp)
        #expect(try CARotation.targets(xmpp: xmpp, source: .https(url: "http://files.example/a.zip", sha256: nil, signatureURL: "")).get() == xmpp)
    }

    @Test func withoutAnXMPPConfigurationANewCAIsRefusedSayingSo() {
        for xmpp in [nil, [CARotation.Target]()] {
            guard case .failure(let refusal) = CARotation.targets(xmpp: xmpp, source: .file(name: "a.zip")) else {
                Issue.record("accepted without an XMPP server to verify it against")
                continue
            }
            #expect(refusal.remark.contains("no XMPP configuration"))
        }
    }

    @Test func theProbeJobReachesTheWorkerWithItsTargetsAndTakesOnlyTheCA() throws {
        var job = UpdateJob(kind: .probe, settings: UpdateSettings())
        job.targets = [CARotation.Target(host: "127.0.0.1", port: 5222, xmppDomain: "localhost"),
                       CARotation.Target(host: "h", port: 443, xmppDomain: nil)]
        #expect(UpdateJob(packet: try JSONValue.parse(job.packet().text)) == job)
        #expect(job.takes(1) && !job.takes(2))
    }

    @Test func aRecordCarryingANewCASurvivesTheJournalAndAProbeStepIsKnown() throws {
        var record = UpdateRecord(origin: .local(id: 5), source: .file(name: "a.zip"), expected: [], step: .probe, timeoutSeconds: 60)
        record.newCA = true
        #expect(try UpdateRecord.format.decode(Array(record.encode().utf8), UpdateRecord.decode) == record)
    }

    @Test func theSwapKeepsThePreviousCAAndIsSafeToRepeatAfterACrashAtAnyPoint() throws {
        try write(files.current, "old")
        try write(files.staged, "new")
        // A crash after .prev was written, before the rename: the repeat keeps the old one as .prev.
        try write(files.previous, "old")
        try files.swap()
        #expect(state == ["new", nil, "old"])
        try files.swap()
        #expect(state == ["new", nil, "old"], "a swap repeated after the rename changes nothing")
        try files.restore()
        #expect(state == ["old", nil, nil])
        try files.restore()
        #expect(state == ["old", nil, nil], "a restore repeated changes nothing")
    }

    @Test func aConfirmedCAForgetsThePreviousOneAndAnUnprobedCopyIsRemoved() throws {
        try write(files.current, "old")
        try write(files.staged, "new")
        try files.swap()
        files.cleanUp()
        #expect(state == ["new", nil, nil])
        try write(files.staged, "refused")
        files.cleanUp()
        #expect(state == ["new", nil, nil])
    }

    /// A staged tree `downloads/update-1/` with SmartMeter/ and what `certs` gets.
    func staged(_ makeCerts: (String) throws -> Void) throws -> [UInt8]? {
        let tree = "\(root)/downloads/update-1"
        try FileManager.default.createDirectory(atPath: "\(tree)/SmartMeter", withIntermediateDirectories: true)
        try write("\(tree)/SmartMeter/p1.py", "print(1)")
        try FileManager.default.createDirectory(atPath: "\(tree)/certs", withIntermediateDirectories: true)
        try makeCerts("\(tree)/certs")
        let downloads = try DownloadsFolder.open("\(root)/downloads")
        defer { downloads.close() }
        return try downloads.adopt("update-1", for: Processes.ownIdentity).ca
    }

    /// `downloads/update-1/` made by `make` (given its path), adopted.
    func adopted(_ make: (String) throws -> Void) throws -> DownloadsFolder.Staged {
        let tree = "\(root)/downloads/update-1"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try make(tree)
        let downloads = try DownloadsFolder.open("\(root)/downloads")
        defer { downloads.close() }
        return try downloads.adopt("update-1", for: Processes.ownIdentity)
    }

    @Test func aStagedTreeWithOnlyACAIsAdoptedWithoutASmartMeterFolder() throws {
        let staged = try adopted { tree in
            try FileManager.default.createDirectory(atPath: "\(tree)/certs", withIntermediateDirectories: true)
            try self.write("\(tree)/certs/cacert.pem", "PEM")
        }
        #expect(!staged.smartMeter && !staged.programs && staged.ca == Array("PEM".utf8))
    }

    @Test func stagedProgramsAreTakenOnlyAsTheThreeRegularFiles() throws {
        func programs(_ names: [String], then change: (String) throws -> Void = { _ in }) throws -> DownloadsFolder.Staged {
            try? FileManager.default.removeItem(atPath: "\(root)/downloads")
            return try adopted { tree in
                try FileManager.default.createDirectory(atPath: "\(tree)/bin", withIntermediateDirectories: true)
                for name in names { try self.write("\(tree)/bin/\(name)", name) }
                try change("\(tree)/bin")
            }
        }
        #expect(try programs(AgentPrograms.names).programs)
        #expect(throws: StagingError.self) { try programs(AgentPrograms.names + ["extra"]) }
        #expect(throws: StagingError.self) { try programs(Array(AgentPrograms.names.dropLast())) }
        // Each name present, but not as a regular file with one name.
        let fm = FileManager.default
        let last = AgentPrograms.names.last!
        #expect(throws: StagingError.self, "a symbolic link") {
            try programs(Array(AgentPrograms.names.dropLast())) { bin in
                try fm.createSymbolicLink(atPath: "\(bin)/\(last)", withDestinationPath: "/bin/sh")
            }
        }
        #expect(throws: StagingError.self, "a second name of another file") {
            try programs(Array(AgentPrograms.names.dropLast())) { bin in
                try fm.linkItem(atPath: "\(bin)/\(AgentPrograms.names[0])", toPath: "\(bin)/\(last)")
            }
        }
        #expect(throws: StagingError.self, "a folder") {
            try programs(Array(AgentPrograms.names.dropLast())) { bin in
                try fm.createDirectory(atPath: "\(bin)/\(last)", withIntermediateDirectories: false)
            }
        }
        try? FileManager.default.removeItem(atPath: "\(root)/downloads")
        #expect(throws: StagingError.self) { try self.adopted { _ in } }
    }

    @Test func aRecordWithoutSmartMeterSurvivesTheJournalAndOneFromBeforeHadIt() throws {
        var record = UpdateRecord(origin: .local(id: 5), source: .file(name: "a.zip"), expected: [], step: .verify, timeoutSeconds: 60)
        record.newCA = true
        record.newSmartMeter = false
        #expect(try UpdateRecord.format.decode(Array(record.encode().utf8), UpdateRecord.decode) == record)
        record.newSmartMeter = true
        let before = record.encode().replacingOccurrences(of: ",\"new_smart_meter\":true", with: "")
        #expect(!before.contains("new_smart_meter"))
        #expect(try UpdateRecord.format.decode(Array(before.utf8), UpdateRecord.decode) == record)
    }

    @Test func theStagedCAIsReadFromTheLockedTree() throws {
        #expect(try staged { try self.write("\($0)/cacert.pem", "PEM") } == Array("PEM".utf8))
    }

    @Test func aStagedCAThatIsALinkOrHasCompanyOrIsTooLargeIsRefused() throws {
        try write("\(root)/elsewhere.pem", "elsewhere")
        #expect(throws: StagingError.self) {
            try self.staged { try FileManager.default.createSymbolicLink(atPath: "\($0)/cacert.pem", withDestinationPath: "\(self.root)/elsewhere.pem") }
        }
        try FileManager.default.removeItem(atPath: "\(root)/downloads")
        #expect(throws: StagingError.self) {
            try self.staged { try self.write("\($0)/cacert.pem", "PEM"); try self.write("\($0)/other.pem", "X") }
        }
        try FileManager.default.removeItem(atPath: "\(root)/downloads")
        #expect(throws: StagingError.self) {
            try self.staged { try self.write("\($0)/cacert.pem", String(repeating: "x", count: CARotation.maximumBytes + 1)) }
        }
    }
}
