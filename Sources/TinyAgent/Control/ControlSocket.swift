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
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var result: Result<Int, Errno> = .success(0)
            chunk.withUnsafeMutableBytes { buffer in
                do throws(Errno) { result = .success(try fd.read(into: buffer)) } catch { result = .failure(error) }
            }
            let n = try result.get()
            if n == 0 { return reply }
            reply.append(contentsOf: chunk[0..<n])
            if reply.count > 1 << 20 { return reply }
        }
    }
}
