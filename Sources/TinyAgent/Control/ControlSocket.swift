/// The local control socket (`wdog/agent.sock`, root:app group 0660): a
/// client connects and reads the status report; nothing is read from it.
/// Each peer is checked by its kernel credentials (`ControlGate`).
final class ControlSocket {
    static let name = "agent.sock"
    let listener: FileDescriptor
    let folder: Folder
    let gate: ControlGate

    /// Binds in `folder` (wdog/) under a umask, group = the app group.
    init(in folder: Folder, gate: ControlGate) throws(Errno) {
        self.folder = folder
        self.gate = gate
        listener = try folder.bindUnixSocket(ControlSocket.name, mode: 0o660, gid: gate.appUser?.gid ?? 0, datagram: false)
    }

    /// Answers every pending connection with `report()`, or with a refusal.
    func serve(_ report: () -> String) {
        while let client = UnixSocket.accept(listener) {
            // The report is small: it fits the socket buffer, so a slow or
            // stuck client cannot block the loop (non-blocking; dropped if not).
            let allowed = (try? PeerCredentials.of(client)).map { gate.allows(.readStatus, peer: $0) } ?? false
            try? client.writeAll((allowed ? report() : ControlGate.refusal(.readStatus)) + "\n")
            client.close()
        }
    }

    func close() {
        listener.close()
        folder.remove(ControlSocket.name)
    }

    /// The client side: the status JSON of the agent at `path`.
    static func fetch(path: String) throws(Errno) -> [UInt8] {
        let fd = try UnixSocket.connect(path: path)
        defer { fd.close() }
        return try fd.readToEnd(limit: 1 << 20)
    }
}
