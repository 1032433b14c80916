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
    /// folder, so a power cut leaves either the old or the new file whole.
    public static func writeAtomically(_ path: String, _ contents: String, mode: UInt32 = 0o644) throws(Errno) {
        try writeAtomically(path, bytes: Array(contents.utf8), mode: mode)
    }

    public static func writeAtomically(_ path: String, bytes contents: [UInt8], mode: UInt32 = 0o644) throws(Errno) {
        let temporary = path + ".new"
        let fd = FileDescriptor(try withCString(temporary) { p throws(Errno) in
            try valueOrErrno { ta_open_write_new(p, mode) }
        })
        do {
            try withBytes(of: contents) { (raw) throws(Errno) in try fd.writeAll(raw) }
            try fd.sync()
        } catch {
            fd.close()
            throw error
        }
        fd.close()
        try withCString(temporary) { (from) throws(Errno) in
            try withCString(path) { (to) throws(Errno) in try nothingOrErrno { ta_rename(from, to) } }
        }
        syncFolder(of: path)
    }

    /// fsync of the folder holding `path`, so a rename in it is durable.
    static func syncFolder(of path: String) {
        let folder = parent(of: path)
        guard let raw = try? withCString(folder, { p throws(Errno) in try valueOrErrno { ta_open_dir(p) } }) else { return }
        let fd = FileDescriptor(raw)
        try? fd.sync()
        fd.close()
    }

    static func parent(of path: String) -> String {
        var utf8 = Array(path.utf8)
        while let last = utf8.last, last != UInt8(ascii: "/") { utf8.removeLast() }
        if utf8.count > 1 { utf8.removeLast() }
        return utf8.isEmpty ? "." : String(decoding: utf8, as: UTF8.self)
    }

    /// The uid owning the folder at `path`; nil when it is missing, not a
    /// folder, or a symbolic link (`O_NOFOLLOW`, then `fstat`).
    public static func folderOwner(_ path: String) -> UInt32? {
        let uid = withCString(path) { ta_folder_owner($0) }
        return uid < 0 ? nil : UInt32(uid)
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
    static func openAppend(_ path: String, mode: UInt32 = 0o644) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_open_append(p, mode) } })
    }
}
