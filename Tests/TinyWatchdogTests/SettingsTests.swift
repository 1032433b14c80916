import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// `cfg/agent.json` (Settings/AgentSettings.swift, SettingsReader.swift).
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
