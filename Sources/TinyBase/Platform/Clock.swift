import CShims

/// A point on the monotonic clock, in nanoseconds.
public struct Instant: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Instant, d: Duration) -> Instant { Instant(nanoseconds: a.nanoseconds + d.nanoseconds) }
    public static func - (a: Instant, b: Instant) -> Duration { Duration(nanoseconds: a.nanoseconds - b.nanoseconds) }
    public static func - (a: Instant, d: Duration) -> Instant { Instant(nanoseconds: a.nanoseconds - d.nanoseconds) }
}

/// A span of time, in nanoseconds.
public struct Duration: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func milliseconds(_ ms: Int64) -> Duration { Duration(nanoseconds: ms * 1_000_000) }
    public static func seconds(_ s: Int64) -> Duration { Duration(nanoseconds: s * 1_000_000_000) }
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
    public var seconds: Int64 { nanoseconds / 1_000_000_000 }
    public static func < (a: Duration, b: Duration) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Duration, b: Duration) -> Duration { Duration(nanoseconds: a.nanoseconds + b.nanoseconds) }
    public static func * (d: Duration, k: Int64) -> Duration { Duration(nanoseconds: d.nanoseconds &* k) }
}

/// The real clocks. Unit tests pass their own instants instead.
public enum Clock {
    public static func now() -> Instant { Instant(nanoseconds: ta_monotonic_ns()) }
    /// Seconds since the Unix epoch, for logs and status reports.
    public static func wallSeconds() -> Int64 { ta_realtime_ns() / 1_000_000_000 }
    /// Blocks: for helper processes, never the agent's event loop.
    package static func sleep(_ d: Duration) { ta_sleep_ms(Int32(clamping: d.milliseconds)) }
}
