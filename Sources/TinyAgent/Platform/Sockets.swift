import CShims

/// A non-blocking UDP socket on the loopback interface.
public struct UDPSocket {
    let fd: FileDescriptor

    /// Binds 127.0.0.1:`port` (0 picks a free port).
    public static func bindLoopback(port: UInt16) throws(Errno) -> UDPSocket {
        UDPSocket(fd: FileDescriptor(try valueOrErrno { ta_udp_bind_loopback(port) }))
    }

    /// An unbound socket for sending.
    public static func sender() throws(Errno) -> UDPSocket {
        UDPSocket(fd: FileDescriptor(try valueOrErrno { ta_udp_socket() }))
    }

    public var localPort: UInt16 { ta_socket_local_port(fd.rawValue) }

    /// One datagram into `buffer`: its full length (larger than the buffer
    /// when it was truncated) and the sender's address; nil when none is queued.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, source: UDPSource)? {
        var address: UInt32 = 0
        var port: UInt16 = 0
        do {
            let n = try valueOrErrno { ta_udp_recv(fd.rawValue, buffer.baseAddress, buffer.count, &address, &port) }
            return (n, UDPSource(address: address, port: port))
        } catch {
            if error == .wouldBlock { return nil }
            throw error
        }
    }

    /// Sends one datagram to 127.0.0.1:`port`.
    public func send(_ bytes: UnsafeRawBufferPointer, toLoopbackPort port: UInt16) throws(Errno) {
        _ = try valueOrErrno { ta_udp_send_loopback(fd.rawValue, bytes.baseAddress, bytes.count, port) }
    }

    public func close() { fd.close() }
}

/// Where a UDP datagram came from: an IPv4 address (host byte order) and port.
struct UDPSource: Hashable {
    var address: UInt32
    var port: UInt16
}

/// What the kernel states about a Unix datagram's sender (`SCM_CREDENTIALS`).
struct Credentials: Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}

/// A Unix datagram socket whose receiver learns each sender's pid, uid and
/// gid from the kernel (`SO_PASSCRED`).
public struct UnixDatagramSocket {
    let fd: FileDescriptor

    /// Binds `path` with file mode `mode` and group `group` (nil: the agent's).
    static func bind(path: String, mode: UInt32, group: UInt32?) throws(Errno) -> UnixDatagramSocket {
        UnixDatagramSocket(fd: FileDescriptor(try withCString(path) { (p) throws(Errno) in
            try valueOrErrno { ta_unix_dgram_bind(p, mode, group ?? UInt32.max) }
        }))
    }

    /// An unbound socket for sending.
    public static func sender() throws(Errno) -> UnixDatagramSocket {
        UnixDatagramSocket(fd: FileDescriptor(try valueOrErrno { ta_unix_dgram_socket() }))
    }

    /// One datagram into `buffer`: its full length and its sender as the
    /// kernel states it (nil when it stated nothing); nil when none is queued.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, sender: Credentials?)? {
        var sender = ta_credentials(pid: -1, uid: 0, gid: 0)
        do {
            let n = try valueOrErrno { ta_unix_dgram_recv(fd.rawValue, buffer.baseAddress, buffer.count, &sender) }
            return (n, sender.pid > 0 ? Credentials(pid: sender.pid, uid: sender.uid, gid: sender.gid) : nil)
        } catch {
            if error == .wouldBlock { return nil }
            throw error
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to path: String) throws(Errno) {
        _ = try withCString(path) { (p) throws(Errno) in
            try valueOrErrno { ta_unix_dgram_send(fd.rawValue, p, bytes.baseAddress, bytes.count) }
        }
    }

    public func close() { fd.close() }
}

/// Unix stream sockets for the local control socket.
enum UnixSocket {
    static func listen(path: String, mode: UInt32) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_unix_listen(p, mode) } })
    }

    static func connect(path: String) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_unix_connect(p) } })
    }

    /// The next pending connection, or nil.
    static func accept(_ listener: FileDescriptor) -> FileDescriptor? {
        let raw = ta_accept(listener.rawValue)
        return raw < 0 ? nil : FileDescriptor(raw)
    }
}
