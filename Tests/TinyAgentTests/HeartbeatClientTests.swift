import Testing
@testable import TinyAgent
@testable import TinyBase

/// `tinyagent heartbeat` (Client/HeartbeatClient.swift): the names it takes
/// and where it sends.
@Suite struct HeartbeatClientTests {
    @Test func theCLIAcceptsExactlyTheNamesTheParserAccepts() {
        for name in ["ocr", "a.b_c-D9", "...", String(repeating: "n", count: 64)] { #expect(HeartbeatClient.acceptsName(name), "\(name)") }
        for name in ["", ".", "..", "a/b", "ocr reader", "é", String(repeating: "n", count: 65)] { #expect(!HeartbeatClient.acceptsName(name), "\(name)") }
    }

    @Test func aNamedSocketComesFirstThenTheEnvironmentsAndUDPWhenAPortIsNamed() {
        #expect(HeartbeatClient.socketPath(named: "/run/a.sock", environment: "/run/b.sock", portNamed: true) == "/run/a.sock")
        #expect(HeartbeatClient.socketPath(named: nil, environment: "/run/b.sock", portNamed: true) == "/run/b.sock")
        #expect(HeartbeatClient.socketPath(named: nil, environment: "", portNamed: true) == nil, "an empty variable names no socket")
        #expect(HeartbeatClient.socketPath(named: nil, environment: nil, portNamed: true) == nil)
    }
}
