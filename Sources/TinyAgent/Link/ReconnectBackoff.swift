/// Delays between connection attempts: exponential from 1 s, capped at
/// 5 min, each one drawn from its upper half so a fleet of Pis that lost
/// the server together does not come back in step.
struct ReconnectBackoff {
    static let initial = Duration.seconds(1)
    static let maximum = Duration.seconds(300)
    private var ceiling = ReconnectBackoff.initial

    /// The next delay, with `random` in 0...1 choosing within the jitter.
    mutating func next(random: Double) -> Duration {
        let half = ceiling.nanoseconds / 2
        let delay = Duration(nanoseconds: half + Int64(Double(half) * min(max(random, 0), 1)))
        ceiling = min(ceiling * 2, ReconnectBackoff.maximum)
        return delay
    }

    /// After a successful login the next failure starts over.
    mutating func reset() { ceiling = ReconnectBackoff.initial }
}
