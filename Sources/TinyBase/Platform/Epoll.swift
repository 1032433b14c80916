import CShims

/// The event loop's two kernel objects: an epoll set, and a timerfd on
/// CLOCK_MONOTONIC armed to absolute deadlines.
struct Epoll {
let fd: FileDescriptor

init() throws(Errno) {
        fd = FileDescriptor(try valueOrErrno { ta_epoll_create() })
    }

    /// Watches `watched` for input; each event hands `data` back.
    func add(_ watched: FileDescriptor, data: UInt64) throws(Errno) {
        try nothingOrErrno { ta_epoll_add(fd.rawValue, watched.rawValue, UInt32(TA_EPOLLIN), data) }
    }

func remove(_ watched: FileDescriptor) {
        _ = ta_epoll_del(fd.rawValue, watched.rawValue)
    }

    /// Blocks until input, then calls `body` with the data of each ready
    /// descriptor, up to eight a call. The events live on the stack: the
    /// heartbeat path allocates nothing.
func wait(_ body: (UInt64) -> Void) {
        var events = (ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event(), ta_event())
        let count = withUnsafeMutableBytes(of: &events) { raw in
            ta_epoll_wait(fd.rawValue, raw.baseAddress!.assumingMemoryBound(to: ta_event.self), 8, -1)
        }
        guard count > 0 else { return }
        withUnsafeBytes(of: &events) { raw in
            let ready = raw.bindMemory(to: ta_event.self)
            for i in 0..<Int(count) { body(ready[i].data) }
        }
    }
}

/// A timerfd on CLOCK_MONOTONIC: readable once its deadline has passed.
struct DeadlineTimer {
let fd: FileDescriptor

init() throws(Errno) {
        fd = FileDescriptor(try valueOrErrno { ta_timerfd_create() })
    }

    /// Fires at `deadline`; false when the kernel refused.
func arm(_ deadline: Instant) -> Bool {
        ta_timerfd_arm(fd.rawValue, max(deadline.nanoseconds, 1)) == 0
    }

    /// Takes the expiry, so the timer is not readable until it fires again.
func drain() {
        _ = ta_timerfd_drain(fd.rawValue)
    }
}
