import TinyBase

/// Timing rules of the watchdog (DESIGN.md §4), from the settings file.
public struct RestartPolicy: Equatable, Sendable {
    /// How long after its last heartbeat (or its start) a process is silent.
    public var heartbeatTimeout = Duration.seconds(30)
    /// From SIGTERM to SIGKILL.
    public var killGrace = Duration.seconds(5)
    /// Back-off before the second consecutive restart; doubles each time.
    public var initialBackoff = Duration.seconds(1)
    public var maximumBackoff = Duration.seconds(60)
    /// At most this many restarts within `restartWindow`; then `failed`.
    public var restartLimit = 5
    public var restartWindow = Duration.seconds(300)
    /// Heartbeating this long after a start ends a run of failures.
    public var stableAfter = Duration.seconds(60)

    public init() {}

    /// Delay before restart number `consecutive` (0-based) of a run of
    /// failures: the first is immediate, then 1 s, 2 s, 4 s, … capped.
    public func backoff(consecutive: Int) -> Duration {
        guard consecutive > 0 else { return Duration(nanoseconds: 0) }
        var delay = initialBackoff
        var i = 1
        while i < consecutive && delay < maximumBackoff {
            delay = delay * 2
            i += 1
        }
        return min(delay, maximumBackoff)
    }
}
