import TinyBase

/// What the log says about failed connection attempts: one line per distinct
/// cause, not one per attempt. A device that cannot reach its servers for a
/// day retries hundreds of times; the operator needs each cause, how often
/// it repeated and for how long — not hundreds of identical lines, nor two
/// alternating ones when the endpoints take turns.
///
/// Lines, as the link reports them (the agent prefixes `xmpp: `):
/// - `offline: connection refused by 10.0.0.5:5222; next attempt in 41.2 s`
///   — a cause not seen since the link was last online;
/// - `still offline after 27 failures in 2 h 3 min: connection refused by
///   10.0.0.5:5222 ×20, timed out connecting to 10.0.0.6:5222 ×7` — at most
///   once an hour while it lasts;
/// - `online after 27 failures in 2 h 3 min: …` — the same summary,
///   when the link logs in again (only when something repeated).
package struct FailureLog {
    /// How often a failure that keeps going is summarised again.
    static let reminderInterval = Duration.seconds(3600)
    /// Causes kept apart in one streak; later new ones count as the last.
    static let maximumCauses = 8

    private var causes: [(text: String, count: Int)] = []
    private var attempts = 0
    private var since = Instant(nanoseconds: 0)
    private var lastLine = Instant(nanoseconds: 0)

    /// An attempt failed with `cause`; returns the lines to log.
    package mutating func failed(_ cause: String, retryIn delay: Duration, now: Instant) -> [String] {
        if attempts == 0 { since = now }
        attempts += 1
        if let i = causes.firstIndex(where: { $0.text == cause }) {
            causes[i].count += 1
        } else if causes.count < FailureLog.maximumCauses {
            causes.append((cause, 1))
            lastLine = now
            return ["offline: \(cause); next attempt in \(FailureLog.span(delay))"]
        } else {
            causes[causes.count - 1].count += 1
        }
        guard now - lastLine >= FailureLog.reminderInterval else { return [] }
        lastLine = now
        return ["still offline after \(summary(now: now))"]
    }

    /// Logged in: the summary of the streak when anything repeated, else nil.
    package mutating func succeeded(now: Instant) -> String? {
        defer { causes = []; attempts = 0 }
        guard attempts > causes.count else { return nil }
        return "online after \(summary(now: now))"
    }

    private func summary(now: Instant) -> String {
        let parts = causes.map { "\($0.text) ×\($0.count)" }
        var joined = ""
        for part in parts { joined += joined.isEmpty ? part : ", \(part)" }
        return "\(attempts) failures in \(FailureLog.span(now - since)): \(joined)"
    }

    /// `850 ms`, `41.2 s`, `7 min 5 s`, `2 h 3 min`.
    package static func span(_ d: Duration) -> String {
        let ms = max(d.milliseconds, 0)
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return "\(ms / 1000).\(ms % 1000 / 100) s" }
        let s = ms / 1000
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
