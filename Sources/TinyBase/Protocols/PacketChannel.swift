/// One end of the channel between the agent and a helper (`HelperRole`): a SOCK_SEQPACKET socket carrying one
/// JSON object per packet.
package struct PacketChannel {
    package let fd: FileDescriptor
    static let maximumPacket = 65536

    package init(fd: FileDescriptor) { self.fd = fd }

    /// A connected pair: the agent's end and the helper's.
    static func pair() throws(Errno) -> (PacketChannel, FileDescriptor) {
        let (ours, theirs) = try PacketSocket.pair()
        return (PacketChannel(fd: ours), theirs)
    }

    /// Starts `program` (`PROGRAM ROLE [UID:GID]`: the link, the update
    /// worker) with the other end of a new channel as its descriptor 3; with
    /// a `user`, the helper drops to it first thing (`HelperUser.dropPrivileges`).
    static func startHelper(_ program: HelperProgram, _ role: HelperRole, as user: Identity?) throws(Errno) -> (channel: PacketChannel, pid: Int32) {
        let (channel, theirs) = try pair()
        defer { theirs.close() }
        do {
            let pid = try Processes.spawnHelper(program.fd, name: program.name, argument: role.rawValue,
                                                ids: user.map { "\($0.uid):\($0.gid)" }, channel: theirs)
            return (channel, pid)
        } catch {
            channel.close()
            throw error
        }
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

    /// Closes the agent's end. The helper could have queued descriptors on
    /// it, so it is closed on the closer thread (`FileDescriptor.discard`).
    package func close() { fd.discard() }

    /// Sends one packet; false when the peer is gone or its queue is full.
    @discardableResult
    package func send(_ writer: JSONWriter) -> Bool {
        (try? fd.writeAll(writer.text)) != nil
    }

    /// Sends one packet with open descriptors (`SCM_RIGHTS`): the receiver
    /// gets its own copies, the sender's stay open.
    @discardableResult
    package func send(_ writer: JSONWriter, descriptors: [FileDescriptor]) -> Bool {
        var text = writer.text
        return text.withUTF8 { PacketSocket.send(UnsafeRawBufferPointer($0), descriptors: descriptors, on: fd) }
    }

    /// The helper's first packet and the descriptors that came with it,
    /// waiting up to `timeout` for it; nil when none came or it is not JSON.
    func receiveWithDescriptors(timeout: Duration) -> (packet: JSONValue, descriptors: [FileDescriptor])? {
        var buffer = [UInt8](repeating: 0, count: PacketChannel.maximumPacket)
        let (n, descriptors) = buffer.withUnsafeMutableBytes { PacketSocket.receive(into: $0, on: fd, timeout: timeout) }
        guard n > 0, let packet = try? JSONValue.parse(Array(buffer[0..<n])) else {
            for d in descriptors { d.close() }
            return nil
        }
        return (packet, descriptors)
    }

    /// The next packet; `.empty` when none is queued, `.closed` at the end.
    /// Descriptors a helper attaches are discarded unread: the agent takes none.
    package func receive() -> Received {
        var buffer = [UInt8](repeating: 0, count: PacketChannel.maximumPacket)
        var result: Result<Int, Errno> = .success(0)
        buffer.withUnsafeMutableBytes { raw in
            do throws(Errno) { result = .success(try PacketSocket.receive(into: raw, on: fd, keeping: 0).length) } catch { result = .failure(error) }
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
