import CShims

/// One end of the channel between the agent and a helper (`HelperRole`): a SOCK_SEQPACKET socket carrying one
/// JSON object per packet.
package struct PacketChannel {
    package let fd: FileDescriptor
    package static let maximumPacket = 65536

    package init(fd: FileDescriptor) { self.fd = fd }

    /// A connected pair: the agent's end and the helper's.
    package static func pair() throws(Errno) -> (PacketChannel, FileDescriptor) {
        var fds: (Int32, Int32) = (-1, -1)
        let result = withUnsafeMutablePointer(to: &fds) { pointer in
            pointer.withMemoryRebound(to: Int32.self, capacity: 2) { ta_packet_pair($0) }
        }
        if result != 0 { throw Errno.current }
        return (PacketChannel(fd: FileDescriptor(fds.0)), FileDescriptor(fds.1))
    }

    /// Starts `program` (`PROGRAM ROLE [UID:GID]`: the link, the update
    /// worker) with the other end of a new channel as its descriptor 3; with
    /// a `user`, the helper drops to it first thing (`HelperUser.dropPrivileges`).
    package static func startHelper(_ program: HelperProgram, _ role: HelperRole, as user: Identity?) throws(Errno) -> (channel: PacketChannel, pid: Int32) {
        let (channel, theirs) = try pair()
        defer { theirs.close() }
        let pid = withCString(program.name) { name in
            withCString(role.rawValue) { arg in
                withOptionalCString(user.map { "\($0.uid):\($0.gid)" }) { ids in
                    ta_spawn_helper(program.fd.rawValue, name, arg, ids, theirs.rawValue)
                }
            }
        }
        if pid < 0 {
            channel.fd.close()
            throw Errno(rawValue: -pid)
        }
        return (channel, pid)
    }

    /// In a helper: the agent's first packet and its descriptors, waited for
    /// up to `timeout` — when it carries this program's protocol version
    /// (`HelperRole.protocolVersion`). Otherwise the status to exit with,
    /// after one line on stderr for a version mismatch.
    package func receiveFirst(_ role: HelperRole, timeout: Duration) -> Result<(packet: JSONValue, descriptors: [FileDescriptor]), HelperExit> {
        guard let (packet, descriptors) = receiveWithDescriptors(timeout: timeout) else { return .failure(HelperExit(ExitStatus.dataError)) }
        let version = packet[HelperRole.protocolKey]?.integerValue
        guard version == Int64(HelperRole.protocolVersion) else {
            for fd in descriptors { fd.close() }
            Console.error("the agent speaks protocol \(version.map { "\($0)" } ?? "(none)"), "
                          + "this program \(HelperRole.protocolVersion): install tinyagent's programs together", from: role.program)
            return .failure(HelperExit(ExitStatus.protocolMismatch))
        }
        return .success((packet, descriptors))
    }

    /// Sends one packet; false when the peer is gone or its queue is full.
    @discardableResult
    package func send(_ writer: JSONWriter) -> Bool {
        (try? fd.writeAll(writer.text)) != nil
    }

    /// Sends one packet with open descriptors (`SCM_RIGHTS`): the receiver
    /// gets its own copies, the sender's stay open.
    @discardableResult
    package func send(_ writer: JSONWriter, descriptors: [FileDescriptor]) -> Bool {
        let fds = descriptors.map { $0.rawValue }
        var text = writer.text
        return text.withUTF8 { bytes in
            fds.withUnsafeBufferPointer { ta_packet_send_fds(fd.rawValue, bytes.baseAddress, bytes.count, $0.baseAddress, Int32(fds.count)) }
        } == text.utf8.count
    }

    /// The helper's first packet and the descriptors that came with it,
    /// waiting up to `timeout` for it; nil when none came or it is not JSON.
    package func receiveWithDescriptors(timeout: Duration) -> (packet: JSONValue, descriptors: [FileDescriptor])? {
        guard ta_wait_readable(fd.rawValue, Int32(timeout.milliseconds)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: PacketChannel.maximumPacket)
        var fds = [Int32](repeating: -1, count: Int(TA_MAX_PASSED_FDS))
        var count: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer {
                ta_packet_recv_fds(fd.rawValue, raw.baseAddress, raw.count, $0.baseAddress, Int32(TA_MAX_PASSED_FDS), &count)
            }
        }
        let descriptors = fds[0..<Int(count)].map { FileDescriptor($0) }
        guard n > 0, let packet = try? JSONValue.parse(Array(buffer[0..<n])) else {
            for d in descriptors { d.close() }
            return nil
        }
        return (packet, descriptors)
    }

    /// The next packet; `.empty` when none is queued, `.closed` at the end.
    package func receive() -> Received {
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

    package enum Received {
        case packet(JSONValue)
        case malformed
        case empty
        case closed
    }
}
