import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase
@testable import TinyLink
import TestSupport

extension SplitMix64 {
    /// A draw in 0..<1 (the tests below are seeded: same figures every run).
    mutating func unit() -> Double { Double.random(in: 0..<1, using: &self) }
}

/// Per-second counts of logins after a fleet of `devices` lost its server at
/// t = 0 and the server came back at `outage` seconds: each device retries
/// after its back-off, and an attempt before the server is back fails.
private func reconnectHistogram(devices: Int, outage: Double, spread: Duration, seed: UInt64) -> [Int] {
    var random = SplitMix64(state: seed)
    var bins = [Int](repeating: 0, count: 600)
    for _ in 0..<devices {
        var backoff = ReconnectBackoff(spread: spread)
        backoff.sessionLost(now: at(0))
        var t = 0.0
        repeat { t += Double(backoff.next(random: random.unit(), now: at(t)).milliseconds) / 1000 } while t < outage
        bins[min(Int(t), bins.count - 1)] += 1
    }
    return bins
}

/// `seconds` after an arbitrary origin of the monotonic clock.
private func at(_ seconds: Double) -> Instant { Instant(nanoseconds: 1_000_000_000_000 + Int64(seconds * 1e9)) }

/// The largest one-second count in the spread window once the server is
/// back, and twice the mean over those seconds.
private func spike(_ bins: [Int], from start: Int, window: Int) -> (largest: Int, twiceMean: Double) {
    let inWindow = bins[start..<window]
    return (inWindow.max() ?? 0, 2 * Double(inWindow.reduce(0, +)) / Double(window - start))
}

@Suite struct ReconnectBackoffTests {
    @Test func theFirstRetryAfterALostSessionIsUniformOverTheWholeWindow() {
        var random = SplitMix64(state: 7)
        var bins = [Int](repeating: 0, count: 12)
        for _ in 0..<12_000 {
            var b = ReconnectBackoff(spread: .seconds(60))
            b.sessionLost(now: at(0))
            let ms = b.next(random: random.unit(), now: at(0)).milliseconds
            #expect(ms >= 0 && ms < 60_000)
            bins[Int(ms / 5000)] += 1
        }
        // 1000 expected per 5-second bin; 15 % is about 5 standard deviations.
        for (i, n) in bins.enumerated() { #expect(abs(n - 1000) < 150, "bin \(i * 5)-\(i * 5 + 5) s: \(n)") }
    }

    @Test func failuresBeforeAnySessionDrawFromZeroToADoublingCeilingCappedAtFiveMinutes() {
        var random = SplitMix64(state: 11)
        let ceilings: [Int64] = [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]
        var sums = [Int64](repeating: 0, count: ceilings.count)
        var lowerHalf = [Int](repeating: 0, count: ceilings.count)
        let runs = 4000
        for _ in 0..<runs {
            var b = ReconnectBackoff()
            for k in ceilings.indices {
                let ms = b.next(random: random.unit(), now: at(Double(k))).milliseconds
                #expect(ms >= 0 && ms < ceilings[k])
                sums[k] += ms
                if ms < ceilings[k] / 2 { lowerHalf[k] += 1 }
            }
        }
        for k in ceilings.indices {
            let mean = Double(sums[k]) / Double(runs)
            #expect(abs(mean / Double(ceilings[k]) - 0.5) < 0.03, "attempt \(k): mean \(mean) ms")
            #expect(abs(Double(lowerHalf[k]) / Double(runs) - 0.5) < 0.04, "attempt \(k): the lower half is used too")
        }
    }

    @Test func retriesThatFailInsideTheWindowDrawFromItAgainAndDoubleOnlyAfterIt() {
        var b = ReconnectBackoff(spread: .seconds(60))
        b.sessionLost(now: at(0))
        #expect(b.next(random: 0.5, now: at(0)) == .seconds(30))
        #expect(b.next(random: 0.25, now: at(30)) == .seconds(15), "a retry at 45 s is inside the window")
        #expect(b.next(random: 0.5, now: at(45)) == .seconds(30), "the next lands after the window: doubling resumes")
        let after = (0..<4).map { k in b.next(random: 1, now: at(100 + Double(k))).milliseconds }
        #expect(after == [120_000, 240_000, 300_000, 300_000])
        b.reset()
        #expect(b.next(random: 1, now: at(500)) == .seconds(1), "a login starts over from 1 s")
    }

    @Test func aShortOutageIsOverForEveryDeviceByItsEndPlusTheWindow() {
        // Before: the ceiling doubled at each failure, and a device unlucky
        // enough to retry twice during a 5 s outage came back minutes later.
        let bins = reconnectHistogram(devices: 10_000, outage: 5, spread: .seconds(20), seed: 3)
        let last = bins.lastIndex(where: { $0 > 0 }) ?? 0
        #expect(last < 25, "the last device back at \(last) s")
    }

    @Test func aFleetOfTenThousandBackAfterAFiveSecondOutageHasNoSecondAboveTwiceTheMean() {
        for seed in UInt64(1)...5 {
            let bins = reconnectHistogram(devices: 10_000, outage: 5, spread: .seconds(60), seed: seed)
            #expect(bins[0..<5].allSatisfy { $0 == 0 }, "nobody logs in while the server is down")
            let (largest, twiceMean) = spike(bins, from: 5, window: 60)
            #expect(Double(largest) <= twiceMean, "seed \(seed): \(largest) in one second, 2 × mean \(twiceMean)")
            #expect(bins.reduce(0, +) == 10_000)
        }
    }

    @Test func twoHundredDevicesWithAWindowSizedForThemHaveNoSpikeEither() {
        // 200 devices over 55 s is 3.6 a second: counting noise alone puts
        // some second above twice that. A 20 s window (about 10 a second
        // once the server is back) is the one the fleet benchmark uses at
        // N = 200.
        var worst = 0.0
        for seed in UInt64(1)...20 {
            let bins = reconnectHistogram(devices: 200, outage: 5, spread: .seconds(20), seed: seed)
            let (largest, twiceMean) = spike(bins, from: 5, window: 20)
            worst = max(worst, Double(largest) / twiceMean)
        }
        #expect(worst <= 1.0, "largest second / (2 × mean) over 20 seeds: \(worst)")
    }

    @Test func aSpreadOfZeroRetriesAtOnce() {
        var b = ReconnectBackoff(spread: .milliseconds(0))
        b.sessionLost(now: at(0))
        #expect(b.next(random: 0.99, now: at(0)).milliseconds < 1000, "the ceiling never drops below 1 s")
    }
}

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

@Suite struct ServerListTests {
    func parse(_ servers: String) throws(ConfigError) -> DeviceConfig {
        try DeviceConfig.parse(Array(("{\"xmpp_client\": {\"client_jid\": \"d@example.com\", \"client_password\": \"p\", "
            + "\"cpanel_jid\": \"panel@example.com\", \"rpi_unique_id\": \"x\", " + servers + "}}").utf8))
    }

    @Test func serversListHostsAndPortsIncludingBracketedIPv6() throws {
        let c = try parse(#""servers": ["xmpp1.example.com:5222", "10.0.0.6", "[2001:db8::5]:5223"]"#)
        #expect(c.endpoints == [ServerEndpoint(host: "xmpp1.example.com", port: 5222), ServerEndpoint(host: "10.0.0.6", port: 0),
                                ServerEndpoint(host: "2001:db8::5", port: 5223)])
        #expect(c.endpoints.map(\.description) == ["xmpp1.example.com:5222", "10.0.0.6", "[2001:db8::5]:5223"])
    }

    @Test func hostAndPortAreAListOfOneAndNoHostMeansSRV() throws {
        #expect(try parse(#""host": "127.0.0.1", "port": 5299"#).endpoints == [ServerEndpoint(host: "127.0.0.1", port: 5299)])
        #expect(try parse(#""port": 5299"#).endpoints == [])
    }

    @Test func badServerListsAreRefusedWithTheirPosition() {
        let cases: [(String, ConfigError)] = [
            (#""servers": []"#, .badValue("xmpp_client.servers", why: "must list 1...16 servers")),
            (#""servers": "a:1""#, .wrongType("xmpp_client.servers", expected: "a list of strings HOST:PORT")),
            (#""servers": ["a:1", 5]"#, .wrongType("xmpp_client.servers[1]", expected: "a string HOST:PORT")),
            (#""servers": ["a:0"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["a:70000"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["a:"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["2001:db8::5"]"#, .badValue("xmpp_client.servers[0]", why: "an IPv6 address needs brackets: [ADDRESS]:PORT")),
            (#""servers": ["bad host:1"]"#, .badValue("xmpp_client.servers[0]", why: "contains a space or control character")),
            (#""servers": ["a:1"], "host": "b""#, .badValue("xmpp_client.servers", why: "give either servers or host and port, not both")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try parse(text) }
        }
    }

    @Test func theLinkPacketCarriesTheServersAndTheSpread() throws {
        let settings = LinkSettings(jid: "d@example.com", password: "p", servers: [ServerEndpoint(host: "a", port: 1),
                                    ServerEndpoint(host: "::1", port: 5222)], tlsRequired: true, caFile: "/ca.pem",
                                    panel: "panel@example.com", spread: .seconds(20))
        let back = try #require(LinkSettings(packet: try JSONValue.parse(Array(settings.packet().text.utf8))))
        #expect(back.servers == settings.servers && back.spread == .seconds(20))
    }
}
