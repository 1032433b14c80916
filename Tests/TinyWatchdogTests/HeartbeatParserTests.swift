import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// Parses `text` as a datagram.
func parseHeartbeat(_ bytes: [UInt8]) -> Result<(name: String, pid: Int32, command: String?, version: Version), HeartbeatError> {
    bytes.withUnsafeBytes { raw in
        do {
            let beat = try HeartbeatParser.parse(raw)
            let scanner = JSONScanner(raw)
            return .success((scanner.decode(beat.name), beat.pid, beat.runCommand.map { scanner.decode($0) }, beat.version))
        } catch {
            return .failure((error as! HeartbeatRejection).error)
        }
    }
}

func parseHeartbeat(_ text: String) -> Result<(name: String, pid: Int32, command: String?, version: Version), HeartbeatError> {
    parseHeartbeat(Array(text.utf8))
}

let version100 = #""version": {"major": 1, "minor": 0, "patch": 0}"#

@Suite struct HeartbeatParserTests {
    @Test func theSeedsHeartbeatIsAccepted() throws {
        let text = """
            {"process_name": "ocr", "pid": 444, "run_command": "python3 /home/pi/technospurs/SmartMeter/ocr.py",
             "version": {"major": 1, "minor": 2, "patch": 3}}
            """
        let beat = try parseHeartbeat(text).get()
        #expect(beat.name == "ocr")
        #expect(beat.pid == 444)
        #expect(beat.command == "python3 /home/pi/technospurs/SmartMeter/ocr.py")
        #expect(beat.version == Version(major: 1, minor: 2, patch: 3))
    }

    @Test func fieldsMayComeInAnyOrderAndTheCommandMayBeOmittedOrEmpty() throws {
        let reordered = try parseHeartbeat(#"{"version":{"patch":9,"major":0,"minor":4},"pid":2,"process_name":"a.b_c-d"}"#).get()
        #expect(reordered.version == Version(major: 0, minor: 4, patch: 9))
        #expect(reordered.command == nil)
        let empty = try parseHeartbeat(#"{"process_name":"x","pid":10,"run_command":"",\#(version100)}"#).get()
        #expect(empty.command == nil)
    }

    @Test func escapedCommandsAreDecoded() throws {
        let beat = try parseHeartbeat(#"{"process_name":"x","pid":10,"run_command":"sh -c \"echo \u00e9\\n\"",\#(version100)}"#).get()
        #expect(beat.command == "sh -c \"echo é\\n\"")
    }

    @Test(arguments: [
        ("empty", "", HeartbeatError.empty),
        ("not JSON", "hello", .notAnObject),
        ("an array", "[1,2]", .notAnObject),
        ("truncated", #"{"process_name":"ocr","pid":44"#, .malformed(.unexpectedEnd)),
        ("truncated in a string", #"{"process_name":"oc"#, .malformed(.unexpectedEnd)),
        ("missing name", #"{"pid":44,\#(version100)}"#, .missingField(.processName)),
        ("missing pid", #"{"process_name":"ocr",\#(version100)}"#, .missingField(.pid)),
        ("missing version", #"{"process_name":"ocr","pid":44}"#, .missingField(.version)),
        ("missing patch", #"{"process_name":"ocr","pid":44,"version":{"major":1,"minor":0}}"#, .missingField(.patch)),
        ("empty object", "{}", .missingField(.processName)),
        ("pid as string", #"{"process_name":"ocr","pid":"44",\#(version100)}"#, .wrongType(.pid)),
        ("pid as fraction", #"{"process_name":"ocr","pid":44.5,\#(version100)}"#, .wrongType(.pid)),
        ("pid 1", #"{"process_name":"ocr","pid":1,\#(version100)}"#, .pidOutOfRange),
        ("pid 0", #"{"process_name":"ocr","pid":0,\#(version100)}"#, .pidOutOfRange),
        ("negative pid", #"{"process_name":"ocr","pid":-5,\#(version100)}"#, .pidOutOfRange),
        ("huge pid", #"{"process_name":"ocr","pid":99999999999999999999999,\#(version100)}"#, .wrongType(.pid)),
        ("pid above pid_max", #"{"process_name":"ocr","pid":4194305,\#(version100)}"#, .pidOutOfRange),
        ("name as number", #"{"process_name":5,"pid":44,\#(version100)}"#, .wrongType(.processName)),
        ("empty name", #"{"process_name":"","pid":44,\#(version100)}"#, .invalidName),
        ("name with slash", #"{"process_name":"../etc","pid":44,\#(version100)}"#, .invalidName),
        ("name dot-dot", #"{"process_name":"..","pid":44,\#(version100)}"#, .invalidName),
        ("name with escape", #"{"process_name":"a\u0041","pid":44,\#(version100)}"#, .invalidName),
        ("name too long", #"{"process_name":"\#(String(repeating: "n", count: 65))","pid":44,\#(version100)}"#, .invalidName),
        ("version as string", #"{"process_name":"ocr","pid":44,"version":"1.0.0"}"#, .wrongType(.version)),
        ("major as string", #"{"process_name":"ocr","pid":44,"version":{"major":"1","minor":0,"patch":0}}"#, .wrongType(.major)),
        ("huge major", #"{"process_name":"ocr","pid":44,"version":{"major":70000,"minor":0,"patch":0}}"#, .versionOutOfRange),
        ("negative minor", #"{"process_name":"ocr","pid":44,"version":{"major":1,"minor":-1,"patch":0}}"#, .versionOutOfRange),
        ("extra nesting", #"{"process_name":"ocr","pid":44,"version":{"major":{"x":1},"minor":0,"patch":0}}"#, .wrongType(.major)),
        ("duplicate unknown key", #"{"process_name":"ocr","pid":44,"extra":1,"extra":[2],\#(version100)}"#, .duplicateField),
        ("escaped key", #"{"process_name":"ocr","pi\u0064":44,\#(version100)}"#, .escapedKey),
        ("bad unknown value", #"{"process_name":"ocr","pid":44,"extra":tru,\#(version100)}"#, .malformed(.unexpectedByte(offset: 42))),
        ("duplicate pid", #"{"process_name":"ocr","pid":44,"pid":45,\#(version100)}"#, .duplicateField),
        ("command as array", #"{"process_name":"ocr","pid":44,"run_command":["sh"],\#(version100)}"#, .wrongType(.runCommand)),
        ("command too long", #"{"process_name":"ocr","pid":44,"run_command":"\#(String(repeating: "c", count: 1025))",\#(version100)}"#, .commandTooLong),
        ("trailing garbage", #"{"process_name":"ocr","pid":44,\#(version100)} x"#, .malformed(.trailingBytes(offset: 80))),
        ("trailing comma", #"{"process_name":"ocr","pid":44,\#(version100),}"#, .malformed(.unexpectedByte(offset: 79))),
        ("control character", "{\"process_name\":\"ocr\",\"pid\":44,\"run_command\":\"a\u{1}b\",\(version100)}", .malformed(.invalidString(offset: 47))),
        ("lone surrogate escape", #"{"process_name":"ocr","pid":44,"run_command":"\udc00",\#(version100)}"#, .malformed(.invalidString(offset: 52))),
    ])
    func malformedDatagramsAreRefusedWithTheirReason(_ name: String, _ text: String, _ expected: HeartbeatError) {
        switch parseHeartbeat(text) {
        case .success: Issue.record("\(name): accepted")
        case .failure(let error): #expect(error == expected, "\(name)")
        }
    }

    @Test func nonUTF8BytesAreRefused() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF5, 0x80, 0x80, 0x80]] {
            let bytes = Array(#"{"process_name":"ocr","pid":44,"run_command":""#.utf8) + bad + Array(#"",\#(version100)}"#.utf8)
            guard case .failure(.malformed(.invalidString)) = parseHeartbeat(bytes) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }

    @Test func datagramsOver2KiBAreRefusedEvenWhenValid() {
        let padding = String(repeating: " ", count: 2100)
        let text = #"{"process_name":"ocr","pid":44,\#(version100)}"# + padding
        guard case .failure(.tooLarge) = parseHeartbeat(text) else { Issue.record("accepted"); return }
        let big = [UInt8](repeating: UInt8(ascii: "{"), count: 65536)
        guard case .failure(.tooLarge) = parseHeartbeat(big) else { Issue.record("accepted 64 KiB"); return }
    }

    @Test func whatTheCLISendsIsWhatTheAgentReads() throws {
        let text = HeartbeatDatagram.text(name: "meter", pid: 1234, runCommand: "sh \"run me\"", version: Version(major: 2, minor: 0, patch: 7))
        let beat = try parseHeartbeat(text).get()
        #expect(beat.name == "meter" && beat.pid == 1234 && beat.command == "sh \"run me\"")
        #expect(beat.version.description == "2.0.7")
    }

    @Test func unknownFieldsAreSkippedAndCountedAtBothLevels() throws {
        let text = #"{"process_name":"ocr","hostname":"pi-7","pid":44,"tags":{"a":[1,{"b":null}]},"version":{"major":1,"minor":0,"patch":0,"build":"x1"}}"#
        let beat = Array(text.utf8).withUnsafeBytes { try? HeartbeatParser.parse($0) }
        #expect(beat?.unknownFields == 3)
        #expect(beat?.pid == 44)
        let plain = Array(#"{"process_name":"ocr","pid":44,\#(version100)}"#.utf8).withUnsafeBytes { try? HeartbeatParser.parse($0) }
        #expect(plain?.unknownFields == 0)
    }

    @Test func moreUnknownFieldsThanTheCapAreRefused() {
        let extra = (0...HeartbeatParser.maximumUnknownFields).map { "\"x\($0)\":\($0)," }.joined()
        guard case .failure(.tooManyUnknownFields) = parseHeartbeat(#"{"process_name":"ocr",\#(extra)"pid":44,\#(version100)}"#) else {
            Issue.record("accepted")
            return
        }
    }

    /// The seed's own sample (a comma missing after run_command), verbatim.
    static let seedSample = "{\n\t\"process_name\": \"name_of_the_process\",\n\t\"pid\":444,\n\t\"run_command\": \"python3.5 /home/pi/technospurs/bin/SmartMeter/ocr...py\"\n\t\"version\": {\n\t\t\"major\":1,\n\t\t\"minor\":0,\n\t\t\"patch\":0\n\t}\n}"

    @Test func theSeedsSampleIsRefusedAtTheMissingCommaAfterRunCommandWithItsClaimedPid() {
        Array(HeartbeatParserTests.seedSample.utf8).withUnsafeBytes { raw in
            do throws(HeartbeatRejection) {
                _ = try HeartbeatParser.parse(raw)
                Issue.record("accepted")
            } catch {
                #expect(error.claimedPID == 444)
                #expect(error.describe(raw) == #"not valid JSON at 5:2: expected "," or "}" after field "run_command", found '"'"#)
            }
        }
    }

    @Test func refusalsNameTheFieldAndItsLineAndColumn() {
        let text = "{\"process_name\": \"ocr\",\n \"pid\": \"44\", \(version100)}"
        Array(text.utf8).withUnsafeBytes { raw in
            do throws(HeartbeatRejection) {
                _ = try HeartbeatParser.parse(raw)
                Issue.record("accepted")
            } catch {
                #expect(error.describe(raw) == #"field of the wrong type at 2:9 (field "pid")"#)
            }
        }
    }
}
