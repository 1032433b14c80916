import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// The status report (Control/) and its table in the CLI (Client/StatusClient.swift).
@Suite struct StatusTests {
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
