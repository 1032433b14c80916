import Testing
@testable import TinyLink
@testable import TinyBase

@Suite struct FailureLogTests {
    let t0 = Instant(nanoseconds: 1_000_000_000_000)

    @Test func aCauseThatRepeatsIsLoggedOnceAndSummarisedWhenTheLinkIsBack() {
        var log = FailureLog()
        var lines: [String] = []
        for i in 0..<30 { lines += log.failed("connection refused by 10.0.0.5:5222", retryIn: .seconds(4), now: t0 + .seconds(Int64(i) * 10)) }
        #expect(lines == ["offline: connection refused by 10.0.0.5:5222; next attempt in 4.0 s"])
        #expect(log.succeeded(now: t0 + .seconds(300)) == "online after 30 failures in 5 min 0 s: connection refused by 10.0.0.5:5222 ×30")
    }

    @Test func twoEndpointsTakingTurnsGiveTwoLinesNotOneEachAttempt() {
        var log = FailureLog()
        var lines: [String] = []
        for i in 0..<20 {
            let cause = i % 2 == 0 ? "connection refused by a:5222" : "timed out connecting to b:5222"
            lines += log.failed(cause, retryIn: .milliseconds(850), now: t0 + .seconds(Int64(i)))
        }
        #expect(lines == ["offline: connection refused by a:5222; next attempt in 850 ms",
                          "offline: timed out connecting to b:5222; next attempt in 850 ms"])
        #expect(log.succeeded(now: t0 + .seconds(20))
            == "online after 20 failures in 20.0 s: connection refused by a:5222 ×10, timed out connecting to b:5222 ×10")
    }

    @Test func aSingleFailureNeedsNoSummaryAndTheNextStreakStartsAfresh() {
        var log = FailureLog()
        #expect(log.failed("stream error: system-shutdown", retryIn: .seconds(30), now: t0).count == 1)
        #expect(log.succeeded(now: t0 + .seconds(31)) == nil)
        #expect(log.failed("stream error: system-shutdown", retryIn: .seconds(30), now: t0 + .seconds(100))
            == ["offline: stream error: system-shutdown; next attempt in 30.0 s"])
    }

    @Test func aFailureThatLastsIsSummarisedAgainEveryHour() {
        var log = FailureLog()
        var lines: [String] = []
        for i in 0...24 { lines += log.failed("DNS: cannot resolve xmpp.example.com: Name or service not known", retryIn: .seconds(300), now: t0 + .seconds(Int64(i) * 300)) }
        #expect(lines.count == 3, "\(lines)")
        #expect(lines[1] == "still offline after 13 failures in 1 h 0 min: DNS: cannot resolve xmpp.example.com: Name or service not known ×13")
    }

    @Test func spansReadNaturally() {
        #expect(FailureLog.span(.milliseconds(850)) == "850 ms")
        #expect(FailureLog.span(.milliseconds(41_250)) == "41.2 s")
        #expect(FailureLog.span(.seconds(425)) == "7 min 5 s")
        #expect(FailureLog.span(.seconds(7380)) == "2 h 3 min")
    }
}

@Suite struct LinkFailureTests {
    func failure(_ clues: AttemptClues, error: Int32 = 0, stream: (String, String)? = nil, secured: Bool = false,
                 online: Bool = false) -> LinkFailure {
        clues.failure(error: error, streamError: stream.map { (condition: $0.0, text: $0.1) }, secured: secured,
                      wasOnline: online, jid: "Device@Localhost/agent", endpoint: "127.0.0.1:5222")
    }

    @Test func aRefusedConnectionIsNamedFromLibstrophesDebugLine() {
        var clues = AttemptClues()
        clues.debug("connection failed, error 111")
        #expect(failure(clues).description == "connection refused by 127.0.0.1:5222")
        clues = AttemptClues()
        clues.debug("connection failed, error 113")
        #expect(failure(clues).description == "cannot connect to 127.0.0.1:5222: No route to host")
    }

    @Test func aRejectedPasswordIsAnAuthenticationFailureForTheBareJID() {
        var clues = AttemptClues()
        clues.debug("SASL SCRAM-SHA-1 auth failed")
        clues.problem(area: "auth", text: "auth: Cannot authenticate with known methods")
        #expect(failure(clues).description == "authentication failed for device@localhost")
    }

    @Test func theCertificateReasonBeatsTheTLSErrorLines() {
        var clues = AttemptClues()
        clues.problem(area: "tls", text: "tls: error:0A000086:SSL routines::certificate verify failed")
        #expect(failure(clues, error: 1).description == "TLS: tls: error:0A000086:SSL routines::certificate verify failed")
        clues.certificate = "server certificate not trusted (CA file ca.pem): unable to get local issuer certificate"
        #expect(failure(clues, error: 1).description
            == "TLS: server certificate not trusted (CA file ca.pem): unable to get local issuer certificate")
    }

    @Test func streamErrorsNameTheirConditionAndShutdownsCountAsDeliberate() {
        let shutdown = failure(AttemptClues(), stream: (LinkFailure.condition(18), ""), online: true)
        #expect(shutdown.description == "stream error: system-shutdown" && shutdown.serverClosedOnPurpose)
        let other = failure(AttemptClues(), stream: (LinkFailure.condition(17), "node2.example.com"))
        #expect(other.description == "stream error: see-other-host (node2.example.com)" && other.serverClosedOnPurpose)
        #expect(!failure(AttemptClues(), stream: (LinkFailure.condition(12), "")).serverClosedOnPurpose)
        #expect(LinkFailure.condition(12) == "not-authorized" && LinkFailure.condition(99) == "condition 99")
    }

    @Test func aSessionThatEndsWithoutAnErrorWasClosedByTheServer() {
        #expect(failure(AttemptClues(), online: true) == .closedByServer)
        #expect(failure(AttemptClues(), error: 104, online: true).description == "connection lost: Connection reset by peer")
        #expect(failure(AttemptClues(), error: 5, secured: true, online: true).description
            == "connection lost: closed or reset under TLS")
        #expect(failure(AttemptClues(), error: 110).description == "timed out connecting to 127.0.0.1:5222")
    }

    @Test func aConnectionEndedBeforeTheServersStreamHeaderSuggestsADirectTLSPort() {
        let reset = failure(AttemptClues(), error: 104)
        #expect(reset.description == "127.0.0.1:5222 ended the connection (Connection reset by peer) before the XMPP stream began: "
            + "a direct-TLS port (like 5223)? The agent starts TLS inside the stream (STARTTLS, usually port 5222)")
        #expect(failure(AttemptClues()).description.hasPrefix("127.0.0.1:5222 closed the connection before the XMPP stream began"))
        // Once the header came, it is not that.
        var started = AttemptClues()
        started.streamStarted = true
        #expect(failure(started, error: 104) == .lost(Errno(rawValue: 104)))
        #expect(failure(started).description == "127.0.0.1:5222 closed the connection while logging in")
    }

    @Test func onlyTheServersStreamHeaderLineCountsAsTheStreamStarting() {
        func header(_ line: String) -> Bool { line.withCString { AttemptClues.isStreamHeader($0) } }
        #expect(header("RECV: <stream:stream from=\"localhost\" id=\"x\" xmlns=\"jabber:client\">"))
        #expect(!header("RECV: <stream:features>"))
        #expect(!header("RECV: <message/>"))
        #expect(!header("RECV: "))
    }
}
