import CSystemd
import TinyBase

/// The agent's side of the systemd notify protocol (DESIGN.md §5), through
/// libsystemd's `sd_notify`. Without `$NOTIFY_SOCKET` every call is a no-op.
public struct SystemdNotifier {
    /// Half of `$WATCHDOG_USEC` (`sd_watchdog_enabled`), or nil when systemd
    /// does not watch the agent.
    public let watchdogInterval: Duration?

    public init() {
        var usec: UInt64 = 0
        let enabled = sd_watchdog_enabled(0, &usec) > 0 && usec > 0
        self.init(watchdogInterval: enabled ? Duration(nanoseconds: Int64(usec / 2) * 1000) : nil)
    }

    /// With the interval given rather than read from `$WATCHDOG_USEC`: the
    /// unit tests' pinger schedules, without touching the process's environment.
    init(watchdogInterval: Duration?) {
        self.watchdogInterval = watchdogInterval
    }

    public func ready() { send("READY=1") }
    public func watchdog() { send("WATCHDOG=1") }
    public func stopping() { send("STOPPING=1") }

    /// `STATUS=` with a one-line summary.
    public func status(_ line: String) { send("STATUS=\(line)") }

    private func send(_ state: String) {
        _ = withCString(state) { sd_notify(0, $0) }
    }
}
