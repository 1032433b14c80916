import CShims

/// The signals the agent sends and receives.
public struct Signal: Equatable, Sendable {
    public let rawValue: Int32
    public static let hangup = Signal(rawValue: Int32(TA_SIGHUP))
    public static let interrupt = Signal(rawValue: Int32(TA_SIGINT))
    public static let kill = Signal(rawValue: Int32(TA_SIGKILL))
    public static let terminate = Signal(rawValue: Int32(TA_SIGTERM))
    public static let child = Signal(rawValue: Int32(TA_SIGCHLD))
}

/// The agent's signals, delivered through a signalfd instead of handlers.
package struct SignalQueue {
    package let fd: FileDescriptor

    /// Blocks SIGTERM/SIGINT/SIGHUP/SIGCHLD and opens a signalfd for them.
    package static func open() throws(Errno) -> SignalQueue {
        SignalQueue(fd: FileDescriptor(try valueOrErrno { ta_signalfd_create() }))
    }

    /// The next pending signal, or nil.
    package func next() -> Signal? {
        let signo = ta_signalfd_read(fd.rawValue)
        return signo > 0 ? Signal(rawValue: signo) : nil
    }
}
