/// A component the event loop serves: it says when it next needs the loop,
/// and the loop tells it what happened. Adding a component to the agent is
/// one `EventLoop.register`. The loop holds it until `unregister`; one that
/// keeps the loop (to watch descriptors it opens later) and the loop hold
/// each other until the owner's `unregisterAll`.
///
/// Every requirement has a default, so a participant spells only what it uses.
public protocol EventParticipant: AnyObject {
    /// The earliest time `tick` has something to do; nil when only an event
    /// (input, a child's exit) can give it work. Asked before every wait.
    var nextDeadline: Instant? { get }
    /// After every turn of the loop (a deadline fell due, or input or a
    /// signal arrived), in registration order: does what is due at `now`
    /// and what the turn's events made possible (the update's swap once the
    /// supervisor has seen the last process exit). Cheap when nothing is.
    func tick(now: Instant)
    /// A child the loop reaped; true when it was this participant's (the
    /// participants after it are not asked).
    func childExited(_ child: ChildExit, now: Instant) -> Bool
    /// A descriptor this participant watches (`EventLoop.watch(_:for:)`) has input.
    func readable(_ token: EventLoop.Token, now: Instant)
}

extension EventParticipant {
    public var nextDeadline: Instant? { nil }
    public func tick(now: Instant) {}
    public func childExited(_ child: ChildExit, now: Instant) -> Bool { false }
    public func readable(_ token: EventLoop.Token, now: Instant) {}
}

/// One thread's event loop: epoll over the participants' descriptors, one
/// timerfd armed to the earliest deadline any participant asks for.
///
/// Each registration's epoll data carries a slot and a generation, so an
/// event still queued for a descriptor that was closed and whose number was
/// reused is recognised as stale and dropped.
public final class EventLoop {
    private struct Registration {
        let fd: FileDescriptor
        let generation: UInt32
        let participant: any EventParticipant
    }

    public struct Token: Equatable {
        let slot: UInt32
        package let generation: UInt32
        package var data: UInt64 { UInt64(generation) << 32 | UInt64(slot) }
    }

    private let epoll: Epoll
    private let timer: DeadlineTimer
    private let logger: Logger
    /// In registration order: the order of ticks and of the question "yours?" for a child.
    private var participants: [any EventParticipant] = []
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1
    /// The deadline the timerfd is armed to; nil once it fired or disarmed.
    private var armed: Instant?
    private static let timerData: UInt64 = UInt64.max

    public init(logger: Logger) throws(Errno) {
        self.logger = logger
        epoll = try Epoll()
        timer = try DeadlineTimer()
        try epoll.add(timer.fd, data: EventLoop.timerData)
    }

    deinit {
        timer.fd.close()
        epoll.fd.close()
    }

    /// Serves `participant` from now on: its deadline, ticks, children.
    public func register(_ participant: any EventParticipant) {
        participants.append(participant)
    }

    /// Serves `participant`, and watches `fd` for it.
    @discardableResult
    public func register(_ participant: any EventParticipant, watching fd: FileDescriptor) throws(Errno) -> Token {
        let token = try watch(fd, for: participant)
        register(participant)
        return token
    }

    /// Stops serving `participant`: no more ticks, input or children, and
    /// the loop no longer holds it.
    public func unregister(_ participant: any EventParticipant) {
        participants.removeAll { $0 === participant }
        for slot in registrations.indices {
            if let r = registrations[slot], r.participant === participant { unwatch(Token(slot: UInt32(slot), generation: r.generation)) }
        }
    }

    /// Lets go of every participant (they may hold the loop's owner), when
    /// the owner is done with the loop.
    public func unregisterAll() {
        for participant in participants { unregister(participant) }
    }

    /// Watches `fd` for input, which goes to `participant.readable` with the token.
    @discardableResult
    public func watch(_ fd: FileDescriptor, for participant: any EventParticipant) throws(Errno) -> Token {
        let slot = registrations.firstIndex(where: { $0 == nil }) ?? registrations.count
        let token = Token(slot: UInt32(slot), generation: nextGeneration)
        nextGeneration &+= 1
        try epoll.add(fd, data: token.data)
        let registration = Registration(fd: fd, generation: token.generation, participant: participant)
        if slot == registrations.count { registrations.append(registration) } else { registrations[slot] = registration }
        return token
    }

    /// Stops watching; the caller closes the descriptor afterwards.
    public func unwatch(_ token: Token) {
        guard Int(token.slot) < registrations.count, let r = registrations[Int(token.slot)],
              r.generation == token.generation else { return }
        epoll.remove(r.fd)
        registrations[Int(token.slot)] = nil
    }

    /// The earliest deadline of any participant.
    package var nextDeadline: Instant? {
        var earliest: Instant?
        for participant in participants {
            if let d = participant.nextDeadline, earliest == nil || d < earliest! { earliest = d }
        }
        return earliest
    }

    /// One turn: waits for input or the earliest deadline, hands the input
    /// to its participants, then ticks every participant.
    public func runOnce() {
        wait(until: nextDeadline)
        let now = Clock.now()
        for participant in participants { participant.tick(now: now) }
    }

    /// Reaps every exited child and hands each to the participant that
    /// claims it; one that nobody claims is logged (and gone: no zombie).
    public func reapChildren(now: Instant) {
        while let child = Processes.reap() { route(child, now: now) }
    }

    /// `child` to the first participant that claims it; logged when none does.
    package func route(_ child: ChildExit, now: Instant) {
        for participant in participants where participant.childExited(child, now: now) { return }
        logger.notice("reaped child \(child.pid), which \(child.how): not a process anything in the agent watches")
    }

    /// Waits for input or `deadline` and hands what is ready to its
    /// participants. The timerfd is re-armed only when `deadline` is earlier than what it
    /// is armed to: a later deadline costs one early wake-up, not a syscall
    /// on every iteration.
    private func wait(until deadline: Instant?) {
        if let deadline, armed == nil || deadline < armed! {
            if timer.arm(deadline) { armed = deadline }
        }
        epoll.wait { dispatch($0) }
    }

    private func dispatch(_ data: UInt64) {
        if data == EventLoop.timerData {
            timer.drain()
            armed = nil
            return
        }
        let slot = Int(data & 0xffff_ffff)
        let generation = UInt32(data >> 32)
        guard slot < registrations.count, let r = registrations[slot], r.generation == generation else { return }
        r.participant.readable(Token(slot: UInt32(slot), generation: generation), now: Clock.now())
    }
}
