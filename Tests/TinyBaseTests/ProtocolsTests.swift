import Testing
@testable import TinyBase

/// What the agent and its helper programs say to each other
/// (Sources/TinyBase/Protocols/): one type per protocol, used by both ends.
@Suite struct ProtocolsTests {
    func roundTrip(_ report: WorkerReport) throws -> WorkerReport {
        try WorkerReport(packet: try JSONValue.parse(report.packet().text))
    }

    func refusal(_ text: String) -> String? {
        do {
            _ = try WorkerReport(packet: try JSONValue.parse(text))
            return nil
        } catch let error as PacketError {
            return error.reason
        } catch {
            return "not JSON"
        }
    }

    @Test func everyWorkerReportReadsBackAsItWasWritten() throws {
        for report: WorkerReport in [.progress(.download, done: 5, total: 10), .progress(.unpack, done: 7, total: nil),
                                     .progress(.copy, done: 0, total: 0), .log("resuming, \"attempt\" 2"), .done,
                                     .failed(remark: "signature: no key verifies it")] {
            #expect(try roundTrip(report) == report)
        }
    }

    @Test func aWorkerPacketTheAgentDoesNotKnowIsRefusedWithItsReason() {
        #expect(refusal(#"{"event": "installed"}"#) == "unknown event \"installed\"")
        #expect(refusal(#"{"event": "done", "extra": 1}"#) == "unknown member \"extra\"")
        #expect(refusal(#"{"event": "progress", "phase": "format", "done": 1, "total": null}"#) == "unknown phase")
        #expect(refusal(#"{"event": "progress", "phase": "copy", "done": "1", "total": null}"#) == "no \"done\" integer")
        #expect(refusal(#"{"event": "failed"}"#) == "no \"remark\" string")
        #expect(refusal(#"["done"]"#) == "no \"event\" string")
    }

    @Test func theAgentsFirstPacketToEitherHelperCarriesTheProtocolVersion() throws {
        let job = UpdateJob(kind: .probe, settings: UpdateSettings())
        let link = LinkSettings(jid: "device@localhost", password: "secret", servers: [], tlsRequired: true,
                                caFile: "/root/certs/cacert.pem", panel: "panel@localhost")
        for packet in [job.packet(), link.packet()] {
            let value = try JSONValue.parse(packet.text)
            #expect(value[HelperRole.protocolKey]?.integerValue == Int64(HelperRole.protocolVersion))
        }
        #expect(UpdateJob(packet: try JSONValue.parse(job.packet().text)) == job)
    }

    @Test func aHelperExitOfAnotherInstallIsNamedAsSuch() {
        #expect(HelperRole.link.exitRemark(exitCode: ExitStatus.protocolMismatch, signal: 0)
            .hasPrefix("tinyagent-link speaks another protocol version than this agent"))
        #expect(HelperRole.fetch.exitRemark(exitCode: 3, signal: 0) == "tinyagent-fetch exited with status 3")
        #expect(HelperRole.fetch.exitRemark(exitCode: -1, signal: 9) == "tinyagent-fetch was killed by signal 9")
    }
}
