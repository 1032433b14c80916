
/// Syslog priorities, as the journal reads them from a `<N>` prefix.
public enum LogLevel: Int32, Sendable {
    case error = 3, warning = 4, notice = 5, info = 6, debug = 7

    package var word: StaticString {
        switch self {
        case .error: return "error"
        case .warning: return "warning"
        case .notice: return "notice"
        case .info: return "info"
        case .debug: return "debug"
        }
    }
}

/// The agent's log: `logs/tinyagent.log` (size-capped, rotated) and stderr,
/// where lines carry `<N>` priority prefixes when stderr is the journal
/// (`JOURNAL_STREAM` set).
public final class Logger {
    private var file: RotatingLog?
    private let journal: Bool
    private let stderr = FileDescriptor(2)
    public var minimumLevel: LogLevel = .info

    public init(file: RotatingLog?, journal: Bool = environment("JOURNAL_STREAM") != nil) {
        self.file = file
        self.journal = journal
    }

    public func log(_ level: LogLevel, _ message: String) {
        guard level.rawValue <= minimumLevel.rawValue else { return }
        let stamp = Logger.timestamp(Clock.wallSeconds())
        if journal {
            try? stderr.writeAll("<\(level.rawValue)>\(message)\n")
        } else {
            try? stderr.writeAll("\(stamp) \(level.word) \(message)\n")
        }
        file?.append("\(stamp) \(level.word) \(message)\n")
    }

    public func error(_ message: String) { log(.error, message) }
    public func warning(_ message: String) { log(.warning, message) }
    public func notice(_ message: String) { log(.notice, message) }
    public func info(_ message: String) { log(.info, message) }

    /// ISO 8601 UTC, from Unix seconds (civil-from-days, no Foundation).
    package static func timestamp(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }

    private static func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// Logs a recurring condition at most once per interval, with a count of
/// what was left out — for input that an attacker or a broken process can
/// repeat thousands of times a second.
package struct RateLimitedLog {
    package let interval: Duration
    private var lastLogged: Instant?
    package private(set) var suppressed = 0

    package init(interval: Duration) { self.interval = interval }

    /// Whether to log now; when false the occurrence is only counted.
    package mutating func shouldLog(now: Instant) -> Bool {
        if let last = lastLogged, now - last < interval {
            suppressed += 1
            return false
        }
        lastLogged = now
        return true
    }

    /// The count left out since the last logged line, reset.
    mutating func takeSuppressed() -> Int {
        defer { suppressed = 0 }
        return suppressed
    }
}
