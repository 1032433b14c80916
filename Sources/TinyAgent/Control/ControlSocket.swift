/// The local control socket (`wdog/agent.sock`, mode 0600): a client
/// connects and reads the status report; nothing is read from it.
final class ControlSocket {
    let listener: FileDescriptor
    let path: String

    init(path: String) throws(Errno) {
        self.path = path
        listener = try UnixSocket.listen(path: path, mode: 0o600)
    }

    /// Answers every pending connection with `report()`.
    func serve(_ report: () -> String) {
        while let client = UnixSocket.accept(listener) {
            // The report is small: it fits the socket buffer, so a slow or
            // stuck client cannot block the loop (non-blocking; dropped if not).
            try? client.writeAll(report() + "\n")
            client.close()
        }
    }

    func close() {
        listener.close()
        Files.remove(path)
    }

    /// The client side: the status JSON of the agent at `path`.
    static func fetch(path: String) throws(Errno) -> [UInt8] {
        let fd = try UnixSocket.connect(path: path)
        defer { fd.close() }
        return try fd.readToEnd(limit: 1 << 20)
    }
}
