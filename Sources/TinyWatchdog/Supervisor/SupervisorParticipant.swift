import TinyBase

/// The supervisor in the event loop: its processes' deadlines (the table's
/// timers), and the exits of the processes it started — those whose group
/// it tracks; any other child is someone else's.
extension Supervisor: EventParticipant {
    public func tick(now: Instant) { handleDeadlines(now: now) }

    public func childExited(_ child: ChildExit, now: Instant) -> Bool {
        guard processes.contains(where: { $0.group == child.pid }) else { return false }
        childExited(pid: child.pid, exitCode: child.exitCode, signal: child.signal, now: now)
        return true
    }
}
