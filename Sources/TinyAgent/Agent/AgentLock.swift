import TinyBase

/// One agent per root: `wdog/agent.lock`, held with `flock` for the agent's
/// lifetime. Two agents on one root would both restart the processes, and
/// the second would remove the first's sockets on its way out; the lock is
/// taken before either can happen. The file holds the holder's pid, for the
/// message only: the lock itself is the kernel's, released when the agent
/// dies however it dies (no stale pid file to clean up). Its descriptor is
/// close-on-exec, so a process the agent starts never inherits the lock.
package struct AgentLock {
    package static let name = "agent.lock"
    package let file: FileDescriptor

    package enum Failure: Error {
        /// Another agent holds it; its pid when the file names one.
        case held(by: Int32?)
        case system(FileError)
    }

    /// Takes the lock in `wdog` (root's own folder: no other user can plant
    /// anything in it) and writes this process's pid into it.
    package static func take(in wdog: Folder) throws(Failure) -> AgentLock {
        let file: FileDescriptor
        do { file = try wdog.openForAppending(name, mode: 0o600, reading: true) } catch { throw .system(error) }
        let locked: Bool
        do { locked = try file.tryLockExclusive() } catch {
            file.close()
            throw .system(.system(error))
        }
        guard locked else {
            let holder = (try? file.readToEnd(limit: 64)).flatMap { Int32(String(decoding: $0, as: UTF8.self).filter { $0 != "\n" }) }
            file.close()
            throw .held(by: holder)
        }
        // O_APPEND: after the truncation the pid lands at offset 0.
        try? file.truncate(to: 0)
        try? file.writeAll("\(Processes.currentPID)\n")
        return AgentLock(file: file)
    }
}
