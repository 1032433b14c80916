import CShims

/// Why a file in a folder was not opened or not trusted.
public enum FileError: Error, Equatable, CustomStringConvertible {
    case system(Errno)
    /// The name is a symbolic link: never followed (O_NOFOLLOW).
    case symbolicLink
    /// A FIFO, socket, device or folder where a regular file belongs.
    case notRegular(FileStatus.Kind)
    /// A state file that is not root's and private (0600): someone else
    /// wrote it or can, so nothing in it is believed.
    case untrusted(FileStatus)
    /// A file with more than one name, where root would write.
    case linked(UInt64)

    public var description: String {
        switch self {
        case .system(let errno): return "\(errno)"
        case .symbolicLink: return "is a symbolic link (not followed)"
        case .notRegular(let kind): return "is a \(kind.word), not a regular file"
        case .untrusted(let st): return "not trusted: \(st.ownerAndMode), \(st.links) name(s); a state file must be root's, 0600, one name"
        case .linked(let n): return "has \(n) names (hard links): not written to"
        }
    }

    /// The nearest error number, for callers that speak `Errno`.
    public var errno: Errno {
        switch self {
        case .system(let e): return e
        case .symbolicLink: return .tooManyLinks
        case .notRegular, .untrusted, .linked: return .permissionDenied
        }
    }

    /// O_NOFOLLOW reports a link in the last component as ELOOP (as
    /// ENOTDIR with O_DIRECTORY: then `lstat` tells); O_WRONLY|O_NONBLOCK
    /// on a FIFO without a reader fails with ENXIO.
    package init(opening errno: Errno, at dirfd: Int32 = Int32(TA_AT_FDCWD), _ name: String) {
        switch errno {
        case .tooManyLinks: self = .symbolicLink
        case .noDevice: self = .notRegular(.fifo)
        case .notFolder:
            var raw = ta_stat()
            let kind = withCString(name) { ta_lstat_at(dirfd, $0, &raw) } == 0 ? FileStatus(raw).kind : nil
            self = kind == .symbolicLink ? .symbolicLink : .system(errno)
        default: self = .system(errno)
        }
    }
}

/// An open folder: every file in it is opened relative to this descriptor
/// (`openat`), so a rename or a symbolic link planted on the folder's path
/// after it was opened and checked changes nothing. Names are single path
/// components. The descriptor is close-on-exec; `close()` it when done.
///
/// These are the opens for folders another user can write (DESIGN.md §3,
/// STYLE.md "Files in folders someone else can write"): no symbolic link
/// followed, no FIFO or device opened (O_NONBLOCK so that opening one cannot
/// block, then `fstat` refuses it), creation only with O_EXCL, owners and
/// modes set on descriptors.
public struct Folder {
    public let fd: FileDescriptor
    /// The path it was opened by, for messages only.
    public let path: String

    package init(fd: FileDescriptor, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Opens `path`; its last component must not be a symbolic link.
    public static func open(_ path: String) throws(FileError) -> Folder {
        do {
            return Folder(fd: FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_open_folder(p) } }),
                          path: path)
        } catch { throw FileError(opening: error, path) }
    }

    /// The sub-folder `name`, not following a link.
    public func folder(_ name: String) throws(FileError) -> Folder {
        do {
            let raw = try withCString(name) { (n) throws(Errno) in try valueOrErrno { ta_openat_folder(fd.rawValue, n) } }
            return Folder(fd: FileDescriptor(raw), path: "\(path)/\(name)")
        } catch { throw FileError(opening: error, at: fd.rawValue, name) }
    }

    /// Makes the sub-folder `name` (the umask applies to `mode`; set owner
    /// and mode on the opened folder afterwards). False when it existed.
    @discardableResult
    public func makeFolder(_ name: String, mode: UInt32) throws(Errno) -> Bool {
        do {
            try withCString(name) { (n) throws(Errno) in try nothingOrErrno { ta_mkdirat(fd.rawValue, n, mode) } }
            return true
        } catch {
            if error == .exists { return false }
            throw error
        }
    }

    /// Opens the regular file `name` for reading.
    public func openForReading(_ name: String) throws(FileError) -> FileDescriptor {
        try regular(name) { (n) throws(Errno) in try valueOrErrno { ta_openat_read(fd.rawValue, n) } }
    }

    /// Opens the regular file `name` for appending (and reading from its
    /// start when `reading`); creates it with `mode` when `create` and it is
    /// missing (an existing file keeps its mode). A file with a second name
    /// is refused: a hard link planted here would make root write elsewhere.
    public func openForAppending(_ name: String, mode: UInt32, create: Bool = true, reading: Bool = false) throws(FileError) -> FileDescriptor {
        let file = try regular(name) { (n) throws(Errno) in
            try valueOrErrno { ta_openat_append(fd.rawValue, n, mode, create ? 1 : 0, reading ? 1 : 0) }
        }
        let links: UInt64
        do { links = try file.status().links } catch {
            file.close()
            throw .system(error)
        }
        guard links == 1 else {
            file.close()
            throw .linked(links)
        }
        return file
    }

    /// Creates `name`, which must not exist (O_EXCL: whatever is there,
    /// link or FIFO, makes this fail with EEXIST instead of being opened).
    public func createNew(_ name: String, mode: UInt32) throws(FileError) -> FileDescriptor {
        try regular(name) { (n) throws(Errno) in try valueOrErrno { ta_openat_new(fd.rawValue, n, mode) } }
    }

    private func regular(_ name: String, _ open: (UnsafePointer<CChar>) throws(Errno) -> Int32) throws(FileError) -> FileDescriptor {
        let opened: FileDescriptor
        do { opened = FileDescriptor(try withCString(name, open)) } catch { throw FileError(opening: error, at: fd.rawValue, name) }
        let st: FileStatus
        do { st = try opened.status() } catch {
            opened.close()
            throw .system(error)
        }
        guard st.kind == .regular else {
            opened.close()
            throw .notRegular(st.kind)
        }
        return opened
    }

    /// Reads a state file the agent wrote: nil when it does not exist; an
    /// error when it is not a regular file of `owner`'s (root unless said),
    /// mode 0600 or stricter, with one link (`FileError.untrusted`): a file
    /// another user wrote or could write is never believed.
    public func readTrusted(_ name: String, owner: UInt32 = Processes.effectiveUID, limit: Int = 1 << 20) throws(FileError) -> [UInt8]? {
        let file: FileDescriptor
        do { file = try openForReading(name) } catch {
            if error == .system(.noSuchFile) { return nil }
            throw error
        }
        defer { file.close() }
        let st: FileStatus
        do { st = try file.status() } catch { throw .system(error) }
        guard st.isPrivateFile(of: owner) else { throw .untrusted(st) }
        do { return try file.readToEnd(limit: limit) } catch { throw .system(error) }
    }

    /// Writes `name.new` (created with O_EXCL; a stale one, whatever it is,
    /// is removed first), fsyncs it, renames it over `name` and fsyncs the
    /// folder: a power cut leaves the old or the new file whole, and
    /// nothing planted at either name is followed or opened. `group`: the
    /// file's group, set on the descriptor (root's own files need none).
    public func writeAtomically(_ name: String, bytes contents: [UInt8], mode: UInt32, group: UInt32? = nil) throws(FileError) {
        let temporary = name + ".new"
        remove(temporary)
        let file = try createNew(temporary, mode: mode)
        do {
            if let group { try file.setOwner(uid: 0, gid: group) }
            // The umask may have narrowed `mode`; set it on the descriptor.
            try file.setPermissions(mode)
            try withBytes(of: contents) { (raw) throws(Errno) in try file.writeAll(raw) }
            try file.sync()
        } catch {
            file.close()
            remove(temporary)
            throw .system(error)
        }
        file.close()
        do { try rename(temporary, to: name) } catch {
            remove(temporary)
            throw .system(error)
        }
        try? fd.sync()
    }

    /// `renameat(2)` within this folder (a link at `to` is replaced, never followed).
    public func rename(_ from: String, to: String) throws(Errno) {
        try withCString(from) { (f) throws(Errno) in
            try withCString(to) { (t) throws(Errno) in try nothingOrErrno { ta_renameat(fd.rawValue, f, t) } }
        }
    }

    /// Swaps the files named `a` and `b` in one step (`renameat2`
    /// RENAME_EXCHANGE): neither name is ever missing.
    public func exchange(_ a: String, _ b: String) throws(Errno) {
        try withCString(a) { (x) throws(Errno) in
            try withCString(b) { (y) throws(Errno) in try nothingOrErrno { ta_renameat_exchange(fd.rawValue, x, y) } }
        }
    }

    /// `unlinkat(2)`; a missing name is no error.
    public func remove(_ name: String) {
        _ = withCString(name) { ta_unlinkat(fd.rawValue, $0) }
    }

    /// Sets owner and group of `name` without following a link (`fchownat`).
    public func setOwner(_ name: String, uid: UInt32, gid: UInt32) throws(Errno) {
        try withCString(name) { (n) throws(Errno) in try nothingOrErrno { ta_fchownat_nofollow(fd.rawValue, n, uid, gid) } }
    }

    /// Binds a Unix socket `name` here with `mode` set by the umask at bind
    /// time and group `gid` (see `ta_unix_bind_at`); a stream socket listens.
    public func bindUnixSocket(_ name: String, mode: UInt32, gid: UInt32, datagram: Bool) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(name) { (n) throws(Errno) in
            try valueOrErrno { ta_unix_bind_at(fd.rawValue, n, mode, gid, datagram ? 1 : 0) }
        })
    }

    public func status() throws(Errno) -> FileStatus { try fd.status() }

    /// `fchdir(2)`: relative paths resolve in this folder from now on, even
    /// after its path is renamed or replaced.
    public func makeCurrent() throws(Errno) { try nothingOrErrno { ta_fchdir(fd.rawValue) } }

    public func close() { fd.close() }
}
