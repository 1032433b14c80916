import TinyBase

/// Pings systemd's watchdog (`WATCHDOG=1`) every half `WATCHDOG_USEC`
/// (DESIGN.md §5) from the event loop: an agent whose loop stops turning
/// stops pinging, and systemd restarts it. Without a watchdog it never wakes
/// the loop.
package final class WatchdogPinger: EventParticipant {
    private let notifier: SystemdNotifier
    package private(set) var nextDeadline: Instant?

    package init(notifier: SystemdNotifier) {
        self.notifier = notifier
    }

    /// The first ping, right after `READY=1`.
    package func start(now: Instant) { ping(now) }

    package func tick(now: Instant) {
        if let due = nextDeadline, due <= now { ping(now) }
    }

    private func ping(_ now: Instant) {
        guard let interval = notifier.watchdogInterval else { return }
        notifier.watchdog()
        nextDeadline = now + interval
    }
}
