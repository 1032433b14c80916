import Foundation
import Testing
@testable import TinyAgent
@testable import TinyBase
import TestSupport

/// The pieces of a self-update (Update/SelfUpdate.swift): the trial run,
/// the trial state the guard reads, and the program renames.
@Suite final class SelfUpdateTests {
    let folder = NSTemporaryDirectory() + "tinyagent-self-\(UUID().uuidString)"
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    let nobody = Identity(uid: 65534, gid: 65534)

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func trial(_ path: String) throws -> Result<Version, UpdateRefusal> {
        let program = try Folder.openRegularFile(path)
        defer { program.close() }
        return SelfUpdate.trialVersion(program, as: nobody)
    }

    @Test func theTrialRunOfTheRealAgentAsAnotherUserReadsItsVersion() throws {
        // The host build's own program, run as nobody through root's descriptor.
        let agent = URL(fileURLWithPath: "\(Self.repository)/.build/debug/tinyagent").resolvingSymlinksInPath().path
        try #require(FileManager.default.isExecutableFile(atPath: agent))
        #expect(try trial(agent) == .success(Version(agentVersion)!))
    }

    @Test func aProgramThatFailsPrintsSomethingElseOrHangsIsRefusedSayingWhich() throws {
        #expect(try trial("/usr/bin/false") == .failure(UpdateRefusal("the new tinyagent exited with status 1 in its trial run (`version`); not installed")))
        #expect(try trial("/usr/bin/echo") == .failure(UpdateRefusal("the new tinyagent's `version` printed \"version\", not \"tinyagent X.Y.Z\"; not installed")))
        // `yes version` floods its output and never exits: killed at the deadline.
        let started = Date()
        #expect(try trial("/usr/bin/yes") == .failure(UpdateRefusal("the new tinyagent did not answer `version` within 5 s; not installed")))
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func theTrialRunsAsTheHelperUserNeverAsRoot() throws {
        let script = "\(folder)/whoami.c"
        try "#include <stdio.h>\n#include <unistd.h>\nint main(void){printf(\"tinyagent %u.%u.0\\n\", getuid(), getgid());return 0;}\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        _ = try runTool("cc", ["-o", "\(folder)/whoami", script])
        #expect(try trial("\(folder)/whoami") == .success(Version(major: 65534, minor: 65534, patch: 0)))
    }

    @Test func aProgramWhoseInterpreterOpensItByPathAfterTheExecPassesItsTrial() throws {
        // As qemu-user's binfmt_misc does on an emulated card: a close-on-exec
        // descriptor (fexecve) would be gone by then. A script is the same case here.
        let script = "\(folder)/version.sh"
        try "#!/bin/sh\necho tinyagent 1.2.3\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        #expect(try trial(script) == .success(Version(major: 1, minor: 2, patch: 3)))
    }

    @Test func theCommandsAgentVersionMustBeWhatTheTrialPrinted() {
        let trial = Version(major: 1, minor: 2, patch: 3)
        #expect(SelfUpdate.expectedVersion(command: nil, trial: trial) == .success(trial))
        #expect(SelfUpdate.expectedVersion(command: trial, trial: trial) == .success(trial))
        #expect(SelfUpdate.expectedVersion(command: Version(major: 1, minor: 2, patch: 4), trial: trial)
                == .failure(UpdateRefusal("the command expects tinyagent 1.2.4, the archive's tinyagent says 1.2.3; not installed")))
    }

    @Test func theTrialStateReadsBackAndAnythingElseIsNotATrial() {
        let state = TrialState(state: .trial, starts: 2, version: Version(major: 0, minor: 2, patch: 0), origin: "update 7")
        #expect(state.encode() == "format=1\nstate=trial\nstarts=2\nversion=0.2.0\norigin=update 7\n")
        #expect(TrialState.decode(state.encode()) == state)
        #expect(TrialState.decode("format=2\nstate=trial\nstarts=0\nversion=0.2.0\n") == nil)
        #expect(TrialState.decode("format=1\nstate=maybe\nstarts=0\nversion=0.2.0\n") == nil)
        #expect(TrialState.decode("format=1\nstate=trial\nstarts=x\nversion=0.2.0\n") == nil)
        let hostile = TrialState(state: .failed, version: Version(major: 1, minor: 0, patch: 0), origin: "a\nstate=trial")
        #expect(TrialState.decode(hostile.encode())?.state == .failed, "an origin cannot add a line")
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8) }

    var state: [String?] {
        AgentPrograms.names.flatMap { [read($0), read($0 + ".next"), read($0 + ".prev")] }
    }

    @Test func theProgramsAreSwappedTogetherKeepingThePreviousOnesAndEachStepIsSafeToRepeat() throws {
        let files = ProgramFiles(folder: folder)
        for name in AgentPrograms.names {
            try write(name, "old")
            try write(name + ".prev", "older")
            try write("staged-" + name, "new")
            let source = try Folder.openRegularFile("\(folder)/staged-\(name)")
            try files.stage(name, from: source)
            source.close()
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(folder)/tinyagent.next")
        #expect(attributes[.posixPermissions] as? Int == 0o755)
        // Killed after the first program (the agent is swapped last): the repeat finishes.
        try FileManager.default.moveItem(atPath: "\(folder)/tinyagent-fetch", toPath: "\(folder)/tinyagent-fetch.prev.tmp")
        try FileManager.default.removeItem(atPath: "\(folder)/tinyagent-fetch.prev")
        try FileManager.default.moveItem(atPath: "\(folder)/tinyagent-fetch.prev.tmp", toPath: "\(folder)/tinyagent-fetch.prev")
        try FileManager.default.moveItem(atPath: "\(folder)/tinyagent-fetch.next", toPath: "\(folder)/tinyagent-fetch")
        try files.install()
        #expect(state == ["new", nil, "old", "new", nil, "old", "new", nil, "old"], "each .prev is this update's previous program")
        try files.install()
        #expect(state == ["new", nil, "old", "new", nil, "old", "new", nil, "old"])
        try files.restore()
        #expect(state == ["old", nil, nil, "old", nil, nil, "old", nil, nil])
        try files.restore()
        #expect(state == ["old", nil, nil, "old", nil, nil, "old", nil, nil])
    }
}
