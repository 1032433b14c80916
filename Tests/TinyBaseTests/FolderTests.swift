import Foundation
import Testing
@testable import TinyBase

/// The opens for folders another user can write (Platform/Folder.swift).
@Suite struct FolderTests {
    let path = NSTemporaryDirectory() + "tinyagent-folder-\(UUID().uuidString)"
    let folder: Folder

    init() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        folder = try Folder.open(path)
    }

    func write(_ name: String, _ text: String, mode: Int) throws {
        try text.write(toFile: "\(path)/\(name)", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: "\(path)/\(name)")
    }

    @Test func aFIFOIsRefusedAtOnceInsteadOfBlockingTheOpen() throws {
        #expect(mkfifo("\(path)/pipe", 0o600) == 0)
        #expect(throws: FileError.notRegular(.fifo)) { _ = try folder.openForReading("pipe") }
        #expect(throws: FileError.notRegular(.fifo)) { _ = try folder.openForAppending("pipe", mode: 0o600, create: false) }
    }

    @Test func aWriteOverAPlantedFIFOOrLinkReplacesItWithoutOpeningIt() throws {
        #expect(mkfifo("\(path)/state.json.new", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/state.json", withDestinationPath: "/etc/passwd")
        try folder.writeAtomically("state.json", bytes: Array("{}".utf8), mode: 0o600)
        #expect(try String(contentsOfFile: "\(path)/state.json", encoding: .utf8) == "{}")
        #expect(try FileManager.default.attributesOfItem(atPath: "\(path)/state.json")[.type] as? FileAttributeType == .typeRegular)
        #expect(try String(contentsOfFile: "/etc/passwd", encoding: .utf8).hasPrefix("root:"))
    }

    @Test func aSymbolicLinkIsNotFollowedAsAFolderOrAFile() throws {
        try FileManager.default.createSymbolicLink(atPath: "\(path)/etc", withDestinationPath: "/etc")
        #expect(throws: FileError.symbolicLink) { _ = try folder.folder("etc") }
        #expect(throws: FileError.symbolicLink) { _ = try folder.openForReading("etc") }
        #expect(throws: FileError.symbolicLink) { _ = try Folder.open("\(path)/etc") }
    }

    @Test func aFileWithASecondNameIsNotWrittenTo() throws {
        try write("log", "x", mode: 0o600)
        try FileManager.default.linkItem(atPath: "\(path)/log", toPath: "\(path)/elsewhere")
        #expect(throws: FileError.linked(2)) { _ = try folder.openForAppending("log", mode: 0o600) }
    }

    @Test func createNewNeverOpensWhatIsAlreadyThere() throws {
        try write("taken", "x", mode: 0o600)
        #expect(throws: FileError.system(.exists)) { _ = try folder.createNew("taken", mode: 0o600) }
    }

    @Test func onlyTheOwnersPrivateStateFileIsTrusted() throws {
        try write("mine.json", "{}", mode: 0o600)
        try write("open.json", "{}", mode: 0o644)
        #expect(try folder.readTrusted("mine.json") == Array("{}".utf8))
        #expect(try folder.readTrusted("missing.json") == nil)
        #expect(throws: FileError.self) { _ = try folder.readTrusted("open.json") }
        #expect(throws: FileError.self) { _ = try folder.readTrusted("mine.json", owner: Processes.effectiveUID + 1) }
    }

    @Test func aUnixSocketGetsItsModeFromTheUmaskAndReplacesAStaleEntry() throws {
        try write("agent.sock", "stale", mode: 0o644)
        let socket = try folder.bindUnixSocket("agent.sock", mode: 0o660, gid: 0, datagram: false)
        defer { socket.close() }
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(path)/agent.sock")
        #expect(attributes[.posixPermissions] as? Int == 0o660)
        #expect(attributes[.type] as? FileAttributeType == .typeSocket)
    }

    @Test func removingATreeRemovesLinksButNothingTheyPointAt() throws {
        let outside = path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try write("outside/keep", "k", mode: 0o644)
        try FileManager.default.createDirectory(atPath: "\(path)/tree/deep/er", withIntermediateDirectories: true)
        try write("tree/deep/er/file", "f", mode: 0o444)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/tree/deep/link", withDestinationPath: outside)
        try Files.removeTree("\(path)/tree")
        #expect(!FileManager.default.fileExists(atPath: "\(path)/tree"))
        #expect(FileManager.default.fileExists(atPath: "\(outside)/keep"))
        try Files.removeTree("\(path)/tree")
    }

    @Test func aRegularFileIsReadButALinkOrAFIFOIsNot() throws {
        try write("manifest.json", "{}", mode: 0o644)
        let file = try Files.readRegular("\(path)/manifest.json")
        #expect(file.bytes == Array("{}".utf8))
        #expect(file.status.uid == getuid() && file.status.permissions == 0o644, "the status of the file read")
        try FileManager.default.createSymbolicLink(atPath: "\(path)/shadow", withDestinationPath: "/etc/shadow")
        #expect(throws: FileError.symbolicLink) { _ = try Files.readRegular("\(path)/shadow") }
        #expect(mkfifo("\(path)/pipe.json", 0o644) == 0)
        #expect(throws: FileError.notRegular(.fifo)) { _ = try Files.readRegular("\(path)/pipe.json") }
    }
}
