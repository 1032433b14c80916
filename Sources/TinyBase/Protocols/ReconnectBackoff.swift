/// Delays between connection attempts, shaped for a fleet rather than for
/// one device: "full jitter", each delay drawn uniformly from 0 up to a
/// ceiling that doubles from 1 s to the 5-minute cap.
///
/// Drawing from the whole window, not its upper half, is what keeps devices
/// that failed together from coming back together: with the upper half,
/// everyone whose window is open when the server returns arrives in the
/// same second.
///
/// When a session that was up is lost — the server shut down or restarted,
/// sent the device elsewhere, closed the stream, a cluster node or the
/// network went away for a moment — the whole fleet lost it in the same
/// instant, so the ceiling is `spread` (default 60 s) instead of 1 s: the
/// retries land evenly over the window, at `fleet / spread` logins per
/// second, instead of all within the first second. A retry that fails
/// inside the window (the outage was shorter than it) draws from the window
/// again rather than doubling, so a short outage is over for everyone by
/// its end plus the window; once past the window, the ceiling doubles.
package struct ReconnectBackoff {
    static let initial = Duration.seconds(1)
    static let maximum = Duration.seconds(300)
    static let defaultSpread = Duration.seconds(60)

    /// The window retries after a lost session are spread over.
    package let spread: Duration
    private var ceiling = ReconnectBackoff.initial
    /// The end of the spread window after a lost session.
    private var spreadEnds: Instant?

    package init(spread: Duration = ReconnectBackoff.defaultSpread) {
        self.spread = min(max(spread, Duration(nanoseconds: 0)), ReconnectBackoff.maximum)
    }

    /// The delay before the next attempt, with `random` in 0..<1 choosing
    /// within the window; `now` is when the attempt failed.
    package mutating func next(random: Double, now: Instant) -> Duration {
        let delay = Duration(nanoseconds: Int64(Double(ceiling.nanoseconds) * min(max(random, 0), 1)))
        if let ends = spreadEnds, now + delay < ends { return delay }
        spreadEnds = nil
        ceiling = min(ceiling * 2, ReconnectBackoff.maximum)
        return delay
    }

    /// A session that was up has been lost at `now`: retries are drawn from
    /// the whole window until it ends.
    package mutating func sessionLost(now: Instant) {
        ceiling = max(spread, ReconnectBackoff.initial)
        spreadEnds = now + spread
    }

    /// After a successful login the next failure starts over.
    package mutating func reset() {
        ceiling = ReconnectBackoff.initial
        spreadEnds = nil
    }
}
