import CShims

/// A non-blocking UDP socket on the loopback interface.
public struct UDPSocket {
    package let fd: FileDescriptor

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
    package func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, source: UDPSource)? {
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
package struct UDPSource: Hashable {
    package var address: UInt32
    package var port: UInt16
}

/// A Unix datagram socket whose receiver learns each sender's pid, uid and
/// gid from the kernel (`SO_PASSCRED`, `SCM_CREDENTIALS`).
public struct UnixDatagramSocket {
    package let fd: FileDescriptor

    /// Takes a bound datagram socket (`Folder.bindUnixSocket`) and asks the
    /// kernel to name every sender; closes it if it cannot.
    package static func attested(_ bound: FileDescriptor) throws(Errno) -> UnixDatagramSocket {
        do { try nothingOrErrno { ta_set_passcred(bound.rawValue) } } catch {
            bound.close()
            throw error
        }
        return UnixDatagramSocket(fd: bound)
    }

    /// An unbound socket for sending.
    public static func sender() throws(Errno) -> UnixDatagramSocket {
        UnixDatagramSocket(fd: FileDescriptor(try valueOrErrno { ta_unix_dgram_socket() }))
    }

    /// One datagram into `buffer`: its full length and its sender as the
    /// kernel states it (nil when it stated nothing); nil when none is queued.
    package func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (length: Int, sender: PeerCredentials?)? {
        var sender = ta_credentials(pid: -1, uid: 0, gid: 0)
        do {
            let n = try valueOrErrno { ta_unix_dgram_recv(fd.rawValue, buffer.baseAddress, buffer.count, &sender) }
            return (n, sender.pid > 0 ? PeerCredentials(pid: sender.pid, uid: sender.uid, gid: sender.gid) : nil)
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

    package static func of(_ socket: FileDescriptor) throws(Errno) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        try nothingOrErrno { ta_peer_credentials(socket.rawValue, &pid, &uid, &gid) }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }
}

/// Unix stream sockets for the local control socket (bound by
/// `Folder.bindUnixSocket`).
package enum UnixSocket {
    package static func connect(path: String) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_unix_connect(p) } })
    }

    /// The next pending connection (non-blocking), or nil.
    package static func accept(_ listener: FileDescriptor) -> FileDescriptor? {
        let raw = ta_accept(listener.rawValue)
        return raw < 0 ? nil : FileDescriptor(raw)
    }

    /// Writes `text` in one `sendmsg` (`MSG_NOSIGNAL`: a peer that has gone
    /// is an error, not a SIGPIPE), with copies of `descriptors` attached to
    /// its first byte (`SCM_RIGHTS`); false when not all of it was written.
    package static func send(_ text: String, passing descriptors: [FileDescriptor], on socket: FileDescriptor) -> Bool {
        var copy = text
        let fds = descriptors.map { $0.rawValue }
        let sent = copy.withUTF8 { bytes in
            fds.withUnsafeBufferPointer {
                ta_packet_send_fds(socket.rawValue, bytes.baseAddress, bytes.count, $0.baseAddress, Int32(fds.count))
            }
        }
        return sent == text.utf8.count
    }

    package static func send(_ text: String, passing descriptor: FileDescriptor? = nil, on socket: FileDescriptor) -> Bool {
        send(text, passing: descriptor.map { [$0] } ?? [], on: socket)
    }

    /// Reads what has arrived (blocking, unless the socket is not), and the
    /// descriptors that came with it; 0 bytes at the end.
    package static func receive(on socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (count: Int, descriptors: [FileDescriptor]) {
        let (n, descriptors) = try PacketSocket.receive(into: buffer, on: socket, keeping: PacketSocket.maximumDescriptors)
        return (n, descriptors)
    }
}

/// `SOCK_SEQPACKET` over `AF_UNIX` with descriptors passed alongside
/// (`SCM_RIGHTS`): what `PacketChannel` is made of.
enum PacketSocket {
    /// The most descriptors one packet carries.
    static let maximumDescriptors = Int(TA_MAX_PASSED_FDS)

    /// A connected pair.
    static func pair() throws(Errno) -> (FileDescriptor, FileDescriptor) {
        var fds: (Int32, Int32) = (-1, -1)
        let result = withUnsafeMutablePointer(to: &fds) { pointer in
            pointer.withMemoryRebound(to: Int32.self, capacity: 2) { ta_packet_pair($0) }
        }
        if result != 0 { throw Errno.current }
        return (FileDescriptor(fds.0), FileDescriptor(fds.1))
    }

    /// Sends `bytes` as one packet with `descriptors`; whether all of it went.
    static func send(_ bytes: UnsafeRawBufferPointer, descriptors: [FileDescriptor], on fd: FileDescriptor) -> Bool {
        let fds = descriptors.map { $0.rawValue }
        return fds.withUnsafeBufferPointer {
            ta_packet_send_fds(fd.rawValue, bytes.baseAddress, bytes.count, $0.baseAddress, Int32(fds.count))
        } == bytes.count
    }

    /// Reads the next packet into `buffer` (at once on a non-blocking socket):
    /// its length (0: the peer closed its end) and the first `keeping` of the
    /// descriptors that came with it; the others are discarded (`FileDescriptor.discard`).
    static func receive(into buffer: UnsafeMutableRawBufferPointer, on fd: FileDescriptor,
                        keeping: Int) throws(Errno) -> (length: Int, descriptors: [FileDescriptor]) {
        var fds = [Int32](repeating: -1, count: max(keeping, 1))
        var count: Int32 = 0
        let n = try valueOrErrno {
            fds.withUnsafeMutableBufferPointer {
                ta_packet_recv_fds(fd.rawValue, buffer.baseAddress, buffer.count, $0.baseAddress, Int32(keeping), &count)
            }
        }
        return (n, fds[0..<Int(count)].map { FileDescriptor($0) })
    }

    /// Waits up to `timeout` for a packet, then reads it into `buffer`: its
    /// length (0 or less: none) and the descriptors that came with it.
    static func receive(into buffer: UnsafeMutableRawBufferPointer, on fd: FileDescriptor,
                                timeout: Duration) -> (length: Int, descriptors: [FileDescriptor]) {
        guard fd.waitReadable(timeout) else { return (0, []) }
        return (try? receive(into: buffer, on: fd, keeping: maximumDescriptors)) ?? (-1, [])
    }
}

package enum Sockets {
    /// Why `host` does not resolve (getaddrinfo's words), or nil when it does.
    package static func resolveProblem(_ host: String) -> String? {
        let code = withCString(host) { ta_resolve($0) }
        return code == 0 ? nil : String(cString: ta_gai_strerror(code))
    }
}
