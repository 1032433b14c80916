import TinyBase

/// `tinyagent logs NAME [-n N] [-f]`: a process's output log, as
/// `supervisorctl tail` shows it. The agent opens `logs/NAME.log` and hands
/// over the descriptor (`ControlRequest.logs`); reading and following it is
/// the client's work, so a slow reader never costs the agent anything.
public enum LogsClient {
    public static let defaultLines = 10
    static let pollInterval = Duration.milliseconds(250)
    /// How often `-f` asks the agent for the log again: a restart over the
    /// size cap moves the old file aside and starts a new one.
    static let reopenInterval = Duration.seconds(1)

    public static func run(name: String, root: String, lines: Int, follow: Bool) -> Int32 {
        var log: FileDescriptor
        do { log = try open(name, root: root) } catch {
            Console.error(error.reason)
            return error.exitStatus
        }
        var offset = copy(log, from: tailStart(log, lines: lines))
        guard follow, offset >= 0 else {
            log.close()
            return ExitStatus.ok
        }
        var asked = Clock.now()
        while offset >= 0 {
            Clock.sleep(pollInterval)
            if let size = try? log.status().size, size < offset { offset = 0 }  // capped in place: from its start
            offset = copy(log, from: offset)
            guard Clock.now() - asked >= reopenInterval, offset >= 0 else { continue }
            asked = Clock.now()
            // The agent gone (restarting) is no reason to stop following.
            guard let next = try? open(name, root: root) else { continue }
            if sameFile(next, log) {
                next.close()
            } else {
                log.close()
                log = next
                offset = copy(log, from: 0)
            }
        }
        log.close()
        return ExitStatus.ok
    }

    private static func open(_ name: String, root: String) throws(ControlClient.Failure) -> FileDescriptor {
        let reply = try ControlClient.ask(.logs(name), root: root)
        guard let fd = reply.descriptor else { throw .badReply("no log descriptor came with the answer") }
        return fd
    }

    private static func sameFile(_ a: FileDescriptor, _ b: FileDescriptor) -> Bool {
        guard let x = try? a.status(), let y = try? b.status() else { return false }
        return x.device == y.device && x.inode == y.inode
    }

    /// Where the last `lines` lines begin (a final newline ends the last
    /// line, it does not start another).
    static func tailStart(_ fd: FileDescriptor, lines: Int) -> Int64 {
        guard let size = try? fd.status().size, size > 0 else { return 0 }
        guard lines > 0 else { return size }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var end = size - 1  // the byte after the last one looked at
        var found = 0
        while end > 0 {
            let start = max(0, end - Int64(chunk.count))
            let want = Int(end - start)
            var got = 0
            chunk.withUnsafeMutableBytes { raw in
                got = (try? fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: start)) ?? 0
            }
            guard got == want else { return 0 }
            var k = want - 1
            while k >= 0 {
                if chunk[k] == 0x0A {
                    found += 1
                    if found == lines { return start + Int64(k) + 1 }
                }
                k -= 1
            }
            end = start
        }
        return 0
    }

    /// Writes the log from `offset` to its end on stdout; the new offset, or
    /// -1 when stdout is gone (the reader of a pipe has quit).
    private static func copy(_ fd: FileDescriptor, from offset: Int64) -> Int64 {
        var position = offset
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var got = 0
            chunk.withUnsafeMutableBytes { raw in got = (try? fd.read(into: raw, at: position)) ?? 0 }
            if got == 0 { return position }
            let written = chunk.withUnsafeBytes { raw in
                (try? FileDescriptor(1).writeAll(UnsafeRawBufferPointer(rebasing: raw[0..<got]))) != nil
            }
            if !written { return -1 }
            position += Int64(got)
        }
    }
}
