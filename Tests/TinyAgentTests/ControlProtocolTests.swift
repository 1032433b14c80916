import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// The control socket's request and answer lines, as both ends read and write them.
@Suite struct ControlProtocolTests {
    func parse(_ text: String) throws(BadRequest) -> ControlRequest {
        try ControlRequest.parse(Array(text.utf8))
    }

    func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch { return error.reason }
    }

    @Test func everyRequestReadsBackAsItWasWritten() throws {
        for request: ControlRequest in [.status, .reload, .restart("meter_reader")] {
            var line = Array(request.line.utf8)
            #expect(line.removeLast() == 0x0A, "one line")
            #expect(!line.contains(0x0A))
            #expect(try ControlRequest.parse(line) == request)
        }
    }

    @Test func anUnknownVerbIsNamedInTheRefusal() {
        #expect(refusal(#"{"verb":"format_disk"}"#) == "unknown verb \"format_disk\"")
    }

    @Test func aRequestOfTheWrongShapeIsRefusedWithOneLineSayingWhy() {
        #expect(refusal("status")?.hasPrefix("request is not JSON") == true)
        #expect(refusal(#"["status"]"#) == "request is not a JSON object")
        #expect(refusal(#"{"name":"x"}"#) == "request has no \"verb\" string")
        #expect(refusal(#"{"verb":7}"#) == "request has no \"verb\" string")
        #expect(refusal(#"{"verb":"restart"}"#) == "restart needs a \"name\" string")
        #expect(refusal(#"{"verb":"status","name":"x"}"#) == "status: unknown key \"name\"")
        #expect(refusal(#"{"verb":"restart","name":"x","force":true}"#) == "restart: unknown key \"force\"")
        for line in [refusal("status"), refusal(#"{"verb":"restart"}"#)] { #expect(line?.contains("\n") == false) }
    }

    @Test func aNameTheAgentWouldNeverGiveAProcessIsRefused() {
        for name in ["../cfg/key", "..", "a/b", "", String(repeating: "n", count: 65)] {
            #expect(refusal(#"{"verb":"restart","name":"\#(name)"}"#)?.hasPrefix("restart: not a process name") == true, "\(name)")
        }
    }

    @Test func readingIsForTheAppGroupAndChangingIsRootsOnly() {
        #expect(ControlRequest.status.access == .read)
        #expect(ControlRequest.reload.access == .change)
        #expect(ControlRequest.restart("x").access == .change)
    }

    @Test func everyAnswerIsOneLineThatReadsBackAsItWasWritten() {
        let answers: [ControlAnswer] = [
            .progress("downloading: 10%"), .ok("meter_reader: restarting"), .ok("status", data: #"{"pid":7,"processes":[]}"#),
            .failed(.permission, "permission denied: reload is root's only"), .failed(.data, "no process named \"x\""),
        ]
        for answer in answers {
            var line = Array(answer.line.utf8)
            #expect(line.removeLast() == 0x0A)
            #expect(!line.contains(0x0A))
            #expect(ControlAnswer.parse(line) == answer)
        }
    }

    @Test func onlyProgressLinesAreFollowedByMore() {
        #expect(!ControlAnswer.progress("x").isFinal)
        #expect(ControlAnswer.ok("x").isFinal && ControlAnswer.failed(.usage, "x").isFinal)
    }

    @Test func eachFailureCodeIsTheCLIsExitStatus() {
        #expect(ControlAnswer.Failure.usage.exitStatus == 64)
        #expect(ControlAnswer.Failure.data.exitStatus == 65)
        #expect(ControlAnswer.Failure.unavailable.exitStatus == 69)
        #expect(ControlAnswer.Failure.system.exitStatus == 71)
        #expect(ControlAnswer.Failure.permission.exitStatus == 77)
    }

    @Test func aLineThatIsNoAnswerIsNotTakenForOne() {
        #expect(ControlAnswer.parse(Array(#"{"pid":7}"#.utf8)) == nil)
        #expect(ControlAnswer.parse(Array("ok".utf8)) == nil)
    }
}
