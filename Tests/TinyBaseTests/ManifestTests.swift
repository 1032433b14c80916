import Testing
@testable import TinyBase

/// Manifest/: the pure parts of extraction (entry names and modes) and the manifest.
@Suite struct ManifestTests {
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

    @Test func aManifestGivesEachProcessItsRestartUserEnvironmentFolderAndVersion() throws {
        let m = try UpdateManifest.parse(Array("""
            {"processes": [{"name": "ocr", "run_command": "python3 ocr.py", "restart": "on-failure", "user": "pi",
                            "env": {"MODE": "fast", "lang": "de"}, "cwd": "bin/ocr", "version": "1.2.3"},
                           {"name": "job", "run_command": "sh job.sh", "restart": "never"}]}
            """.utf8))
        #expect(m.processes == [
            .init(name: "ocr", runCommand: "python3 ocr.py", restart: .onFailure, user: "pi",
                  environment: ["MODE=fast", "lang=de"], cwd: "bin/ocr", version: Version(major: 1, minor: 2, patch: 3)),
            .init(name: "job", runCommand: "sh job.sh", restart: .never),
        ])
        #expect(m.process(named: "job")?.user == nil && m.process(named: "job")?.cwd == nil)
    }

    @Test(arguments: [
        ("", "not valid JSON at 1:1: the text ends early"),
        ("{\"processes\": [],\n \"x\" 1}", "not valid JSON at 2:6: unexpected '1'"),
        ("{\"proceses\": []}", "unknown member \"proceses\" at 1:2; did you mean \"processes\"?"),
        ("[]", "not a JSON object"),
        (#"{}"#, #"no "processes" list"#),
        (#"{"processes": {}}"#, #""processes" at 1:2 is not a list"#),
        (#"{"processes": [], "extra": 1}"#, #"unknown member "extra" at 1:19"#),
        (#"{"processes": [1]}"#, "process 1 at 1:16 is not an object"),
        (#"{"processes": [{"run_command": "x"}]}"#, #"process 1 at 1:16: no "name" string"#),
        (#"{"processes": [{"name": "../x", "run_command": "x"}]}"#, #"process 1 at 1:16: invalid name "../x" at 1:17"#),
        (#"{"processes": [{"name": "..", "run_command": "x"}]}"#, #"process 1 at 1:16: invalid name ".." at 1:17"#),
        (#"{"processes": [{"name": "", "run_command": "x"}]}"#, #"process 1 at 1:16: invalid name "" at 1:17"#),
        (#"{"processes": [{"name": "a b", "run_command": "x"}]}"#, #"process 1 at 1:16: invalid name "a b" at 1:17"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "usre": "root"}]}"#,
         #"process 1 at 1:16: unknown member "usre" at 1:50; did you mean "user"?"#),
        (#"{"processes": [{"name": "a"}]}"#, #"process a: no "run_command" string"#),
        (#"{"processes": [{"name": "a", "run_command": 5}]}"#, #"process a, "run_command" at 1:30: not a string"#),
        (#"{"processes": [{"name": "a", "run_command": ""}]}"#, #"process a, "run_command" at 1:30: empty"#),
        (#"{"processes": [{"name": "a", "run_command": "x\u0000y"}]}"#, #"process a, "run_command" at 1:30: holds a NUL"#),
        (#"{"processes": [{"name": "a", "run_command": "x"}, {"name": "a", "run_command": "y"}]}"#,
         "process a at 1:51 is listed twice"),
        (#"{"processes": [{"name": "a", "run_command": "x", "restart": "on_failure"}]}"#,
         #"process a, "restart" at 1:50: "on_failure" is not always, on-failure or never; did you mean "on-failure"?"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "user": "root:0"}]}"#,
         #"process a, "user" at 1:50: "root:0" is not a user name (1-32 of A-Z a-z 0-9 . _ -)"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "user": "-r"}]}"#,
         #"process a, "user" at 1:50: "-r" is not a user name (1-32 of A-Z a-z 0-9 . _ -)"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": ["A=1"]}]}"#, #"process a, "env" at 1:50: not an object of strings"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": {"A=B": "1"}}]}"#,
         #"process a, "env" at 1:50: variable "A=B": a name is 1-128 bytes, without "=" or NUL"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": {"": "1"}}]}"#,
         #"process a, "env" at 1:50: variable "": a name is 1-128 bytes, without "=" or NUL"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": {"A\u0000": "1"}}]}"#,
         #"process a, "env" at 1:50: variable "A\x00": a name is 1-128 bytes, without "=" or NUL"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": {"A": "1\u0000"}}]}"#,
         #"process a, "env" at 1:50: variable "A": a value is at most 4096 bytes, without NUL"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "env": {"A": 1}}]}"#, #"process a, "env" at 1:50: variable "A" is not a string"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "cwd": "../.."}]}"#,
         #"process a, "cwd" at 1:50: "../.." is not a folder inside SmartMeter/ (a relative path without "..", "." or empty parts)"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "cwd": "/etc"}]}"#,
         #"process a, "cwd" at 1:50: "/etc" is not a folder inside SmartMeter/ (a relative path without "..", "." or empty parts)"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "cwd": "bin/../../x"}]}"#,
         #"process a, "cwd" at 1:50: "bin/../../x" is not a folder inside SmartMeter/ (a relative path without "..", "." or empty parts)"#),
        (#"{"processes": [{"name": "a", "run_command": "x", "version": "1.2"}]}"#,
         #"process a, "version" at 1:50: "1.2" is not X.Y.Z (each 0-65535)"#),
        ("{\"processes\": [\n  {\"name\": \"a\",\n   \"run_command\": \"x\",\n   \"restart\": 1}]}", #"process a, "restart" at 4:4: not a string"#),
    ])
    func badManifestsAreRefusedWithAReasonAndWhereTheKeyIs(text: String, reason: String) {
        #expect(throws: ManifestError(reason)) { try UpdateManifest.parse(Array(text.utf8)) }
    }

    @Test func aManifestInAnArchiveIsNamedOnceInTheRemark() {
        #expect(ArchiveError.manifest(reason: "no \"processes\" list").remark == "archive: SmartMeter/tinyagent.json: no \"processes\" list")
    }

    @Test func manifestsAreBounded() {
        let long = String(repeating: "a", count: 65)
        let many = (0..<65).map { #"{"name": "p\#($0)", "run_command": "x"}"# }.joined(separator: ",")
        let command = String(repeating: "x", count: 1025)
        let variables = (0..<65).map { #""V\#($0)": "1""# }.joined(separator: ",")
        let value = String(repeating: "v", count: 4097)
        let big = (0..<5).map { #""V\#($0)": "\#(String(repeating: "v", count: 4000))""# }.joined(separator: ",")
        for (text, reason) in [
            (#"{"processes": [{"name": "\#(long)", "run_command": "x"}]}"#, #"process 1 at 1:16: invalid name "\#(long)" at 1:17"#),
            (#"{"processes": [\#(many)]}"#, "65 processes, more than the 64 allowed"),
            (#"{"processes": [{"name": "a", "run_command": "\#(command)"}]}"#, #"process a, "run_command" at 1:30: longer than 1024 bytes"#),
            (String(repeating: " ", count: 65537), "larger than 65536 bytes"),
            (#"{"processes": [{"name": "a", "run_command": "x", "env": {\#(variables)}}]}"#, #"process a, "env" at 1:50: 65 variables, more than the 64 allowed"#),
            (#"{"processes": [{"name": "a", "run_command": "x", "env": {"A": "\#(value)"}}]}"#,
             #"process a, "env" at 1:50: variable "A": a value is at most 4096 bytes, without NUL"#),
            (#"{"processes": [{"name": "a", "run_command": "x", "env": {\#(big)}}]}"#, #"process a, "env" at 1:50: more than 16384 bytes of variables"#),
        ] {
            #expect(throws: ManifestError(reason)) { try UpdateManifest.parse(Array(text.utf8)) }
        }
    }
}
