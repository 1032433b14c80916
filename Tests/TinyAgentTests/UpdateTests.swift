import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

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
        try swap.restore(staged, hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
        try swap.restore(staged, hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
        // A crash between the two renames.
        try FileManager.default.moveItem(atPath: paths.smartMeter, toPath: paths.previousSmartMeter)
        #expect(state == [nil, "old", "new", nil])
        try swap.restore(staged, hadPrevious: true)
        #expect(state == ["old", nil, "new", nil])
    }

    /// A folder chain deeper than the 256 levels root's tree removal takes
    /// (`ta_remove_tree`): what the app user can leave in a folder it owns.
    func tooDeep(in path: String) throws {
        let chain = Array(repeating: "d", count: 300).joined(separator: "/")
        try FileManager.default.createDirectory(atPath: "\(path)/\(chain)", withIntermediateDirectories: true)
    }

    @Test func anOlderPreviousFolderThatCannotBeRemovedStopsTheUpdateBeforeAnythingMoves() throws {
        let swap = FolderSwap(paths: paths)
        try folder(paths.smartMeter, "current")
        try folder(paths.previousSmartMeter, "older")
        try tooDeep(in: paths.previousSmartMeter)
        try folder(staged, "new")
        #expect(throws: Errno.self) { try swap.removeOlderPrevious() }
        #expect(state[0] == "current" && state[3] == "new", "nothing moved")
        // Had install met it anyway, its rollback leaves the working folder where it is.
        #expect(throws: Errno.self) { try swap.install(staged) }
        try swap.restore(staged, hadPrevious: true)
        #expect(state[0] == "current" && state[2] == nil && state[3] == "new")
        #expect(FileManager.default.fileExists(atPath: paths.previousSmartMeter), "the older folder is not put back over it")
        // Removable, it goes before the swap, which then keeps the current folder as .prev.
        try FileManager.default.removeItem(atPath: paths.previousSmartMeter)
        try folder(paths.previousSmartMeter, "older")
        try swap.removeOlderPrevious()
        #expect(state == ["current", nil, nil, "new"])
        try swap.install(staged)
        #expect(state == ["new", "current", nil, nil])
    }

    @Test func aRollbackStoppedBetweenInstallsTwoRenamesPutsTheWorkingFolderBack() throws {
        let swap = FolderSwap(paths: paths)
        try folder(paths.previousSmartMeter, "current")  // SmartMeter -> .prev done, staged not moved
        try folder(staged, "new")
        try swap.restore(staged, hadPrevious: true)
        #expect(state == ["current", nil, nil, "new"])
    }

    @Test func aDeviceWithoutAFolderBeforeTheUpdateIsLeftWithoutTheFailedOne() throws {
        let swap = FolderSwap(paths: paths)
        try folder(staged, "new")
        try swap.install(staged)
        #expect(state == ["new", nil, nil, nil])
        try swap.restore(staged, hadPrevious: false)
        #expect(state == [nil, nil, "new", nil])
    }

    @Test func theJournalRecordSurvivesARoundTripForEachOriginAndSource() throws {
        let expected = [UpdateCommand.Expected(name: "p1", version: Version(major: 1, minor: 2, patch: 3))]
        var panel = UpdateRecord(origin: .panel(commandNo: 12),
                                 source: .https(url: "https://h:8443/a.zip", sha256: [UInt8](repeating: 7, count: 32),
                                                signatureURL: "https://h:8443/sigs/a.sig"),
                                 expected: expected, step: .rollback, timeoutSeconds: 30, hadPrevious: true,
                                 previous: [ProcessSpec(name: "p1", runCommand: "python3 p1.py", uid: 1000, gid: 1000, verified: true),
                                            ProcessSpec(name: "p2", runCommand: "python3 p2.py", uid: 0, gid: 0, verified: false)],
                                 verifySince: 1_700_000_000, cause: "p1 reported 1.0.0, expected 1.2.3")
        panel.startedAt = 1_699_999_000
        panel.before = "p1 1.0.0"
        panel.signature = "signed by fleet.pem"
        panel.signedBy = "fleet.pem"
        #expect(try UpdateRecord.format.decode(Array(panel.encode().utf8), UpdateRecord.decode) == panel)
        let local = UpdateRecord(origin: .local(id: 1_764_500_000), source: .file(name: "/media/usb/v2.zip"),
                                 expected: [], step: .unpack, timeoutSeconds: 120)
        #expect(try UpdateRecord.format.decode(Array(local.encode().utf8), UpdateRecord.decode) == local)
        #expect(throws: StateFileError.self) { try UpdateRecord.format.decode(Array(#"{"format": 2, "step": "acquire"}"#.utf8), UpdateRecord.decode) }
        #expect(throws: StateFileError.self) { try UpdateRecord.format.decode(Array(panel.encode().replacingOccurrences(of: "rollback", with: "dance").utf8), UpdateRecord.decode) }
    }

    @Test func aJournalFromBeforeTheSplitCarriesOnAsAPanelDownload() throws {
        let old = #"{"format": 1, "command_no": 7, "url": "https://h/a.zip", "sha256": null, "processes": [], "step": "fetch", "#
            + #""timeout_s": 60, "had_previous": true, "previous": [], "verify_since": 0, "cause": ""}"#
        let record = try UpdateRecord.format.decode(Array(old.utf8), UpdateRecord.decode)
        #expect(record.origin == .panel(commandNo: 7))
        #expect(record.source == .https(url: "https://h/a.zip", sha256: nil, signatureURL: "https://h/a.zip.sig"))
        #expect(record.step == .acquire)
        #expect(record.signedBy == nil)
    }

    @Test func aPreviousProcessFromAJournalWithoutVerifiedIsUnverified() throws {
        // Else a listed process that never started (uid 0) came back as a verified root sender.
        let old = #"{"format": 2, "command_no": 7, "url": "https://h/a.zip", "sha256": null, "processes": [], "step": "verify", "#
            + #""timeout_s": 60, "had_previous": true, "previous": [{"name": "p1", "run_command": "x", "uid": 0, "gid": 0}], "#
            + #""verify_since": 0, "cause": ""}"#
        let record = try UpdateRecord.format.decode(Array(old.utf8), UpdateRecord.decode)
        #expect(record.previous == [ProcessSpec(name: "p1", runCommand: "x", uid: 0, gid: 0, verified: false)])
    }

    @Test func aJournalWithoutSignedByNeverCountsAsSigned() throws {
        // An agent before the field kept only the summary's words: they do not
        // make the agent's own programs installable after the restart.
        var record = UpdateRecord(origin: .panel(commandNo: 3), source: .file(name: "/media/usb/v2.zip"),
                                  expected: [], step: .unpack, timeoutSeconds: 60)
        record.signature = "signed by fleet.pem"
        let old = record.encode().replacingOccurrences(of: #""signed_by":null,"#, with: "")
        #expect(!old.contains("signed_by"))
        #expect(try UpdateRecord.format.decode(Array(old.utf8), UpdateRecord.decode).signedBy == nil)
    }

    @Test func eachJobKindReachesTheWorkerWhole() throws {
        var settings = UpdateSettings()
        settings.allowPlainHTTP = true
        settings.idleTimeout = .milliseconds(1500)
        let jobs = [UpdateJob(kind: .download, url: "https://h/a.zip", sha256: [UInt8](repeating: 0xfe, count: 32),
                              signatureURL: "https://h/a.zip.sig", settings: settings),
                    UpdateJob(kind: .copy, settings: settings), UpdateJob(kind: .unpack, settings: settings)]
        for job in jobs { #expect(UpdateJob(packet: try JSONValue.parse(job.packet().text)) == job) }
    }

    @Test func eachJobKindTakesItsOwnDescriptors() {
        let settings = UpdateSettings()
        #expect(UpdateJob(kind: .download, settings: settings).takes(3))
        #expect(!UpdateJob(kind: .download, settings: settings).takes(2))
        #expect(UpdateJob(kind: .copy, settings: settings).takes(3) && UpdateJob(kind: .copy, settings: settings).takes(4))
        #expect(UpdateJob(kind: .unpack, settings: settings).takes(2))
        #expect(!UpdateJob(kind: .unpack, settings: settings).takes(3), "an unpacker gets no CA and no network")
    }

    @Test func theSignatureURLDefaultsToTheArchivesPlusSig() throws {
        let plain = try JSONValue.parse(#"{"url": "https://h/a.zip", "processes": [{"name": "p", "version": "1.0.0"}]}"#)
        #expect(try UpdateCommand.parse(1, plain).get().signatureURL == "https://h/a.zip.sig")
        let named = try JSONValue.parse(#"{"url": "https://h/a.zip", "signature_url": "https://h/s/a.sig", "processes": [{"name": "p", "version": "1.0.0"}]}"#)
        #expect(try UpdateCommand.parse(1, named).get().signatureURL == "https://h/s/a.sig")
        let bad = try JSONValue.parse(#"{"url": "https://h/a.zip", "signature_url": 5, "processes": [{"name": "p", "version": "1.0.0"}]}"#)
        #expect(throws: UpdateRefusal.self) { try UpdateCommand.parse(1, bad).get() }
    }

    @Test func theLastUpdateSurvivesARoundTrip() throws {
        let last = LastUpdate(origin: "local", source: "/media/usb/v2.zip", before: "p1 1.0.0", after: "p1 1.0.1",
                              success: false, remark: "signature: does not match", signature: "", endedAt: 1_764_500_000)
        #expect(try LastUpdate.format.decode(Array(last.encode().utf8), LastUpdate.decode) == last)
        #expect(throws: StateFileError.self) { try LastUpdate.format.decode(Array(#"{"origin": "local"}"#.utf8), LastUpdate.decode) }
        // As agents before the format member wrote it: read as format 1.
        let unversioned = #"{"origin":"local","source":"/media/usb/v2.zip","before":"p1 1.0.0","after":"p1 1.0.1","#
            + #""result":"failed","remark":"signature: does not match","signature":"","ended_at":1764500000}"#
        #expect(try LastUpdate.format.decode(Array(unversioned.utf8), LastUpdate.decode) == last)
        #expect(last.encode() == #"{"format":1,"# + unversioned.dropFirst() + "\n")
        #expect(last.line.hasPrefix("last update: local /media/usb/v2.zip, p1 1.0.0 → p1 1.0.1, failed: signature: does not match at "))
    }

    func manifest(_ versions: [(String, String?)]) -> UpdateManifest {
        UpdateManifest(processes: versions.map { UpdateManifest.Process(name: $0.0, runCommand: "python3 \($0.0).py",
                                                                       version: $0.1.flatMap { Version($0) }) })
    }

    @Test func aLocalUpdateIsConfirmedAgainstTheVersionsItsManifestNames() throws {
        let versions = try UpdateManager.confirmedVersions(command: [], manifest: manifest([("p1", "1.0.1"), ("p2", nil)])).get()
        #expect(versions == [UpdateCommand.Expected(name: "p1", version: Version(major: 1, minor: 0, patch: 1))])
        #expect(throws: UpdateRefusal.self, "nothing to confirm") {
            try UpdateManager.confirmedVersions(command: [], manifest: manifest([("p1", nil)])).get()
        }
        #expect(throws: UpdateRefusal.self) { try UpdateManager.confirmedVersions(command: [], manifest: nil).get() }
    }

    @Test func theCommandAndTheManifestMustAgreeWhenBothNameAVersion() throws {
        let command = [UpdateCommand.Expected(name: "p1", version: Version(major: 1, minor: 0, patch: 1))]
        #expect(try UpdateManager.confirmedVersions(command: command, manifest: manifest([("p1", "1.0.1")])).get() == command)
        #expect(try UpdateManager.confirmedVersions(command: command, manifest: manifest([("p1", nil)])).get() == command)
        #expect(try UpdateManager.confirmedVersions(command: command, manifest: nil).get() == command)
        guard case .failure(let refusal) = UpdateManager.confirmedVersions(command: command, manifest: manifest([("p1", "1.0.2")])) else {
            Issue.record("a contradiction was accepted")
            return
        }
        #expect(refusal.remark == "p1: the command expects 1.0.1, the archive's manifest says 1.0.2")
    }

    @Test func theLocalUpdateRequestSurvivesTheWireAndRefusesStrangers() throws {
        for request in [ControlRequest.LocalUpdate(file: "/media/usb/v2.zip", signature: "/media/usb/v2.zip.sig", wait: true),
                        ControlRequest.LocalUpdate(file: "v2.zip", signature: nil, wait: false)] {
            let line = ControlRequest.update(request).line
            #expect(try ControlRequest.parse(Array(line.utf8.dropLast())) == .update(request))
            #expect(ControlRequest.update(request).access == .change)
        }
        #expect(throws: BadRequest.self) { try ControlRequest.parse(Array(#"{"verb":"update","wait":true}"#.utf8)) }
        #expect(throws: BadRequest.self) { try ControlRequest.parse(Array(#"{"verb":"update","file":"x","wait":true,"url":"y"}"#.utf8)) }
    }

    @Test func progressReadsInMegabytes() {
        #expect(UpdateManager.progressText(phase: .download, done: 12_345_678, total: 50_000_000) == "downloading 12.3 of 50.0 MB (24 %)")
        #expect(UpdateManager.progressText(phase: .unpack, done: 999_999, total: nil) == "unpacking 0.9 MB")
        #expect(UpdateManager.progressText(phase: .copy, done: 4_000_000, total: 8_000_000) == "copying 4.0 of 8.0 MB (50 %)",
                "a local archive is copied, not downloaded")
    }
}
