import CShims

/// Why a helper cannot be started — its program, or the user it runs as: one line.
package struct HelperUnavailable: Error, Equatable {
    package let reason: String
}

/// One of the agent's helper programs (`tinyagent-link`, `tinyagent-fetch`:
/// ARCHITECTURE.md), opened when the agent starts, from the folder of the
/// agent's own executable, and started later through that descriptor: what
/// runs is the file checked at start, even after an upgrade replaced the one
/// on disk. Root starts it (and drops it to the helper user itself), so a
/// program or folder that anyone but root — or the agent's own user — could
/// write is refused (DESIGN.md §3).
package struct HelperProgram {
    package let name: String
    package let fd: FileDescriptor

    /// Opens `name` beside the running executable.
    package static func open(_ name: String) throws(HelperUnavailable) -> HelperProgram {
        let folderPath: String
        do { folderPath = try Processes.executableFolder() } catch {
            throw HelperUnavailable(reason: "\(name): cannot tell the agent's own folder: \(error)")
        }
        return try open(name, in: folderPath)
    }

    /// Opens `name` in `folderPath`.
    package static func open(_ name: String, in folderPath: String) throws(HelperUnavailable) -> HelperProgram {
        let path = "\(folderPath)/\(name)"
        let folder = try refusing(folderPath) { () throws(FileError) in try Folder.open(folderPath) }
        defer { folder.close() }
        try trusted(try refusing(folderPath) { () throws(Errno) in try folder.status() }, folderPath)
        let fd = try refusing(path) { () throws(FileError) in try folder.openForReading(name) }
        do { try trusted(try refusing(path) { () throws(Errno) in try fd.status() }, path) } catch {
            fd.close()
            throw error
        }
        return HelperProgram(name: name, fd: fd)
    }

    private static func refusing<T, E: Error>(_ path: String, _ body: () throws(E) -> T) throws(HelperUnavailable) -> T {
        do { return try body() } catch { throw HelperUnavailable(reason: "\(path): \(error)") }
    }

    /// Replaces this process with the program, given `arguments` after its
    /// name; returns only on failure.
    package func exec(_ arguments: [String]) -> Errno {
        Errno(rawValue: -Processes.withPacked([name] + arguments) { ta_exec_fd(fd.rawValue, $0, arguments.count + 1) })
    }

    private static func trusted(_ status: FileStatus, _ path: String) throws(HelperUnavailable) {
        let owners: [UInt32] = [0, Processes.effectiveUID]
        guard owners.contains(status.uid), status.permissions & 0o022 == 0 else {
            throw HelperUnavailable(reason: "\(path): not trusted: \(status.ownerAndMode); the agent's programs and their folder must be root's and writable by no one else")
        }
    }
}

/// How the agent starts one of its helpers: the program, opened at the
/// agent's start, and the user it drops to (nil: the agent is not root, and
/// the helper runs as the agent's own user). The two come together or, with
/// the one reason why, not at all.
package struct HelperLaunch {
    package let role: HelperRole
    package let program: HelperProgram
    package let user: Identity?

    /// `role`'s program beside the agent, run as `user` (`HelperUser.resolve`).
    package static func prepare(_ role: HelperRole, user: Result<Identity?, HelperUnavailable>) -> Result<HelperLaunch, HelperUnavailable> {
        switch user {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let identity):
            do { return .success(HelperLaunch(role: role, program: try HelperProgram.open(role.program), user: identity)) } catch {
                return .failure(error)
            }
        }
    }

    /// Starts the helper with the other end of a new channel (`PacketChannel.startHelper`).
    package func start() throws(Errno) -> (channel: PacketChannel, pid: Int32) {
        try PacketChannel.startHelper(program, role, as: user)
    }
}
