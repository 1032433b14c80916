import TinyBase

/// The agent updating itself (DESIGN.md §6): an archive's `bin/` carries
/// the three programs (`AgentPrograms`), which replace the ones beside the
/// running agent together. Before anything is replaced, root's copy of the
/// new `tinyagent` must pass a trial run as the helper user; after the swap
/// the agent exits, systemd starts the new one, and the guard the unit runs
/// first (`tinyagent-guard`, `ExecStartPre=`) puts the previous programs
/// back when the new ones fail twice — without running any of them.
package enum SelfUpdate {
    /// The progress line the agent sends before it exits into new programs:
    /// a local `update --wait` then follows the new agent through `status`.
    package static let restarting = "restarting into tinyagent"

    /// The refusal of `bin/` on a device without update keys (DESIGN.md §6).
    package static let unsignedPrograms = "archive: bin/ carries the agent's own programs, which run as root: this device "
        + "has no update keys (certs/update-keys/), so it does not replace them; nothing installed"

    /// A `version` answers at once; one that does not is as good as hung.
    package static let trialTimeout = Duration.seconds(5)

    /// Runs `tinyagent version` from `program` (root's copy, through its
    /// descriptor) as `user` — never root — and returns the version it
    /// printed, or why it is refused.
    package static func trialVersion(_ program: FileDescriptor, as user: Identity) -> Result<Version, UpdateRefusal> {
        switch TrialRun.run(program, as: user, argument: "version", timeout: trialTimeout) {
        case .failure(let error):
            return .failure(UpdateRefusal("the trial run of the new tinyagent could not start: \(error)"))
        case .success(.timedOut):
            return .failure(UpdateRefusal("the new tinyagent did not answer `version` within \(trialTimeout.seconds) s; not installed"))
        case .success(.ended(let code, let output)):
            guard code == 0 else {
                let how = code < 0 ? "was killed by a signal" : "exited with status \(code)"
                return .failure(UpdateRefusal("the new tinyagent \(how) in its trial run (`version`); not installed"))
            }
            return parseVersion(output)
        }
    }

    /// "tinyagent 1.2.3\n", as `tinyagent version` prints it.
    static func parseVersion(_ text: String) -> Result<Version, UpdateRefusal> {
        let prefix = AgentPrograms.agent + " "
        var line = text
        if line.hasSuffix("\n") { line.removeLast() }
        guard line.hasPrefix(prefix), let version = Version(String(line.dropFirst(prefix.utf8.count))) else {
            let shown = line.utf8.count > 80 ? String(decoding: Array(line.utf8.prefix(80)), as: UTF8.self) + "…" : line
            return .failure(UpdateRefusal("the new tinyagent's `version` printed \"\(shown)\", not \"tinyagent X.Y.Z\"; not installed"))
        }
        return .success(version)
    }

    /// The version the update must end with: the command's `agent_version`
    /// when it names one (the trial must print it), else what the trial printed.
    static func expectedVersion(command: Version?, trial: Version) -> Result<Version, UpdateRefusal> {
        guard let command, command != trial else { return .success(trial) }
        return .failure(UpdateRefusal("the command expects tinyagent \(command), the archive's tinyagent says \(trial); not installed"))
    }
}

/// `wdog/self-update.trial`: the self-update on trial, read by the guard
/// script before every start (`tinyagent-guard`) and by the agent. Lines of
/// `key=value`, not JSON: the guard is POSIX sh and must parse it with
/// `read` and `case` alone — no tool that could be missing or broken, no
/// `eval`, no value ever used as a path or a command.
package struct TrialState: Equatable {
    package enum State: String {
        /// The new programs are in place; the guard counts their starts.
        case trial
        /// The new agent gave up (not confirmed in time): the guard rolls back at the next start.
        case failed
        /// The guard put the previous programs back.
        case rolledback
    }

    package static let fileName = "self-update.trial"
    package static let format = 1

    package var state: State
    /// Starts of the new programs the guard has counted.
    package var starts: Int
    /// The version the new agent must report.
    package var version: Version
    /// Who asked (`UpdateOrigin.label`), for a human reading the file.
    package var origin: String

    package init(state: State, starts: Int = 0, version: Version, origin: String) {
        self.state = state
        self.starts = starts
        self.version = version
        self.origin = origin
    }

    package func encode() -> String {
        let line = origin.utf8.contains(where: { $0 < 0x20 }) ? "?" : origin
        return "format=\(TrialState.format)\nstate=\(state.rawValue)\nstarts=\(starts)\nversion=\(version)\norigin=\(line)\n"
    }

    /// nil for anything but a whole file of this format.
    package static func decode(_ text: String) -> TrialState? {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard fields["format"] == "\(format)", let state = fields["state"].flatMap(State.init(rawValue:)),
              let starts = fields["starts"].flatMap({ Int($0) }), let version = fields["version"].flatMap(Version.init)
        else { return nil }
        return TrialState(state: state, starts: starts, version: version, origin: fields["origin"] ?? "")
    }
}

/// The three programs in the agent's folder, replaced together. Each step
/// is safe to repeat after a crash at any point; which names exist says how
/// far it got (the guard repairs the same way before a start).
package struct ProgramFiles {
    /// The folder the running agent was started from.
    package let folder: String

    package init(folder: String) { self.folder = folder }

    private func path(_ name: String, _ suffix: String = "") -> String { "\(folder)/\(name)\(suffix)" }
    private func exists(_ path: String) -> Bool { Files.size(path) != nil }

    /// Copies `source` (a staged program, read through its descriptor) to
    /// `NAME.next`, root's, 0755, synced — in 64 KiB pieces: a program is
    /// about a megabyte, more than an update may add to the agent's memory.
    package func stage(_ name: String, from source: FileDescriptor) throws(Errno) {
        let folder: Folder
        do { folder = try Folder.open(self.folder) } catch { throw error.errno }
        defer { folder.close() }
        let next = name + ".next"
        folder.remove(next)
        let file: FileDescriptor
        do { file = try folder.createNew(next, mode: 0o700) } catch { throw error.errno }
        defer { file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { break }
            try file.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        // Executable for all only once whole and root's.
        try file.setOwner(uid: 0, gid: 0)
        try file.setPermissions(0o755)
        try file.sync()
    }

    /// `NAME.next`, opened for the trial run.
    package func openStaged(_ name: String) throws(Errno) -> FileDescriptor {
        do { return try Folder.openRegularFile(path(name, ".next")) } catch { throw error.errno }
    }

    /// Per program with a `.next`: the current one → `.prev`, `.next` → the
    /// current one; the agent last, so that an agent killed half-way is the
    /// old one, and finishes the job at its next start.
    package func install() throws(Errno) {
        // Nothing swapped yet: older `.prev` files go, so that afterwards
        // each `.prev` is this update's previous program and no older one.
        if AgentPrograms.names.allSatisfy({ exists(path($0, ".next")) }) {
            for name in AgentPrograms.names { Files.remove(path(name, ".prev")) }
        }
        for name in AgentPrograms.names.reversed() where exists(path(name, ".next")) {
            if exists(path(name)) { try Files.rename(path(name), to: path(name, ".prev")) }
            try Files.rename(path(name, ".next"), to: path(name))
        }
        Files.syncFolder(of: path(AgentPrograms.agent))
    }

    /// Puts each `.prev` back (what the guard does before a start, for an
    /// agent that could not finish the swap itself); safe to repeat.
    package func restore() throws(Errno) {
        discardStaged()
        for name in AgentPrograms.names where exists(path(name, ".prev")) {
            try Files.rename(path(name, ".prev"), to: path(name))
        }
        Files.syncFolder(of: path(AgentPrograms.agent))
    }

    /// The staged copies of an update that ends before its swap.
    package func discardStaged() {
        for name in AgentPrograms.names { Files.remove(path(name, ".next")) }
    }
}
