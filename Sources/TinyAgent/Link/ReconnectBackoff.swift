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
/// instant, so the ceiling starts at `spread` (default 60 s) instead of 1 s:
/// the first retries land evenly over the window, at `fleet / spread`
/// logins per second, instead of all within the first second.
struct ReconnectBackoff {
    static let initial = Duration.seconds(1)
    static let maximum = Duration.seconds(300)
    static let defaultSpread = Duration.seconds(60)

    /// The window the first retry after a lost session is spread over.
    let spread: Duration
    private var ceiling = ReconnectBackoff.initial

    init(spread: Duration = ReconnectBackoff.defaultSpread) {
        self.spread = min(max(spread, Duration(nanoseconds: 0)), ReconnectBackoff.maximum)
    }

    /// The next delay, with `random` in 0..<1 choosing within the window.
    mutating func next(random: Double) -> Duration {
        let delay = Duration(nanoseconds: Int64(Double(ceiling.nanoseconds) * min(max(random, 0), 1)))
        ceiling = min(ceiling * 2, ReconnectBackoff.maximum)
        return delay
    }

    /// A session that was up has been lost: the next delay is spread over
    /// the whole window (and later ones never drop below it).
    mutating func sessionLost() { ceiling = max(spread, ReconnectBackoff.initial) }

    /// After a successful login the next failure starts over.
    mutating func reset() { ceiling = ReconnectBackoff.initial }
}
