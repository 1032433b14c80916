import Foundation
import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// The one helper for the agent's state files (State/StateFile.swift).
@Suite final class StateFileTests {
    let path = NSTemporaryDirectory() + "tinyagent-state-\(UUID().uuidString)"
    let logs: Folder
    let logger: Logger
    /// Reads format 1 and 2, writes 2; a file without `format` is refused.
    let format = StateFormat(2, readsFrom: 1)

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(path)/logs", withIntermediateDirectories: true)
        logs = try Folder.open("\(path)/logs")
        logger = Logger(file: RotatingLog(folder: logs, name: "agent.log", maximumBytes: 1 << 20, keep: 1, group: 0), journal: false)
    }

    deinit {
        logs.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    var file: StateFile { StateFile(path: "\(path)/state.json", format: format) }

    /// The file's `value`, with the format it was read as.
    static func value(_ document: JSONValue, format: Int64) throws(StateFileError) -> String {
        guard let value = document["value"]?.stringValue else { throw .malformed("no value") }
        return "\(value) (format \(format))"
    }

    func load() -> String? { file.load(logger: logger, ifBad: "going on without it", StateFileTests.value) }

    func text(_ name: String) -> String? { try? String(contentsOfFile: "\(path)/\(name)", encoding: .utf8) }

    func plant(_ name: String, _ text: String, mode: Int = 0o600) throws {
        try text.write(toFile: "\(path)/\(name)", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: "\(path)/\(name)")
    }

    /// Whether anything, a link included, has the name (lstat).
    func exists(_ name: String) -> Bool { (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)")) != nil }

    func write(_ value: String, to file: StateFile) throws {
        try file.write(format.encode { w in w.key("value"); w.string(value) })
    }

    /// The one line the agent logs about a file it set aside.
    var setAsideLine: String? {
        (try? String(contentsOfFile: "\(path)/logs/agent.log", encoding: .utf8))?
            .split(separator: "\n").first { $0.contains("state.json") }.map(String.init)
    }

    @Test func aWrittenFileIsReadBackAndIsRootsAlone() throws {
        try write("hello", to: file)
        #expect(text("state.json") == #"{"format":2,"value":"hello"}"# + "\n")
        #expect(try FileManager.default.attributesOfItem(atPath: "\(path)/state.json")[.posixPermissions] as? Int == 0o600)
        #expect(load() == "hello (format 2)")
        // The same through a folder the caller holds open.
        let folder = try Folder.open(path)
        defer { folder.close() }
        let held = StateFile("state.json", in: folder, format: format)
        try write("again", to: held)
        #expect(held.load(logger: logger, ifBad: "", StateFileTests.value) == "again (format 2)")
        #expect(held.path == "\(path)/state.json")
    }

    @Test func aMissingFileReadsAsNoneAndIsNoError() {
        #expect(load() == nil)
        #expect(!exists("state.json.bad") && setAsideLine == nil)
    }

    @Test func anOlderFormatStillReadIsHandedOverWithItsNumber() throws {
        try plant("state.json", #"{"format": 1, "value": "old"}"#)
        #expect(load() == "old (format 1)")
    }

    @Test func aFileOfAFutureFormatIsSetAsideAsBadAndNotUsed() throws {
        try plant("state.json", #"{"format": 3, "value": "from a newer agent"}"#)
        #expect(load() == nil)
        #expect(!exists("state.json") && text("state.json.bad")?.contains("newer agent") == true)
        #expect(setAsideLine?.hasSuffix("error \(path)/state.json: malformed: unknown format 3 (this agent reads 1 to 2); "
            + "going on without it (kept as state.json.bad)") == true, "\(setAsideLine ?? "no line")")
    }

    @Test func aFileOfAFormatTooOldIsSetAside() throws {
        try plant("state.json", #"{"format": 0, "value": "ancient"}"#)
        #expect(load() == nil)
        #expect(exists("state.json.bad"))
    }

    @Test func aFileWithoutAFormatIsReadAsTheOneItsTypeNamesOrElseSetAside() throws {
        try plant("state.json", #"{"value": "unversioned"}"#)
        let legacy = StateFile(path: "\(path)/state.json", format: StateFormat(2, readsFrom: 1, unversioned: 1))
        #expect(legacy.load(logger: logger, ifBad: "", StateFileTests.value) == "unversioned (format 1)")
        #expect(load() == nil, "a type that always wrote a format refuses a file without one")
        #expect(exists("state.json.bad"))
    }

    @Test(arguments: [#"{"format": 2, "val"#, "\u{0}\u{1}garbage", "", #"["format", 2]"#, #"{"format": "2", "value": "x"}"#,
                      #"{"format": 2}"#])
    func aTruncatedOrGarbageFileIsSetAsideAsBad(_ content: String) throws {
        try plant("state.json", content)
        #expect(load() == nil)
        #expect(!exists("state.json") && text("state.json.bad") == content)
        #expect(setAsideLine?.contains("state.json: malformed: ") == true)
    }

    @Test func aSymbolicLinkInPlaceOfTheFileIsRefusedNotFollowed() throws {
        // A good file elsewhere, root's and private: following the link would believe it.
        try FileManager.default.createDirectory(atPath: "\(path)/elsewhere", withIntermediateDirectories: false)
        try plant("elsewhere/state.json", #"{"format": 2, "value": "planted"}"#)
        try FileManager.default.createSymbolicLink(atPath: "\(path)/state.json", withDestinationPath: "\(path)/elsewhere/state.json")
        #expect(load() == nil)
        #expect(setAsideLine?.contains("state.json: unreadable: is a symbolic link (not followed)") == true)
        // The link itself was set aside; its target is untouched.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/state.json.bad") == "\(path)/elsewhere/state.json")
        #expect(text("elsewhere/state.json")?.contains("planted") == true)
    }

    @Test func aFileAnotherUserOwnsIsNotTrusted() throws {
        try plant("state.json", #"{"format": 2, "value": "theirs"}"#)
        #expect(chown("\(path)/state.json", 54_321, 54_321) == 0)
        #expect(load() == nil)
        #expect(setAsideLine?.contains("state.json: unreadable: not trusted: uid 54321") == true)
        #expect(exists("state.json.bad"))
    }

    @Test(arguments: [0o620, 0o660, 0o606, 0o640, 0o4600])
    func aRootFileAnotherUserCouldWriteOrReadIsNotTrusted(_ mode: Int) throws {
        try plant("state.json", #"{"format": 2, "value": "open"}"#, mode: mode)
        #expect(chown("\(path)/state.json", 0, 54_321) == 0)
        #expect(chmod("\(path)/state.json", mode_t(mode)) == 0)  // chown clears set-id bits
        #expect(load() == nil)
        #expect(setAsideLine?.contains("not trusted") == true)
    }

    @Test func aFileWithASecondNameIsNotTrusted() throws {
        try plant("state.json", #"{"format": 2, "value": "linked"}"#)
        try FileManager.default.linkItem(atPath: "\(path)/state.json", toPath: "\(path)/other")
        #expect(load() == nil)
        #expect(setAsideLine?.contains("2 name(s)") == true)
    }

    @Test func aWriteCutShortLeavesTheOldFileAndTheNextWriteClearsItsLeftover() throws {
        try write("old", to: file)
        // What a crash before the rename leaves: a partial `name.new` beside the old file.
        try plant("state.json.new", #"{"format": 2, "val"#)
        #expect(load() == "old (format 2)", "the leftover is not read")
        try write("new", to: file)
        #expect(load() == "new (format 2)")
        #expect(!exists("state.json.new"))
        #expect(setAsideLine == nil)
    }

    @Test func aLeftoverThatIsALinkIsRemovedNotFollowed() throws {
        try plant("target", "keep")
        try FileManager.default.createSymbolicLink(atPath: "\(path)/state.json.new", withDestinationPath: "\(path)/target")
        try write("new", to: file)
        #expect(load() == "new (format 2)")
        #expect(text("target") == "keep")
    }

    @Test func aRemovedFileReadsAsNone() throws {
        try write("done", to: file)
        file.remove()
        #expect(!exists("state.json") && load() == nil)
        file.remove()  // none there: no error
    }

    @Test func anOlderBadFileIsReplacedBySetAsideOne() throws {
        try plant("state.json.bad", "first")
        try plant("state.json", "second")
        #expect(load() == nil)
        #expect(text("state.json.bad") == "second")
    }
}
