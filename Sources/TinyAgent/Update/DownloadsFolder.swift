import TinyBase

/// `downloads/`: root's folder (0700) for an update's archive and staging
/// folder (DESIGN.md §3). The update worker runs as the helper user and cannot
/// reach it by path: it gets an open archive file and an open staging folder
/// (the only place it may write), and after it exits the agent takes the
/// staged tree back (`adopt`) before anything of it is installed.
package struct DownloadsFolder {
    package let folder: Folder

    /// Opens (making it when missing) `path`; it must be the agent's own,
    /// and is set to 0700 whatever it was.
    package static func open(_ path: String) throws(Errno) -> DownloadsFolder {
        try Files.makeFolder(path, mode: 0o700)
        let folder: Folder
        do { folder = try Folder.open(path) } catch { throw error.errno }
        do throws(Errno) {
            guard try folder.fd.status().uid == Processes.effectiveUID else { throw Errno.permissionDenied }
            try folder.fd.setPermissions(0o700)
        } catch {
            folder.close()
            throw error
        }
        return DownloadsFolder(folder: folder)
    }

    package func close() { folder.close() }

    /// A new, empty archive file, read-write, the agent's alone (0600). An
    /// archive already there is never used: it was not written by this run.
    package func newArchive(_ name: String) throws(Errno) -> FileDescriptor {
        try Files.removeTree("\(folder.path)/\(name)")
        return try folder.createNewForReadingAndWriting(name, mode: 0o600)
    }

    /// The acquired archive, read-only: the descriptor the signature check
    /// hashes and the unpacking worker reads.
    package func openArchive(_ name: String) throws(Errno) -> FileDescriptor {
        do { return try folder.openForReading(name) } catch { throw error.errno }
    }

    /// The acquired signature (empty: unsigned). The file is the agent's own,
    /// filled through a descriptor; more than a signature's worth is refused.
    package func readSignature(_ name: String) throws(Errno) -> [UInt8] {
        do { return try folder.readTrusted(name, limit: Int(UpdateJob.signatureCap)) ?? [] } catch { throw error.errno }
    }

    /// A new, empty staging folder (0700) owned by `worker` (nil: the agent's
    /// own user), open.
    package func newStaging(_ name: String, for worker: Identity?) throws(Errno) -> Folder {
        try Files.removeTree("\(folder.path)/\(name)")
        guard try folder.makeFolder(name, mode: 0o700) else { throw Errno.exists }
        let staging: Folder
        do { staging = try folder.folder(name) } catch { throw error.errno }
        if let worker {
            do { try staging.fd.setOwner(uid: worker.uid, gid: worker.gid) } catch {
                staging.close()
                throw error
            }
        }
        return staging
    }

    /// What a staging folder holds, taken back by `adopt`.
    package struct Staged {
        /// A `SmartMeter` folder, now the app user's.
        package var smartMeter = false
        /// The bytes of `certs/cacert.pem` (`CARotation`).
        package var ca: [UInt8]?
        /// `bin/` with the agent's three programs (`AgentPrograms`).
        package var programs = false
    }

    /// Takes back the staging folder `name` the worker filled, which may
    /// hold a `SmartMeter` folder, `certs/cacert.pem` and `bin/` with the
    /// agent's programs, and must hold one of them: every folder is locked (the
    /// agent's, 0700) before it is read, so a process the helper user left
    /// running can change nothing the agent has checked; then each entry is
    /// opened relative to its locked folder without following links and
    /// checked on its descriptor — folders and regular files with one link
    /// only. `SmartMeter` is handed to the app user with group and other
    /// write, setuid, setgid and sticky removed (`fchown`/`fchmod`, never by
    /// path). The CA is read here, from the locked tree, so that what root
    /// installs is what no other user could change after it looked.
    package func adopt(_ name: String, for app: Identity) throws(StagingError) -> Staged {
        let staging = try checked(name) { () throws(Errno) in try folder.subfolder(name) }
        defer { staging.close() }
        let names = try checked(name) { () throws(Errno) in
            try staging.lock()
            return try staging.names()
        }
        let programs = AgentPrograms.archiveFolder
        for entry in names where entry != "SmartMeter" && entry != "certs" && entry != programs {
            throw .unexpected(entry, "is not SmartMeter/, certs/ or \(programs)/")
        }
        guard !names.isEmpty else { throw .unexpected("the staging folder", "is empty") }
        var staged = Staged()
        // Root's own parts first: refused there, SmartMeter/ is never handed to the app user.
        if names.contains(programs) {
            try checkPrograms(in: staging)
            staged.programs = true
        }
        if names.contains("certs") { staged.ca = try readCA(in: staging) }
        if names.contains("SmartMeter") {
            try adoptFolder(in: staging, "SmartMeter", path: "SmartMeter", for: app)
            staged.smartMeter = true
        }
        return staged
    }

    /// `bin/` in the locked staging folder: locked too, exactly the agent's
    /// programs, each a regular file with one name.
    private func checkPrograms(in staging: Folder) throws(StagingError) {
        let name = AgentPrograms.archiveFolder
        let bin = try lockedSubfolder(name, in: staging)
        defer { bin.close() }
        let names = try checked(name) { () throws(Errno) in try bin.names() }
        guard names.sorted() == AgentPrograms.names.sorted() else {
            throw .unexpected(name, "holds other than \(AgentPrograms.names.joined(separator: ", "))")
        }
        for program in names {
            let status = try checked(name + "/" + program) { () throws(Errno) in try bin.status(of: program) }
            guard status.kind == .regular, status.links == 1 else {
                throw .unexpected(name + "/" + program, "is not a regular file with one name")
            }
        }
    }

    /// The folder `name` in `parent`, a folder (not a link), opened and locked.
    private func lockedSubfolder(_ name: String, in parent: Folder) throws(StagingError) -> Folder {
        guard try checked(name, { () throws(Errno) in try parent.status(of: name) }).kind == .folder else {
            throw .unexpected(name, "is not a folder")
        }
        let child = try checked(name) { () throws(Errno) in try parent.subfolder(name) }
        do { try child.lock() } catch {
            child.close()
            throw .system(name, error)
        }
        return child
    }

    /// `certs/cacert.pem` in the locked staging folder: `certs/` locked too,
    /// then the one regular, single-link file, read through its descriptor.
    private func readCA(in staging: Folder) throws(StagingError) -> [UInt8] {
        let path = CARotation.archivePath
        let certs = try lockedSubfolder("certs", in: staging)
        defer { certs.close() }
        let names = try checked("certs") { () throws(Errno) in try certs.names() }
        guard names == [AgentPaths.caFileName] else { throw .unexpected("certs", "holds more than \(AgentPaths.caFileName)") }
        let file = try checked(path) { () throws(Errno) in
            do throws(FileError) { return try certs.openForReading(AgentPaths.caFileName) } catch { throw error.errno }
        }
        defer { file.close() }
        let status = try checked(path) { () throws(Errno) in try file.status() }
        guard status.kind == .regular, status.links == 1 else { throw .unexpected(path, "is not a regular file with one name") }
        return try checked(path) { () throws(Errno) in try file.readToEnd(limit: CARotation.maximumBytes) }
    }

    private func adoptFolder(in parent: Folder, _ name: String, path: String, for app: Identity) throws(StagingError) {
        guard try checked(path, { () throws(Errno) in try parent.status(of: name) }).kind == .folder else {
            throw .unexpected(path, "is not a folder")
        }
        let child = try checked(path) { () throws(Errno) in try parent.subfolder(name) }
        defer { child.close() }
        let (mode, entries) = try checked(path) { () throws(Errno) in
            let mode = try child.fd.status().permissions
            try child.lock()
            return (mode, try child.names())
        }
        for entry in entries {
            let entryPath = path + "/" + entry
            let status = try checked(entryPath) { () throws(Errno) in try child.status(of: entry) }
            if status.kind == .folder {
                try adoptFolder(in: child, entry, path: entryPath, for: app)
            } else if status.kind == .regular {
                try adoptFile(in: child, entry, path: entryPath, for: app)
            } else {
                throw .unexpected(entryPath, "is not a regular file or a folder")
            }
        }
        // Mode while still the agent's (no CAP_FOWNER needed), then the owner.
        try checked(path) { () throws(Errno) in
            try child.fd.setPermissions(mode & EntryAttributes.allowedBits | 0o700)
            try child.fd.setOwner(uid: app.uid, gid: app.gid)
        }
    }

    private func adoptFile(in folder: Folder, _ name: String, path: String, for app: Identity) throws(StagingError) {
        let file = try checked(path) { () throws(Errno) in
            do throws(FileError) { return try folder.openForReading(name) } catch { throw error.errno }
        }
        defer { file.close() }
        let status = try checked(path) { () throws(Errno) in try file.status() }
        guard status.kind == .regular else { throw .unexpected(path, "is not a regular file") }
        guard status.links == 1 else { throw .unexpected(path, "has \(status.links) links") }
        // The agent's first (CAP_CHOWN), so that it may set the mode without
        // CAP_FOWNER (the unit does not grant it), then the app user's.
        let me = Processes.ownIdentity
        try checked(path) { () throws(Errno) in
            try file.setOwner(uid: me.uid, gid: me.gid)
            try file.setPermissions(status.permissions & EntryAttributes.allowedBits)
            try file.setOwner(uid: app.uid, gid: app.gid)
        }
    }

    /// Runs system calls about `path`, naming it in the error.
    private func checked<T>(_ path: String, _ body: () throws(Errno) -> T) throws(StagingError) -> T {
        do { return try body() } catch { throw .system(path, error) }
    }
}

/// Why the check step refused an archive.
package enum UpdateCheckError: Error {
    case refused(String)
    case system(Errno)

    package var remark: String {
        switch self {
        case .refused(let why): return why
        case .system(let error): return "check: \(error)"
        }
    }
}

/// Why a staged tree is not installed.
package enum StagingError: Error {
    case unexpected(String, String)
    case system(String, Errno)
    /// A staged tree that is sound but that this agent will not install.
    case notInstalled(String)

    package var remark: String {
        switch self {
        case .notInstalled(let why): return why
        case .unexpected(let path, let why): return "staging: \(path) \(why)"
        case .system(let path, let error): return "staging: \(path): \(error)"
        }
    }
}
