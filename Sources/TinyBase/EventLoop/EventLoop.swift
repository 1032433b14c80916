import CShims

/// What epoll reported for a descriptor.
public struct EpollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = EpollEvents(rawValue: UInt32(TA_EPOLLIN))
}

/// One thread's event loop: epoll over the agent's descriptors, one timerfd
/// armed to the earliest deadline the owner asks for.
///
/// Each registration's epoll data carries a slot and a generation, so an
/// event still queued for a descriptor that was closed and whose number was
/// reused is recognised as stale and dropped.
public final class EventLoop {
    public typealias Handler = (EpollEvents) -> Void

    private struct Registration {
        let fd: FileDescriptor
        let generation: UInt32
        let handler: Handler
    }

    public struct Token: Equatable {
        package let slot: UInt32
        package let generation: UInt32
        package var data: UInt64 { UInt64(generation) << 32 | UInt64(slot) }
    }

    private let epoll: FileDescriptor
    private let timer: FileDescriptor
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1
    /// The deadline the timerfd is armed to; nil once it fired or disarmed.
    private var armed: Instant?
    private static let timerData: UInt64 = UInt64.max

    public init() throws(Errno) {
        epoll = FileDescriptor(try valueOrErrno { ta_epoll_create() })
        timer = FileDescriptor(try valueOrErrno { ta_timerfd_create() })
        try nothingOrErrno { ta_epoll_add(epoll.rawValue, timer.rawValue, UInt32(TA_EPOLLIN), EventLoop.timerData) }
    }

    deinit {
        timer.close()
        epoll.close()
    }

    /// Watches `fd` for input; `handler` runs on this thread.
    @discardableResult
    public func watch(_ fd: FileDescriptor, handler: @escaping Handler) throws(Errno) -> Token {
        let slot = registrations.firstIndex(where: { $0 == nil }) ?? registrations.count
        let token = Token(slot: UInt32(slot), generation: nextGeneration)
        nextGeneration &+= 1
        try nothingOrErrno { ta_epoll_add(epoll.rawValue, fd.rawValue, UInt32(TA_EPOLLIN), token.data) }
        let registration = Registration(fd: fd, generation: token.generation, handler: handler)
        if slot == registrations.count { registrations.append(registration) } else { registrations[slot] = registration }
        return token
    }

    /// Stops watching; the caller closes the descriptor afterwards.
    public func unwatch(_ token: Token) {
        guard Int(token.slot) < registrations.count, let r = registrations[Int(token.slot)],
              r.generation == token.generation else { return }
        _ = ta_epoll_del(epoll.rawValue, r.fd.rawValue)
        registrations[Int(token.slot)] = nil
    }

    /// Waits for events or `deadline` and runs the handlers of what is ready.
    /// The timerfd is re-armed only when `deadline` is earlier than what it
    /// is armed to: a later deadline costs one early wake-up, not a syscall
    /// on every iteration.
    public func runOnce(deadline: Instant?) {
        if let deadline, armed == nil || deadline < armed! {
            if ta_timerfd_arm(timer.rawValue, max(deadline.nanoseconds, 1)) == 0 { armed = deadline }
        }
        var events = (ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event())
        let count = withUnsafeMutableBytes(of: &events) { raw in
            ta_epoll_wait(epoll.rawValue, raw.baseAddress!.assumingMemoryBound(to: ta_event.self), 8, -1)
        }
        guard count > 0 else { return }
        withUnsafeBytes(of: &events) { raw in
            let ready = raw.bindMemory(to: ta_event.self)
            for i in 0..<Int(count) { dispatch(ready[i]) }
        }
    }

    private func dispatch(_ event: ta_event) {
        if event.data == EventLoop.timerData {
            _ = ta_timerfd_drain(timer.rawValue)
            armed = nil
            return
        }
        let slot = Int(event.data & 0xffff_ffff)
        let generation = UInt32(event.data >> 32)
        guard slot < registrations.count, let r = registrations[slot], r.generation == generation else { return }
        r.handler(EpollEvents(rawValue: event.events))
    }
}
