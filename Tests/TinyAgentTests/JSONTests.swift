import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase
@testable import TinyFetch
@testable import TinyLink

@Suite struct JSONTests {
    @Test func documentsParseIntoValues() throws {
        let value = try JSONValue.parse(#"{"a": [1, -2, 3.5, true, false, null], "b": {"c": "d\u00e9\n"}}"#)
        #expect(value["a"] == .array([.integer(1), .integer(-2), .number("3.5"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"]?.stringValue == "dé\n")
    }

    @Test func writerOutputParsesBackToTheSameValue() throws {
        let original = JSONValue.object([
            ("quote\"and\\slash", .string("line\nbreak\ttab \u{1} é 😀")),
            ("n", .integer(Int64.min)), ("list", .array([.null, .bool(true), .object([])])),
        ])
        var w = JSONWriter()
        w.value(original)
        #expect(try JSONValue.parse(w.text) == original)
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#).stringValue == "😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "01", "1.", "-", "1e", "tru", #"{"a":1}{"#,
        #""\x""#, #""\u12""#, #"{"a":1,"a":2}"#, #""\ud800""#,
    ])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.tooDeep) { try JSONValue.parse(deep) }
    }

    @Test func integersBeyondInt64AreKeptAsText() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONValue.parse("9223372036854775808") == .number("9223372036854775808"))
        #expect(try JSONValue.parse("-9223372036854775808") == .integer(Int64.min))
    }
}

@Suite struct SettingsTests {
    func read(_ text: String) -> SettingsReading { AgentSettings.parse(Array(text.utf8)) }

    @Test func everyKeyHasADefault() {
        let r = read("{}")
        #expect(r.settings == AgentSettings())
        #expect(r.warnings.isEmpty && r.errors.isEmpty)
        #expect(r.settings.heartbeatPort == 4951 && r.settings.policy.heartbeatTimeout == .seconds(30))
    }

    @Test func knownKeysAreApplied() {
        let text = #"{"heartbeat_port": 5000, "heartbeat_timeout_ms": 1500, "restart_limit": 2, "allowlist": ["python3 a.py"], "process_timeouts_ms": {"ocr": 90000}, "run_as": "pi"}"#
        let r = read(text)
        let s = r.settings
        #expect(r.warnings.isEmpty && r.errors.isEmpty)
        #expect(s.heartbeatPort == 5000 && s.policy.restartLimit == 2 && s.allowlist == ["python3 a.py"] && s.runAs == "pi")
        #expect(s.heartbeatTimeout(for: "ocr") == .seconds(90) && s.heartbeatTimeout(for: "other") == .milliseconds(1500))
    }

    @Test func unknownKeysAndBadValuesAreReportedWithTheirPlaceAndDefaultsKept() {
        let text = #"{"heartbeat_prot": 1, "heartbeat_port": 70000, "kill_grace_ms": "5", "allowlist": [1], "zzz": 2}"#
        let r = read(text)
        #expect(r.settings == AgentSettings())
        #expect(r.warnings.count == 5 && r.errors.isEmpty)
        #expect(r.warnings[0] == #"cfg/agent.json: unknown key "heartbeat_prot" at 1:2; did you mean "heartbeat_port"?"#)
        #expect(r.warnings[1].contains("\"heartbeat_port\" at 1:23") && r.warnings[1].contains("1...65535"))
        #expect(r.warnings[4] == #"cfg/agent.json: unknown key "zzz" at 1:88 ignored"#)
    }

    @Test func aTrailingCommaAndAMissingCommaAreReadPastKeepingEverySetting() {
        let text = "{\n  \"heartbeat_port\": 5000\n  \"restart_limit\": 2,\n}\n"
        let r = read(text)
        #expect(r.settings.heartbeatPort == 5000 && r.settings.policy.restartLimit == 2)
        #expect(r.errors == [#"cfg/agent.json: a "," is missing at 3:3 after "heartbeat_port" (read as if it were there)"#])
        #expect(r.warnings == [#"cfg/agent.json: a "," before the closing "}" at 4:1 (ignored)"#])
    }

    @Test func aBreakKeepsTheSettingsBeforeItAndSaysWhere() {
        let r = read("{\"heartbeat_port\": 5000,\n \"restart_limit\": 2x,\n \"log_keep\": 5}")
        #expect(r.settings.heartbeatPort == 5000 && r.settings.policy.restartLimit == 5 && r.settings.logKeep == 3)
        #expect(r.errors == [#"cfg/agent.json: not valid JSON at 2:20 in "restart_limit": expected "," or "}", found 'x'; keeping the 1 setting before it, defaults for the rest"#])
    }

    @Test func aFileThatIsNotAnObjectIsAnErrorAndDefaultsAreUsed() {
        let r = read("heartbeat_port=1")
        #expect(r.settings == AgentSettings())
        #expect(r.errors == ["cfg/agent.json: not a JSON object (at 1:1); using defaults"])
    }

    @Test func closeMisspellingsAreSuggestedAndFarOnesAreNot() {
        #expect(closestMatch(to: "heartbeat_timout_ms", among: AgentSettings.keys) == "heartbeat_timeout_ms")
        #expect(closestMatch(to: "kill_garce_ms", among: AgentSettings.keys) == "kill_grace_ms")
        #expect(closestMatch(to: "colour", among: AgentSettings.keys) == nil)
        #expect(closestMatch(to: "ab", among: ["ac"]) == nil)
    }
}

@Suite struct SmallPartsTests {
    @Test func versionsParseOnlyAsThreeNumbers() {
        #expect(Version("1.2.3") == Version(major: 1, minor: 2, patch: 3))
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3", "70000.0.0", "1.2.-3", " 1.2.3"] { #expect(Version(bad) == nil, "\(bad)") }
    }

    @Test func timestampsAreUTC() {
        #expect(Logger.timestamp(0) == "1970-01-01T00:00:00Z")
        #expect(Logger.timestamp(1_795_919_241) == "2026-11-29T02:27:21Z")
        #expect(Logger.timestamp(951_782_400) == "2000-02-29T00:00:00Z")
    }

    @Test func rateLimitedLogsCountWhatTheyLeaveOut() {
        var log = RateLimitedLog(interval: .seconds(10))
        let t0 = Instant(nanoseconds: 1_000_000_000)
        let answers = [t0, t0 + .seconds(1), t0 + .seconds(9), t0 + .seconds(10)].map { log.shouldLog(now: $0) }
        #expect(answers == [true, false, false, true])
        let first = log.takeSuppressed(), second = log.takeSuppressed()
        #expect(first == 2 && second == 0)
    }

    @Test func theRegistryRoundTrips() throws {
        var p = SupervisedProcess(name: "ocr", pid: 4321, uid: 1000, gid: 1000, runCommand: "python3 \"ocr.py\"",
                                  verified: true, version: Version(major: 1, minor: 0, patch: 2), state: .failed)
        p.startTime = 987_654
        p.restarts = 3
        p.failure = "restarted 5 times within 300 s"
        p.lastHeartbeatWall = 1_790_000_000
        p.knownSince = 1_789_000_000
        p.lastStartWall = 1_789_500_000
        p.lastStartReason = "no heartbeat for 1500 ms"
        let q = SupervisedProcess(name: "other", pid: 99, uid: 0, gid: 0, runCommand: nil, verified: false,
                                  version: Version(major: 0, minor: 0, patch: 0), state: .running)
        // Listed, but its start failed: no pid, and not a damaged registry.
        var never = SupervisedProcess(name: "linked", pid: 0, uid: 1000, gid: 1000, runCommand: "x", verified: false,
                                      version: Version(major: 0, minor: 0, patch: 0), state: .failed)
        never.ended = true
        let text = Registry.encode([p, q, never], bootID: "boot-1")
        let (decoded, bootID) = try Registry.format.decode(Array(text.utf8), Registry.decode)
        #expect(bootID == "boot-1")
        #expect(decoded == [p, q, never])
    }

    @Test func aDamagedRegistryIsRefusedNotGuessed() {
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":1,\"boot_id\":\"x\",\"processes\":[{\"name\":\"a\"}]}".utf8), Registry.decode) }
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":1,\"boot_id\":\"x\",\"proc".utf8), Registry.decode) }
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":2,\"boot_id\":\"x\",\"processes\":[]}".utf8), Registry.decode) }
    }

    @Test func statusSummariesCountStates() {
        func process(_ state: ProcessState) -> SupervisedProcess {
            SupervisedProcess(name: "p", pid: 2, uid: 0, gid: 0, runCommand: nil, verified: true, version: Version(major: 1, minor: 0, patch: 0), state: state)
        }
        #expect(StatusReport.summary([process(.running), process(.running), process(.failed), process(.waiting)]) == "processes 2/4 up, 1 failed, 1 restarting")
        #expect(StatusReport.summary([]) == "processes 0/0 up")
        #expect(StatusReport.summary([process(.running), process(.finished)]) == "processes 1/2 up, 1 finished")
        #expect(StatusReport.summary([process(.running), process(.stopped)]) == "processes 1/2 up, 1 stopped", "not restarting")
    }

    @Test func theStatusTableSaysSinceWhenWhyAndShowsNoPidForAnEndedProcess() throws {
        var ended = SupervisedProcess(name: "ocr", pid: 4321, uid: 0, gid: 0, runCommand: "x", verified: false,
                                      version: Version(major: 1, minor: 0, patch: 0), state: .failed)
        ended.ended = true
        ended.restarts = 5
        ended.lastStartWall = 1_790_000_000 - 30
        ended.lastStartReason = "exited with status 3"
        let report = StatusReport(pid: 1, uptimeSeconds: 60, heartbeatPort: 4951, heartbeatsAccepted: 7, heartbeatsDropped: 2,
                                  processes: [ended], wallClock: 1_790_000_000, xmpp: "online", xmppSince: 1_790_000_000 - 120,
                                  freeBytes: nil, update: "no update in progress")
        let json = try JSONValue.parse(report.json())
        let row = try #require(json["processes"]?.arrayValue?.first)
        #expect(row["pid"] == .null, "no stale pid")
        #expect(row["last_start_reason"]?.stringValue == "exited with status 3")
        let text = StatusClient.table(json)
        #expect(text.contains("xmpp online since 2026-09-21T14:11:20Z (120 s)"))
        #expect(text.contains("heartbeats: 7 accepted, 2 dropped"))
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ocr") })
        #expect(line.contains(" - ") && !line.contains("4321"))
        #expect(line.hasSuffix("30 s ago: exited with status 3"))
    }
}
