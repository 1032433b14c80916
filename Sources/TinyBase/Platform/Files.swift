import CShims

/// Whole-file reads and crash-safe writes.
public enum Files {
    /// Reads a file of at most `limit` bytes. A larger file is an error
    /// (`EFBIG`): nothing the agent reads should be large.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
        let fd = FileDescriptor(try withCString(path) { p throws(Errno) in try valueOrErrno { ta_open_read(p) } })
        defer { fd.close() }
        return try fd.readToEnd(limit: limit)
    }

    /// Writes `name.new`, fsyncs it, renames it over `name` and fsyncs the
    /// folder, so a power cut leaves either the old or the new file whole
    /// (`Folder.writeAtomically`: nothing planted at either name is followed).
    public static func writeAtomically(_ path: String, _ contents: String, mode: UInt32 = 0o644) throws(Errno) {
        try writeAtomically(path, bytes: Array(contents.utf8), mode: mode)
    }

    public static func writeAtomically(_ path: String, bytes contents: [UInt8], mode: UInt32 = 0o644) throws(Errno) {
        do {
            let folder = try Folder.open(parent(of: path))
            defer { folder.close() }
            try folder.writeAtomically(name(of: path), bytes: contents, mode: mode)
        } catch { throw error.errno }
    }

    /// Reads a regular file in a folder another user may write: no link
    /// followed, a FIFO or device refused at once (`Folder.openForReading`);
    /// its status is that of the descriptor the bytes were read from.
    public static func readRegular(_ path: String, limit: Int = 1 << 20) throws(FileError) -> (bytes: [UInt8], status: FileStatus) {
        let folder = try Folder.open(parent(of: path))
        defer { folder.close() }
        let file = try folder.openForReading(name(of: path))
        defer { file.close() }
        do { return (try file.readToEnd(limit: limit), try file.status()) } catch { throw .system(error) }
    }

    /// A state file the agent wrote (`Folder.readTrusted`): nil when missing;
    /// refused unless it is a regular file of `owner`'s, mode 0600 or stricter.
    public static func readTrusted(_ path: String, owner: UInt32 = Processes.effectiveUID, limit: Int = 1 << 20) throws(FileError) -> [UInt8]? {
        let folder = try Folder.open(parent(of: path))
        defer { folder.close() }
        return try folder.readTrusted(name(of: path), owner: owner, limit: limit)
    }

    /// fsync of the folder holding `path`, so a rename in it is durable.
    package static func syncFolder(of path: String) {
        let folder = parent(of: path)
        guard let raw = try? withCString(folder, { p throws(Errno) in try valueOrErrno { ta_open_dir(p) } }) else { return }
        let fd = FileDescriptor(raw)
        try? fd.sync()
        fd.close()
    }

    /// The last component of `path`.
    package static func name(of path: String) -> String {
        var utf8 = Array(path.utf8)
        while utf8.count > 1, utf8.last == UInt8(ascii: "/") { utf8.removeLast() }
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(decoding: utf8[(slash + 1)...], as: UTF8.self)
    }

    package static func parent(of path: String) -> String {
        var utf8 = Array(path.utf8)
        while let last = utf8.last, last != UInt8(ascii: "/") { utf8.removeLast() }
        if utf8.count > 1 { utf8.removeLast() }
        return utf8.isEmpty ? "." : String(decoding: utf8, as: UTF8.self)
    }

    /// Creates a folder unless it exists.
    public static func makeFolder(_ path: String, mode: UInt32 = 0o755) throws(Errno) {
        do {
            try withCString(path) { (p) throws(Errno) in try nothingOrErrno { ta_mkdir(p, mode) } }
        } catch {
            if error != .exists { throw error }
        }
    }

    /// Size in bytes, or nil when the file does not exist.
    public static func size(_ path: String) -> Int64? {
        let size = withCString(path) { ta_file_size($0) }
        return size < 0 ? nil : size
    }

    /// Free bytes for unprivileged users on the file system holding `path`.
    public static func freeBytes(under path: String) -> Int64? {
        let free = withCString(path) { ta_free_bytes($0) }
        return free < 0 ? nil : free
    }

    public static func rename(_ from: String, to: String) throws(Errno) {
        try withCString(from) { (f) throws(Errno) in
            try withCString(to) { (t) throws(Errno) in try nothingOrErrno { ta_rename(f, t) } }
        }
    }

    /// Removes a file or a whole folder (links removed, not followed);
    /// a missing path is no error.
    public static func removeTree(_ path: String) throws(Errno) {
        try withCString(path) { (p) throws(Errno) in try nothingOrErrno { ta_remove_tree(p) } }
    }

    public static func remove(_ path: String) {
        _ = withCString(path) { ta_unlink($0) }
    }

    /// Opens a file for appending (created with `mode` if missing).
    package static func openAppend(_ path: String, mode: UInt32 = 0o644) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_open_append(p, mode) } })
    }
}
