import TinyBase

/// Which refused heartbeats get a log line: at most one per sender and
/// problem per interval (one noisy sender must not hide another's
/// mistake, nor one mistake another), with a count of the ones left out.
/// Senders are remembered up to `capacity` (the longest silent is
/// forgotten first), and `maximumLinesPerSecond` bounds the whole, so a
/// flood from ever-new source ports cannot fill the log either.
package struct RefusalLog {
    package struct Key: Hashable {
        package var sender: UInt64
        package var problem: UInt8
    }

    private struct Entry {
        var lastLogged: Instant?
        var suppressed = 0
    }

    private var entries: [Key: Entry] = [:]
    private let interval: Duration
    private let capacity: Int
    private let maximumLinesPerSecond: Int
    private var linesThisSecond = 0
    private var secondStart = Instant(nanoseconds: 0)

    package init(interval: Duration = .seconds(10), capacity: Int = 64, maximumLinesPerSecond: Int = 20) {
        self.interval = interval
        self.capacity = capacity
        self.maximumLinesPerSecond = maximumLinesPerSecond
    }

    /// Whether to log this refusal now, and how many of the same sender and
    /// problem were left out since its last line; nil: only counted.
    mutating func admit(sender: UInt64, problem: UInt8, now: Instant) -> Int? {
        let key = Key(sender: sender, problem: problem)
        if entries[key] == nil && entries.count >= capacity { forgetOldest() }
        var entry = entries[key] ?? Entry()
        defer { entries[key] = entry }
        if now - secondStart >= .seconds(1) {
            secondStart = now
            linesThisSecond = 0
        }
        let recent = entry.lastLogged.map { now - $0 < interval } ?? false
        if recent || linesThisSecond >= maximumLinesPerSecond {
            entry.suppressed += 1
            return nil
        }
        linesThisSecond += 1
        entry.lastLogged = now
        defer { entry.suppressed = 0 }
        return entry.suppressed
    }

    private mutating func forgetOldest() {
        var oldest: (key: Key, at: Instant)?
        for (key, entry) in entries {
            let at = entry.lastLogged ?? Instant(nanoseconds: 0)
            if oldest == nil || at < oldest!.at { oldest = (key, at) }
        }
        if let oldest { entries[oldest.key] = nil }
    }
}
