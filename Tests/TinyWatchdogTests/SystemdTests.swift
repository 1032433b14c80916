import Foundation
import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// The notify protocol as systemd sees it (Systemd/): a real datagram socket
/// named by `$NOTIFY_SOCKET`, read as systemd reads it.
@Suite struct SystemdTests {
    /// A bound `AF_UNIX` datagram socket in a new folder, like systemd's.
    final class NotifySocket {
        let folder = NSTemporaryDirectory() + "tinyagent-notify-\(UUID().uuidString)"
        var path: String { "\(folder)/notify" }
        let fd: Int32

        init() throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(fd >= 0 && bound == 0)
            var wait = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit {
            close(fd)
            try? FileManager.default.removeItem(atPath: folder)
        }

        /// Every message that arrives within 200 ms of the last.
        func messages() -> [String] {
            var seen: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return seen }
                seen.append(String(decoding: buffer[0..<n], as: UTF8.self))
            }
        }
    }

    /// One test, so no other test of this process sees the variables set.
    @Test func thePingerPingsAtHalfTheWatchdogIntervalAndNeverWithoutAWatchdog() throws {
        let systemd = try NotifySocket()
        setenv("NOTIFY_SOCKET", systemd.path, 1)
        setenv("WATCHDOG_USEC", "2000000", 1)
        setenv("WATCHDOG_PID", "\(getpid())", 1)
        let notifier = SystemdNotifier()
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
        #expect(notifier.watchdogInterval == .seconds(1))
        let pinger = WatchdogPinger(notifier: notifier)
        let start = Instant(nanoseconds: 5_000_000_000)
        notifier.ready()
        pinger.start(now: start)
        #expect(systemd.messages() == ["READY=1", "WATCHDOG=1"])
        #expect(pinger.nextDeadline == start + .seconds(1))
        pinger.tick(now: start + .milliseconds(999))
        #expect(systemd.messages().isEmpty, "not before half the interval")
        pinger.tick(now: start + .seconds(1))
        #expect(systemd.messages() == ["WATCHDOG=1"])
        #expect(pinger.nextDeadline == start + .seconds(2))
        notifier.status("processes 1/1 up")
        notifier.stopping()
        #expect(systemd.messages() == ["STATUS=processes 1/1 up", "STOPPING=1"])

        // Not watched (no $WATCHDOG_USEC): the pinger never sets a deadline, so never wakes the loop.
        let unwatched = WatchdogPinger(notifier: SystemdNotifier())
        unsetenv("NOTIFY_SOCKET")
        unwatched.start(now: start)
        #expect(unwatched.nextDeadline == nil)
        #expect(systemd.messages().isEmpty)
    }
}
