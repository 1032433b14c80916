import Testing
@testable import TinyAgent

/// The pure parts of extraction: entry names and the manifest.
@Suite struct ArchiveNameTests {
    private func problem(_ name: [UInt8]) -> ArchiveError.NameProblem? {
        do { _ = try EntryName.check(name); return nil } catch {
            if case .badName(_, let problem) = error { return problem }
            return nil
        }
    }

    private func problem(_ name: String) -> ArchiveError.NameProblem? { problem(Array(name.utf8)) }

    @Test func plainNamesSplitIntoComponents() throws {
        let file = try EntryName.check(Array("SmartMeter/lib/run.sh".utf8))
        #expect(file.components == ["SmartMeter", "lib", "run.sh"] && !file.isFolder)
        #expect(file.path == "SmartMeter/lib/run.sh" && file.topLevel == "SmartMeter/")
        let folder = try EntryName.check(Array("SmartMeter/data/".utf8))
        #expect(folder.components == ["SmartMeter", "data"] && folder.isFolder)
        let top = try EntryName.check(Array("README.txt".utf8))
        #expect(top.topLevel == "README.txt")
        #expect(try EntryName.check(Array("__MACOSX/".utf8)).topLevel == "__MACOSX/")
        #expect(try EntryName.check(Array("SmartMeter/..hidden/...".utf8)).components == ["SmartMeter", "..hidden", "..."])
        #expect(try EntryName.check(Array("SmartMeter/zähler é.txt".utf8)).components[1] == "zähler é.txt")
    }

    @Test func namesThatCouldLeaveTheFolderAreRefused() {
        #expect(problem("/etc/passwd") == .absolute)
        #expect(problem("/") == .absolute)
        #expect(problem("../evil") == .escapes)
        #expect(problem("SmartMeter/../../etc/passwd") == .escapes)
        #expect(problem("SmartMeter/a/../b") == .escapes)
        #expect(problem("SmartMeter/..") == .escapes)
        #expect(problem("SmartMeter/../") == .escapes)
        #expect(problem("SmartMeter//../x") == .escapes)
        #expect(problem("SmartMeter\\..\\evil") == .backslash)
        #expect(problem("SmartMeter\\evil") == .backslash)
    }

    @Test func oddComponentsAreRefused() {
        #expect(problem("") == .empty)
        #expect(problem("SmartMeter//x") == .emptyComponent)
        #expect(problem("SmartMeter/x//") == .emptyComponent)
        #expect(problem("./SmartMeter/x") == .dotComponent)
        #expect(problem("SmartMeter/./x") == .dotComponent)
        #expect(problem("SmartMeter/" + String(repeating: "a", count: 256)) == .componentTooLong)
        #expect(problem("SmartMeter/" + String(repeating: "a", count: 255)) == nil)
        #expect(problem(String(repeating: "a/", count: 513)) == .tooLong)
        #expect(problem(String(repeating: "a/", count: 512)) == nil)
    }

    @Test func namesMustBeCleanUTF8() {
        #expect(problem(Array("SmartMeter/".utf8) + [0xFF]) == .notUTF8)
        #expect(problem(Array("SmartMeter/".utf8) + [0xC0, 0xAF]) == .notUTF8)        // overlong "/"
        #expect(problem(Array("SmartMeter/".utf8) + [0xED, 0xA0, 0x80]) == .notUTF8)  // surrogate
        #expect(problem(Array("SmartMeter/".utf8) + [0xC3]) == .notUTF8)              // truncated
        #expect(problem(Array("SmartMeter/a".utf8) + [0] + Array("/../x".utf8)) == .controlCharacter)
        #expect(problem(Array("SmartMeter/a".utf8) + [0]) == .controlCharacter)
        #expect(problem("SmartMeter/a\nb") == .controlCharacter)
        #expect(problem("SmartMeter/a\u{7F}") == .controlCharacter)
    }

    @Test func remarksShowNamesSafely() {
        #expect(ArchiveError.badName(name: "SmartMeter/../../evil", problem: .escapes).remark
            == "archive: entry SmartMeter/../../evil escapes the folder")
        #expect(EntryName.printable(Array("a\nb".utf8) + [0xFF]) == "a\\x0ab\\xff")
        #expect(EntryName.printable(Array("zähler".utf8)) == "zähler")
        #expect(EntryName.printable(Array(repeating: 0x61, count: 300)).utf8.count == 203)
        do {
            _ = try EntryName.check(Array("SmartMeter/".utf8) + [0xFF])
            Issue.record("accepted")
        } catch {
            #expect(error.remark == "archive: entry SmartMeter/\\xff has a name that is not UTF-8")
        }
    }

    /// A cheap stand-in for fuzzing: random names never crash the checker,
    /// and whatever it accepts is relative and free of `..`, `.`, `\` and NUL.
    @Test func randomNamesNeverYieldAnEscape() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x2F, 0x2E, 0x5C, 0x00, 0x61, 0x62, 0xC3, 0xA4, 0xFF, 0x0A]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...12, using: &rng)
            let name = (0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            guard let checked = try? EntryName.check(name) else { continue }
            #expect(name.first != 0x2F && !name.contains(0x5C) && !name.contains(0))
            for c in checked.components { #expect(c != ".." && c != "." && !c.isEmpty && !c.contains("/")) }
        }
    }

    @Test func aManifestListsProcessesAndRunCommands() throws {
        let m = try UpdateManifest.parse(Array("""
            {"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py"},
                           {"run_command": "/bin/sh ocr.sh --fast", "name": "ocr-2.v1"}]}
            """.utf8))
        #expect(m.processes == [.init(name: "meter_reader", runCommand: "python3 meter_reader.py"),
                                .init(name: "ocr-2.v1", runCommand: "/bin/sh ocr.sh --fast")])
        #expect(try UpdateManifest.parse(Array(#"{"processes": []}"#.utf8)).processes.isEmpty)
    }

    @Test(arguments: [
        ("", "not valid JSON at 1:1: the text ends early"),
        ("{\"processes\": [],\n \"x\" 1}", "not valid JSON at 2:6: unexpected '1'"),
        ("{\"proceses\": []}", "unknown member \"proceses\"; did you mean \"processes\"?"),
        ("[]", "not a JSON object"),
        (#"{}"#, #"no "processes" list"#),
        (#"{"processes": {}}"#, #""processes" is not a list"#),
        (#"{"processes": [], "extra": 1}"#, #"unknown member "extra""#),
        (#"{"processes": [1]}"#, "process 1 is not an object"),
        (#"{"processes": [{"run_command": "x"}]}"#, #"process 1: no "name" string"#),
        (#"{"processes": [{"name": "../x", "run_command": "x"}]}"#, #"process 1: invalid name "../x""#),
        (#"{"processes": [{"name": "..", "run_command": "x"}]}"#, #"process 1: invalid name "..""#),
        (#"{"processes": [{"name": "", "run_command": "x"}]}"#, #"process 1: invalid name """#),
        (#"{"processes": [{"name": "a b", "run_command": "x"}]}"#, #"process 1: invalid name "a b""#),
        (#"{"processes": [{"name": "a", "run_command": "x", "user": "root"}]}"#, #"process 1: unknown member "user""#),
        (#"{"processes": [{"name": "a"}]}"#, #"process a: no "run_command" string"#),
        (#"{"processes": [{"name": "a", "run_command": 5}]}"#, #"process a: no "run_command" string"#),
        (#"{"processes": [{"name": "a", "run_command": ""}]}"#, "process a: empty run_command"),
        (#"{"processes": [{"name": "a", "run_command": "x\u0000y"}]}"#, "process a: NUL in run_command"),
        (#"{"processes": [{"name": "a", "run_command": "x"}, {"name": "a", "run_command": "y"}]}"#,
         "process a is listed twice"),
    ])
    func badManifestsAreRefusedWithAReason(text: String, reason: String) {
        do {
            _ = try UpdateManifest.parse(Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.remark == "archive: SmartMeter/tinyagent.json: " + reason)
        }
    }

    @Test func manifestsAreBounded() {
        let long = String(repeating: "a", count: 65)
        let many = (0..<65).map { #"{"name": "p\#($0)", "run_command": "x"}"# }.joined(separator: ",")
        let command = String(repeating: "x", count: 1025)
        for (text, reason) in [
            (#"{"processes": [{"name": "\#(long)", "run_command": "x"}]}"#, #"process 1: invalid name "\#(long)""#),
            (#"{"processes": [\#(many)]}"#, "65 processes, more than the 64 allowed"),
            (#"{"processes": [{"name": "a", "run_command": "\#(command)"}]}"#, "process a: run_command longer than 1024 bytes"),
            (String(repeating: " ", count: 65537), "larger than 65536 bytes"),
        ] {
            #expect(throws: ArchiveError.manifest(reason: reason)) { try UpdateManifest.parse(Array(text.utf8)) }
        }
    }
}
