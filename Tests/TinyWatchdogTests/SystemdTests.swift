import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// The watchdog pings' schedule (Systemd/WatchdogPinger.swift). What goes on
/// the wire — READY=1, WATCHDOG=1 at half `WATCHDOG_USEC`, none without it —
/// is tested end to end against a real notify socket in
/// tests/integration/test_systemd.py: setting `$NOTIFY_SOCKET` here would race
/// with the other tests of this process, which start children.
@Suite struct SystemdTests {
    let start = Instant(nanoseconds: 5_000_000_000)

    @Test func thePingerPingsAtStartThenEveryHalfWatchdogInterval() {
        let pinger = WatchdogPinger(notifier: SystemdNotifier(watchdogInterval: .seconds(1)))
        #expect(pinger.nextDeadline == nil, "nothing before READY=1")
        pinger.start(now: start)
        #expect(pinger.nextDeadline == start + .seconds(1))
        pinger.tick(now: start + .milliseconds(999))
        #expect(pinger.nextDeadline == start + .seconds(1), "not before it is due")
        pinger.tick(now: start + .milliseconds(1300))
        #expect(pinger.nextDeadline == start + .milliseconds(2300), "a late turn counts from when it pinged")
    }

    @Test func withoutAWatchdogThePingerNeverWakesTheLoop() {
        let pinger = WatchdogPinger(notifier: SystemdNotifier(watchdogInterval: nil))
        pinger.start(now: start)
        pinger.tick(now: start + .seconds(3600))
        #expect(pinger.nextDeadline == nil)
    }
}
