import CShims

/// What `fstat` says about an open file (`ta_fstat`).
struct FileStatus: Equatable {
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var links: UInt64
    var size: Int64
    var device: UInt64
    var inode: UInt64

    var isRegularFile: Bool { mode & 0o170000 == 0o100000 }
    var isFolder: Bool { mode & 0o170000 == 0o040000 }
    var permissions: UInt32 { mode & 0o7777 }

    fileprivate init(_ s: ta_file_status) {
        self.init(mode: s.mode, uid: s.uid, gid: s.gid, links: s.links, size: s.size, device: s.device, inode: s.inode)
    }

    init(mode: UInt32, uid: UInt32, gid: UInt32, links: UInt64, size: Int64, device: UInt64, inode: UInt64) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.links = links
        self.size = size
        self.device = device
        self.inode = inode
    }
}

extension FileDescriptor {
    /// `fstat(2)` of this very descriptor: what it is, not what a path names now.
    func status() throws(Errno) -> FileStatus {
        var s = ta_file_status()
        try nothingOrErrno { ta_fstat(rawValue, &s) }
        return FileStatus(s)
    }

    /// `fchown(2)`.
    func changeOwner(uid: UInt32, gid: UInt32) throws(Errno) { try nothingOrErrno { ta_fchown(rawValue, uid, gid) } }

    /// `fchmod(2)`: exact bits, whatever the umask.
    func changeMode(_ mode: UInt32) throws(Errno) { try nothingOrErrno { ta_fchmod(rawValue, mode) } }

    /// `pread(2)`: reads at `offset` without moving the file position.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno { ta_pread(rawValue, buffer.baseAddress, buffer.count, offset) }
    }

    /// `lseek(fd, 0, SEEK_END)`: the size, and writes go on from there.
    func seekToEnd() throws(Errno) -> Int64 { try valueOrErrno { ta_seek_end(rawValue) } }

    /// `fcntl(F_DUPFD_CLOEXEC)`: a second descriptor for the same open file.
    func duplicate() throws(Errno) -> FileDescriptor { FileDescriptor(try valueOrErrno { ta_dup(rawValue) }) }

    /// Free bytes for unprivileged users on this file's file system (`fstatvfs`).
    var freeBytes: Int64? {
        let free = ta_free_bytes_fd(rawValue)
        return free < 0 ? nil : free
    }
}

/// An open folder, the anchor of every path below it: names are resolved
/// relative to the descriptor (`openat` and friends), never through a
/// symbolic link, so a folder someone else can write cannot redirect them.
/// Names may hold `/` only when every folder on the way is trusted.
struct Directory {
    let fd: FileDescriptor

    /// Opens a folder by path (`O_DIRECTORY|O_NOFOLLOW` on the last component).
    static func open(_ path: String) throws(Errno) -> Directory {
        Directory(fd: FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_openat_dir(-100, p) } }))
    }

    /// A regular file by path, for reading: the last component is never a
    /// link, a FIFO cannot block the caller, and anything but a regular file
    /// is refused (`EINVAL`).
    static func openRegularFile(_ path: String) throws(Errno) -> FileDescriptor {
        let folder = try open(Files.parent(of: path))
        defer { folder.close() }
        let file = try folder.openForReading(lastComponent(of: path))
        do throws(Errno) {
            guard try file.status().isRegularFile else { throw Errno(rawValue: 22) }
        } catch {
            file.close()
            throw error
        }
        return file
    }

    /// Removes the file or folder `path` (see `removeTree(_:)`), resolved
    /// relative to its parent folder, which must be trusted.
    static func removeTree(_ path: String) throws(Errno) {
        let folder = try open(Files.parent(of: path))
        defer { folder.close() }
        try folder.removeTree(lastComponent(of: path))
    }

    /// `c` of `a/b/c`.
    static func lastComponent(of path: String) -> String {
        var name = Array(path.utf8)
        while let slash = name.firstIndex(of: UInt8(ascii: "/")) { name.removeSubrange(...slash) }
        return String(decoding: name, as: UTF8.self)
    }

    /// A folder inside this one; never a link.
    func folder(_ name: String) throws(Errno) -> Directory {
        Directory(fd: FileDescriptor(try withCString(name) { (p) throws(Errno) in try valueOrErrno { ta_openat_dir(fd.rawValue, p) } }))
    }

    /// A file inside this one for reading; never a link, never blocks on a FIFO.
    func openForReading(_ name: String) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(name) { (p) throws(Errno) in try valueOrErrno { ta_openat_read(fd.rawValue, p) } })
    }

    /// A new file (`O_CREAT|O_EXCL`): never an existing one, never through a link.
    func create(_ name: String, mode: UInt32, readWrite: Bool = false) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(name) { (p) throws(Errno) in
            try valueOrErrno { ta_openat_create(fd.rawValue, p, mode, readWrite ? 1 : 0) }
        })
    }

    /// `mkdirat(2)`.
    func makeFolder(_ name: String, mode: UInt32) throws(Errno) {
        try withCString(name) { (p) throws(Errno) in try nothingOrErrno { ta_mkdirat(fd.rawValue, p, mode) } }
    }

    /// `unlinkat(2)`, with `AT_REMOVEDIR` for an (empty) folder.
    func remove(_ name: String, isFolder: Bool) throws(Errno) {
        try withCString(name) { (p) throws(Errno) in try nothingOrErrno { ta_unlinkat(fd.rawValue, p, isFolder ? 1 : 0) } }
    }

    /// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`: a link is reported as a link.
    func status(of name: String) throws(Errno) -> FileStatus {
        var s = ta_file_status()
        try withCString(name) { (p) throws(Errno) in try nothingOrErrno { ta_fstatat(fd.rawValue, p, &s) } }
        return FileStatus(s)
    }

    /// The names in the folder now (without `.` and `..`).
    func names() throws(Errno) -> [String] {
        guard let list = ta_dir_list_open(fd.rawValue) else { throw Errno.current }
        defer { ta_dir_list_close(list) }
        var names: [String] = []
        while let name = ta_dir_list_next(list) { names.append(String(cString: name)) }
        return names
    }

    /// Takes the folder from whoever owns it: the agent's own user, mode
    /// 0700. Entries of a folder locked this way can no longer be renamed,
    /// replaced or added by anyone else, even one holding a descriptor to
    /// it; what the agent then reads in it stays what it read.
    func lock() throws(Errno) {
        let me = Processes.ownIdentity
        try fd.changeOwner(uid: me.uid, gid: me.gid)
        try fd.changeMode(0o700)
    }

    /// Removes `name` and, for a folder, everything in it, when the folder
    /// may belong to someone else: each folder is locked before it is read,
    /// every name is resolved relative to a locked folder, links are removed
    /// and never followed. A missing `name` is no error.
    func removeTree(_ name: String) throws(Errno) {
        let status: FileStatus
        do { status = try self.status(of: name) } catch {
            if error == .noSuchFile { return }
            throw error
        }
        if status.isFolder {
            let child = try folder(name)
            defer { child.close() }
            try child.lock()
            for entry in try child.names() { try child.removeTree(entry) }
        }
        try remove(name, isFolder: status.isFolder)
    }

    func close() { fd.close() }
}
