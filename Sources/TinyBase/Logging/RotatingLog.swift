/// A log file in the logs folder capped at `maximumBytes`: when full it
/// becomes `name.1`, `name.1` becomes `name.2`, … and the oldest of `keep`
/// is dropped. Every open and rename is relative to the folder's
/// descriptor, never following a link (`Folder`); the files are
/// root:`group` 0640 so the app user's group can read them (DESIGN.md §3).
public final class RotatingLog {
    package let folder: Folder
    public let name: String
    package let maximumBytes: Int64
    package let keep: Int
    package let group: UInt32
    private var fd: FileDescriptor?
    private var size: Int64 = 0
    package static let mode: UInt32 = 0o640

    /// `folder` stays open for as long as the log is used; the caller owns it.
    public init(folder: Folder, name: String, maximumBytes: Int64, keep: Int, group: UInt32) {
        self.folder = folder
        self.name = name
        self.maximumBytes = maximumBytes
        self.keep = max(keep, 1)
        self.group = group
        reopen()
    }

    deinit { fd?.close() }

    package func append(_ line: String) {
        let length = Int64(line.utf8.count)
        if size > 0 && size + length > maximumBytes {
            fd?.close()
            fd = nil
            RotatingLog.shift(name, in: folder, keep: keep)
            reopen()
        }
        guard let fd else { return }
        if (try? fd.writeAll(line)) != nil { size += length }
    }

    private func reopen() {
        fd = try? RotatingLog.open(name, in: folder, group: group)
        size = (try? fd?.status().size) ?? 0
    }

    /// Opens (creating) `name` for appending as root:`group` 0640, owner and
    /// mode set on the descriptor. A link, a FIFO, a device or a file with a
    /// second name is refused (`Folder.openForAppending`). `existing`: only a
    /// file that is there, opened for reading too (to copy it aside).
    /// Only a file the agent's user owns (made now or before) gets that owner
    /// and mode: one another user made (in a `logs/` it can write: an old
    /// card) stays that user's, or root would vouch for its contents (renamed
    /// into `SmartMeter/`, it passed for root's own manifest).
    package static func open(_ name: String, in folder: Folder, group: UInt32, existing: Bool = false) throws(FileError) -> FileDescriptor {
        let fd = try folder.openForAppending(name, mode: mode, create: !existing, reading: existing)
        guard (try? fd.status().uid) == Processes.effectiveUID else { return fd }
        do {
            try fd.setOwner(uid: 0, gid: group)
            try fd.setPermissions(mode)
        } catch {
            // Not root (a test, a developer's run): the file stays the caller's.
            if error != .notPermitted {
                fd.close()
                throw .system(error)
            }
        }
        return fd
    }

    /// Renames `name.(keep-1)` → `name.keep`, …, `name` → `name.1`, inside
    /// the folder: a rename replaces whatever is at the new name and follows
    /// nothing.
    static func shift(_ name: String, in folder: Folder, keep: Int) {
        var index = keep
        while index > 1 {
            try? folder.rename("\(name).\(index - 1)", to: "\(name).\(index)")
            index -= 1
        }
        try? folder.rename(name, to: "\(name).1")
    }

    /// The log a (re)started process writes to (`NAME.log`, handed to it as
    /// stdout and stderr). Over `maximumBytes` it becomes `NAME.log.1`: a
    /// fresh file is made beside it and the two names are swapped in one
    /// step, so `NAME.log` is never missing (readers, the app user's tail).
    static func openProcessLog(_ name: String, in folder: Folder, maximumBytes: Int64, group: UInt32) throws(FileError) -> FileDescriptor {
        let fd = try open(name, in: folder, group: group)
        guard let size = try? fd.status().size, size > maximumBytes else { return fd }
        let fresh = "\(name).new"
        folder.remove(fresh)
        guard let replacement = try? folder.createNew(fresh, mode: mode) else { return fd }
        replacement.close()
        if (try? folder.exchange(name, fresh)) != nil {
            try? folder.rename(fresh, to: "\(name).1")
        } else {
            folder.remove(fresh)
            shift(name, in: folder, keep: 1)  // no RENAME_EXCHANGE here: a moment without the log
        }
        fd.close()
        return try open(name, in: folder, group: group)
    }

    /// Caps the log of a process that is running and appending to it: copies
    /// its last `maximumBytes` to `name.1` and truncates the same descriptor
    /// that was checked (never a path: no link is followed), so the writer's
    /// O_APPEND descriptor goes on writing at the new end. Only the last
    /// `maximumBytes`: a process that wrote a gigabyte since the last check
    /// costs the agent no more memory or time than one that wrote a little
    /// over the cap (it read and copied the whole file, on the loop).
    package static func capRunning(_ name: String, in folder: Folder, maximumBytes: Int64, group: UInt32) {
        guard let fd = try? open(name, in: folder, group: group, existing: true) else { return }
        defer { fd.close() }
        guard let size = try? fd.status().size, size > maximumBytes,
              let tail = try? fd.read(Int(maximumBytes), at: size - maximumBytes),
              (try? folder.writeAtomically("\(name).1", bytes: tail, mode: mode, group: group)) != nil else { return }
        try? fd.truncate(to: 0)
    }
}
