import CShims

/// One end of the agent ↔ link channel: a SOCK_SEQPACKET socket carrying one
/// JSON object per packet.
struct PacketChannel {
    let fd: FileDescriptor
    static let maximumPacket = 65536

    /// A connected pair: the agent's end and the helper's.
    static func pair() throws(Errno) -> (PacketChannel, FileDescriptor) {
        var fds: (Int32, Int32) = (-1, -1)
        let result = withUnsafeMutablePointer(to: &fds) { pointer in
            pointer.withMemoryRebound(to: Int32.self, capacity: 2) { ta_packet_pair($0) }
        }
        if result != 0 { throw Errno.current }
        return (PacketChannel(fd: FileDescriptor(fds.0)), FileDescriptor(fds.1))
    }

    /// Starts `tinyagent NAME` (a helper process: the link, the update
    /// worker) with the other end of a new channel as its descriptor 3.
    static func startHelper(_ name: String) throws(Errno) -> (channel: PacketChannel, pid: Int32) {
        let (channel, theirs) = try pair()
        defer { theirs.close() }
        let pid = withCString(name) { ta_spawn_helper($0, theirs.rawValue) }
        if pid < 0 {
            channel.fd.close()
            throw Errno(rawValue: -pid)
        }
        return (channel, pid)
    }

    /// Sends one packet; false when the peer is gone or its queue is full.
    @discardableResult
    func send(_ writer: JSONWriter) -> Bool {
        (try? fd.writeAll(writer.text)) != nil
    }

    /// The next packet; `.empty` when none is queued, `.closed` at the end.
    func receive() -> Received {
        var buffer = [UInt8](repeating: 0, count: PacketChannel.maximumPacket)
        var result: Result<Int, Errno> = .success(0)
        buffer.withUnsafeMutableBytes { raw in
            do throws(Errno) { result = .success(try fd.read(into: raw)) } catch { result = .failure(error) }
        }
        switch result {
        case .success(0): return .closed
        case .success(let n):
            guard let value = try? JSONValue.parse(Array(buffer[0..<n])) else { return .malformed }
            return .packet(value)
        case .failure(let error):
            return error == .wouldBlock ? .empty : .closed
        }
    }

    enum Received {
        case packet(JSONValue)
        case malformed
        case empty
        case closed
    }
}
