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
    /// when it was truncated) and the sender's port; nil when none is queued.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, sourcePort: UInt16)? {
        var port: UInt16 = 0
        do {
            let n = try valueOrErrno { ta_udp_recv(fd.rawValue, buffer.baseAddress, buffer.count, &port) }
            return (n, port)
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

/// Who is at the other end of a Unix socket, as the kernel recorded it at
/// `connect(2)` (`SO_PEERCRED`): nothing the peer can claim.
public struct PeerCredentials: Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    static func of(_ socket: FileDescriptor) throws(Errno) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        try nothingOrErrno { ta_peer_credentials(socket.rawValue, &pid, &uid, &gid) }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }
}

/// Unix stream sockets for the local control socket (bound by
/// `Folder.bindUnixSocket`).
enum UnixSocket {
    static func connect(path: String) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_unix_connect(p) } })
    }

    /// The next pending connection, or nil.
    static func accept(_ listener: FileDescriptor) -> FileDescriptor? {
        let raw = ta_accept(listener.rawValue)
        return raw < 0 ? nil : FileDescriptor(raw)
    }
}
