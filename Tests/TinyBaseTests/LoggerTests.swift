import Testing
@testable import TinyBase

/// Logging/Logger.swift: timestamps and the rate limit of repeated lines.
@Suite struct LoggerTests {
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
}
