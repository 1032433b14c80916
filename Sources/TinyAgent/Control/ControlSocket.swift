import TinyBase

/// The local control socket (`wdog/agent.sock`, root:app group 0660): a
/// client connects, writes one `ControlRequest` line and reads the answer
/// until the agent closes the connection. Each peer is checked by its kernel
/// credentials (`ControlGate`) for the verb it asks for.
///
/// The agent's one thread must never wait for a client: every descriptor is
/// non-blocking, a request is read as it arrives (at most
/// `ControlRequest.maximumLength` bytes), a client that has not sent it
/// within `requestDeadline` is dropped, and beyond `maximumPending` clients
/// at once new ones are turned away, except root's: the oldest client that
/// is not root's makes room for it, so the app user cannot lock root out.
package final class ControlSocket {
    package static let name = "agent.sock"
    static let maximumPending = 8
    static let requestDeadline = Duration.milliseconds(1000)

    package let listener: FileDescriptor
    package let folder: Folder
    let gate: ControlGate
    private let loop: EventLoop
    /// Connected, request not read yet.
    private var pending: [(connection: ControlConnection, token: EventLoop.Token, deadline: Instant)] = []
    /// Read and allowed, not taken yet (`takeRequests`).
    private var requests: [(request: ControlRequest, connection: ControlConnection)] = []

    /// Binds in `folder` (wdog/) under a umask, group = the app group.
    package init(in folder: Folder, gate: ControlGate, loop: EventLoop) throws(Errno) {
        self.folder = folder
        self.gate = gate
        self.loop = loop
        listener = try folder.bindUnixSocket(ControlSocket.name, mode: 0o660, gid: gate.appUser?.gid ?? 0, datagram: false)
    }

    /// The earliest time a pending client is dropped.
    package var nextDeadline: Instant? { pending.map { $0.deadline }.min() }

    /// Requests that parsed and passed the gate, in arrival order, for the
    /// agent to answer (now or later); the caller owns them from here.
    func takeRequests() -> [(request: ControlRequest, connection: ControlConnection)] {
        defer { requests = [] }
        return requests
    }

    /// Takes every waiting connection.
    private func acceptAll(now: Instant) {
        while let fd = UnixSocket.accept(listener) {
            guard let peer = try? PeerCredentials.of(fd) else {
                fd.discard()
                continue
            }
            let connection = ControlConnection(fd: fd, peer: peer)
            if pending.count >= ControlSocket.maximumPending, peer.uid == 0,
               let oldest = pending.first(where: { $0.connection.peer.uid != 0 })?.connection {
                stopWatching(oldest)
                oldest.send(.failed(.unavailable, "busy: dropped to make room for root's request; try again"))
            }
            guard pending.count < ControlSocket.maximumPending else {
                connection.send(.failed(.unavailable, "busy: \(ControlSocket.maximumPending) clients are sending requests; try again"))
                continue
            }
            guard let token = try? loop.watch(fd, for: self) else {
                connection.send(.failed(.system, "the agent cannot watch this connection"))
                continue
            }
            pending.append((connection, token, now + ControlSocket.requestDeadline))
        }
    }

    /// Drops the clients whose request is late.
    private func expire(now: Instant) {
        for client in pending where client.deadline <= now {
            stopWatching(client.connection)
            client.connection.send(.failed(.usage, "no request line within \(ControlSocket.requestDeadline.milliseconds) ms"))
        }
    }

    private func readRequest(_ connection: ControlConnection) {
        guard let line = connection.readRequest() else { return }  // more to come
        stopWatching(connection)
        let request: ControlRequest
        switch line {
        case .failure(let refusal):
            connection.send(.failed(.usage, refusal.reason))
            return
        case .success(let bytes):
            do { request = try ControlRequest.parse(bytes) } catch {
                connection.send(.failed(.usage, error.reason))
                return
            }
        }
        let peer = connection.peer
        guard gate.allows(request.access, peer: peer, inGroup: { Processes.isInGroup(peer.pid, gid: $0) }) else {
            connection.send(ControlGate.refusal(request))
            return
        }
        requests.append((request, connection))
    }

    private func stopWatching(_ connection: ControlConnection) {
        guard let i = pending.firstIndex(where: { $0.connection === connection }) else { return }
        loop.unwatch(pending[i].token)
        pending.remove(at: i)
    }

    package func close() {
        for client in pending { loop.unwatch(client.token) }
        pending.removeAll()
        requests.removeAll()
        listener.close()
        folder.remove(ControlSocket.name)
    }
}

/// The listener (registered with it) and each pending client's connection
/// are watched for this socket; late clients are dropped on a tick.
extension ControlSocket: EventParticipant {
    package func readable(_ token: EventLoop.Token, now: Instant) {
        if let client = pending.first(where: { $0.token == token }) {
            readRequest(client.connection)
        } else {
            acceptAll(now: now)
        }
    }

    package func tick(now: Instant) { expire(now: now) }
}

/// One client of the control socket, from its request to the agent's last
/// answer line.
package final class ControlConnection {
    package let fd: FileDescriptor
    /// Who connected, as the kernel recorded it.
    package let peer: PeerCredentials
    private(set) var isOpen = true
    private var request: [UInt8] = []
    /// Descriptors the client passed with its request (`update`); closed
    /// with the connection unless a verb takes them.
    private var descriptors: [FileDescriptor] = []

    package init(fd: FileDescriptor, peer: PeerCredentials) {
        self.fd = fd
        self.peer = peer
    }

    // The client's descriptors, and the connection it could have queued more on,
    // are closed on the closer thread (`FileDescriptor.discard`): a passed TCP socket
    // that lingers, or a FUSE file, would hold the loop for as long as the client likes.
    deinit {
        if isOpen { fd.discard() }
        for d in descriptors { d.discard() }
    }

    /// The descriptors that came with the request, now the caller's to close.
    func takeDescriptors() -> [FileDescriptor] {
        defer { descriptors = [] }
        return descriptors
    }

    /// Reads what has arrived: the request's bytes once its line is complete
    /// (or the client closed its end), nil while it is not, a refusal when
    /// it is too long or the connection failed.
    fileprivate func readRequest() -> Result<[UInt8], BadRequest>? {
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            var result: Result<(count: Int, descriptors: [FileDescriptor]), Errno> = .success((0, []))
            chunk.withUnsafeMutableBytes { buffer in
                do throws(Errno) { result = .success(try UnixSocket.receive(on: fd, into: buffer)) } catch { result = .failure(error) }
            }
            switch result {
            case .failure(let e) where e == .wouldBlock: return nil
            case .failure(let e): return .failure(BadRequest("reading the request: \(e)"))
            case .success(let got):
                descriptors += got.descriptors
                // Each packet may carry some: a client sending many could
                // otherwise make the agent run out of descriptors.
                if descriptors.count > ControlRequest.maximumDescriptors {
                    return .failure(BadRequest("more than \(ControlRequest.maximumDescriptors) descriptors with the request"))
                }
                let n = got.count
                if n == 0 { return .success(request) }
                if let newline = chunk[0..<n].firstIndex(of: 0x0A) {
                    return .success(request + chunk[0..<newline])
                }
                request += chunk[0..<n]
                if request.count > ControlRequest.maximumLength {
                    return .failure(BadRequest("request longer than \(ControlRequest.maximumLength) bytes"))
                }
            }
        }
    }

    /// Sends one answer line (with `descriptor` passed along, `SCM_RIGHTS`);
    /// a final answer closes the connection. False, and closed, when the
    /// client is gone or does not read: the agent never waits for it.
    @discardableResult
    package func send(_ answer: ControlAnswer, passing descriptor: FileDescriptor? = nil) -> Bool {
        guard isOpen else { return false }
        let sent = UnixSocket.send(answer.line, passing: descriptor, on: fd)
        if !sent || answer.isFinal { close() }
        return sent
    }

    package func close() {
        for d in takeDescriptors() { d.discard() }
        guard isOpen else { return }
        isOpen = false
        fd.discard()
    }
}
