import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// Inputs the fuzz targets (Fuzz/, `make fuzz`) found, kept as tests.
@Suite struct FuzzRegressionTests {
    /// fuzz-settings-manifest: JSON escapes put a newline and a BEL into keys, and the
    /// warnings logged them as they were, splitting one warning over two log lines.
    @Test func settingsWarningsShowEscapedKeysOnOneLine() {
        let text = #"{"unknown\nkey": 1, "process_timeouts_ms": {"a\u0007": 1}}"#
        let warnings = AgentSettings.parse(Array(text.utf8)).warnings
        #expect(warnings == [
            #"cfg/agent.json: unknown key "unknown\x0akey" at 1:2 ignored"#,
            #"cfg/agent.json: "process_timeouts_ms" at 1:21 "a\x07": must be an integer in range 100...3600000; default kept"#,
        ])
    }
}
