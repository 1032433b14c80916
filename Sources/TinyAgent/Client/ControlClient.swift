import TinyBase

/// The CLI's end of the control socket: sends one `ControlRequest`, reads
/// the `ControlAnswer` lines until the final one.
public enum ControlClient {
    public enum Failure: Error {
        case notRunning(String, Errno)
        /// The socket's mode said no (the peer is not in the app group).
        case cannotConnect(String, Errno)
        /// The agent's final answer was an error.
        case answered(ControlAnswer.Failure, String)
        case badReply(String)

        /// The one line for stderr.
        public var reason: String {
            switch self {
            case .notRunning(let path, let e): return "the agent is not running (\(path): \(e))"
            case .cannotConnect(let path, let e): return "\(path): \(e): the control socket is for root and the app user's group"
            case .answered(_, let why): return why
            case .badReply(let why): return "unexpected reply from the agent: \(why)"
            }
        }

        public var exitStatus: Int32 {
            switch self {
            case .notRunning, .badReply: return ExitStatus.unavailable
            case .cannotConnect: return ExitStatus.noPermission
            case .answered(let failure, _): return failure.exitStatus
            }
        }
    }

    /// What the final `ok` line said, its data (JSON text), and the
    /// descriptor that came with the answer (`logs`), if any.
    public struct Reply {
        public let message: String
        public let data: String?
        package let descriptor: FileDescriptor?
    }

    /// Asks the agent at `root`, passing `descriptors` with the request;
    /// `progress` gets each progress line as it comes.
    public static func ask(_ request: ControlRequest, root: String, passing descriptors: [FileDescriptor] = [],
                           progress: (String) -> Void = { _ in }) throws(Failure) -> Reply {
        let path = AgentPaths(root: root).controlSocket
        let fd: FileDescriptor
        do { fd = try UnixSocket.connect(path: path) } catch {
            throw error == .permissionDenied ? .cannotConnect(path, error) : .notRunning(path, error)
        }
        defer { fd.close() }
        // Not sent when the agent has already answered and closed (too busy):
        // that answer is still there to read.
        _ = UnixSocket.send(request.line, passing: descriptors, on: fd)
        var pending: [UInt8] = []
        var descriptor: FileDescriptor?
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var result: Result<(count: Int, descriptors: [FileDescriptor]), Errno> = .success((0, []))
            buffer.withUnsafeMutableBytes { raw in
                do throws(Errno) { result = .success(try UnixSocket.receive(on: fd, into: raw)) } catch { result = .failure(error) }
            }
            guard case .success(let got) = result else {
                descriptor?.close()
                throw .badReply("the connection failed")
            }
            for d in got.descriptors {
                descriptor?.close()
                descriptor = d
            }
            if got.count == 0 {
                descriptor?.close()
                throw .badReply(pending.isEmpty ? "no answer" : "the answer ends early")
            }
            pending += buffer[0..<got.count]
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[0..<newline])
                pending.removeFirst(newline + 1)
                switch ControlAnswer.parse(line) {
                case .progress(let message): progress(message)
                case .ok(let message, let data): return Reply(message: message, data: data, descriptor: descriptor)
                case .failed(let failure, let why):
                    descriptor?.close()
                    throw .answered(failure, why)
                case nil:
                    descriptor?.close()
                    throw .badReply("not an answer line: \(String(decoding: line.prefix(80), as: UTF8.self))")
                }
            }
        }
    }

    /// Runs `request` for the CLI: prints the progress lines (through
    /// `progress`: stdout unless said) and the ok message, or the error as
    /// one line on stderr; the exit status.
    public static func run(_ request: ControlRequest, root: String, passing descriptors: [FileDescriptor] = [],
                           progress: (String) -> Void = { Console.out($0) }) -> Int32 {
        do {
            let reply = try ask(request, root: root, passing: descriptors, progress: progress)
            reply.descriptor?.close()
            Console.out(reply.message)
            return ExitStatus.ok
        } catch {
            Console.error(error.reason)
            return error.exitStatus
        }
    }
}
