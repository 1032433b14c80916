import Foundation
import Testing
@testable import TinyBase

/// The agent's helper programs, opened at start beside its own binary
/// (Platform/HelperProgram.swift): root starts them, so only files and a folder
/// no one else can write are taken.
@Suite struct HelperProgramTests {
    let path = NSTemporaryDirectory() + "tinyagent-programs-\(UUID().uuidString)"
    /// Somebody else: no account needs to exist for a file to be theirs.
    let stranger: uid_t = 4242

    init() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        try program("tinyagent-link", mode: 0o755)
    }

    func program(_ name: String, mode: Int) throws {
        try "#!/bin/sh\nexit 0\n".write(toFile: "\(path)/\(name)", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: "\(path)/\(name)")
    }

    func refusal(_ name: String = "tinyagent-link") -> String? {
        do {
            let opened = try HelperProgram.open(name, in: path)
            opened.fd.close()
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func aProgramOwnedByTheAgentAndWritableByNoOneElseIsOpened() throws {
        #expect(refusal() == nil)
    }

    @Test func aProgramAnotherUserOwnsIsRefused() throws {
        #expect(chown("\(path)/tinyagent-link", stranger, 0) == 0)
        let why = try #require(refusal())
        #expect(why.contains("tinyagent-link: not trusted: uid 4242"), "\(why)")
    }

    @Test func aProgramTheGroupOrOthersCanWriteIsRefused() throws {
        for mode in [0o775, 0o757] {
            try program("tinyagent-link", mode: mode)
            let why = try #require(refusal(), "mode \(String(mode, radix: 8))")
            #expect(why.contains("not trusted"), "\(why)")
        }
    }

    @Test func aFolderAnotherUserCouldWriteIsRefusedThoughTheProgramIsRoots() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: path)
        let why = try #require(refusal())
        #expect(why.hasPrefix("\(path): not trusted"), "\(why)")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        #expect(chown(path, stranger, 0) == 0)
        #expect(refusal() != nil, "a folder another user owns: they could rename the program away")
    }

    @Test func aSymbolicLinkInThePlaceOfTheProgramIsNotFollowed() throws {
        try FileManager.default.createSymbolicLink(atPath: "\(path)/tinyagent-fetch", withDestinationPath: "/bin/true")
        let why = try #require(refusal("tinyagent-fetch"))
        #expect(why.contains("symbolic link"), "\(why)")
    }

    @Test func aMissingProgramIsRefusedWithItsPath() throws {
        let why = try #require(refusal("tinyagent-fetch"))
        #expect(why.hasPrefix("\(path)/tinyagent-fetch: "), "\(why)")
    }

    @Test func theRunningExecutablesFolderIsWhereItsHelpersAre() throws {
        let folder = try Processes.executableFolder()
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #expect(folder == (exe as NSString).deletingLastPathComponent)
    }
}
